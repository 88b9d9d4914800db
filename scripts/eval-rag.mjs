#!/usr/bin/env node
// `npm run eval:rag`: retrieval quality on the labelled set in test/fixtures/rag-eval/, measured through the real
// API under wrangler dev (the benchmark Worker: the whole app, local embedder, local vector index, D1 FTS5).
// Ingests every document, maps each question's needles to the chunks that contain them, runs every question in
// vector, keyword and hybrid mode, and writes recall@5, MRR and nDCG@10 to docs/performance.md (between the
// eval:rag markers). Env: EVAL_PORT (default 8798), EVAL_WRITE=0 to leave the docs alone.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ndcgAtK, recallAtK, reciprocalRank } from "./eval/metrics.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const port = Number(process.env.EVAL_PORT ?? 8798);
const base = `http://127.0.0.1:${port}`;
const KEY = "eak_00000000d3e0_localDemoKey_localDemoKey_localDemoKey_0000";
const headers = { "X-API-Key": KEY, "Content-Type": "application/json" };

/** @typedef {{ id: string; title: string; text: string; metadata?: Record<string, string | number | boolean> }} Doc */
/** @typedef {{ id: string; question: string; relevant: { document_id: string; needle: string }[]; kind: string }} Question */
/** @param {string} file */
const jsonl = (file) =>
	readFileSync(path.join(root, "test", "fixtures", "rag-eval", file), "utf8")
		.split("\n")
		.filter((l) => l.trim())
		.map((l) => JSON.parse(l));
/** @type {Doc[]} */
const docs = jsonl("documents.jsonl");
/** @type {Question[]} */
const questions = jsonl("questions.jsonl");

const persist = mkdtempSync(path.join(tmpdir(), "edge-ai-api-eval-"));
const server = spawn(process.execPath, [path.join(root, "scripts", "dev.mjs")], {
	cwd: root,
	env: {
		...process.env,
		PORT: String(port),
		PERSIST_DIR: persist,
		WRANGLER_CONFIG: "scripts/bench/wrangler.bench.toml",
		WRANGLER_LOG_LEVEL: "error",
	},
	stdio: ["ignore", "pipe", "inherit"],
});
let output = "";
server.stdout.on("data", (d) => {
	output += d;
});
const stop = () => {
	server.kill("SIGTERM");
	rmSync(persist, { recursive: true, force: true });
};
process.on("exit", stop);
for (let waited = 0; !output.includes("ready at"); waited += 200) {
	if (waited > 120_000 || server.exitCode !== null) {
		console.error(`eval server did not start:\n${output}`);
		process.exit(1);
	}
	await new Promise((r) => setTimeout(r, 200));
}

/** @param {string} p @param {unknown} body */
async function post(p, body) {
	const res = await fetch(base + p, { method: "POST", headers, body: JSON.stringify(body) });
	if (!res.ok) throw new Error(`${p}: ${res.status} ${await res.text()}`);
	return res.json();
}

const started = Date.now();
for (let i = 0; i < docs.length; i += 50) await post("/v1/documents", { documents: docs.slice(i, i + 50) });
const ingestMs = Date.now() - started;

// Map needles to chunk ids: the chunk of that document whose text contains the needle (GET …/chunks).
/** @type {Map<string, { id: string; text: string }[]>} */
const chunksOf = new Map();
/** @param {string} documentId @param {string} needle */
async function chunkFor(documentId, needle) {
	let list = chunksOf.get(documentId);
	if (!list) {
		const res = await fetch(`${base}/v1/documents/${encodeURIComponent(documentId)}/chunks`, { headers });
		if (!res.ok) throw new Error(`chunks of ${documentId}: ${res.status}`);
		list = /** @type {{ data: { id: string; text: string }[] }} */ (await res.json()).data;
		chunksOf.set(documentId, list);
	}
	const squash = (/** @type {string} */ s) => s.replace(/\s+/g, " ");
	return list.find((c) => squash(c.text).includes(squash(needle)))?.id ?? null;
}

/** @type {Record<string, { recall5: number[]; mrr: number[]; ndcg10: number[] }>} */
const scores = {
	vector: { recall5: [], mrr: [], ndcg10: [] },
	keyword: { recall5: [], mrr: [], ndcg10: [] },
	hybrid: { recall5: [], mrr: [], ndcg10: [] },
};
let unanswerable = 0;
let unmapped = 0;
const searchStarted = Date.now();
let searches = 0;
for (const q of questions) {
	if (q.relevant.length === 0) {
		unanswerable++;
		continue;
	}
	/** @type {Set<string>} */
	const relevantIds = new Set();
	for (const r of q.relevant) {
		const id = await chunkFor(r.document_id, r.needle);
		if (id) relevantIds.add(id);
	}
	if (relevantIds.size === 0) {
		unmapped++;
		continue;
	}
	for (const mode of /** @type {const} */ (["vector", "keyword", "hybrid"])) {
		/** @type {{ data: { chunk_id: string }[] }} */
		const res = await post("/v1/rag/search", { query: q.question, mode, top_k: 10 });
		searches++;
		const ranked = res.data.map((h) => h.chunk_id);
		const s = scores[mode];
		s?.recall5.push(recallAtK(ranked, relevantIds, 5));
		s?.mrr.push(reciprocalRank(ranked, relevantIds));
		s?.ndcg10.push(ndcgAtK(ranked, relevantIds, 10));
	}
}
const searchMs = Date.now() - searchStarted;
stop();

/** @param {number[]} xs */
const mean = (xs) => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const evaluated = scores.hybrid?.mrr.length ?? 0;
const rows = Object.entries(scores).map(
	([mode, s]) =>
		`| ${mode} | ${mean(s.recall5).toFixed(3)} | ${mean(s.mrr).toFixed(3)} | ${mean(s.ndcg10).toFixed(3)} |`,
);
const chars = docs.reduce((a, d) => a + d.text.length, 0);
const section = `<!-- eval:rag:start (generated by npm run eval:rag; edit the script, not this) -->
Run: ${new Date().toISOString().slice(0, 10)}, local embedder (\`local-hash-768\`, feature hashing), local vector index
(Durable Object), D1 FTS5 BM25; set: ${docs.length} documents (${(chars / 1000).toFixed(0)} k characters), ${questions.length} questions
(${evaluated} evaluated, ${unanswerable} unanswerable by design, ${unmapped} whose needle matched no chunk).

| Mode | recall@5 | MRR | nDCG@10 |
|---|---|---|---|
${rows.join("\n")}

Ingest of the whole set: ${(ingestMs / 1000).toFixed(1)} s; ${searches} searches in ${(searchMs / 1000).toFixed(1)} s
(${(searchMs / Math.max(1, searches)).toFixed(1)} ms each, sequential, including HTTP and auth).
<!-- eval:rag:end -->`;
console.log(section);
if (process.env.EVAL_WRITE !== "0") {
	const doc = path.join(root, "docs", "performance.md");
	const text = readFileSync(doc, "utf8");
	const re = /<!-- eval:rag:start[\s\S]*?<!-- eval:rag:end -->/;
	if (!re.test(text)) {
		console.error("docs/performance.md has no eval:rag markers");
		process.exit(1);
	}
	writeFileSync(doc, text.replace(re, section));
	console.log("\nwritten to docs/performance.md");
}
process.exit(0);
