import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sseData } from "../../src/chat/sse";
import { bearer, callStreaming, callWith, freshPrincipalToken } from "../helpers/workers/auth";
import { expectProblem } from "../helpers/workers/http";

let n = 0;
const unique = (label: string) => `${label}-${Date.now().toString(36)}-${n++}`;
/** A fresh tenant with a principal that may read, write and chat; each test uses its own local index too. */
async function tenantAuth(label: string) {
	const tenant = unique(label);
	return {
		tenant,
		auth: bearer(await freshPrincipalToken(`${tenant}-user`, tenant, ["rag:read", "rag:write", "chat"])),
	};
}
const json = (auth: Record<string, string>, body: unknown, extra: Record<string, string> = {}): RequestInit => ({
	method: "POST",
	headers: { ...auth, ...extra, "Content-Type": "application/json" },
	body: JSON.stringify(body),
});

type Hit = {
	chunk_id: string;
	document_id: string;
	text: string;
	score: number;
	fresh: boolean;
	scores: Record<string, number | null>;
};
type IngestBody = { data: { id: string; status: string; chunks: number }[]; bookmark: string };

const RUNBOOK = `# Rollback runbook

When a canary fails its SLO, roll back with wrangler rollback and page the on-call engineer.

## Error codes

The error ERR-4471 means the vector index rejected a write because the dimensions did not match.

## Contacts

Escalate to the platform team in the #edge-oncall channel.`;

const DOCS = [
	{ id: "runbook", title: "Rollback runbook", text: RUNBOOK, metadata: { topic: "ops", year: 2026 } },
	{
		id: "billing",
		title: "Billing policy",
		text: "Invoices are issued monthly. Refunds take ten business days to process.",
		metadata: { topic: "billing", year: 2024 },
	},
	{
		id: "latency",
		title: "Latency guide",
		text: "Edge workers answer close to users, so latency stays low for global traffic.",
		metadata: { topic: "ops", year: 2025 },
	},
];

function vars(extra: Record<string, string> = {}) {
	return {
		RAG_INDEX_NAME: unique("idx")
			.toLowerCase()
			.replace(/[^a-z0-9-]/g, ""),
		...extra,
	};
}

async function ingest(
	v: Record<string, string>,
	auth: Record<string, string>,
	docs: unknown[],
	extra: Record<string, string> = {},
) {
	return callWith(v, "/v1/documents", json(auth, { documents: docs }, extra));
}

async function searchHits(v: Record<string, string>, auth: Record<string, string>, body: object): Promise<Hit[]> {
	const res = await callWith(v, "/v1/rag/search", json(auth, body));
	expect(res.status, await res.clone().text()).toBe(200);
	return ((await res.json()) as { data: Hit[] }).data;
}

