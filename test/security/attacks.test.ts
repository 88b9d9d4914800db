import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../helpers/node/dev-server";
import { DEMO_KEY, OPS_KEY } from "../helpers/node/local-credentials";
import { adminToken, type Cast, createCast, createClient, createKey, marker } from "./helpers/attack-cast";
import { type Answer, basic, Caller, expectOk, expectProblem, sseData } from "./helpers/attack-http";

/**
 * The attacker's side of docs/security.md: one attack per control, played over HTTP against the real service
 * (`wrangler dev`, as `npm start` runs it) by two fresh tenants, A and B, with two subjects each. Every answer an
 * attacker gets is also held to the general rules (helpers/attack-http.ts: no 5xx, problem+json 4xx, no stack trace,
 * nothing of the other tenant), and every attack asserts exactly what the attacker got and that nothing leaked or
 * was stored.
 *
 * Two servers: the local configuration with small limits where an attack needs them (LOCAL_VARS), and one started
 * as production with unsafe settings (PRODUCTION_VARS). The workerd suites prove the same controls closer to the
 * code: test/integration/tenancy.test.ts, storage-quotas.test.ts, auth-hardening.test.ts, test/unit/config.test.ts.
 */

/** Valid traffic comes from this address; every attack sending invalid credentials uses addresses of its own. */
const VALID_IP = "203.0.113.10";
let addressSeq = 20;
/** A TEST-NET-2 address no other request of the run used. */
const freshIp = () => `198.51.100.${addressSeq++}`;

/** The `tokens` budget on POST /v1/rag/query, per subject and hour (the default `llm-tokens` is 200 000). */
const TOKEN_BUDGET = 4_000;
const MAX_TOKENS_LIMIT = 256;
const MAX_DOCUMENTS = 12;
const MAX_BYTES = 2_000_000;
const AUTH_FAILURE_LIMIT = 3;
const INVALID_CREDENTIAL_LIMIT = 5;
/** Defaults of the chunker and of the metadata limit (src/config/schema.ts), which the storage attack works against. */
const HEADING_CHARS = 256;
const MIN_CHUNK_CHARS = 200;
const CHUNK_CHARS = 1_000;
const OVERLAP_CHARS = 150;
const METADATA_BYTES = 2_048;
/** A chunk id (`c_` + 40 hex) and a content hash (64 hex), as src/rag/ingest.ts stores them. */
const CHUNK_ID_BYTES = 42;
const HASH_BYTES = 64;

const LOCAL_VARS: Record<string, string> = {
	LOCAL_MODEL_TOKEN_DELAY_MS: "0",
	// Replaces the default policies: no request limits (no attack here is about them), one token budget on RAG
	// answers, failing closed like the default `llm-tokens` (with a timeout a loaded machine cannot miss).
	RATE_LIMIT_POLICIES: JSON.stringify([
		{
			name: "llm-tokens",
			routes: ["POST /v1/rag/query"],
			key: "subject",
			limit: TOKEN_BUDGET,
			window_s: 3_600,
			unit: "tokens",
			fail: "closed",
		},
	]),
	RATE_LIMIT_TIMEOUT_MS: "5000",
	CHAT_MAX_TOKENS_LIMIT: String(MAX_TOKENS_LIMIT),
	CHAT_DEFAULT_MAX_TOKENS: "64",
	RAG_TENANT_MAX_DOCUMENTS: String(MAX_DOCUMENTS),
	RAG_TENANT_MAX_BYTES: String(MAX_BYTES),
	AUTH_REVOCATION_CACHE_S: "1",
	AUTH_FAILURE_LIMIT: String(AUTH_FAILURE_LIMIT),
	AUTH_INVALID_CREDENTIAL_LIMIT: String(INVALID_CREDENTIAL_LIMIT),
};

/** The public HS256 secret `npm start` signs with (src/config/schema.ts LOCAL_DEV_SIGNING_SECRET). */
const DEV_SECRET = "local-development-signing-secret-never-use-in-production";
/** Production with three unsafe settings at once: no signing secret, the dev secret as previous one, CORS `*`. */
const PRODUCTION_VARS: Record<string, string> = {
	ENVIRONMENT: "production",
	JWT_PREVIOUS_SIGNING_SECRET: DEV_SECRET,
	CORS_ORIGINS: "*",
};

const varArgs = (vars: Record<string, string>) => Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]);

/**
 * `npm start` with these variables. Two servers start at once (and other suites may run theirs): a port another
 * process took between its choice and its use ("Address already in use") gets a second try.
 */
async function startServer(vars: Record<string, string>): Promise<DevServer> {
	for (let attempt = 1; ; attempt++) {
		try {
			return await startDevServer({ READY_TIMEOUT_MS: "60000" }, { args: varArgs(vars) });
		} catch (err) {
			if (attempt >= 3 || !String(err).includes("Address already in use")) throw err;
		}
	}
}

let local: DevServer | undefined;
let production: DevServer | undefined;
let cast: Cast;
const started = performance.now();

beforeAll(async () => {
	// Both servers start together (each takes 5–10 s alone); afterAll stops whichever started.
	const [l, p] = await Promise.allSettled([startServer(LOCAL_VARS), startServer(PRODUCTION_VARS)]);
	if (l.status === "fulfilled") local = l.value;
	if (p.status === "fulfilled") production = p.value;
	if (l.status === "rejected" || p.status === "rejected") {
		throw (l.status === "rejected" ? l.reason : undefined) ?? (p.status === "rejected" ? p.reason : undefined);
	}
	cast = await createCast(l.value.base, VALID_IP);
	console.log(`servers ready in ${Math.round(performance.now() - started)} ms; tenants ${cast.a.id} and ${cast.b.id}`);
}, 120_000);

afterAll(async () => {
	await Promise.all([local?.stop(), production?.stop()]);
	console.log(`attacks.test.ts: ${Math.round(performance.now() - started)} ms`);
});

const base = () => {
	if (!local) throw new Error("the local server did not start");
	return local.base;
};

type Hit = { chunk_id: string; document_id: string; text: string; heading: string };
type IngestAnswer = {
	data: { id: string; status: string; chunks: number; stored_bytes: number }[];
	bookmark: string;
};
type Storage = {
	tenant: string;
	documents: { used: number; limit: number };
	chunks: { used: number; limit: number };
	bytes: { used: number; limit: number };
};
type RagAnswer = {
	answer: string;
	grounded: boolean;
	citations: { document_id: string }[];
	usage: { total_tokens: number };
};

