/**
 * Ingest and deletion (docs/rag.md): a batch of documents is chunked, embedded and written all or nothing —
 * chunks and embeddings are computed first, vectors upserted, then every D1 row (documents, chunks — and through
 * triggers the FTS index and the tenant's storage totals) is written in one batch, which D1 runs as a transaction,
 * and the idempotency record afterwards. If anything fails, D1 holds nothing of the batch and the vectors it wrote
 * are deleted — except ids D1 still holds: a replaced document's unchanged chunks keep their ids (ids derive from the
 * text), so their vectors stay, as live as their rows. Retrying is safe.
 *
 * Storage is bounded: per request by the chunk limit and the chunker's bounds, per tenant by quotas on documents,
 * chunks and bytes — checked before any work, and enforced again inside the batch by triggers, so concurrent ingests
 * cannot together exceed them. Refusals are {@link RagError}s.
 *
 * @example
 * ```ts
 * const { data, bookmark } = await ingest(deps, [{ id: "runbook-7", title: "Rollback", text }], null);
 * await deleteDocument(deps, "runbook-7"); // true
 * ```
 *
 * @module
 */
import { sha256Hex, utf8Length } from "../lib/encoding";
import { embedAll } from "../ports/embedder";
import { encodeBookmark } from "./bookmark";
import { capHeading, chunk } from "./chunker";
import { counted, type RagDeps } from "./deps";
import { type Quota, RagError } from "./errors";
import { namespaceOf } from "./indexing";
import {
	chunkIdsOf,
	commitIngest,
	deleteDocumentRows,
	embeddingsByHash,
	findDocuments,
	indexMeta,
	maxChunkSeq,
	recordIndexMeta,
	recordIngest,
	type StorageCounts,
	storageOf,
} from "./store";

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

// ---- what a write costs, and whether the quotas leave room (docs/rag.md#storage-bounds) ----------------------

/** UTF-8 bytes of a string; 0 for none. */
const utf8Bytes = (s: string | null | undefined): number => (s ? utf8Length(s) : 0);

/** Hex SHA-256 of a content hash, bytes. */
const HASH_BYTES = 64;

/**
 * Bytes a chunk costs: its text and heading, its embedding twice (the D1 copy that scores the fresh tail, and the
 * vector index's: 4 bytes a dimension), its id twice, its hash, and its vector's metadata.
 */
export function chunkStoredBytes(
	c: { id: string; heading: string; text: string },
	dimensions: number,
	vectorMetadataBytes: number,
): number {
	return (
		utf8Bytes(c.text) +
		utf8Bytes(c.heading) +
		2 * 4 * dimensions +
		2 * utf8Bytes(c.id) +
		HASH_BYTES +
		vectorMetadataBytes
	);
}

/** Bytes a document row costs: id, title, metadata (as JSON) and hash. */
export function documentStoredBytes(id: string, doc: IngestDocument): number {
	return utf8Bytes(id) + utf8Bytes(doc.title) + utf8Bytes(JSON.stringify(doc.metadata ?? {})) + HASH_BYTES;
}

/** The first quota `used + delta` exceeds (only quotas the write grows are checked), else null. */
function firstExceeded(limits: StorageCounts, used: StorageCounts, delta: StorageCounts): Quota | null {
	for (const q of ["documents", "chunks", "bytes"] as const) {
		if (delta[q] > 0 && used[q] + delta[q] > limits[q]) return q;
	}
	return null;
}

/** Vectors per upsert call, under Vectorize's batch limit per call. */
const VECTORS_PER_UPSERT = 500;

/** Refuses writes from an embedding model other than the one the index was built with. */
async function assertModel(deps: RagDeps): Promise<void> {
	const name = deps.config.vectorIndex === "local" ? deps.config.indexName : "vectorize";
	const meta = await indexMeta(deps.db, name);
	const { model, dimensions } = deps.embedder;
	if (!meta) {
		await recordIndexMeta(deps.db, name, model, dimensions, deps.now());
		return;
	}
	if (meta.model !== model || meta.dimensions !== dimensions) {
		throw new RagError({ code: "embedding-model-mismatch", index: meta, embedder: { model, dimensions } });
	}
}

function scalarMetadata(m: Record<string, unknown>): Record<string, string | number | boolean> {
	const out: Record<string, string | number | boolean> = {};
	for (const [k, v] of Object.entries(m))
		if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[k] = v;
	return out;
}

type Planned = {
	id: string;
	doc: IngestDocument;
	hash: string;
	status: "created" | "replaced" | "unchanged";
	storedBytes: number;
	vectorMetadata: Record<string, string | number | boolean>;
	chunks: { id: string; position: number; heading: string; text: string; hash: string; storedBytes: number }[];
};

/** Chunks one document (unless its content is unchanged), with ids and costs; nothing is written. */
async function plan(
	deps: RagDeps,
	id: string,
	doc: IngestDocument,
	before: { content_hash: string; stored_bytes: number } | undefined,
): Promise<Planned> {
	const { tenant, config } = deps;
	const hash = await sha256Hex(JSON.stringify([doc.title ?? null, doc.text, doc.metadata ?? {}]));
	const vectorMetadata = { ...scalarMetadata(doc.metadata ?? {}), document_id: id };
	const base = { id, doc, hash, vectorMetadata, storedBytes: documentStoredBytes(id, doc) };
	if (before && before.content_hash === hash) {
		return { ...base, status: "unchanged", chunks: [], storedBytes: before.stored_bytes };
	}
	const metadataBytes = utf8Bytes(JSON.stringify(vectorMetadata));
	const seen = new Set<string>();
	const chunks: Planned["chunks"] = [];
	for (const p of chunk(doc.text, config.chunk)) {
		// The title leads the path; the whole path is capped, so no chunk carries an unbounded copy of it.
		const heading = capHeading([doc.title, p.heading].filter(Boolean).join(" > "), config.chunk.headingChars);
		const textHash = await sha256Hex(`${heading}\u0000${p.text}`);
		if (seen.has(textHash)) continue; // the same passage twice in one document is stored once
		seen.add(textHash);
		const cid = `c_${(await sha256Hex(`${tenant}\u0000${id}\u0000${chunks.length}\u0000${textHash}`)).slice(0, 40)}`;
		const row = { id: cid, position: chunks.length, heading, text: p.text, hash: textHash };
		chunks.push({ ...row, storedBytes: chunkStoredBytes(row, deps.embedder.dimensions, metadataBytes) });
	}
	return { ...base, status: before ? "replaced" : "created", chunks };
}

