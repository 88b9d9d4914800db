import { embedAll } from "../adapters/workers-ai-embedder";
import type { RagConfig } from "../config";
import { AppError } from "../http/app-error";
import type { Embedder } from "../ports/embedder";
import type { VectorIndex } from "../ports/vector-index";
import type { Logger } from "../telemetry/logger";
import { capHeading, chunk } from "./chunker";
import { type MetadataFilter, matches } from "./filter";
import {
	type ChunkRow,
	chunkIdsOf,
	chunksByIds,
	cosine,
	embeddingsByHash,
	encodeVector,
	findDocuments,
	freshTail,
	indexMeta,
	keywordSearch,
	maxChunkSeq,
	recordIndexMeta,
} from "./store";

/**
 * RAG's core (docs/rag.md): ingest (chunk → embed → vectors → one D1 batch), hybrid retrieval with reciprocal rank
 * fusion, and read-your-writes through bookmarks and the fresh tail. D1 is the source of truth: vector matches are
 * joined back to D1 rows of the caller's tenant, so vectors of deleted, failed or foreign chunks never surface.
 */
export type RagDeps = {
	db: D1Database;
	index: VectorIndex;
	embedder: Embedder;
	config: RagConfig;
	tenant: string;
	log: Logger;
	signal?: AbortSignal;
	defer: (p: Promise<unknown>) => void;
	/** Counts embedder and vector index calls by outcome (rag_operations_total). */
	count?: (operation: string, outcome: "ok" | "error") => void;
	/** Observes retrieval time by mode and outcome (rag_retrieval_duration_seconds), in seconds. */
	observeRetrieval?: (mode: SearchRequest["mode"], outcome: "ok" | "degraded" | "error", seconds: number) => void;
	/** A clock for those timings (ms); default Date.now. */
	now?: () => number;
};

/** Runs an embedder or index call, counting its outcome. */
async function counted<T>(deps: RagDeps, operation: string, call: () => Promise<T>): Promise<T> {
	try {
		const result = await call();
		deps.count?.(operation, "ok");
		return result;
	} catch (err) {
		deps.count?.(operation, "error");
		throw err;
	}
}

export type IngestDocument = {
	id?: string | undefined;
	title?: string | undefined;
	text: string;
	metadata?: Record<string, string | number | boolean> | undefined;
};
export type IngestResult = {
	object: "list";
	data: { id: string; status: "created" | "replaced" | "unchanged"; chunks: number; stored_bytes: number }[];
	bookmark: string;
};

const encoder = new TextEncoder();

