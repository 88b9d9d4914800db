/**
 * The one place RAG's domain errors ({@link RagError}, src/rag/errors.ts) become problems (RFC 9457): each reason
 * gets its status, stable type, detail and headers here, so the routes of src/routes/rag.ts and
 * src/routes/documents.ts answer alike and the domain knows nothing of HTTP.
 *
 * @example
 * ```ts
 * const { hits } = await orProblem(() => search(deps, request)); // a RagError leaves as its AppError
 * ```
 *
 * @module
 */
import { AppError, validationFailed } from "../http/app-error";
import { type Quota, RagError, type RagErrorReason } from "../rag/errors";

/** The configuration variable of each quota, named in the problem so an operator knows what to raise. */
const QUOTA_VARIABLES: Record<Quota, string> = {
	documents: "RAG_TENANT_MAX_DOCUMENTS",
	chunks: "RAG_TENANT_MAX_CHUNKS",
	bytes: "RAG_TENANT_MAX_BYTES",
};

/** Upstream failures: retry after this many seconds. */
const RETRY_AFTER_S = "5";

/**
 * A quota refusal: 413 when this request alone is larger than the whole quota (it can never fit), 429 when the
 * tenant's stored data leaves no room for it (delete documents, or ask for a larger quota).
 */
function quotaProblem(r: Extract<RagErrorReason, { code: "quota-exceeded" }>, cause: unknown): AppError {
	const variable = QUOTA_VARIABLES[r.quota];
	const extensions = {
		quota: r.quota,
		quota_variable: variable,
		limit: r.limit,
		...(r.used !== null ? { used: r.used } : {}),
		requested: Math.max(0, r.requested),
	};
	if (r.requested > r.limit) {
		return new AppError({
			status: 413,
			slug: "content-too-large",
			detail: `This request alone needs ${r.requested} ${r.quota}, more than the tenant's quota of ${r.limit} (${variable}); split it`,
			extensions,
			cause,
		});
	}
	return new AppError({
		status: 429,
		slug: "storage-quota-exceeded",
		detail: `The tenant's ${r.quota} quota (${r.limit}, ${variable}) leaves no room for this request${r.used !== null ? ` (${r.used} in use, ${r.requested} more asked)` : ""}; delete documents or ask for a larger quota`,
		extensions,
		cause,
	});
}

/** The problem a RAG domain error is on the wire. */
export function ragProblem(err: RagError): AppError {
	const r = err.reason;
	// What failed underneath (the embedder's or the index's error) is what the 5xx log line should show.
	const cause = err.cause;
	const upstream = { status: 503, slug: "upstream-unavailable", headers: { "Retry-After": RETRY_AFTER_S } } as const;
	switch (r.code) {
		case "invalid-bookmark":
			return validationFailed(
				"bookmark is not one this service issued",
				[{ path: "bookmark", message: "invalid" }],
				cause,
			);
		case "duplicate-document-ids":
			return validationFailed("document ids repeat within the batch", undefined, cause);
		case "embedding-model-mismatch":
			return new AppError({
				status: 409,
				slug: "conflict",
				detail: `The index holds ${r.index.model} (${r.index.dimensions} dimensions) vectors; this deployment embeds with ${r.embedder.model} (${r.embedder.dimensions}). Re-index into a new index instead of mixing them.`,
				cause,
			});
		case "too-many-chunks":
			return new AppError({
				status: 413,
				slug: "content-too-large",
				detail: `The batch makes ${r.chunks} chunks; at most ${r.max} per request — split it`,
				extensions: { max_chunks: r.max },
				cause,
			});
		case "quota-exceeded":
			return quotaProblem(r, cause);
		case "embedding-failed":
			return new AppError({ ...upstream, detail: "Embedding failed; nothing was stored — retry shortly", cause });
		case "vector-write-failed":
			return new AppError({
				...upstream,
				detail: "The vector index refused the write; nothing was stored — retry shortly",
				cause,
			});
		case "vector-search-unavailable":
			return new AppError({
				...upstream,
				detail: "Vector search is unavailable right now; retry, or use mode keyword",
				cause,
			});
	}
}

/** Runs RAG domain work; a {@link RagError} it throws leaves as its problem, anything else as it was. */
export async function orProblem<T>(work: () => Promise<T> | T): Promise<T> {
	try {
		return await work();
	} catch (err) {
		throw err instanceof RagError ? ragProblem(err) : err;
	}
}
