/**
 * Retrieval (docs/rag.md#retrieval) in three modes: `vector` (the index, joined back to D1), `keyword` (BM25 over
 * FTS5) and `hybrid` (both, fused by reciprocal rank, src/rag/fusion.ts). D1 is the source of truth: vector matches
 * are joined back to D1 rows of the caller's tenant, so vectors of deleted, failed or foreign chunks never surface.
 * Read-your-writes: with a bookmark, chunks written up to it that the index has not processed yet (the fresh tail)
 * are scored from their stored embeddings. When the vector side fails, hybrid degrades to keyword search and vector
 * mode refuses ({@link RagError} `vector-search-unavailable`).
 *
 * @example
 * ```ts
 * const { hits } = await search(deps, { query: "roll back a canary", mode: "hybrid", topK: 5 });
 * ```
 *
 * @module
 */
import { cosine } from "../lib/cosine";
import { embedAll } from "../ports/embedder";
import type { Bookmark } from "./bookmark";
import { counted, type RagDeps, type SearchMode } from "./deps";
import { RagError } from "./errors";
import { type MetadataFilter, matches } from "./filter";
import { reciprocalRankFusion } from "./fusion";
import { namespaceOf, processedUpTo } from "./indexing";
import { chunksByIds, freshTail, keywordSearch } from "./search-store";
import type { ChunkRow } from "./store";

export type SearchRequest = {
	query: string;
	mode: SearchMode;
	topK: number;
	filter?: MetadataFilter | undefined;
	bookmark?: Bookmark | undefined;
};
export type SearchHit = {
	chunk_id: string;
	document_id: string;
	title: string | null;
	position: number;
	heading: string;
	text: string;
	metadata: Record<string, unknown>;
	score: number;
	scores: { vector: number | null; keyword: number | null; rrf: number | null };
	fresh: boolean;
};

type Scored = ChunkRow & { score: number; fresh?: boolean };

/** Most fresh-tail chunks scored per search (the newest first). */
const FRESH_TAIL_LIMIT = 2_000;

async function vectorHits(
	deps: RagDeps,
	req: SearchRequest,
	candidates: number,
): Promise<{ hits: (ChunkRow & { score: number; fresh: boolean })[]; best: number }> {
	const [vector] = await counted(deps, "embed", () => embedAll(deps.embedder, [req.query], deps.signal));
	if (!vector) return { hits: [], best: -1 };
	const namespace = await namespaceOf(deps.tenant);
	const topK = Math.min(100, candidates);
	const { matches: found } = await counted(deps, "vector_query", () =>
		deps.index.query(vector, {
			topK,
			namespace,
			returnMetadata: "none",
			// Vectorize refuses an empty filter object; `{}` means no filter.
			...(req.filter && Object.keys(req.filter).length > 0
				? { filter: req.filter as VectorizeVectorMetadataFilter }
				: {}),
		}),
	);
	// D1 decides what exists: deleted chunks and anything not the tenant's are dropped here.
	const rows = await chunksByIds(
		deps.db,
		deps.tenant,
		found.map((m) => m.id),
	);
	const scored = new Map<string, ChunkRow & { score: number; fresh: boolean }>();
	for (const m of found) {
		const row = rows.get(m.id);
		if (row && matches(req.filter, row.metadata)) scored.set(m.id, { ...row, score: m.score, fresh: false });
	}
	if (req.bookmark) {
		const upTo = await processedUpTo(deps.index, deps.log);
		const tail = await freshTail(deps.db, deps.tenant, upTo, req.bookmark.seq, req.filter, FRESH_TAIL_LIMIT);
		for (const t of tail) {
			if (scored.has(t.id)) continue;
			const { embedding, ...row } = t;
			scored.set(t.id, { ...row, score: cosine(vector, embedding), fresh: true });
		}
	}
	const hits = [...scored.values()].sort((a, b) => b.score - a.score).slice(0, candidates);
	return { hits, best: hits[0]?.score ?? -1 };
}

function toHit(row: ChunkRow & { fresh?: boolean }, score: number, scores: SearchHit["scores"]): SearchHit {
	return {
		chunk_id: row.id,
		document_id: row.document_id,
		title: row.title,
		position: row.position,
		heading: row.heading,
		text: row.text,
		metadata: row.metadata,
		score,
		scores,
		fresh: row.fresh ?? false,
	};
}

/**
 * Retrieval in one of three modes; hybrid fuses vector and keyword rankings by RRF. Timed by mode and outcome
 * (`degraded`: hybrid answered from keyword search alone because the vector side failed).
 */
export async function search(
	deps: RagDeps,
	req: SearchRequest,
): Promise<{ hits: SearchHit[]; bestVectorScore: number | null }> {
	const started = deps.now();
	const state = { degraded: false };
	try {
		const result = await retrieve(deps, req, state);
		deps.observeRetrieval?.(req.mode, state.degraded ? "degraded" : "ok", (deps.now() - started) / 1000);
		return result;
	} catch (err) {
		deps.observeRetrieval?.(req.mode, "error", (deps.now() - started) / 1000);
		throw err;
	}
}

async function retrieve(
	deps: RagDeps,
	req: SearchRequest,
	state: { degraded: boolean },
): Promise<{ hits: SearchHit[]; bestVectorScore: number | null }> {
	const candidates = Math.max(req.topK * 3, 20);
	if (req.mode === "keyword") {
		const rows = await keywordSearch(deps.db, deps.tenant, req.query, req.topK, req.filter);
		return {
			hits: rows.map((r) => toHit(r, r.score, { vector: null, keyword: r.score, rrf: null })),
			bestVectorScore: null,
		};
	}
	let vec: Awaited<ReturnType<typeof vectorHits>>;
	try {
		vec = await vectorHits(deps, req, candidates);
	} catch (err) {
		if (err instanceof RagError) throw err;
		// The embedder or the vector index failed: vector mode cannot answer; hybrid degrades to keyword search.
		deps.log.warn("vector retrieval failed", { mode: req.mode, error_message: String(err) });
		if (req.mode === "vector") throw new RagError({ code: "vector-search-unavailable" }, { cause: err });
		vec = { hits: [], best: -1 };
		state.degraded = true;
	}
	if (req.mode === "vector") {
		return {
			hits: vec.hits.slice(0, req.topK).map((r) => toHit(r, r.score, { vector: r.score, keyword: null, rrf: null })),
			bestVectorScore: vec.best,
		};
	}
	const kw = await keywordSearch(deps.db, deps.tenant, req.query, candidates, req.filter);
	const hits = reciprocalRankFusion<Scored>([vec.hits, kw], (r) => r.id)
		.slice(0, req.topK)
		.map(({ rrf, from: [v, k] }) =>
			toHit((v ?? k) as Scored, rrf, { vector: v?.score ?? null, keyword: k?.score ?? null, rrf }),
		);
	return { hits, bestVectorScore: vec.best };
}