export async function sha256(text: string): Promise<string> {
	const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
	return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The vector namespace of a tenant: a hash, so any tenant id fits Vectorize's 64-byte namespace limit. */
export async function namespaceOf(tenant: string): Promise<string> {
	return `t-${(await sha256(`tenant\u0000${tenant}`)).slice(0, 40)}`;
}

// ---- bookmarks ---------------------------------------------------------------------------------------------

export type Bookmark = { seq: number; at: number };

export function encodeBookmark(b: Bookmark): string {
	return `rb1.${btoa(JSON.stringify({ s: b.seq, t: b.at }))
		.replaceAll("+", "-")
		.replaceAll("/", "_")
		.replace(/=+$/, "")}`;
}

export function decodeBookmark(raw: string): Bookmark {
	const bad = () =>
		new AppError({
			status: 422,
			slug: "validation-failed",
			detail: "bookmark is not one this service issued",
			errors: [{ path: "bookmark", message: "invalid" }],
		});
	if (!raw.startsWith("rb1.") || raw.length > 200) throw bad();
	try {
		const json = JSON.parse(atob(raw.slice(4).replaceAll("-", "+").replaceAll("_", "/"))) as {
			s?: unknown;
			t?: unknown;
		};
		if (!Number.isSafeInteger(json.s) || !Number.isSafeInteger(json.t)) throw new Error("shape");
		return { seq: json.s as number, at: json.t as number };
	} catch {
		throw bad();
	}
}

/** Until when the index has processed its mutations (ms); 0 when it cannot say. */
export async function processedUpTo(index: VectorIndex, log: Logger): Promise<number> {
	try {
		const info = await index.describe();
		const raw: unknown = info.processedUpToDatetime;
		const ms = typeof raw === "number" ? raw : typeof raw === "string" ? Date.parse(raw) : Number.NaN;
		return Number.isFinite(ms) ? ms : 0;
	} catch (err) {
		log.warn("vector index describe failed; treating everything as not yet indexed", { error_message: String(err) });
		return 0;
	}
}

// ---- ingest ------------------------------------------------------------------------------------------------

/** Refuses writes from an embedding model other than the one the index was built with. */
async function assertModel(deps: RagDeps): Promise<void> {
	const name = deps.config.vectorIndex === "local" ? deps.config.indexName : "vectorize";
	const meta = await indexMeta(deps.db, name);
	if (!meta) {
		await recordIndexMeta(deps.db, name, deps.embedder.model, deps.embedder.dimensions);
		return;
	}
	if (meta.model !== deps.embedder.model || meta.dimensions !== deps.embedder.dimensions) {
		throw new AppError({
			status: 409,
			slug: "conflict",
			detail: `The index holds ${meta.model} (${meta.dimensions} dimensions) vectors; this deployment embeds with ${deps.embedder.model} (${deps.embedder.dimensions}). Re-index into a new index instead of mixing them.`,
		});
	}
}

function scalarMetadata(m: Record<string, unknown>): Record<string, string | number | boolean> {
	const out: Record<string, string | number | boolean> = {};
	for (const [k, v] of Object.entries(m))
		if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[k] = v;
	return out;
}

/** What one ingest request is about to add to its tenant's storage (net of the documents it replaces). */
type StorageDelta = { documents: number; chunks: number; bytes: number };

const utf8 = (s: string | null | undefined) => (s ? encoder.encode(s).length : 0);
/** Hex SHA-256 of a content hash, bytes. */
const HASH_BYTES = 64;

/**
 * Bytes a chunk costs (docs/rag.md#storage-bounds): its text and heading, its embedding twice (the D1 copy that
 * scores the fresh tail, and the vector index's), its id twice, its hash, and its vector's metadata.
 */
export function chunkStoredBytes(
	c: { id: string; heading: string; text: string },
	dimensions: number,
	vectorMetadataBytes: number,
): number {
	return utf8(c.text) + utf8(c.heading) + 2 * 4 * dimensions + 2 * utf8(c.id) + HASH_BYTES + vectorMetadataBytes;
}

/** Bytes a document row costs: id, title, metadata and hash. */
export function documentStoredBytes(id: string, doc: IngestDocument): number {
	return utf8(id) + utf8(doc.title) + utf8(JSON.stringify(doc.metadata ?? {})) + HASH_BYTES;
}

/** The tenant's stored documents, chunks and bytes (tenant_storage, kept exact by triggers). */
export async function storageOf(db: D1Database, tenant: string): Promise<StorageDelta> {
	const row = await db
		.prepare("SELECT documents, chunks, bytes FROM tenant_storage WHERE tenant = ?")
		.bind(tenant)
		.first<StorageDelta>();
	return row ?? { documents: 0, chunks: 0, bytes: 0 };
}

const QUOTA_NAMES = {
	documents: "RAG_TENANT_MAX_DOCUMENTS",
	chunks: "RAG_TENANT_MAX_CHUNKS",
	bytes: "RAG_TENANT_MAX_BYTES",
};

/**
 * The problem for a quota a write would exceed: 413 when this request alone is larger than the whole quota (it can
 * never fit), 429 when the tenant's stored data leaves no room for it (delete documents, or ask for a larger quota).
 */
function quotaExceeded(
	quota: keyof StorageDelta,
	limits: StorageDelta,
	used: StorageDelta | null,
	delta: StorageDelta,
): AppError {
	const extensions = {
		quota,
		quota_variable: QUOTA_NAMES[quota],
		limit: limits[quota],
		...(used ? { used: used[quota] } : {}),
		requested: Math.max(0, delta[quota]),
	};
	if (delta[quota] > limits[quota]) {
		return new AppError({
			status: 413,
			slug: "content-too-large",
			detail: `This request alone needs ${delta[quota]} ${quota}, more than the tenant's quota of ${limits[quota]} (${QUOTA_NAMES[quota]}); split it`,
			extensions,
		});
	}
	return new AppError({
		status: 429,
		slug: "storage-quota-exceeded",
		detail: `The tenant's ${quota} quota (${limits[quota]}, ${QUOTA_NAMES[quota]}) leaves no room for this request${used ? ` (${used[quota]} in use, ${delta[quota]} more asked)` : ""}; delete documents or ask for a larger quota`,
		extensions,
	});
}

/** The first quota `used + delta` exceeds (only quotas the write grows are checked), else null. */
function firstExceeded(limits: StorageDelta, used: StorageDelta, delta: StorageDelta): keyof StorageDelta | null {
	for (const q of ["documents", "chunks", "bytes"] as const) {
		if (delta[q] > 0 && used[q] + delta[q] > limits[q]) return q;
	}
	return null;
}

/**
 * Ingests a batch, all or nothing: chunks and embeddings are computed first, vectors upserted, then every D1 row
 * (documents, chunks — and through triggers the FTS index and the tenant's storage totals — and the idempotency
 * record afterwards) is written in one batch, which D1 runs as a transaction. If anything fails, D1 holds nothing of
 * the batch and the vectors it wrote are deleted — except ids D1 still holds: a replaced document's unchanged chunks
 * keep their ids (ids derive from the text), so their vectors stay, as live as their rows. Retrying is safe.
 *
 * Storage is bounded: per request by the chunk limit and the chunker's bounds, per tenant by quotas on documents,
 * chunks and bytes — checked before any work (413/429 naming the quota), and enforced again inside the batch by
 * triggers, so concurrent ingests cannot together exceed them.
 */
export async function ingest(
	deps: RagDeps,
	documents: IngestDocument[],
	idempotency: { key: string; requestHash: string } | null,
): Promise<IngestResult> {
	const { db, tenant, config } = deps;
	await assertModel(deps);
	const now = Date.now();
	const namespace = await namespaceOf(tenant);
	const ids = documents.map((d) => d.id ?? `doc_${crypto.randomUUID().replaceAll("-", "")}`);
	if (new Set(ids).size !== ids.length) {
		throw new AppError({ status: 422, slug: "validation-failed", detail: "document ids repeat within the batch" });
	}
	const existing = await findDocuments(db, tenant, ids);

	type Planned = {
		id: string;
		doc: IngestDocument;
		hash: string;
		status: "created" | "replaced" | "unchanged";
		storedBytes: number;
		vectorMetadata: Record<string, string | number | boolean>;
		chunks: { id: string; position: number; heading: string; text: string; hash: string; storedBytes: number }[];
	};
	const planned: Planned[] = [];
	let total = 0;
	const dimensions = deps.embedder.dimensions;
	for (const [i, doc] of documents.entries()) {
		const id = ids[i] as string;
		const hash = await sha256(JSON.stringify([doc.title ?? null, doc.text, doc.metadata ?? {}]));
		const before = existing.get(id);
		const vectorMetadata = { ...scalarMetadata(doc.metadata ?? {}), document_id: id };
		const base = { id, doc, hash, vectorMetadata, storedBytes: documentStoredBytes(id, doc) };
		if (before && before.content_hash === hash) {
			planned.push({ ...base, status: "unchanged", chunks: [], storedBytes: before.stored_bytes });
			continue;
		}
		const metadataBytes = utf8(JSON.stringify(vectorMetadata));
		const pieces = chunk(doc.text, config.chunk);
		const seen = new Set<string>();
		const chunks: Planned["chunks"] = [];
		for (const p of pieces) {
			// The title leads the path; the whole path is capped, so no chunk carries an unbounded copy of it.
			const heading = capHeading([doc.title, p.heading].filter(Boolean).join(" > "), config.chunk.headingChars);
			const textHash = await sha256(`${heading}\u0000${p.text}`);
			if (seen.has(textHash)) continue; // the same passage twice in one document is stored once
			seen.add(textHash);
			const cid = `c_${(await sha256(`${tenant}\u0000${id}\u0000${chunks.length}\u0000${textHash}`)).slice(0, 40)}`;
			const row = { id: cid, position: chunks.length, heading, text: p.text, hash: textHash };
			chunks.push({ ...row, storedBytes: chunkStoredBytes(row, dimensions, metadataBytes) });
		}
		total += chunks.length;
		planned.push({ ...base, status: before ? "replaced" : "created", chunks });
	}
	if (total > config.limits.chunksPerRequest) {
		throw new AppError({
			status: 413,
			slug: "content-too-large",
			detail: `The batch makes ${total} chunks; at most ${config.limits.chunksPerRequest} per request — split it`,
			extensions: { max_chunks: config.limits.chunksPerRequest },
		});
	}

	// Quotas, before any embedding is paid for: what the batch adds, net of the documents it replaces.
	const delta: StorageDelta = { documents: 0, chunks: 0, bytes: 0 };
	for (const p of planned) {
		if (p.status === "unchanged") continue;
		const before = existing.get(p.id);
		delta.documents += before ? 0 : 1;
		delta.chunks += p.chunks.length - (before?.chunk_count ?? 0);
		// A DocumentRow's stored_bytes is its whole cost: its row and its chunks.
		delta.bytes += p.storedBytes + p.chunks.reduce((s, c) => s + c.storedBytes, 0) - (before?.stored_bytes ?? 0);
	}
	const quotas = config.quotas;
	const used = await storageOf(db, tenant);
	const exceeded = firstExceeded(quotas, used, delta);
	if (exceeded) throw quotaExceeded(exceeded, quotas, used, delta);

	// Embeddings: reuse stored ones for identical text (content hash), embed the rest in batches.
	const all = planned.flatMap((p) => p.chunks);
	const reuse = await embeddingsByHash(db, tenant, [...new Set(all.map((c) => c.hash))]);
	const missing = all.filter((c) => !reuse.has(c.hash));
	const uniqueMissing = [...new Map(missing.map((c) => [c.hash, c])).values()];
	const fresh = await embedAll(
		deps.embedder,
		uniqueMissing.map((c) => `${c.heading}\n${c.text}`),
		deps.signal,
	).catch((err: unknown) => {
		throw new AppError({
			status: 503,
			slug: "upstream-unavailable",
			detail: "Embedding failed; nothing was stored — retry shortly",
			headers: { "Retry-After": "5" },
			cause: err,
		});
	});
	const vectorOf = new Map<string, ArrayLike<number>>(reuse);
	uniqueMissing.forEach((c, i) => {
		vectorOf.set(c.hash, fresh[i] ?? []);
	});

	const vectors = planned.flatMap((p) =>
		p.chunks.map((c) => ({
			id: c.id,
			values: Array.from(vectorOf.get(c.hash) ?? []),
			namespace,
			metadata: p.vectorMetadata,
		})),
	);
	// Chunk ids D1 holds now for the documents this batch replaces: their vectors must outlive a failed batch (an
	// unchanged chunk keeps its id, so the upsert below rewrote the same vector), and the rest go once it succeeds.
	const oldChunkIds = new Set<string>();
	for (const p of planned) {
		if (p.status === "replaced") for (const id of await chunkIdsOf(db, tenant, p.id)) oldChunkIds.add(id);
	}
	/** Vectors of this write that no D1 row will ever point to if the write fails. */
	const orphansOf = (ids: string[]) => ids.filter((id) => !oldChunkIds.has(id));
	let mutationId: string | null = null;
	const written: string[] = [];
	try {
		for (let i = 0; i < vectors.length; i += 500) {
			const part = vectors.slice(i, i + 500);
			const r = await counted(deps, "vector_upsert", () => deps.index.upsert(part));
			written.push(...part.map((v) => v.id));
			mutationId = (r as { mutationId?: string }).mutationId ?? mutationId;
		}
	} catch (err) {
		if (orphansOf(written).length > 0) deps.defer(deps.index.deleteByIds(orphansOf(written)));
		throw new AppError({
			status: 503,
			slug: "upstream-unavailable",
			detail: "The vector index refused the write; nothing was stored — retry shortly",
			headers: { "Retry-After": "5" },
			cause: err,
		});
	}

	// One D1 batch: the quotas this write runs under, then every deletion (replaced documents' old chunks) before any
	// growth — the quota triggers judge each statement, so a batch that shrinks one document and grows another must
	// not cross a quota half-way that it does not cross in the end — then the new rows, and the tenant's expired
	// idempotency records purged.
	const statements: D1PreparedStatement[] = [
		db
			.prepare(
				`INSERT INTO tenant_storage (tenant, max_documents, max_chunks, max_bytes) VALUES (?, ?, ?, ?)
				ON CONFLICT (tenant) DO UPDATE SET max_documents = excluded.max_documents, max_chunks = excluded.max_chunks,
					max_bytes = excluded.max_bytes`,
			)
			.bind(tenant, quotas.documents, quotas.chunks, quotas.bytes),
	];
	for (const p of planned) {
		if (p.status !== "replaced") continue;
		statements.push(db.prepare("DELETE FROM chunks WHERE tenant = ? AND document_id = ?").bind(tenant, p.id));
	}
	for (const p of planned) {
		if (p.status === "unchanged") continue;
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
					p.id,
					p.doc.title ?? null,
					JSON.stringify(p.doc.metadata ?? {}),
					p.hash,
					p.doc.text.length,
					p.chunks.length,
					deps.embedder.model,
					mutationId,
					now,
					now,
					p.storedBytes,
				),
		);
		// Nine rows per INSERT (90 bound parameters, under D1's 100), so a large batch stays well inside D1's
		// per-invocation query limit.
		for (let i = 0; i < p.chunks.length; i += CHUNK_ROWS_PER_INSERT) {
			const rows = p.chunks.slice(i, i + CHUNK_ROWS_PER_INSERT);
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
							p.id,
							c.position,
							c.heading,
							c.text,
							c.hash,
							encodeVector(Array.from(vectorOf.get(c.hash) ?? [])),
							now,
							c.storedBytes,
						]),
					),
			);
		}
	}
	statements.push(
		db
			.prepare("DELETE FROM ingest_requests WHERE tenant = ? AND created_at < ?")
			.bind(tenant, now - config.idempotencyTtlMs),
	);
	const pendingResult = {
		object: "list" as const,
		data: planned.map((p) => ({
			id: p.id,
			status: p.status,
			chunks: p.status === "unchanged" ? (existing.get(p.id)?.chunk_count ?? 0) : p.chunks.length,
			stored_bytes: p.storedBytes + p.chunks.reduce((s, c) => s + c.storedBytes, 0),
		})),
	};
	try {
		await db.batch(statements);
	} catch (err) {
		if (orphansOf(written).length > 0) deps.defer(deps.index.deleteByIds(orphansOf(written)));
		// A concurrent write took the room: the trigger names the quota (D1 rolled the whole batch back).
		const quota = /tenant quota exceeded: (documents|chunks|bytes)/.exec(String(err))?.[1] as
			| keyof StorageDelta
			| undefined;
		if (quota) throw quotaExceeded(quota, quotas, await storageOf(db, tenant).catch(() => null), delta);
		throw err;
	}
	const stale = [...oldChunkIds].filter((id) => !written.includes(id));
	if (stale.length > 0) deps.defer(deps.index.deleteByIds(stale));
	const result: IngestResult = {
		...pendingResult,
		bookmark: encodeBookmark({ seq: await maxChunkSeq(db, tenant), at: now }),
	};
	if (idempotency) {
		await db
			.prepare(
				"INSERT OR IGNORE INTO ingest_requests (tenant, idempotency_key, request_hash, response, created_at) VALUES (?, ?, ?, ?, ?)",
			)
			.bind(tenant, idempotency.key, idempotency.requestHash, JSON.stringify(result), now)
			.run();
	}
	return result;
}