describe("RAG round trip", () => {
	it("ingests, chunks by headings, and finds by meaning, by exact term and hybrid", async () => {
		const v = vars();
		const { auth } = await tenantAuth("rt");
		const res = await ingest(v, auth, DOCS);
		expect(res.status).toBe(201);
		const body = (await res.json()) as IngestBody;
		expect(body.data.map((d) => d.status)).toEqual(["created", "created", "created"]);
		// Three short sections: the first two (under RAG_MIN_CHUNK_CHARS together) share a chunk, the last ends the document.
		expect(body.data[0]?.chunks).toBe(2);
		expect(body.bookmark).toMatch(/^rb1\./);

		const chunks = (await (await callWith(v, "/v1/documents/runbook/chunks", { headers: auth })).json()) as {
			data: { heading: string; text: string }[];
		};
		expect(chunks.data[0]?.text).toContain("Error codes\n\nThe error ERR-4471");
		expect(chunks.data.map((c) => c.heading)).toEqual([
			"Rollback runbook > Rollback runbook",
			"Rollback runbook > Rollback runbook > Contacts",
		]);

		const exact = await searchHits(v, auth, { query: "ERR-4471", mode: "keyword" });
		expect(exact[0]?.text).toContain("ERR-4471");
		const vector = await searchHits(v, auth, { query: "how do I roll back a failed canary", mode: "vector" });
		expect(vector[0]?.document_id).toBe("runbook");
		const hybrid = await searchHits(v, auth, { query: "refunds processing time", top_k: 3 });
		expect(hybrid[0]?.document_id).toBe("billing");
		expect(hybrid[0]?.scores).toMatchObject({ rrf: expect.any(Number) });

		const filtered = await searchHits(v, auth, {
			query: "latency and rollback",
			mode: "hybrid",
			filter: { topic: "ops", year: { $gte: 2026 } },
		});
		expect(new Set(filtered.map((h) => h.document_id))).toEqual(new Set(["runbook"]));
	});

	it("answers with inline citations, streams them in-band, and says when it does not know", async () => {
		const v = vars();
		const { auth } = await tenantAuth("qa");
		await ingest(v, auth, DOCS);
		const res = await callWith(v, "/v1/rag/query", json(auth, { query: "What does ERR-4471 mean?" }));
		expect(res.status).toBe(200);
		const answer = (await res.json()) as {
			answer: string;
			grounded: boolean;
			citations: { n: number; document_id: string }[];
			usage: { total_tokens: number };
		};
		expect(answer.grounded).toBe(true);
		expect(answer.answer).toMatch(/\[1\]/);
		expect(answer.citations[0]).toMatchObject({ n: 1, document_id: "runbook" });
		expect(answer.usage.total_tokens).toBeGreaterThan(0);

		const { res: streamed, settled } = await callStreaming(
			v,
			"/v1/rag/query",
			json(auth, { query: "What does ERR-4471 mean?", stream: true }),
		);
		const events: string[] = [];
		for await (const d of sseData(streamed.body as ReadableStream<Uint8Array>)) events.push(d);
		await settled();
		expect(JSON.parse(events[0] ?? "{}")).toMatchObject({
			object: "rag.citations",
			citations: [{ n: 1, document_id: "runbook" }],
		});
		expect(events.at(-1)).toBe("[DONE]");
		const text = events
			.slice(1, -1)
			.map((e) => JSON.parse(e).choices?.[0]?.delta?.content ?? "")
			.join("");
		expect(text).toBe(answer.answer);

		const unknown = (await (
			await callWith(v, "/v1/rag/query", json(auth, { query: "zebra migration patterns in antarctica" }))
		).json()) as {
			answer: string;
			citations: unknown[];
			grounded: boolean;
		};
		expect(unknown).toMatchObject({ grounded: false, citations: [] });
		expect(unknown.answer).toMatch(/don't know/);
	});

	it("replaces changed documents, skips unchanged ones, and deletes from every retriever", async () => {
		const v = vars();
		const { auth } = await tenantAuth("del");
		await ingest(v, auth, DOCS);
		const again = (await (await ingest(v, auth, DOCS)).json()) as IngestBody;
		expect(again.data.map((d) => d.status)).toEqual(["unchanged", "unchanged", "unchanged"]);
		const changed = (await (
			await ingest(v, auth, [{ ...DOCS[1], text: "Invoices are issued weekly now." }])
		).json()) as IngestBody;
		expect(changed.data[0]?.status).toBe("replaced");
		expect(await searchHits(v, auth, { query: "refunds", mode: "keyword" })).toEqual([]);

		expect((await callWith(v, "/v1/documents/runbook", { method: "DELETE", headers: auth })).status).toBe(204);
		for (const mode of ["keyword", "vector", "hybrid"]) {
			const hits = await searchHits(v, auth, { query: "ERR-4471 rollback canary", mode, bookmark: again.bookmark });
			expect(
				hits.map((h) => h.document_id),
				mode,
			).not.toContain("runbook");
		}
		await expectProblem(await callWith(v, "/v1/documents/runbook", { headers: auth }), 404, "not-found");
		const list = (await (await callWith(v, "/v1/documents?limit=1", { headers: auth })).json()) as {
			data: { id: string }[];
			next_cursor: string;
		};
		expect(list.data).toHaveLength(1);
		const next = (await (
			await callWith(v, `/v1/documents?limit=1&cursor=${encodeURIComponent(list.next_cursor)}`, { headers: auth })
		).json()) as { data: { id: string }[] };
		expect(next.data).toHaveLength(1);
		expect(next.data[0]?.id).not.toBe(list.data[0]?.id);
	});
});

describe("read-your-writes", () => {
	it("a bookmark sees a write the index has not applied yet; without it, vector search is eventually consistent", async () => {
		const v = vars({ RAG_INDEXING_DELAY_MS: "60000" });
		const { auth } = await tenantAuth("ryw");
		const body = (await (await ingest(v, auth, DOCS)).json()) as IngestBody;
		const status = (await (await callWith(v, "/v1/documents/runbook", { headers: auth })).json()) as { status: string };
		expect(status.status).toBe("fresh");
		const stale = await searchHits(v, auth, { query: "roll back a failed canary", mode: "vector" });
		expect(stale).toEqual([]);
		const fresh = await searchHits(v, auth, {
			query: "roll back a failed canary",
			mode: "vector",
			bookmark: body.bookmark,
		});
		expect(fresh[0]).toMatchObject({ document_id: "runbook", fresh: true });
		// Keyword search reads D1: always current.
		expect((await searchHits(v, auth, { query: "ERR-4471", mode: "keyword" }))[0]?.document_id).toBe("runbook");
	});
});

describe("ingest limits and idempotency", () => {
	it("answers 413 for each limit and stores nothing", async () => {
		const v = vars({ RAG_MAX_BATCH_DOCUMENTS: "2", RAG_MAX_DOCUMENT_BYTES: "100", RAG_MAX_CHUNKS_PER_REQUEST: "2" });
		const { auth } = await tenantAuth("lim");
		await expectProblem(await ingest(v, auth, DOCS), 413, "content-too-large");
		const big = await ingest(v, auth, [{ id: "big", text: "x".repeat(101) }]);
		expect((await expectProblem(big, 413, "content-too-large")).errors?.[0]?.path).toBe("documents.0.text");
		const many = await ingest({ ...v, RAG_MAX_DOCUMENT_BYTES: "100000", RAG_CHUNK_CHARS: "200" }, auth, [
			{ id: "many", text: Array.from({ length: 200 }, (_, i) => `word${i}`).join(" ") },
		]);
		await expectProblem(many, 413, "content-too-large");
		await expectProblem(await ingest(v, auth, [{ id: "bad id!", text: "x" }]), 422, "validation-failed");
		await expectProblem(await ingest(v, auth, [{ text: "" }]), 422, "validation-failed");
		const list = (await (await callWith(v, "/v1/documents", { headers: auth })).json()) as { data: unknown[] };
		expect(list.data).toEqual([]);
	});

	it("replays a retried ingest with the same Idempotency-Key, and refuses the key with another body", async () => {
		const v = vars();
		const { auth } = await tenantAuth("idem");
		const key = { "Idempotency-Key": unique("key") };
		const first = await ingest(v, auth, [DOCS[0]], key);
		expect(first.status).toBe(201);
		const again = await ingest(v, auth, [DOCS[0]], key);
		expect(again.status).toBe(201);
		expect(again.headers.get("Idempotent-Replayed")).toBe("true");
		expect(await again.json()).toEqual(await first.json());
		await expectProblem(await ingest(v, auth, [DOCS[1]], key), 422, "validation-failed");
	});

	it("refuses writes from another embedding model than the index holds", async () => {
		const v = vars();
		const { auth } = await tenantAuth("model");
		await env.DB.prepare(
			"INSERT INTO rag_index_meta (index_name, model, dimensions, created_at) VALUES (?, 'other-model', 768, 0)",
		)
			.bind(v.RAG_INDEX_NAME)
			.run();
		await expectProblem(await ingest(v, auth, [DOCS[0]]), 409, "conflict");
	});
});

describe("tenancy", () => {
	it("never returns another tenant's chunk, from any retriever or the fresh tail (property)", async () => {
		const words = [
			"edge",
			"worker",
			"canary",
			"rollback",
			"latency",
			"invoice",
			"vector",
			"index",
			"token",
			"quota",
			"tenant",
			"secret",
		];
		const v = vars({ RAG_INDEXING_DELAY_MS: "30000" });
		const a = await tenantAuth("ta");
		const b = await tenantAuth("tb");
		const sentence = fc.array(fc.constantFrom(...words), { minLength: 3, maxLength: 12 }).map((w) => w.join(" "));
		await fc.assert(
			fc.asyncProperty(
				fc.array(sentence, { minLength: 1, maxLength: 3 }),
				fc.array(sentence, { minLength: 1, maxLength: 3 }),
				sentence,
				async (textsA, textsB, query) => {
					const ra = (await (
						await ingest(
							v,
							a.auth,
							textsA.map((t) => ({ text: t, metadata: { owner: "a" } })),
						)
					).json()) as IngestBody;
					const rb = (await (
						await ingest(
							v,
							b.auth,
							textsB.map((t) => ({ text: t, metadata: { owner: "b" } })),
						)
					).json()) as IngestBody;
					const bIds = new Set(rb.data.map((d) => d.id));
					for (const mode of ["vector", "keyword", "hybrid"]) {
						for (const bookmark of [undefined, ra.bookmark, rb.bookmark]) {
							const hits = await searchHits(v, a.auth, { query, mode, top_k: 50, ...(bookmark ? { bookmark } : {}) });
							for (const h of hits) expect(bIds.has(h.document_id), `${mode} leaked ${h.document_id}`).toBe(false);
						}
					}
				},
			),
			{ numRuns: 8 },
		);
	});
});

describe("POST /v1/embeddings", () => {
	it("answers OpenAI's shape in float or base64, and checks model, dimensions and input count", async () => {
		const { auth } = await tenantAuth("emb");
		const res = await callWith({}, "/v1/embeddings", json(auth, { input: ["edge workers", "edge workers"] }));
		const body = (await res.json()) as {
			object: string;
			model: string;
			data: { index: number; embedding: number[] }[];
			usage: { total_tokens: number };
		};
		expect(body).toMatchObject({ object: "list", model: "local-hash-768" });
		expect(body.data).toHaveLength(2);
		expect(body.data[0]?.embedding).toHaveLength(768);
		expect(body.data[0]?.embedding).toEqual(body.data[1]?.embedding);
		const b64 = (await (
			await callWith({}, "/v1/embeddings", json(auth, { input: "edge workers", encoding_format: "base64" }))
		).json()) as { data: { embedding: string }[] };
		const bytes = Uint8Array.from(atob(b64.data[0]?.embedding ?? ""), (ch) => ch.charCodeAt(0));
		expect(Array.from(new Float32Array(bytes.buffer))[0]).toBeCloseTo(body.data[0]?.embedding[0] ?? Number.NaN, 6);
		await expectProblem(
			await callWith({}, "/v1/embeddings", json(auth, { input: "x", model: "text-embedding-3-small" })),
			404,
			"model-not-found",
		);
		await expectProblem(
			await callWith({}, "/v1/embeddings", json(auth, { input: "x", dimensions: 12 })),
			422,
			"validation-failed",
		);
		await expectProblem(
			await callWith({ EMBEDDINGS_MAX_INPUTS: "2" }, "/v1/embeddings", json(auth, { input: ["a", "b", "c"] })),
			413,
			"content-too-large",
		);
	});
});

describe("degraded retrieval", () => {
	it("hybrid falls back to keyword search when the vector side fails; vector mode answers 503", async () => {
		const { auth } = await tenantAuth("degraded");
		const v = vars();
		await ingest(v, auth, DOCS);
		// An embedder that cannot run here (no AI binding) breaks the vector side only.
		const broken = { ...v, RAG_EMBEDDER: "workers-ai" };
		const hybrid = await searchHits(broken, auth, { query: "ERR-4471" });
		expect(hybrid[0]?.document_id).toBe("runbook");
		expect(hybrid[0]?.scores.vector).toBeNull();
		await expectProblem(
			await callWith(broken, "/v1/rag/search", json(auth, { query: "ERR-4471", mode: "vector" })),
			503,
			"upstream-unavailable",
		);
	});
});
