/**
 * Retrieval's D1 queries (migrations/0002_rag.sql): chunks by id (the join that lets D1 decide what vector matches
 * still exist), BM25 keyword search over FTS5, and the fresh tail the vector index may not show yet. Every query
 * carries the tenant predicate; metadata filters compile to SQL through src/rag/filter.ts.
 *
 * @example
 * ```ts
 * const hits = await keywordSearch(env.DB, "acme", "roll back a canary", 20, { topic: "deploy" });
 * ```
 *
 * @module
 */
import { decodeVector } from "../lib/encoding";
import { type MetadataFilter, toSql } from "./filter";
import { type ChunkRow, IDS_PER_QUERY, parseMetadata } from "./store";

type RawChunk = Omit<ChunkRow, "metadata"> & { metadata: string };

const CHUNK_COLUMNS = "c.seq, c.id, c.document_id, c.position, c.heading, c.text, c.created_at, d.title, d.metadata";

/** Chunks by id, only the tenant's: ids of deleted chunks (or another tenant's) simply do not come back. */
export async function chunksByIds(db: D1Database, tenant: string, ids: string[]): Promise<Map<string, ChunkRow>> {
	const out = new Map<string, ChunkRow>();
	for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
		const part = ids.slice(i, i + IDS_PER_QUERY);
		const { results } = await db
			.prepare(
				`SELECT ${CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.tenant = c.tenant AND d.id = c.document_id
				WHERE c.tenant = ? AND c.id IN (${part.map(() => "?").join(", ")})`,
			)
			.bind(tenant, ...part)
			.all<RawChunk>();
		for (const r of results) out.set(r.id, { ...r, metadata: parseMetadata(r.metadata) });
	}
	return out;
}

/** Words too common to say anything about relevance (they would make every question "match"). */
const STOPWORDS = new Set(
	"a an and are as at be but by can do does for from has have how i if in into is it its me my no not of on or our so than that the their then there these they this to was we what when where which who why will with you your".split(
		" ",
	),
);

/**
 * FTS5 MATCH expression for free text: each word quoted (no operators from users), stopwords dropped, any word may
 * match (BM25 ranks documents matching more, and rarer, words first).
 */
export function ftsQuery(text: string): string | null {
	const words = (text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).filter((w) => !STOPWORDS.has(w)).slice(0, 32);
	return words.length > 0 ? words.map((w) => `"${w}"`).join(" OR ") : null;
}

/** BM25 keyword search over the tenant's chunks (best first; `bm25` is lower-is-better, returned negated). */
export async function keywordSearch(
	db: D1Database,
	tenant: string,
	query: string,
	limit: number,
	filter: MetadataFilter | undefined,
): Promise<(ChunkRow & { score: number })[]> {
	const match = ftsQuery(query);
	if (!match) return [];
	const where = toSql(filter, "d.metadata");
	const { results } = await db
		.prepare(
			`SELECT ${CHUNK_COLUMNS}, bm25(chunks_fts) AS rank
			FROM chunks_fts JOIN chunks c ON c.seq = chunks_fts.rowid
			JOIN documents d ON d.tenant = c.tenant AND d.id = c.document_id
			WHERE chunks_fts MATCH ? AND c.tenant = ? AND ${where.sql}
			ORDER BY rank LIMIT ?`,
		)
		.bind(match, tenant, ...where.params, limit)
		.all<RawChunk & { rank: number }>();
	return results.map(({ rank, ...r }) => ({ ...r, metadata: parseMetadata(r.metadata), score: -rank }));
}

/**
 * The fresh tail: the tenant's chunks written after `afterMs` (what the vector index may not show yet) and up to
 * `uptoSeq` (the bookmark), with their stored embeddings.
 */
export async function freshTail(
	db: D1Database,
	tenant: string,
	afterMs: number,
	uptoSeq: number,
	filter: MetadataFilter | undefined,
	limit: number,
): Promise<(ChunkRow & { embedding: Float32Array })[]> {
	const where = toSql(filter, "d.metadata");
	const { results } = await db
		.prepare(
			`SELECT ${CHUNK_COLUMNS}, c.embedding FROM chunks c JOIN documents d ON d.tenant = c.tenant AND d.id = c.document_id
			WHERE c.tenant = ? AND c.created_at > ? AND c.seq <= ? AND ${where.sql}
			ORDER BY c.seq DESC LIMIT ?`,
		)
		.bind(tenant, afterMs, uptoSeq, ...where.params, limit)
		.all<RawChunk & { embedding: unknown }>();
	return results.map((r) => ({ ...r, metadata: parseMetadata(r.metadata), embedding: decodeVector(r.embedding) }));
}