const utf8 = (s: string) => Buffer.byteLength(s, "utf8");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function ingest(as: Caller, documents: object[]): Promise<IngestAnswer> {
	return expectOk<IngestAnswer>(await as.post("/v1/documents", { documents }), 201);
}

async function storageOf(as: Caller, query = ""): Promise<Storage> {
	return expectOk<Storage>(await as.get(`/v1/usage/storage${query}`));
}

async function documentIds(as: Caller): Promise<string[]> {
	const page = expectOk<{ data: { id: string }[]; next_cursor: string | null }>(
		await as.get("/v1/documents?limit=100"),
	);
	expect(page.next_cursor).toBeNull();
	return page.data.map((d) => d.id);
}

async function search(as: Caller, body: object): Promise<Hit[]> {
	return expectOk<{ data: Hit[] }>(await as.post("/v1/rag/search", body)).data;
}

const MODES = ["hybrid", "vector", "keyword"] as const;

describe("attacks on the running service (wrangler dev, local configuration with small limits)", () => {
	it("1. LLM spend through RAG: no chat scope → 403, max_tokens capped, the tokens budget reserves the worst case and refuses past it (plain and streamed)", async () => {
		const { a, admin } = cast;
		const word = marker("spend");
		await ingest(a.s1.as, [
			{
				id: "spend-guide",
				title: "Rollback guide",
				text: `To roll back a canary (${word}), run wrangler rollback and page the on-call engineer. The canary shifts traffic back to the stable version within a minute.`,
			},
		]);
		const question = `how do I roll back a canary ${word}`;

		// A key that may read documents but not chat: retrieval yes, a model call no.
		const reader = a.caller({ apiKey: (await createKey(admin, a.id, a.s2.subject, ["rag:read"])).key });
		const denied = expectProblem(await reader.post("/v1/rag/query", { query: question }), 403, "forbidden");
		expect(denied.required_scope).toBe("chat");
		const deniedStream = expectProblem(
			await reader.post("/v1/rag/query", { query: question, stream: true }),
			403,
			"forbidden",
		);
		expect(deniedStream.required_scope).toBe("chat");
		const found = await search(reader, { query: word, mode: "keyword" });
		expect(found.map((h) => h.document_id)).toEqual(["spend-guide"]);

		// Above CHAT_MAX_TOKENS_LIMIT: refused, plain or streamed.
		for (const stream of [false, true]) {
			const capped = expectProblem(
				await a.s1.as.post("/v1/rag/query", { query: question, max_tokens: MAX_TOKENS_LIMIT + 1, stream }),
				422,
				"validation-failed",
			);
			expect((capped.errors as { path: string }[])[0]?.path).toBe("max_tokens");
			expect(capped.detail).toContain(String(MAX_TOKENS_LIMIT));
		}
		// A worst case larger than the whole budget (50 sources of the longest chunk) can never be admitted.
		const neverFits = expectProblem(
			await a.s1.as.post("/v1/rag/query", { query: question, top_k: 50, max_tokens: MAX_TOKENS_LIMIT }),
			429,
			"quota-exceeded",
		);
		expect(neverFits["violated-policies"]).toEqual(["llm-tokens"]);

		// Answers until the budget is spent. The reservation is the worst case: the question, top_k sources of the
		// longest a chunk can be (text + overlap + heading + title + 16, at 4 characters a token) and max_tokens.
		const request = { query: question, top_k: 1, max_tokens: 32 };
		const sourceTokens = Math.ceil((CHUNK_CHARS + OVERLAP_CHARS + HEADING_CHARS + 512 + 16) / 4);
		const spent: number[] = [];
		let streams = 0;
		let refused: Answer | undefined;
		let firstReservation = 0;
		for (let i = 0; i < 40 && !refused; i++) {
			// Two plain answers first (their commits are exact and synchronous), then streams and plain answers in turn.
			const stream = i >= 2 && i % 2 === 0;
			const res = await a.s1.as.post("/v1/rag/query", { ...request, stream });
			if (res.status === 429) {
				refused = res;
				break;
			}
			expect(res.status, res.text).toBe(200);
			expect(res.headers.get("ratelimit-policy")).toBe(`"llm-tokens";q=${TOKEN_BUDGET};qu="tokens";w=3600`);
			const remaining = Number(res.headers.get("x-ratelimit-remaining"));
			expect(res.headers.get("ratelimit")).toMatch(new RegExp(`^"llm-tokens";r=${remaining};t=\\d+$`));
			if (stream) {
				const events = sseData(res.text);
				expect(JSON.parse(events[0] ?? "{}").object).toBe("rag.citations");
				expect(events.at(-1)).toBe("[DONE]");
				const usage = events
					.slice(0, -1)
					.map((e) => JSON.parse(e) as { usage?: { total_tokens: number } | null })
					.findLast((e) => e.usage)?.usage;
				expect(usage?.total_tokens).toBeGreaterThan(0);
				spent.push(usage?.total_tokens ?? 0);
				streams++;
				// A stream's reservation is settled when it ends, in the background: let it land.
				await sleep(100);
			} else {
				const answer = expectOk<RagAnswer>(res);
				expect(answer.grounded).toBe(true);
				expect(answer.citations.map((c) => c.document_id)).toEqual(["spend-guide"]);
				spent.push(answer.usage.total_tokens);
				if (i === 0) {
					// The first answer of a fresh subject: what is gone from the budget is exactly the reservation.
					firstReservation = TOKEN_BUDGET - remaining;
					expect(firstReservation).toBeGreaterThanOrEqual(request.max_tokens + sourceTokens + utf8(question) / 4);
					expect(firstReservation).toBeGreaterThanOrEqual(answer.usage.total_tokens);
				}
			}
			if (i === 1) {
				// A plain answer commits before it returns: the second reservation sits on top of exactly what the
				// model reported for the first.
				expect(TOKEN_BUDGET - remaining).toBe((spent[0] ?? 0) + firstReservation);
			}
		}
		expect(refused, "the budget was never exhausted").toBeDefined();
		const problem = expectProblem(refused as Answer, 429, "quota-exceeded");
		expect(problem["violated-policies"]).toEqual(["llm-tokens"]);
		expect(Number(refused?.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
		expect(refused?.headers.get("ratelimit")).toMatch(/^"llm-tokens";r=0;t=\d+$/);
		expect(spent.length).toBeGreaterThanOrEqual(4);
		expect(streams).toBeGreaterThanOrEqual(2);
		// The attacker got at most the budget, and streaming is no way around it.
		expect(spent.reduce((s, n) => s + n, 0)).toBeLessThanOrEqual(TOKEN_BUDGET);
		const streamRefused = expectProblem(
			await a.s1.as.post("/v1/rag/query", { ...request, stream: true }),
			429,
			"quota-exceeded",
		);
		expect(streamRefused["violated-policies"]).toEqual(["llm-tokens"]);
		// Retrieval calls no model: it stays open to the same subject.
		expect((await search(a.s1.as, { query: word, mode: "keyword" })).length).toBe(1);
	});

	it("2. storage exhaustion: quotas per tenant (429 naming the quota, B unaffected), no slipping past them concurrently, an amplifying document stored within its bound, fat metadata 413", async () => {
		const { a, b } = cast;
		const created: { as: Caller; id: string }[] = [];
		try {
			const dimensions = expectOk<{ data: { embedding: number[] }[] }>(
				await a.s1.as.post("/v1/embeddings", { input: "x" }),
			).data[0]?.embedding.length as number;
			expect(dimensions).toBeGreaterThan(0);

			// An amplifying document: a 100 KB heading, thousands of one-word sections, metadata at the limit (copied
			// into every vector), a title at its limit.
			const ampText = (label: string) =>
				[`# ${"H".repeat(100_000)}`, ...Array.from({ length: 3_000 }, (_, i) => `## ${label}${i}\n\nw${i}`)].join(
					"\n\n",
				);
			const fatMetadata = (bytes: number) => {
				const metadata: Record<string, string> = { a: "", b: "", c: "", d: "" };
				const base = utf8(JSON.stringify(metadata));
				let left = bytes - base;
				for (const k of Object.keys(metadata)) {
					const n = Math.min(512, left);
					metadata[k] = "m".repeat(n);
					left -= n;
				}
				expect(utf8(JSON.stringify(metadata))).toBe(bytes);
				return metadata;
			};
			const amp = (id: string, label: string, metadataBytes = METADATA_BYTES) => ({
				id,
				title: "T".repeat(512),
				text: ampText(label),
				metadata: fatMetadata(metadataBytes),
			});

			const before = await storageOf(a.s1.as);
			const doc = amp("amp-1", "s");
			const stored = await ingest(a.s1.as, [doc]);
			created.push({ as: a.s1.as, id: "amp-1" });
			const entry = stored.data[0];
			expect(entry?.status).toBe("created");
			const n = utf8(doc.text);
			const chunks = expectOk<{ data: { id: string; heading: string; text: string }[] }>(
				await a.s1.as.get("/v1/documents/amp-1/chunks"),
			).data;
			expect(chunks.length).toBe(entry?.chunks);
			// 3 000 sections did not become 3 000 chunks: a section shorter than RAG_MIN_CHUNK_CHARS never stands alone.
			expect(chunks.length).toBeLessThanOrEqual(2 * Math.ceil(n / MIN_CHUNK_CHARS) + 1);
			expect(chunks.length).toBeLessThan(3_000 / 10);
			// Heading paths are capped: the 100 KB heading lives on in at most RAG_MAX_HEADING_CHARS per chunk.
			expect(Math.max(...chunks.map((c) => c.heading.length))).toBeLessThanOrEqual(HEADING_CHARS);
			expect(chunks.every((c) => !c.text.includes("H".repeat(HEADING_CHARS + 1)))).toBe(true);
			// At most twice its text, plus a fixed, capped cost per chunk (embedding twice, heading, ids, hash, the vector's
			// metadata) and the document row (docs/rag.md#storage-bounds; src/rag/ingest.ts chunkStoredBytes).
			const chunkText = chunks.reduce((s, c) => s + utf8(c.text), 0);
			expect(chunkText).toBeLessThanOrEqual(2 * n);
			const vectorMetadata = utf8(JSON.stringify({ ...doc.metadata, document_id: doc.id }));
			const perChunk = 2 * 4 * dimensions + HEADING_CHARS + 2 * CHUNK_ID_BYTES + HASH_BYTES + vectorMetadata;
			const documentRow = utf8(doc.id) + utf8(doc.title) + utf8(JSON.stringify(doc.metadata)) + HASH_BYTES;
			const bound = 2 * n + chunks.length * perChunk + documentRow;
			expect(entry?.stored_bytes).toBeLessThanOrEqual(bound);
			const ampBytes = entry?.stored_bytes as number;
			console.log(
				`amplifying document: ${n} bytes of text → ${chunks.length} chunks, ${ampBytes} bytes stored (bound ${bound})`,
			);
			// What the answer says it stored is what the tenant's totals grew by.
			const afterAmp = await storageOf(a.s1.as);
			expect(afterAmp.documents.used).toBe(before.documents.used + 1);
			expect(afterAmp.chunks.used).toBe(before.chunks.used + chunks.length);
			expect(afterAmp.bytes.used).toBe(before.bytes.used + ampBytes);

			// One byte of metadata over the limit: 413, nothing stored.
			const fat = expectProblem(
				await a.s1.as.post("/v1/documents", { documents: [amp("amp-fat", "f", METADATA_BYTES + 1)] }),
				413,
				"content-too-large",
			);
			expect((fat.errors as { path: string }[])[0]?.path).toBe("documents.0.metadata");
			expect(fat.max_metadata_bytes).toBe(METADATA_BYTES);
			expectProblem(await a.s1.as.get("/v1/documents/amp-fat"), 404, "not-found");

			// Concurrent ingests cannot together pass the documents quota: exactly the room left is taken.
			const room = MAX_DOCUMENTS - afterAmp.documents.used;
			expect(room).toBeGreaterThan(0);
			const racers = Array.from({ length: room + 4 }, (_, i) => `fill-${i}`);
			const results = await Promise.all(
				racers.map((id) => a.s1.as.post("/v1/documents", { documents: [{ id, text: `filler ${id} ${marker("f")}` }] })),
			);
			for (const [i, res] of results.entries())
				if (res.status === 201) created.push({ as: a.s1.as, id: racers[i] as string });
			expect(results.filter((r) => r.status === 201).length).toBe(room);
			for (const res of results.filter((r) => r.status !== 201)) {
				const p = expectProblem(res, 429, "storage-quota-exceeded");
				expect(p).toMatchObject({
					quota: "documents",
					quota_variable: "RAG_TENANT_MAX_DOCUMENTS",
					limit: MAX_DOCUMENTS,
				});
			}
			const listed = await documentIds(a.s1.as);
			expect(listed.length).toBe(MAX_DOCUMENTS);
			expect((await storageOf(a.s1.as)).documents).toEqual({ used: MAX_DOCUMENTS, limit: MAX_DOCUMENTS });
			// Full: the next document is refused, naming the quota, and is not stored.
			const full = expectProblem(
				await a.s2.as.post("/v1/documents", { documents: [{ id: "one-more", text: "one more" }] }),
				429,
				"storage-quota-exceeded",
			);
			expect(full).toMatchObject({ quota: "documents", limit: MAX_DOCUMENTS, used: MAX_DOCUMENTS, requested: 1 });
			expectProblem(await a.s1.as.get("/v1/documents/one-more"), 404, "not-found");
			// B's quota is B's own.
			const bBefore = await storageOf(b.s1.as);
			await ingest(b.s1.as, [{ id: "b-room", text: "tenant B still has room" }]);
			created.push({ as: b.s1.as, id: "b-room" });
			expect((await storageOf(b.s1.as)).documents.used).toBe(bBefore.documents.used + 1);

			// Bytes: with document slots freed, amplifying documents fill the byte quota.
			const fills = created.filter((c) => c.id.startsWith("fill-")).slice(0, 3);
			expect(fills.length).toBe(Math.min(3, room));
			for (const { id } of fills) expect((await a.s1.as.delete(`/v1/documents/${id}`)).status).toBe(204);
			const used = (await storageOf(a.s1.as)).bytes.used;
			expect(used + ampBytes).toBeGreaterThan(MAX_BYTES);
			const noRoom = expectProblem(
				await a.s1.as.post("/v1/documents", { documents: [amp("amp-2", "t")] }),
				429,
				"storage-quota-exceeded",
			);
			expect(noRoom).toMatchObject({ quota: "bytes", quota_variable: "RAG_TENANT_MAX_BYTES", limit: MAX_BYTES, used });
			expect((noRoom.used as number) + (noRoom.requested as number)).toBeGreaterThan(MAX_BYTES);
			// A batch larger than the whole quota by itself: 413, whatever is stored.
			expect(2 * ampBytes).toBeGreaterThan(MAX_BYTES);
			const alone = expectProblem(
				await a.s1.as.post("/v1/documents", { documents: [amp("amp-3", "u"), amp("amp-4", "v")] }),
				413,
				"content-too-large",
			);
			expect(alone.quota).toBe("bytes");
			const after = await storageOf(a.s1.as);
			expect(after.bytes.used).toBe(used);
			expect(after.bytes.used).toBeLessThanOrEqual(MAX_BYTES);
			for (const id of ["amp-2", "amp-3", "amp-4"])
				expectProblem(await a.s1.as.get(`/v1/documents/${id}`), 404, "not-found");
		} finally {
			// Give the room back for the other attacks.
			for (const { as, id } of created) await as.delete(`/v1/documents/${id}`);
		}
	});

	it("3. operator data: tenants get 403 on /metrics and /v1/slo, read only their own usage; the operator reads all; /metrics names tenants only in documented labels", async () => {
		const { a, b, admin } = cast;
		const demo = new Caller(base(), { ip: VALID_IP, apiKey: DEMO_KEY });
		const operator = new Caller(base(), { ip: VALID_IP, apiKey: OPS_KEY });
		for (const path of ["/metrics", "/v1/slo"]) {
			for (const tenant of [a.s1.as, b.s2.as, demo]) {
				const p = expectProblem(await tenant.get(path), 403, "forbidden");
				expect(p.required_scope).toBe("metrics:read");
			}
			expect((await operator.get(path)).status).toBe(200);
		}

		// Every subject of both tenants calls a model.
		for (const s of [a.s1, a.s2, b.s1, b.s2]) {
			expectOk(
				await s.as.post("/v1/chat/completions", {
					max_tokens: 8,
					messages: [{ role: "user", content: `usage of ${s.subject}` }],
				}),
			);
		}
		// The ledger is written in the background: poll until both subjects show up, then it must be exactly them.
		const subjectsOf = async (as: Caller, query = "") => {
			const page = expectOk<{ data: { results: { subject: string | null }[] }[] }>(
				await as.get(`/v1/usage?bucket_width=1d&limit=2&group_by=subject${query}`),
			);
			return [...new Set(page.data.flatMap((bucket) => bucket.results.map((r) => r.subject)))].sort();
		};
		const expectSubjects = async (as: Caller, expected: string[], query = "") => {
			let seen: (string | null)[] = [];
			for (let i = 0; i < 30; i++) {
				seen = await subjectsOf(as, query);
				if (expected.every((s) => seen.includes(s))) break;
				await sleep(100);
			}
			expect(seen).toEqual([...expected].sort());
		};
		await expectSubjects(a.s2.as, [a.s1.subject, a.s2.subject]);
		await expectSubjects(b.s1.as, [b.s1.subject, b.s2.subject]);
		// Naming the other tenant (or the own one): only operators may name another.
		for (const path of ["/v1/usage", "/v1/usage/storage"]) {
			const p = expectProblem(await a.s1.as.get(`${path}?tenant=${b.id}`), 403, "forbidden");
			expect(p.required_scope).toBe("admin");
			expectProblem(await b.s1.as.get(`${path}?tenant=${a.id}`), 403, "forbidden");
			expectProblem(await demo.get(`${path}?tenant=${a.id}`), 403, "forbidden");
		}
		await expectSubjects(a.s1.as, [a.s1.subject, a.s2.subject], `&tenant=${a.id}`);
		// The operator's admin token reads any tenant's usage and storage; the metrics key has no usage scope.
		await expectSubjects(admin, [a.s1.subject, a.s2.subject], `&tenant=${a.id}`);
		await expectSubjects(admin, [b.s1.subject, b.s2.subject], `&tenant=${b.id}`);
		expect((await storageOf(admin, `?tenant=${b.id}`)).tenant).toBe(b.id);
		expectProblem(await operator.get("/v1/usage"), 403, "forbidden");

		// /metrics: tenant ids only as the value of a `tenant` label (llm_tokens_total, llm_cost_usd_total) or at the
		// head of a `subject` label (rate_limit_denied_subjects_total, `tenant/subject`) — docs/metrics.md.
		const scrape = async () =>
			(
				await new Caller(base(), { ip: VALID_IP, apiKey: OPS_KEY, secrets: () => [...a.secrets, ...b.secrets] }).get(
					"/metrics",
				)
			).text;
		let text = await scrape();
		for (let i = 0; i < 30 && !text.includes(`tenant="${b.id}"`); i++) {
			await sleep(100);
			text = await scrape();
		}
		expect(text).toContain(`llm_tokens_total{`);
		expect(text, "the documented tenant label").toContain(`tenant="${a.id}"`);
		const documented = new Set(["llm_tokens_total", "llm_cost_usd_total", "rate_limit_denied_subjects_total"]);
		const names = [a.id, b.id, a.s1.subject, a.s2.subject, b.s1.subject, b.s2.subject];
		for (const line of text.split("\n")) {
			if (!names.some((name) => line.includes(name))) continue;
			const metric = line.split("{")[0] ?? "";
			expect(documented.has(metric), line).toBe(true);
			let stripped = line;
			for (const t of [a.id, b.id]) {
				stripped = stripped
					.replaceAll(`tenant="${t}"`, "tenant=_")
					.replace(new RegExp(`subject="${t}/[^"]*"`, "g"), "subject=_");
			}
			expect(
				names.filter((name) => stripped.includes(name)),
				line,
			).toEqual([]);
		}
	});

	it("4. admin confinement: no operator scope for tenant A (422), tenant credentials 403 on /v1/admin/*, a revoked client's token refused within AUTH_REVOCATION_CACHE_S, A's token cannot reach B's documents", async () => {
		const { a, b, admin, run } = cast;
		for (const scopes of [["admin"], ["metrics:read"], ["chat", "admin"], ["rag:read", "metrics:read"]]) {
			for (const path of ["/v1/admin/api-keys", "/v1/admin/clients"]) {
				const p = expectProblem(
					await admin.post(path, { tenant: a.id, subject: "climber", scopes }),
					422,
					"validation-failed",
				);
				expect((p.errors as { path: string }[])[0]?.path).toBe("scopes");
			}
		}
		const keysOfA = expectOk<{ data: { subject: string; scopes: string[] }[] }>(
			await admin.get(`/v1/admin/api-keys?tenant=${a.id}&limit=200`),
		).data;
		expect(keysOfA.filter((k) => k.subject === "climber")).toEqual([]);
		expect(keysOfA.flatMap((k) => k.scopes).filter((s) => s === "admin" || s === "metrics:read")).toEqual([]);

		// A client of A, and its token.
		const client = await createClient(admin, a.id, ["chat", "rag:read", "rag:write"]);
		const tokenCaller = new Caller(base(), {
			ip: VALID_IP,
			authorization: basic(client.client_id, client.client_secret),
		});
		const climb = expectProblem(
			await tokenCaller.request("POST", "/v1/auth/token", {
				form: { grant_type: "client_credentials", scope: "chat admin" },
			}),
			400,
			"invalid-scope",
		);
		expect(climb.error).toBe("invalid_scope");
		const token = expectOk<{ access_token: string; scope: string }>(
			await tokenCaller.request("POST", "/v1/auth/token", { form: { grant_type: "client_credentials" } }),
		);
		expect(token.scope.split(" ").sort()).toEqual(["chat", "rag:read", "rag:write"]);
		const aToken = a.caller({ token: token.access_token });
		expect(expectOk<{ tenant: string }>(await aToken.get("/v1/auth/me")).tenant).toBe(a.id);

		// Tenant credentials (keys and tokens) on every admin operation: 403, and nothing changed.
		for (const tenant of [a.s1.as, aToken]) {
			for (const [method, path, json] of [
				["GET", "/v1/admin/clients", undefined],
				["GET", `/v1/admin/api-keys?tenant=${b.id}`, undefined],
				["POST", "/v1/admin/api-keys", { tenant: a.id, subject: "climber", scopes: ["chat"] }],
				["POST", "/v1/admin/clients", { tenant: a.id, scopes: ["chat"] }],
				["DELETE", "/v1/admin/clients/admin", undefined],
				["DELETE", `/v1/admin/api-keys/${b.s1.keyId}`, undefined],
			] as const) {
				const p = expectProblem(await tenant.request(method, path, json ? { json } : {}), 403, "forbidden");
				expect(p.required_scope, `${method} ${path}`).toBe("admin");
			}
		}
		expect((await b.s1.as.get("/v1/auth/me")).status).toBe(200);
		await adminToken(base(), VALID_IP);

		// A's token against B's documents: not found, never B's.
		const bDoc = `b-private-${run}`;
		const bWord = marker("bpriv");
		b.secrets.push(bWord);
		await ingest(b.s1.as, [{ id: bDoc, title: `B ${bWord}`, text: `tenant B's private runbook ${bWord}` }]);
		expectProblem(await aToken.get(`/v1/documents/${bDoc}`), 404, "not-found");
		expectProblem(await aToken.get(`/v1/documents/${bDoc}/chunks`), 404, "not-found");
		expectProblem(await aToken.delete(`/v1/documents/${bDoc}`), 404, "not-found");
		expect(await documentIds(aToken)).not.toContain(bDoc);
		expect(await search(aToken, { query: bWord, mode: "keyword" })).toEqual([]);
		expect(expectOk<{ id: string }>(await b.s1.as.get(`/v1/documents/${bDoc}`)).id).toBe(bDoc);

		// Revoked: the token already issued stops working within AUTH_REVOCATION_CACHE_S (1 s here).
		const revokeIp = freshIp();
		const revokedCaller = aToken.with({ ip: revokeIp });
		expect((await revokedCaller.get("/v1/auth/me")).status).toBe(200);
		expect((await admin.delete(`/v1/admin/clients/${client.client_id}`)).status).toBe(204);
		const revokedAt = performance.now();
		let last: Answer | undefined;
		while (performance.now() - revokedAt < 5_000) {
			last = await revokedCaller.get("/v1/auth/me");
			if (last.status !== 200) break;
			await sleep(100);
		}
		const elapsed = performance.now() - revokedAt;
		expectProblem(last as Answer, 401, "unauthorized");
		expect(last?.headers.get("www-authenticate")).toContain('error="invalid_token"');
		expect(elapsed, "revocation reached the token within AUTH_REVOCATION_CACHE_S (+ slack)").toBeLessThan(3_000);
		expectProblem(await revokedCaller.get(`/v1/documents/${bDoc}`), 401, "unauthorized");
		// Its secret buys no new token, and the id cannot be re-created to bring the old tokens back.
		expectProblem(
			await tokenCaller.with({ ip: freshIp() }).request("POST", "/v1/auth/token", {
				form: { grant_type: "client_credentials" },
			}),
			401,
			"invalid-client",
		);
		expectProblem(
			await admin.post("/v1/admin/clients", { client_id: client.client_id, tenant: a.id, scopes: ["chat"] }),
			409,
			"conflict",
		);
		expectProblem(await revokedCaller.get("/v1/auth/me"), 401, "unauthorized");
		expect((await b.s1.as.delete(`/v1/documents/${bDoc}`)).status).toBe(204);
	});

	it("5. guessing: concurrent wrong client secrets verified at most AUTH_FAILURE_LIMIT times, invalid keys 429 past AUTH_INVALID_CREDENTIAL_LIMIT per address (and stay 429), other addresses unaffected", async () => {
		const { a, admin } = cast;
		const client = await createClient(admin, a.id, ["chat"]);
		const guesser = freshIp();
		const guess = (secret: string, ip = guesser) =>
			new Caller(base(), { ip, authorization: basic(client.client_id, secret) }).request("POST", "/v1/auth/token", {
				form: { grant_type: "client_credentials" },
			});
		const guesses = await Promise.all(Array.from({ length: 20 }, (_, i) => guess(`wrong-${i}-${marker("g")}`)));
		const statuses = guesses.map((g) => g.status);
		expect(
			statuses.every((s) => s === 401 || s === 429),
			statuses.join(","),
		).toBe(true);
		expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(AUTH_FAILURE_LIMIT);
		expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(20 - AUTH_FAILURE_LIMIT);
		for (const g of guesses) {
			if (g.status === 401) expectProblem(g, 401, "invalid-client");
			else {
				expectProblem(g, 429, "quota-exceeded");
				expect(Number(g.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
			}
			expect(g.text).not.toContain("access_token");
		}
		// Every attempt is charged before its secret is checked: from the guessing address even the right secret
		// waits; from another address the client works.
		expectProblem(await guess(client.client_secret), 429, "quota-exceeded");
		expect(expectOk<{ access_token: string }>(await guess(client.client_secret, VALID_IP)).access_token).toBeTruthy();

		// Invalid API keys and tokens from one address: 401 up to the limit, then 429, and it stays 429.
		const keyGuesser = freshIp();
		const wrongKey = () =>
			`eak_${randomBytes(6).toString("hex")}_${randomBytes(32).toString("base64url").slice(0, 43)}`;
		for (let i = 0; i < INVALID_CREDENTIAL_LIMIT; i++) {
			expectProblem(
				await new Caller(base(), { ip: keyGuesser, apiKey: wrongKey() }).get("/v1/auth/me"),
				401,
				"unauthorized",
			);
		}
		for (const credential of [
			{ apiKey: wrongKey() },
			{ authorization: `Bearer ${wrongKey()}` },
			{ authorization: "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl" },
			{ apiKey: wrongKey() },
		]) {
			const blocked = expectProblem(
				await new Caller(base(), { ip: keyGuesser, ...credential }).get("/v1/documents"),
				429,
				"quota-exceeded",
			);
			expect(blocked["violated-policies"]).toEqual(["auth-invalid"]);
		}
		// Another address is unaffected.
		expectProblem(
			await new Caller(base(), { ip: freshIp(), apiKey: wrongKey() }).get("/v1/auth/me"),
			401,
			"unauthorized",
		);
	});

	it("5. guessing (/readyz): 200 concurrent probes all answer 200, fast, from at most one dependency check per second", async () => {
		const flood = Date.now();
		const probes = await Promise.all(
			Array.from({ length: 200 }, (_, i) => new Caller(base(), { ip: `192.0.2.${i % 250}` }).get("/readyz")),
		);
		const floodMs = Date.now() - flood;
		expect(probes.map((p) => p.status).filter((s) => s !== 200)).toEqual([]);
		const slowest = Math.max(...probes.map((p) => p.ms));
		console.log(`/readyz flood: 200 probes in ${floodMs} ms, slowest ${slowest} ms`);
		expect(slowest).toBeLessThan(5_000);
		const checks = new Set(
			probes.map((p) => JSON.stringify((p.body as { checks: Record<string, { duration_ms: number }> }).checks)),
		);
		// A cached result is one object: every probe that shared a check got the same `checks` (durations included).
		// As many distinct results as probes means every probe ran its own D1 query and Durable Object call.
		expect(
			checks.size,
			`distinct readiness results among 200 probes in ${floodMs} ms (src/health/readiness.ts cachedReadiness)`,
		).toBeLessThanOrEqual(Math.ceil(floodMs / 1_000) + 1);
	});

	it("7. broken object level authorization: B cannot read, list, search or delete A's document or A's answers; a second subject cannot touch the first's conversation", async () => {
		const { a, b, admin, run } = cast;
		const word = marker("aonly");
		a.secrets.push(word);
		const aDoc = `a-secret-${run}`;
		const { bookmark } = await ingest(a.s1.as, [
			{
				id: aDoc,
				title: `A's plan ${word}`,
				text: `# Plan\n\nTenant A's unreleased plan is ${word}. Only tenant A may read ${word}.`,
				metadata: { owner: word, tier: "gold" },
			},
		]);
		const aChunks = expectOk<{ data: { id: string; text: string }[] }>(
			await a.s1.as.get(`/v1/documents/${aDoc}/chunks`),
		);
		const aView = expectOk<{ updated_at: string; chunks: number }>(await a.s1.as.get(`/v1/documents/${aDoc}`));
		// Control: A finds it in every mode, so B's empty answers below mean something.
		for (const mode of MODES) {
			expect(
				(await search(a.s2.as, { query: word, mode })).map((h) => h.document_id),
				mode,
			).toContain(aDoc);
		}

		// B by id: 404 on every route, and A's document is untouched.
		for (const bs of [b.s1.as, b.s2.as]) {
			expectProblem(await bs.get(`/v1/documents/${aDoc}`), 404, "not-found");
			expectProblem(await bs.get(`/v1/documents/${aDoc}/chunks`), 404, "not-found");
			expectProblem(await bs.delete(`/v1/documents/${aDoc}`), 404, "not-found");
			expect(await documentIds(bs)).not.toContain(aDoc);
		}
		expect(expectOk<{ updated_at: string; chunks: number }>(await a.s1.as.get(`/v1/documents/${aDoc}`))).toMatchObject(
			aView,
		);
		// B writing under A's id makes B's own document, never replaces A's.
		const bWord = marker("bown");
		b.secrets.push(bWord);
		const bIngest = await ingest(b.s1.as, [{ id: aDoc, text: `B's document under the same id ${bWord}` }]);
		expect(bIngest.data[0]?.status).toBe("created");
		expect(expectOk<{ data: { text: string }[] }>(await a.s1.as.get(`/v1/documents/${aDoc}/chunks`))).toEqual(aChunks);
		expect((await b.s1.as.delete(`/v1/documents/${aDoc}`)).status).toBe(204);
		expect(expectOk<{ chunks: number }>(await a.s1.as.get(`/v1/documents/${aDoc}`)).chunks).toBe(aView.chunks);

		// B's retrieval and answers with A's exact words, in every mode and with A's bookmark: nothing of A's.
		for (const mode of MODES) {
			for (const withBookmark of [false, true]) {
				const body = { query: `${word} unreleased plan`, mode, ...(withBookmark ? { bookmark } : {}) };
				const hits = await search(b.s1.as, body);
				expect(hits.map((h) => h.document_id)).not.toContain(aDoc);
				const answer = expectOk<RagAnswer>(await b.s2.as.post("/v1/rag/query", { ...body, top_k: 2, max_tokens: 16 }));
				expect(answer.citations.map((c) => c.document_id)).not.toContain(aDoc);
				const streamed = await b.s2.as.post("/v1/rag/query", { ...body, top_k: 2, max_tokens: 16, stream: true });
				expect(streamed.status).toBe(200);
				expect(streamed.text).not.toContain(aDoc);
			}
		}
		// A filter on A's metadata values finds nothing either.
		expect(await search(b.s1.as, { query: word, mode: "keyword", filter: { owner: word } })).toEqual([]);

		// Conversations: subject 2 of A (and B, even a B subject with subject 1's very name) cannot read or delete
		// subject 1's, and its own conversation under the same id starts empty.
		const secret = marker("conv");
		const conv = `conv-${run}`;
		expectOk(
			await a.s1.as.post("/v1/chat/completions", {
				conversation_id: conv,
				max_tokens: 8,
				messages: [{ role: "user", content: `remember the launch code ${secret}` }],
			}),
		);
		const sameName = b.caller({ apiKey: (await createKey(admin, b.id, a.s1.subject, ["chat"])).key });
		const a2 = a.s2.as.with({ secrets: () => [secret, ...b.secrets] });
		for (const intruder of [
			a2,
			b.s1.as.with({ secrets: () => [secret, ...a.secrets] }),
			sameName.with({ secrets: () => [secret] }),
		]) {
			expectProblem(await intruder.get(`/v1/conversations/${conv}`), 404, "not-found");
			expectProblem(await intruder.delete(`/v1/conversations/${conv}`), 404, "not-found");
		}
		expectOk(
			await a2.post("/v1/chat/completions", {
				conversation_id: conv,
				max_tokens: 8,
				messages: [{ role: "user", content: "what was the launch code?" }],
			}),
		);
		const own = expectOk<{ messages: { content: string }[] }>(await a2.get(`/v1/conversations/${conv}`));
		expect(own.messages.map((m) => m.content)[0]).toBe("what was the launch code?");
		const first = expectOk<{ messages: { content: string }[] }>(await a.s1.as.get(`/v1/conversations/${conv}`));
		expect(first.messages.map((m) => m.content)[0]).toBe(`remember the launch code ${secret}`);
		expect(first.messages.some((m) => m.content.includes("what was the launch code"))).toBe(false);
	});

	it("8. mass assignment and injection: tenant/subject in bodies are ignored, SQL in filters is data, oversized filters 422, a filter of 10 fields × every operator works in every mode", async () => {
		const { a, b, run } = cast;
		// B names A as the tenant, in the body and in the document: stored under B all the same.
		const mDoc = `mass-${run}`;
		const mWord = marker("mass");
		b.secrets.push(mWord);
		const aBefore = await storageOf(a.s1.as);
		const massBody = {
			tenant: a.id,
			subject: a.s1.subject,
			documents: [{ id: mDoc, text: `planted by B ${mWord}`, tenant: a.id, subject: a.s1.subject, owner: a.id }],
		};
		const planted = expectOk<IngestAnswer>(await b.s1.as.post("/v1/documents", massBody), 201);
		expect(planted.data[0]?.status).toBe("created");
		expectProblem(await a.s1.as.get(`/v1/documents/${mDoc}`), 404, "not-found");
		expect(await search(a.s1.as, { query: mWord, mode: "keyword" })).toEqual([]);
		expect(expectOk<{ id: string }>(await b.s1.as.get(`/v1/documents/${mDoc}`)).id).toBe(mDoc);
		expect((await storageOf(a.s1.as)).documents).toEqual(aBefore.documents);
		// …and a search naming A's tenant reads B's documents only.
		const word = marker("filt");
		a.secrets.push(word);
		const fields = Array.from({ length: 10 }, (_, i) => `f${i}`);
		const metadataOf = (v: number) => ({ ...Object.fromEntries(fields.map((f) => [f, v])), tier: "gold", year: 2026 });
		const { bookmark } = await ingest(a.s1.as, [
			{ id: `fd-${run}`, text: `filtered document ${word}`, metadata: metadataOf(5) },
			{ id: `fn-${run}`, text: `filtered out ${word}`, metadata: metadataOf(4) },
		]);
		const viaBody = await search(b.s1.as, { query: word, mode: "keyword", tenant: a.id, subject: a.s1.subject });
		expect(viaBody).toEqual([]);

		const searchAll = async (filter: unknown) => {
			const out: { mode: string; status: number; ids: string[]; text: string }[] = [];
			for (const mode of MODES) {
				for (const withBookmark of [false, true]) {
					const res = await a.s2.as.post("/v1/rag/search", {
						query: word,
						mode,
						filter,
						top_k: 10,
						...(withBookmark ? { bookmark } : {}),
					});
					out.push({
						mode: `${mode}${withBookmark ? "+bookmark" : ""}`,
						status: res.status,
						ids: res.status === 200 ? (res.body as { data: Hit[] }).data.map((h) => h.document_id) : [],
						text: res.text,
					});
				}
			}
			return out;
		};

		// SQL in values is data: it matches nothing, and the tables are intact.
		for (const filter of [
			{ tier: "gold' OR '1'='1" },
			{ tier: `x"); DROP TABLE documents; --` },
			{ tier: { $in: ["' OR 1=1 --", "gold'--", "gold\\"] } },
			{ tier: { $lt: "' OR ''='" } },
			{ year: { $in: ["2026) OR (1=1", "2026' OR 1=1 --"] } },
			{ "tier.x": { $ne: "'; DELETE FROM chunks; --" }, year: -1 },
		]) {
			for (const r of await searchAll(filter)) {
				expect(r.status, `${r.mode} ${JSON.stringify(filter)}: ${r.text}`).toBe(200);
				expect(r.ids, r.mode).toEqual([]);
			}
		}
		// SQL, JSON paths and operators in field names or operator names: refused.
		for (const filter of [
			{ "tier') OR 1=1 --": "x" },
			{ 'tier"]': "x" },
			{ $where: "1" },
			{ tier: { $eq: "gold", $or: [1] } },
			{ tier: { $regex: ".*" } },
		]) {
			const res = await a.s2.as.post("/v1/rag/search", { query: word, mode: "keyword", filter });
			expectProblem(res, 422, "validation-failed");
		}
		expect((await documentIds(a.s1.as)).length).toBeGreaterThanOrEqual(2);

		// `$in` of 100 values on 10 fields: over Vectorize's 2048 bytes → 422 in every mode (never a D1 error).
		const hundred = Array.from({ length: 100 }, (_, i) => i);
		const huge = Object.fromEntries(fields.map((f) => [f, { $in: hundred }]));
		expect(utf8(JSON.stringify(huge))).toBeGreaterThanOrEqual(2_048);
		for (const r of await searchAll(huge)) {
			expect(r.status, `${r.mode}: ${r.text}`).toBe(422);
			expect(r.text).toContain("2048");
		}
		const hugeAnswer = expectProblem(
			await a.s2.as.post("/v1/rag/query", { query: word, filter: huge, max_tokens: 8, top_k: 1 }),
			422,
			"validation-failed",
		);
		expect(hugeAnswer.detail).toBeDefined();
		// `$in` of 100 values on one field: a correct answer.
		for (const r of await searchAll({ year: { $in: Array.from({ length: 100 }, (_, i) => 1927 + i) } })) {
			expect(r.status, r.text).toBe(200);
			expect(r.ids.sort(), r.mode).toEqual([`fd-${run}`, `fn-${run}`]);
		}

		// Ten fields × every operator, under 2048 bytes: works in every mode, and means the same in each.
		const everyOperator = Object.fromEntries(
			fields.map((f) => [f, { $eq: 5, $ne: 4, $lt: 6, $lte: 5, $gt: 4, $gte: 5, $in: [5, 7], $nin: [4, 3] }]),
		);
		expect(utf8(JSON.stringify(everyOperator))).toBeLessThan(2_048);
		for (const r of await searchAll(everyOperator)) {
			expect(r.status, `${r.mode}: ${r.text}`).toBe(200);
			expect(r.ids, r.mode).toEqual([`fd-${run}`]);
		}
		const answer = expectOk<RagAnswer>(
			await a.s2.as.post("/v1/rag/query", { query: word, filter: everyOperator, max_tokens: 16, top_k: 2 }),
		);
		expect(answer.citations.map((c) => c.document_id)).toEqual([`fd-${run}`]);
	});

	// 9. Upstream echo (a provider's 4xx message carrying our API key or the request back to the caller) needs a fake
	// provider, which wrangler dev here has none of: test/integration/chat-resilience.test.ts plays it against the
	// fake OpenAI upstream (test/helpers/node/fake-openai.ts) and proves only the plain error code passes through.
});

describe("attacks on a production deployment left unconfigured (wrangler dev, ENVIRONMENT=production)", () => {
	const prodBase = () => {
		if (!production) throw new Error("the production server did not start");
		return production.base;
	};
	const ISSUES = ["JWT_SIGNING_SECRET", "JWT_PREVIOUS_SIGNING_SECRET", "CORS_ORIGINS"];

	it("6. production is safe by default: 503 misconfigured naming every unsafe variable on API routes (no token is ever signed), /healthz 200, /readyz 503 listing them", async () => {
		const anonymous = new Caller(prodBase(), { ip: VALID_IP, secrets: () => [DEV_SECRET] });
		const health = expectOk<{ status: string }>(await anonymous.get("/healthz"));
		expect(health.status).toBe("ok");

		const ready = expectProblem(await anonymous.get("/readyz", { allow5xx: true }), 503, "not-ready");
		const config = (ready.checks as { config: { ok: boolean; extra?: { issues: { variable: string }[] } } }).config;
		expect(config.ok).toBe(false);
		expect(config.extra?.issues.map((i) => i.variable)).toEqual(expect.arrayContaining(ISSUES));

		const attempts: [Caller, string, string, unknown][] = [
			[anonymous.with({ authorization: basic("admin", "admin-secret") }), "POST", "/v1/auth/token", undefined],
			[anonymous.with({ apiKey: DEMO_KEY }), "GET", "/v1/auth/me", undefined],
			[
				anonymous.with({ apiKey: DEMO_KEY }),
				"POST",
				"/v1/chat/completions",
				{ messages: [{ role: "user", content: "hi" }] },
			],
			[anonymous.with({ apiKey: OPS_KEY }), "GET", "/metrics", undefined],
			[anonymous, "GET", "/v1/documents", undefined],
			[anonymous, "GET", "/version", undefined],
		];
		for (const [caller, method, path, json] of attempts) {
			const res = await caller.request(method, path, {
				allow5xx: true,
				...(path === "/v1/auth/token" ? { form: { grant_type: "client_credentials" } } : json ? { json } : {}),
			});
			const p = expectProblem(res, 503, "misconfigured");
			expect(
				(p.errors as { path: string }[]).map((e) => e.path),
				path,
			).toEqual(expect.arrayContaining(ISSUES));
			for (const variable of ISSUES) expect(p.detail, path).toContain(variable);
			expect(res.headers.get("retry-after")).toBe("30");
			expect(res.text).not.toContain("access_token");
		}
		// A CORS preflight from any site gets no permission either.
		const preflight = await fetch(`${prodBase()}/v1/chat/completions`, {
			method: "OPTIONS",
			headers: {
				Origin: "https://evil.example",
				"Access-Control-Request-Method": "POST",
				"CF-Connecting-IP": VALID_IP,
			},
		});
		await preflight.arrayBuffer();
		expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
	});
});