/** Deletes a document: its D1 rows (and FTS rows, by trigger) at once, its vectors from the index. */
export async function deleteDocument(deps: RagDeps, id: string): Promise<boolean> {
	const ids = await chunkIdsOf(deps.db, deps.tenant, id);
	const [, removed] = await deps.db.batch([
		deps.db.prepare("DELETE FROM chunks WHERE tenant = ? AND document_id = ?").bind(deps.tenant, id),
		deps.db.prepare("DELETE FROM documents WHERE tenant = ? AND id = ?").bind(deps.tenant, id),
	]);
	if (ids.length > 0) deps.defer(deps.index.deleteByIds(ids));
	return (removed?.meta.changes ?? 0) > 0;
}

// ---- retrieval ---------------------------------------------------------------------------------------------

export type SearchMode = "hybrid" | "vector" | "keyword";
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

/** Chunk rows per multi-row INSERT: 9 × 10 bound parameters stays under D1's limit of 100 per statement. */
const CHUNK_ROWS_PER_INSERT = 9;

/** Reciprocal rank fusion constant (Cormack et al.): 60. */
export const RRF_K = 60;

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
		const tail = await freshTail(deps.db, deps.tenant, upTo, req.bookmark.seq, req.filter, 2_000);
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
	const now = deps.now ?? Date.now;
	const started = now();
	const state = { degraded: false };
	try {
		const result = await retrieve(deps, req, state);
		deps.observeRetrieval?.(req.mode, state.degraded ? "degraded" : "ok", (now() - started) / 1000);
		return result;
	} catch (err) {
		deps.observeRetrieval?.(req.mode, "error", (now() - started) / 1000);
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
		if (err instanceof AppError) throw err;
		// The embedder or the vector index failed: vector mode cannot answer; hybrid degrades to keyword search.
		deps.log.warn("vector retrieval failed", { mode: req.mode, error_message: String(err) });
		if (req.mode === "vector") {
			throw new AppError({
				status: 503,
				slug: "upstream-unavailable",
				detail: "Vector search is unavailable right now; retry, or use mode keyword",
				headers: { "Retry-After": "5" },
				cause: err,
			});
		}
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
	const fused = new Map<
		string,
		{ row: ChunkRow & { fresh?: boolean }; vector: number | null; keyword: number | null; rrf: number }
	>();
	vec.hits.forEach((r, i) => {
		fused.set(r.id, { row: r, vector: r.score, keyword: null, rrf: 1 / (RRF_K + i + 1) });
	});
	kw.forEach((r, i) => {
		const f = fused.get(r.id);
		if (f) {
			f.keyword = r.score;
			f.rrf += 1 / (RRF_K + i + 1);
		} else {
			fused.set(r.id, { row: r, vector: null, keyword: r.score, rrf: 1 / (RRF_K + i + 1) });
		}
	});
	const hits = [...fused.values()]
		.sort((a, b) => b.rrf - a.rrf)
		.slice(0, req.topK)
		.map((f) => toHit(f.row, f.rrf, { vector: f.vector, keyword: f.keyword, rrf: f.rrf }));
	return { hits, bestVectorScore: vec.best };
}

