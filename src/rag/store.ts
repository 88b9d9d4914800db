import { type MetadataFilter, toSql } from "./filter";

/**
 * D1 access for RAG (migrations/0002_rag.sql). Every statement carries the tenant predicate; nothing here reads or
 * writes across tenants. Embeddings are stored as Float32 BLOBs so the fresh tail can be scored without the index.
 */
export type DocumentRow = {
	id: string;
	title: string | null;
	metadata: Record<string, unknown>;
	content_hash: string;
	chars: number;
	chunk_count: number;
	stored_bytes: number;
	embedding_model: string;
	mutation_id: string | null;
	created_at: number;
	updated_at: number;
};

export type ChunkRow = {
	seq: number;
	id: string;
	document_id: string;
	position: number;
	heading: string;
	text: string;
	created_at: number;
	title: string | null;
	metadata: Record<string, unknown>;
};

type RawDocument = Omit<DocumentRow, "metadata"> & { metadata: string };
type RawChunk = Omit<ChunkRow, "metadata"> & { metadata: string };

const parse = (json: string): Record<string, unknown> => {
	try {
		const v: unknown = JSON.parse(json);
		return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
	} catch {
		return {};
	}
};

export function encodeVector(v: readonly number[]): Uint8Array {
	return new Uint8Array(new Float32Array(v).buffer);
}

export function decodeVector(blob: unknown): Float32Array {
	const bytes =
		blob instanceof ArrayBuffer
			? new Uint8Array(blob)
			: blob instanceof Uint8Array
				? blob
				: Array.isArray(blob)
					? Uint8Array.from(blob as number[])
					: new Uint8Array();
	const copy = new Uint8Array(bytes.byteLength);
	copy.set(bytes);
	return new Float32Array(copy.buffer);
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
	let dot = 0;
	let na = 0;
	let nb = 0;
	for (let i = 0; i < a.length; i++) {
		const x = a[i] ?? 0;
		const y = b[i] ?? 0;
		dot += x * y;
		na += x * x;
		nb += y * y;
	}
	return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}

/**
 * A document's columns, with `stored_bytes` as its whole cost — its row and its chunks (the figure the byte quota
 * counts; the column itself holds the row's share only, so the triggers can keep the tenant's total).
 */
const DOCUMENT_COLUMNS = `d.id, d.title, d.metadata, d.content_hash, d.chars, d.chunk_count, d.embedding_model, d.mutation_id,
	d.created_at, d.updated_at,
	d.stored_bytes + (SELECT coalesce(sum(c.stored_bytes), 0) FROM chunks c WHERE c.tenant = d.tenant AND c.document_id = d.id)
		AS stored_bytes`;

export async function findDocument(db: D1Database, tenant: string, id: string): Promise<DocumentRow | null> {
	const row = await db
		.prepare(`SELECT ${DOCUMENT_COLUMNS} FROM documents d WHERE d.tenant = ? AND d.id = ?`)
		.bind(tenant, id)
		.first<RawDocument>();
	return row ? { ...row, metadata: parse(row.metadata) } : null;
}

export async function findDocuments(db: D1Database, tenant: string, ids: string[]): Promise<Map<string, DocumentRow>> {
	const out = new Map<string, DocumentRow>();
	for (let i = 0; i < ids.length; i += 90) {
		const part = ids.slice(i, i + 90);
		const { results } = await db
			.prepare(
				`SELECT ${DOCUMENT_COLUMNS} FROM documents d WHERE d.tenant = ? AND d.id IN (${part.map(() => "?").join(", ")})`,
			)
			.bind(tenant, ...part)
			.all<RawDocument>();
		for (const r of results) out.set(r.id, { ...r, metadata: parse(r.metadata) });
	}
	return out;
}

/** A page of documents, newest first, after an opaque cursor (`created_at` and id of the last row). */
export async function listDocuments(
	db: D1Database,
	tenant: string,
	limit: number,
	after: { createdAt: number; id: string } | null,
): Promise<DocumentRow[]> {
	const { results } = after
		? await db
				.prepare(
					`SELECT ${DOCUMENT_COLUMNS} FROM documents d WHERE d.tenant = ? AND (d.created_at < ? OR (d.created_at = ? AND d.id < ?))
					ORDER BY d.created_at DESC, d.id DESC LIMIT ?`,
				)
				.bind(tenant, after.createdAt, after.createdAt, after.id, limit)
				.all<RawDocument>()
		: await db
				.prepare(
					`SELECT ${DOCUMENT_COLUMNS} FROM documents d WHERE d.tenant = ? ORDER BY d.created_at DESC, d.id DESC LIMIT ?`,
				)
				.bind(tenant, limit)
				.all<RawDocument>();
	return results.map((r) => ({ ...r, metadata: parse(r.metadata) }));
}

