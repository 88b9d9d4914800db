import { describe, expect, it } from "vitest";
import { AppError } from "../../src/http/app-error";
import { RagError, type RagErrorReason } from "../../src/rag/errors";
import { orProblem, ragProblem } from "../../src/routes/rag-problems";

const problemOf = (reason: RagErrorReason, cause?: unknown) => {
	const err = ragProblem(new RagError(reason, { cause }));
	return { status: err.status, slug: err.slug, detail: err.detail, headers: err.headers, problem: err.toProblem("r") };
};

describe("RAG domain errors on the wire", () => {
	it("an invalid bookmark is a 422 naming the field", () => {
		expect(problemOf({ code: "invalid-bookmark" }).problem).toEqual({
			type: "https://errors.edge-ai-api.dev/validation-failed",
			title: "Unprocessable Content",
			status: 422,
			detail: "bookmark is not one this service issued",
			instance: "r",
			errors: [{ path: "bookmark", message: "invalid" }],
		});
	});

	it("repeated document ids are a 422", () => {
		expect(problemOf({ code: "duplicate-document-ids" })).toMatchObject({
			status: 422,
			slug: "validation-failed",
			detail: "document ids repeat within the batch",
		});
	});

	it("another embedding model is a 409 saying what the index holds", () => {
		const p = problemOf({
			code: "embedding-model-mismatch",
			index: { model: "local-hash-768", dimensions: 768 },
			embedder: { model: "@cf/baai/bge-base-en-v1.5", dimensions: 768 },
		});
		expect(p).toMatchObject({ status: 409, slug: "conflict" });
		expect(p.detail).toBe(
			"The index holds local-hash-768 (768 dimensions) vectors; this deployment embeds with @cf/baai/bge-base-en-v1.5 (768). Re-index into a new index instead of mixing them.",
		);
	});

	it("too many chunks is a 413 with the limit", () => {
		const p = problemOf({ code: "too-many-chunks", chunks: 1200, max: 1000 });
		expect(p).toMatchObject({
			status: 413,
			slug: "content-too-large",
			detail: "The batch makes 1200 chunks; at most 1000 per request — split it",
		});
		expect(p.problem.max_chunks).toBe(1000);
	});

	it("a quota with no room left is a 429 naming the quota and its variable", () => {
		const p = problemOf({ code: "quota-exceeded", quota: "chunks", limit: 100, used: 98, requested: 5 });
		expect(p).toMatchObject({
			status: 429,
			slug: "storage-quota-exceeded",
			detail:
				"The tenant's chunks quota (100, RAG_TENANT_MAX_CHUNKS) leaves no room for this request (98 in use, 5 more asked); delete documents or ask for a larger quota",
		});
		expect(p.problem).toMatchObject({
			quota: "chunks",
			quota_variable: "RAG_TENANT_MAX_CHUNKS",
			limit: 100,
			used: 98,
			requested: 5,
		});
	});

	it("a quota the usage is unknown for leaves `used` out", () => {
		const p = problemOf({ code: "quota-exceeded", quota: "bytes", limit: 1000, used: null, requested: 10 });
		expect(p.detail).toBe(
			"The tenant's bytes quota (1000, RAG_TENANT_MAX_BYTES) leaves no room for this request; delete documents or ask for a larger quota",
		);
		expect(p.problem).not.toHaveProperty("used");
	});

	it("a request larger than the whole quota is a 413: it can never fit", () => {
		const p = problemOf({ code: "quota-exceeded", quota: "documents", limit: 3, used: 0, requested: 4 });
		expect(p).toMatchObject({
			status: 413,
			slug: "content-too-large",
			detail:
				"This request alone needs 4 documents, more than the tenant's quota of 3 (RAG_TENANT_MAX_DOCUMENTS); split it",
		});
		expect(p.problem).toMatchObject({ quota: "documents", limit: 3, used: 0, requested: 4 });
	});

	it("never reports a negative request (a write that shrinks the quota's usage)", () => {
		const p = problemOf({ code: "quota-exceeded", quota: "chunks", limit: 10, used: 12, requested: -2 });
		expect(p.status).toBe(429);
		expect(p.problem.requested).toBe(0);
	});

	it.each([
		["embedding-failed", "Embedding failed; nothing was stored — retry shortly"],
		["vector-write-failed", "The vector index refused the write; nothing was stored — retry shortly"],
		["vector-search-unavailable", "Vector search is unavailable right now; retry, or use mode keyword"],
	] as const)("%s is a 503 with Retry-After, keeping the upstream error as the cause", (code, detail) => {
		const upstream = new Error("embedder down");
		const err = ragProblem(new RagError({ code }, { cause: upstream }));
		expect(err).toMatchObject({ status: 503, slug: "upstream-unavailable", detail });
		expect(err.headers).toEqual({ "Retry-After": "5" });
		expect(err.cause).toBe(upstream);
	});
});

describe("orProblem", () => {
	it("maps a RagError thrown by the work, synchronously or not", async () => {
		await expect(orProblem(() => Promise.reject(new RagError({ code: "invalid-bookmark" })))).rejects.toMatchObject({
			status: 422,
		});
		await expect(
			orProblem(() => {
				throw new RagError({ code: "duplicate-document-ids" });
			}),
		).rejects.toBeInstanceOf(AppError);
	});

	it("lets anything else through untouched, and answers the work's value", async () => {
		const bug = new TypeError("bug");
		await expect(orProblem(() => Promise.reject(bug))).rejects.toBe(bug);
		const refusal = new AppError({ status: 422, slug: "validation-failed", detail: "top_k" });
		await expect(orProblem(() => Promise.reject(refusal))).rejects.toBe(refusal);
		expect(await orProblem(async () => 7)).toBe(7);
	});
});