/** Whether retrieval found anything worth answering from. */
export function relevant(hits: SearchHit[], minVectorScore: number): SearchHit[] {
	return hits.filter((h) => h.scores.keyword !== null || (h.scores.vector ?? -1) >= minVectorScore);
}

/** The system prompt of a grounded answer. */
export const GROUNDING_PROMPT =
	"Answer the question using only the numbered sources. Cite every statement with its source number in square brackets, like [1]. If the sources do not contain the answer, say that you do not know.";

/** The grounded prompt: numbered sources and the question; the model must cite with [n] and admit ignorance. */
export function groundedMessages(question: string, hits: SearchHit[]) {
	const sources = hits
		.map(
			(h, i) =>
				`[${i + 1}] ${h.title ? `${h.title}${h.heading && h.heading !== h.title ? ` — ${h.heading}` : ""}` : h.heading}\n${h.text}`,
		)
		.join("\n\n");
	return [
		{ role: "system" as const, content: GROUNDING_PROMPT },
		{ role: "user" as const, content: `Sources:\n\n${sources}\n\nQuestion: ${question}` },
	];
}

export function snippet(text: string, max = 240): string {
	return text.length <= max
		? text
		: `${text.slice(0, text.lastIndexOf(" ", max) > 0 ? text.lastIndexOf(" ", max) : max)}…`;
}