/** Ingests a batch, all or nothing (see the module comment); `idempotency` records the answer under its key. */
export async function ingest(
	deps: RagDeps,
	documents: IngestDocument[],
	idempotency: { key: string; requestHash: string } | null,
): Promise<IngestResult> {
	const { db, tenant, config } = deps;
	await assertModel(deps);
	const now = deps.now();
	const namespace = await namespaceOf(tenant);
	const ids = documents.map((d) => d.id ?? `doc_${crypto.randomUUID().replaceAll("-", "")}`);
	if (new Set(ids).size !== ids.length) throw new RagError({ code: "duplicate-document-ids" });
	const existing = await findDocuments(db, tenant, ids);

	const planned: Planned[] = [];
	for (const [i, doc] of documents.entries()) {
		const id = ids[i] as string;
		planned.push(await plan(deps, id, doc, existing.get(id)));
	}
	const total = planned.reduce((s, p) => s + p.chunks.length, 0);
	if (total > config.limits.chunksPerRequest) {
		throw new RagError({ code: "too-many-chunks", chunks: total, max: config.limits.chunksPerRequest });
	}

	// Quotas, before any embedding is paid for: what the batch adds, net of the documents it replaces.
	const delta: StorageCounts = { documents: 0, chunks: 0, bytes: 0 };
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
	if (exceeded) {
		throw new RagError({
			code: "quota-exceeded",
			quota: exceeded,
			limit: quotas[exceeded],
			used: used[exceeded],
			requested: delta[exceeded],
		});
	}

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
		throw new RagError({ code: "embedding-failed" }, { cause: err });
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
		for (let i = 0; i < vectors.length; i += VECTORS_PER_UPSERT) {
			const part = vectors.slice(i, i + VECTORS_PER_UPSERT);
			const r = await counted(deps, "vector_upsert", () => deps.index.upsert(part));
			written.push(...part.map((v) => v.id));
			mutationId = (r as { mutationId?: string }).mutationId ?? mutationId;
		}
	} catch (err) {
		if (orphansOf(written).length > 0) deps.defer(deps.index.deleteByIds(orphansOf(written)));
		throw new RagError({ code: "vector-write-failed" }, { cause: err });
	}

	const changed = planned.filter((p) => p.status !== "unchanged");
	let outcome: Awaited<ReturnType<typeof commitIngest>>;
	try {
		outcome = await commitIngest(db, tenant, {
			documents: changed.map((p) => ({
				id: p.id,
				title: p.doc.title ?? null,
				metadata: p.doc.metadata ?? {},
				contentHash: p.hash,
				chars: p.doc.text.length,
				storedBytes: p.storedBytes,
				replaces: p.status === "replaced",
				chunks: p.chunks.map((c) => ({ ...c, embedding: vectorOf.get(c.hash) ?? [] })),
			})),
			quotas,
			model: deps.embedder.model,
			mutationId,
			now,
			purgeBeforeMs: now - config.idempotencyTtlMs,
		});
	} catch (err) {
		if (orphansOf(written).length > 0) deps.defer(deps.index.deleteByIds(orphansOf(written)));
		throw err;
	}
	if (!outcome.committed) {
		// A concurrent write took the room: the trigger named the quota (D1 rolled the whole batch back).
		if (orphansOf(written).length > 0) deps.defer(deps.index.deleteByIds(orphansOf(written)));
		const { quota } = outcome;
		const usedNow = await storageOf(db, tenant).catch(() => null);
		throw new RagError({
			code: "quota-exceeded",
			quota,
			limit: quotas[quota],
			used: usedNow ? usedNow[quota] : null,
			requested: delta[quota],
		});
	}
	const stale = [...oldChunkIds].filter((id) => !written.includes(id));
	if (stale.length > 0) deps.defer(deps.index.deleteByIds(stale));
	const result: IngestResult = {
		object: "list",
		data: planned.map((p) => ({
			id: p.id,
			status: p.status,
			chunks: p.status === "unchanged" ? (existing.get(p.id)?.chunk_count ?? 0) : p.chunks.length,
			stored_bytes: p.storedBytes + p.chunks.reduce((s, c) => s + c.storedBytes, 0),
		})),
		bookmark: encodeBookmark({ seq: await maxChunkSeq(db, tenant), at: now }),
	};
	if (idempotency) {
		await recordIngest(db, tenant, { ...idempotency, response: JSON.stringify(result), now });
	}
	return result;
}

/** Deletes a document: its D1 rows (and FTS rows, by trigger) at once, its vectors from the index. */
export async function deleteDocument(deps: RagDeps, id: string): Promise<boolean> {
	const ids = await chunkIdsOf(deps.db, deps.tenant, id);
	const removed = await deleteDocumentRows(deps.db, deps.tenant, id);
	if (ids.length > 0) deps.defer(deps.index.deleteByIds(ids));
	return removed;
}
