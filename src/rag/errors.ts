/**
 * What RAG refuses or cannot do, as domain errors: each names what went wrong in RAG's terms (a quota, a bookmark,
 * an embedding model) and carries the figures a caller needs, never an HTTP status. The routes map them to
 * problem+json in one place (src/routes/rag-problems.ts); a test of the domain asserts on `reason`.
 *
 * @example
 * ```ts
 * throw new RagError({ code: "invalid-bookmark" });
 * if (err instanceof RagError && err.reason.code === "quota-exceeded") log(err.reason.quota);
 * ```
 *
 * @module
 */

/** The per-tenant storage quotas (docs/rag.md#storage-bounds). */
export type Quota = "documents" | "chunks" | "bytes";

export type RagErrorReason =
	/** A bookmark this service did not issue (or garbled in transit). */
	| { code: "invalid-bookmark" }
	/** The same document id twice in one ingest batch. */
	| { code: "duplicate-document-ids" }
	/** The index was built with another embedding model (vectors of two models are not comparable). */
	| {
			code: "embedding-model-mismatch";
			index: { model: string; dimensions: number };
			embedder: { model: string; dimensions: number };
	  }
	/** One ingest request makes more chunks than a request may. */
	| { code: "too-many-chunks"; chunks: number; max: number }
	/**
	 * A write would take the tenant past a quota. `requested` is what the write adds to it (net of what it
	 * replaces); `used` what is stored now, null when unknown. `requested > limit`: this write can never fit.
	 */
	| { code: "quota-exceeded"; quota: Quota; limit: number; used: number | null; requested: number }
	/** The embedder failed during an ingest: nothing was stored. */
	| { code: "embedding-failed" }
	/** The vector index refused an ingest's vectors: nothing was stored. */
	| { code: "vector-write-failed" }
	/** Vector search cannot answer now (the embedder or the index failed). */
	| { code: "vector-search-unavailable" };

export type RagErrorCode = RagErrorReason["code"];

/** The one exception type of the RAG domain; `reason` says which refusal it is. */
export class RagError extends Error {
	readonly reason: RagErrorReason;

	constructor(reason: RagErrorReason, options?: { cause?: unknown }) {
		super(reason.code, options);
		this.name = "RagError";
		this.reason = reason;
	}
}
