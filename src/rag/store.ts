/**
 * D1 access for RAG's documents and chunks (migrations/0002_rag.sql, 0003_tenant_storage.sql): reads, ingest's one
 * write batch, deletion, the tenant's storage totals, idempotency records and the index's recorded model. Every
 * statement carries the tenant predicate; nothing here reads or writes across tenants. Embeddings are stored as
 * Float32 BLOBs (src/lib/encoding.ts) so the fresh tail can be scored without the index. Retrieval's queries are in
 * src/rag/search-store.ts.
 *
 * @example
 * ```ts
 * const doc = await findDocument(env.DB, "acme", "runbook-7"); // DocumentRow | null
 * ```
 *
 * @module
 */
import { decodeVector, encodeVector } from "../lib/encoding";
import type { Quota } from "./errors";

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

/** A tenant's stored documents, chunks and bytes (a usage, a quota, or what a write adds). */
export type StorageCounts = Record<Quota, number>;

type RawDocument = Omit<DocumentRow, "metadata"> & { metadata: string };

/** A metadata column's JSON as an object; anything else (or broken JSON) reads as `{}`. */
export function parseMetadata(json: string): Record<string, unknown> {
	try {
		const v: unknown = JSON.parse(json);
		return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
	} catch {
		return {};
	}
}

/**
 * A document's columns, with `stored_bytes` as its whole cost — its row and its chunks (the figure the byte quota
 * counts; the column itself holds the row's share only, so the triggers can keep the tenant's total).
 */
const DOCUMENT_COLUMNS = `d.id, d.title, d.metadata, d.content_hash, d.chars, d.chunk_count, d.embedding_model, d.mutation_id,
	d.created_at, d.updated_at,
	d.stored_bytes + (SELECT coalesce(sum(c.stored_bytes), 0) FROM chunks c WHERE c.tenant = d.tenant AND c.document_id = d.id)
		AS stored_bytes`;

/** Ids per `IN (…)` list: with the tenant, 91 bound parameters, under D1's 100 per statement. */
export const IDS_PER_QUERY = 90;

export async function findDocument(db: D1Database, tenant: string, id: string): Promise<DocumentRow | null> {
	const row = await db
		.prepare(`SELECT ${DOCUMENT_COLUMNS} FROM documents d WHERE d.tenant = ? AND d.id = ?`)
		.bind(tenant, id)
		.first<RawDocument>();
	return row ? { ...row, metadata: parseMetadata(row.metadata) } : null;
}

