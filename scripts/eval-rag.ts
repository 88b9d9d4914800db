#!/usr/bin/env node
// `npm run eval:rag`: retrieval quality on the labelled set in test/fixtures/rag-eval/, measured through the real
// API under wrangler dev (the benchmark Worker: the whole app, local embedder, local vector index, D1 FTS5).
// Ingests every document, maps each question's needles to the chunks that contain them, runs every question in
// vector, keyword and hybrid mode, and writes recall@5, MRR and nDCG@10 to docs/performance.md (between the
// eval:rag markers).
import { readFileSync } from "node:fs";
import path from "node:path";
import { startBenchWorker } from "./bench/node/bench-worker.ts";
import { ndcgAtK, recallAtK, reciprocalRank } from "./eval/metrics.ts";
import { parseCommandLine } from "./lib/command-line.ts";
import { stopAllDevServers } from "./lib/dev-server.ts";
import { docSection, writeDocSection } from "./lib/doc-section.ts";
import { DEMO_KEY } from "./lib/local-credentials.ts";
import { exitOnSignals } from "./lib/process-group.ts";
import { REPO_ROOT } from "./lib/repository-root.ts";

parseCommandLine(
	"usage: npm run eval:rag\nEnvironment: EVAL_PORT (default: a free port), EVAL_WRITE=0 to leave docs/performance.md alone.",
	{},
);
const headers = { "X-API-Key": DEMO_KEY, "Content-Type": "application/json" };

type Doc = { id: string; title: string; text: string; metadata?: Record<string, string | number | boolean> };
type Question = { id: string; question: string; relevant: { document_id: string; needle: string }[]; kind: string };
const jsonl = <T>(file: string): T[] =>
	readFileSync(path.join(REPO_ROOT, "test", "fixtures", "rag-eval", file), "utf8")
		.split("\n")
		.filter((l) => l.trim())
		.map((l) => JSON.parse(l) as T);
const docs = jsonl<Doc>("documents.jsonl");
const questions = jsonl<Question>("questions.jsonl");

exitOnSignals(stopAllDevServers);
const server = await startBenchWorker({ port: process.env.EVAL_PORT ? Number(process.env.EVAL_PORT) : undefined });
const base = server.base;

async function post<T>(p: string, body: unknown): Promise<T> {
	const res = await fetch(base + p, { method: "POST", headers, body: JSON.stringify(body) });
	if (!res.ok) throw new Error(`${p}: ${res.status} ${await res.text()}`);
	return (await res.json()) as T;
}

type Scores = { recall5: number[]; mrr: number[]; ndcg10: number[] };
const scores: Record<"vector" | "keyword" | "hybrid", Scores> = {
	vector: { recall5: [], mrr: [], ndcg10: [] },
	keyword: { recall5: [], mrr: [], ndcg10: [] },
	hybrid: { recall5: [], mrr: [], ndcg10: [] },
};
let unanswerable = 0;
let unmapped = 0;
let searches = 0;
let ingestMs = 0;
let searchMs = 0;
// Map needles to chunk ids: the chunk of that document whose text contains the needle (GET …/chunks).
const chunksOf = new Map<string, { id: string; text: string }[]>();
async function chunkFor(documentId: string, needle: string): Promise<string | null> {
	let list = chunksOf.get(documentId);
	if (!list) {
		const res = await fetch(`${base}/v1/documents/${encodeURIComponent(documentId)}/chunks`, { headers });
		if (!res.ok) throw new Error(`chunks of ${documentId}: ${res.status}`);
		list = ((await res.json()) as { data: { id: string; text: string }[] }).data;
		chunksOf.set(documentId, list);
	}
	const squash = (s: string) => s.replace(/\s+/g, " ");
	return list.find((c) => squash(c.text).includes(squash(needle)))?.id ?? null;
}

/** Every answerable question in every mode: its ranked chunk ids against the chunks its needles map to. */
async function evaluate() {
	for (const q of questions) {
		if (q.relevant.length === 0) {
			unanswerable++;
			continue;
		}
		const relevantIds = new Set<string>();
		for (const r of q.relevant) {
			const id = await chunkFor(r.document_id, r.needle);
			if (id) relevantIds.add(id);
		}
		if (relevantIds.size === 0) {
			unmapped++;
			continue;
		}
		for (const mode of ["vector", "keyword", "hybrid"] as const) {
			const res = await post<{ data: { chunk_id: string }[] }>("/v1/rag/search", {
				query: q.question,
				mode,
				top_k: 10,
			});
			searches++;
			const ranked = res.data.map((h) => h.chunk_id);
			const s = scores[mode];
			s.recall5.push(recallAtK(ranked, relevantIds, 5));
			s.mrr.push(reciprocalRank(ranked, relevantIds));
			s.ndcg10.push(ndcgAtK(ranked, relevantIds, 10));
		}
	}
}

try {
	const started = Date.now();
	for (let i = 0; i < docs.length; i += 50) await post("/v1/documents", { documents: docs.slice(i, i + 50) });
	ingestMs = Date.now() - started;
	const searchStarted = Date.now();
	await evaluate();
	searchMs = Date.now() - searchStarted;
} finally {
	await server.stop();
}

const mean = (xs: number[]) => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
const evaluated = scores.hybrid.mrr.length;
const rows = Object.entries(scores).map(
	([mode, s]) =>
		`| ${mode} | ${mean(s.recall5).toFixed(3)} | ${mean(s.mrr).toFixed(3)} | ${mean(s.ndcg10).toFixed(3)} |`,
);
const chars = docs.reduce((a, d) => a + d.text.length, 0);
const section = docSection(
	"eval:rag",
	"npm run eval:rag; edit the script, not this",
	`Run: ${new Date().toISOString().slice(0, 10)}, local embedder (\`local-hash-768\`, feature hashing), local vector index
(Durable Object), D1 FTS5 BM25; set: ${docs.length} documents (${(chars / 1000).toFixed(0)} k characters), ${questions.length} questions
(${evaluated} evaluated, ${unanswerable} unanswerable by design, ${unmapped} whose needle matched no chunk).

| Mode | recall@5 | MRR | nDCG@10 |
|---|---|---|---|
${rows.join("\n")}

Ingest of the whole set: ${(ingestMs / 1000).toFixed(1)} s; ${searches} searches in ${(searchMs / 1000).toFixed(1)} s
(${(searchMs / Math.max(1, searches)).toFixed(1)} ms each, sequential, including HTTP and auth).`,
);
console.log(section);
if (process.env.EVAL_WRITE !== "0") {
	writeDocSection("docs/performance.md", "eval:rag", section);
	console.log("\nwritten to docs/performance.md");
}