export async function chunkIdsOf(db: D1Database, tenant: string, documentId: string): Promise<string[]> {
	const { results } = await db
		.prepare("SELECT id FROM chunks WHERE tenant = ? AND document_id = ? ORDER BY position")
		.bind(tenant, documentId)
		.all<{ id: string }>();
	return results.map((r) => r.id);
}

export async function chunksOfDocument(
	db: D1Database,
	tenant: string,
	documentId: string,
): Promise<{ id: string; position: number; heading: string; text: string }[]> {
	const { results } = await db
		.prepare("SELECT id, position, heading, text FROM chunks WHERE tenant = ? AND document_id = ? ORDER BY position")
		.bind(tenant, documentId)
		.all<{ id: string; position: number; heading: string; text: string }>();
	return results;
}

const CHUNK_COLUMNS = "c.seq, c.id, c.document_id, c.position, c.heading, c.text, c.created_at, d.title, d.metadata";

/** Chunks by id, only the tenant's: ids of deleted chunks (or another tenant's) simply do not come back. */
export async function chunksByIds(db: D1Database, tenant: string, ids: string[]): Promise<Map<string, ChunkRow>> {
	const out = new Map<string, ChunkRow>();
	for (let i = 0; i < ids.length; i += 90) {
		const part = ids.slice(i, i + 90);
		const { results } = await db
			.prepare(
				`SELECT ${CHUNK_COLUMNS} FROM chunks c JOIN documents d ON d.tenant = c.tenant AND d.id = c.document_id
				WHERE c.tenant = ? AND c.id IN (${part.map(() => "?").join(", ")})`,
			)
			.bind(tenant, ...part)
			.all<RawChunk>();
		for (const r of results) out.set(r.id, { ...r, metadata: parse(r.metadata) });
	}
	return out;
}

/** Stored embeddings of chunks with these content hashes (reused instead of embedding the same text again). */
export async function embeddingsByHash(
	db: D1Database,
	tenant: string,
	hashes: string[],
): Promise<Map<string, Float32Array>> {
	const out = new Map<string, Float32Array>();
	for (let i = 0; i < hashes.length; i += 90) {
		const part = hashes.slice(i, i + 90);
		const { results } = await db
			.prepare(
				`SELECT content_hash, embedding FROM chunks WHERE tenant = ? AND content_hash IN (${part.map(() => "?").join(", ")}) GROUP BY content_hash`,
			)
			.bind(tenant, ...part)
			.all<{ content_hash: string; embedding: unknown }>();
		for (const r of results) out.set(r.content_hash, decodeVector(r.embedding));
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
	return results.map(({ rank, ...r }) => ({ ...r, metadata: parse(r.metadata), score: -rank }));
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
	return results.map((r) => ({ ...r, metadata: parse(r.metadata), embedding: decodeVector(r.embedding) }));
}

export async function maxChunkSeq(db: D1Database, tenant: string): Promise<number> {
	const row = await db
		.prepare("SELECT max(seq) AS seq FROM chunks WHERE tenant = ?")
		.bind(tenant)
		.first<{ seq: number | null }>();
	return row?.seq ?? 0;
}

/** The stored answer of an Idempotency-Key, if it was recorded at or after `notBeforeMs` (older ones have expired). */
export async function storedIngest(
	db: D1Database,
	tenant: string,
	key: string,
	notBeforeMs: number,
): Promise<{ request_hash: string; response: string } | null> {
	return db
		.prepare(
			"SELECT request_hash, response FROM ingest_requests WHERE tenant = ? AND idempotency_key = ? AND created_at >= ?",
		)
		.bind(tenant, key, notBeforeMs)
		.first<{ request_hash: string; response: string }>();
}

/** Deletes every idempotency record older than `beforeMs` (the cron's sweep; ingests purge their own tenant's). */
export async function purgeExpiredIngests(db: D1Database, beforeMs: number): Promise<number> {
	const r = await db.prepare("DELETE FROM ingest_requests WHERE created_at < ?").bind(beforeMs).run();
	return r.meta.changes ?? 0;
}

export async function indexMeta(
	db: D1Database,
	indexName: string,
): Promise<{ model: string; dimensions: number } | null> {
	return db.prepare("SELECT model, dimensions FROM rag_index_meta WHERE index_name = ?").bind(indexName).first();
}

export async function recordIndexMeta(
	db: D1Database,
	indexName: string,
	model: string,
	dimensions: number,
): Promise<void> {
	await db
		.prepare("INSERT OR IGNORE INTO rag_index_meta (index_name, model, dimensions, created_at) VALUES (?, ?, ?, ?)")
		.bind(indexName, model, dimensions, Date.now())
		.run();
}