export async function findDocuments(db: D1Database, tenant: string, ids: string[]): Promise<Map<string, DocumentRow>> {
	const out = new Map<string, DocumentRow>();
	for (let i = 0; i < ids.length; i += IDS_PER_QUERY) {
		const part = ids.slice(i, i + IDS_PER_QUERY);
		const { results } = await db
			.prepare(
				`SELECT ${DOCUMENT_COLUMNS} FROM documents d WHERE d.tenant = ? AND d.id IN (${part.map(() => "?").join(", ")})`,
			)
			.bind(tenant, ...part)
			.all<RawDocument>();
		for (const r of results) out.set(r.id, { ...r, metadata: parseMetadata(r.metadata) });
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
	return results.map((r) => ({ ...r, metadata: parseMetadata(r.metadata) }));
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

/** Stored embeddings of chunks with these content hashes (reused instead of embedding the same text again). */
export async function embeddingsByHash(
	db: D1Database,
	tenant: string,
	hashes: string[],
): Promise<Map<string, Float32Array>> {
	const out = new Map<string, Float32Array>();
	for (let i = 0; i < hashes.length; i += IDS_PER_QUERY) {
		const part = hashes.slice(i, i + IDS_PER_QUERY);
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

export async function maxChunkSeq(db: D1Database, tenant: string): Promise<number> {
	const row = await db
		.prepare("SELECT max(seq) AS seq FROM chunks WHERE tenant = ?")
		.bind(tenant)
		.first<{ seq: number | null }>();
	return row?.seq ?? 0;
}

/** The tenant's stored documents, chunks and bytes (tenant_storage, kept exact by triggers). */
export async function storageOf(db: D1Database, tenant: string): Promise<StorageCounts> {
	const row = await db
		.prepare("SELECT documents, chunks, bytes FROM tenant_storage WHERE tenant = ?")
		.bind(tenant)
		.first<StorageCounts>();
	return row ?? { documents: 0, chunks: 0, bytes: 0 };
}

// ---- writes ------------------------------------------------------------------------------------------------

/** A document an ingest writes: its row's columns and its chunks, each with the embedding stored beside it. */
export type DocumentWrite = {
	id: string;
	title: string | null;
	metadata: Record<string, unknown>;
	contentHash: string;
	chars: number;
	/** The row's own share of the document's cost, bytes (chunks carry theirs). */
	storedBytes: number;
	/** Replaces a stored document: its old chunks are deleted first. */
	replaces: boolean;
	chunks: {
		id: string;
		position: number;
		heading: string;
		text: string;
		hash: string;
		embedding: ArrayLike<number>;
		storedBytes: number;
	}[];
};

/** Chunk rows per multi-row INSERT: 9 × 10 bound parameters stays under D1's limit of 100 per statement. */
const CHUNK_ROWS_PER_INSERT = 9;

/**
 * Writes an ingest in one D1 batch, which D1 runs as a transaction: the quotas this write runs under, then every
 * deletion (replaced documents' old chunks) before any growth — the quota triggers judge each statement, so a batch
 * that shrinks one document and grows another must not cross a quota half-way that it does not cross in the end —
 * then the new rows, and the tenant's idempotency records older than `purgeBeforeMs` purged.
 *
 * Answers `refused` with the quota a trigger found exceeded (a concurrent write took the room; D1 rolled the
 * whole batch back); any other failure is thrown.
 */
export async function commitIngest(
	db: D1Database,
	tenant: string,
	write: {
		documents: DocumentWrite[];
		quotas: StorageCounts;
		model: string;
		mutationId: string | null;
		now: number;
		purgeBeforeMs: number;
	},
): Promise<{ committed: true } | { committed: false; quota: Quota }> {
	const { quotas, now } = write;
	const statements: D1PreparedStatement[] = [
		db
			.prepare(
				`INSERT INTO tenant_storage (tenant, max_documents, max_chunks, max_bytes) VALUES (?, ?, ?, ?)
				ON CONFLICT (tenant) DO UPDATE SET max_documents = excluded.max_documents, max_chunks = excluded.max_chunks,
					max_bytes = excluded.max_bytes`,
			)
			.bind(tenant, quotas.documents, quotas.chunks, quotas.bytes),
	];
	for (const d of write.documents) {
		if (d.replaces) statements.push(deleteChunks(db, tenant, d.id));
	}
	for (const d of write.documents) {
		statements.push(
			db
				.prepare(
					`INSERT INTO documents (tenant, id, title, metadata, content_hash, chars, chunk_count, embedding_model, mutation_id, created_at, updated_at, stored_bytes)
					VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
					ON CONFLICT (tenant, id) DO UPDATE SET title = excluded.title, metadata = excluded.metadata,
						content_hash = excluded.content_hash, chars = excluded.chars, chunk_count = excluded.chunk_count,
						embedding_model = excluded.embedding_model, mutation_id = excluded.mutation_id, updated_at = excluded.updated_at,
						stored_bytes = excluded.stored_bytes`,
				)
				.bind(
					tenant,
					d.id,
					d.title,
					JSON.stringify(d.metadata),
					d.contentHash,
					d.chars,
					d.chunks.length,
					write.model,
					write.mutationId,
					now,
					now,
					d.storedBytes,
				),
		);
		// Nine rows per INSERT (90 bound parameters, under D1's 100), so a large batch stays well inside D1's
		// per-invocation query limit.
		for (let i = 0; i < d.chunks.length; i += CHUNK_ROWS_PER_INSERT) {
			const rows = d.chunks.slice(i, i + CHUNK_ROWS_PER_INSERT);
			statements.push(
				db
					.prepare(
						`INSERT INTO chunks (id, tenant, document_id, position, heading, text, content_hash, embedding, created_at, stored_bytes) VALUES ${rows
							.map(() => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
							.join(", ")}`,
					)
					.bind(
						...rows.flatMap((c) => [
							c.id,
							tenant,
							d.id,
							c.position,
							c.heading,
							c.text,
							c.hash,
							encodeVector(c.embedding),
							now,
							c.storedBytes,
						]),
					),
			);
		}
	}
	statements.push(
		db.prepare("DELETE FROM ingest_requests WHERE tenant = ? AND created_at < ?").bind(tenant, write.purgeBeforeMs),
	);
	try {
		await db.batch(statements);
		return { committed: true };
	} catch (err) {
		// The quota triggers (migration 0003) abort with the quota's name.
		const quota = /tenant quota exceeded: (documents|chunks|bytes)/.exec(String(err))?.[1] as Quota | undefined;
		if (quota) return { committed: false, quota };
		throw err;
	}
}

function deleteChunks(db: D1Database, tenant: string, documentId: string): D1PreparedStatement {
	return db.prepare("DELETE FROM chunks WHERE tenant = ? AND document_id = ?").bind(tenant, documentId);
}

/** Deletes a document's rows (its chunks, and by trigger their FTS rows) in one batch; false when there was none. */
export async function deleteDocumentRows(db: D1Database, tenant: string, id: string): Promise<boolean> {
	const [, removed] = await db.batch([
		deleteChunks(db, tenant, id),
		db.prepare("DELETE FROM documents WHERE tenant = ? AND id = ?").bind(tenant, id),
	]);
	return (removed?.meta.changes ?? 0) > 0;
}

// ---- idempotency records and the index's model ----------------------------------------------------------------

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

/** Records an ingest's answer under its Idempotency-Key (the first answer wins). */
export async function recordIngest(
	db: D1Database,
	tenant: string,
	record: { key: string; requestHash: string; response: string; now: number },
): Promise<void> {
	await db
		.prepare(
			"INSERT OR IGNORE INTO ingest_requests (tenant, idempotency_key, request_hash, response, created_at) VALUES (?, ?, ?, ?, ?)",
		)
		.bind(tenant, record.key, record.requestHash, record.response, record.now)
		.run();
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

/** Records the model an index is built with (the first writer's; `now` in ms). */
export async function recordIndexMeta(
	db: D1Database,
	indexName: string,
	model: string,
	dimensions: number,
	now: number,
): Promise<void> {
	await db
		.prepare("INSERT OR IGNORE INTO rag_index_meta (index_name, model, dimensions, created_at) VALUES (?, ?, ?, ?)")
		.bind(indexName, model, dimensions, now)
		.run();
}
