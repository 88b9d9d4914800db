/**
 * The offline stand-in for Vectorize (V2): {@link LocalVectorIndex}, one Durable Object per index name with SQLite
 * storage ({@link VECTOR_INDEX_SCHEMA}), implementing the RPC contract of src/adapters/local-vector-index-contract.ts
 * within Vectorize's limits (src/ports/vector-index.ts).
 *
 * @example
 * ```ts
 * const index = env.VECTOR_INDEX.get(env.VECTOR_INDEX.idFromName("rag")); // LocalVectorIndexRpc
 * ```
 *
 * @module
 */
import { DurableObject } from "cloudflare:workers";
import type { IndexOptions, LocalVectorIndexRpc, Outcome } from "../src/adapters/local-vector-index-contract";
import { cosine } from "../src/lib/cosine";
import { decodeVector, encodeVector, utf8Length } from "../src/lib/encoding";
import { VECTORIZE_LIMITS as LIMITS } from "../src/ports/vector-index";
import { type MetadataFilter, matches } from "../src/rag/filter";
import { applySchema, type SchemaStep } from "./sqlite-schema";

/**
 * Storage schema of `LocalVectorIndex` (docs/storage-schema.md): the visible vectors, the mutations not yet applied,
 * and the index's recorded model and dimensions.
 */
export const VECTOR_INDEX_SCHEMA: readonly SchemaStep[] = [
	[
		`CREATE TABLE IF NOT EXISTS vectors (
			id TEXT PRIMARY KEY,
			namespace TEXT,
			vals BLOB NOT NULL,
			metadata TEXT
		)`,
		"CREATE INDEX IF NOT EXISTS vectors_namespace ON vectors (namespace)",
		`CREATE TABLE IF NOT EXISTS pending (
			seq INTEGER PRIMARY KEY AUTOINCREMENT,
			mutation_id TEXT NOT NULL,
			created_ms INTEGER NOT NULL,
			apply_at_ms INTEGER NOT NULL,
			op TEXT NOT NULL CHECK (op IN ('insert', 'upsert', 'delete')),
			id TEXT NOT NULL,
			namespace TEXT,
			vals BLOB,
			metadata TEXT
		)`,
		`CREATE TABLE IF NOT EXISTS meta (
			id INTEGER PRIMARY KEY CHECK (id = 1),
			model TEXT NOT NULL,
			dimensions INTEGER NOT NULL,
			processed_mutation TEXT,
			processed_ms INTEGER
		)`,
	],
];

const encoder = new TextEncoder();
const bytes = utf8Length;

type Row = { id: string; namespace: string | null; vals: ArrayBuffer; metadata: string | null };

/** Runs a method's work, answering its error as a value (see {@link Outcome}). */
function outcome<T>(run: () => T): Outcome<T> {
	try {
		return { ok: true, value: run() };
	} catch (err) {
		return { ok: false, error: err instanceof Error ? err.message : String(err) };
	}
}

/**
 * The offline stand-in for Vectorize (V2), one object per index name, following its contract
 * (src/ports/vector-index.ts): cosine scores, namespaces, `topK` ≤ 100 (≤ 20 with values or all metadata),
 * `returnMetadata` none / indexed / all, metadata filters (under 2048 bytes of compact JSON), `insert` keeping
 * existing ids and `upsert` replacing them, and asynchronous mutations: each write returns a `mutationId` and
 * becomes visible `indexingDelayMs` later (0 by default), with `describe()` reporting how far processing got.
 * Unlike Vectorize, filters need no metadata indexes (every field is filterable) and "indexed" metadata is every
 * field with strings cut to 64 bytes. Brute-force search: fine for the tens of thousands of vectors a local setup holds.
 *
 * @example
 * ```ts
 * const index = env.VECTOR_INDEX.get(env.VECTOR_INDEX.idFromName("rag"));
 * await index.upsert([{ id: "c1", values, namespace: "t-1" }], { model: "local-hash-768", dimensions: 768, indexingDelayMs: 0 });
 * ```
 */
export class LocalVectorIndex extends DurableObject<Env> implements LocalVectorIndexRpc {
	#schemaVersion = 0;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		void ctx.blockConcurrencyWhile(async () => {
			this.#schemaVersion = applySchema(ctx.storage.sql, VECTOR_INDEX_SCHEMA);
		});
	}

	#ready(): SqlStorage {
		if (this.#schemaVersion === 0) this.#schemaVersion = applySchema(this.ctx.storage.sql, VECTOR_INDEX_SCHEMA);
		this.#applyDue(Date.now());
		return this.ctx.storage.sql;
	}

	/** Applies the pending mutations whose time has come, in order. */
	#applyDue(now: number): void {
		const sql = this.ctx.storage.sql;
		const due = sql
			.exec<{
				seq: number;
				mutation_id: string;
				created_ms: number;
				op: string;
				id: string;
				namespace: string | null;
				vals: ArrayBuffer | null;
				metadata: string | null;
			}>("SELECT * FROM pending WHERE apply_at_ms <= ? ORDER BY seq", now)
			.toArray();
		for (const p of due) {
			if (p.op === "delete") sql.exec("DELETE FROM vectors WHERE id = ?", p.id);
			else if (p.op === "upsert" || sql.exec("SELECT 1 FROM vectors WHERE id = ?", p.id).toArray().length === 0) {
				sql.exec(
					"INSERT INTO vectors (id, namespace, vals, metadata) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET namespace = excluded.namespace, vals = excluded.vals, metadata = excluded.metadata",
					p.id,
					p.namespace,
					p.vals,
					p.metadata,
				);
			}
			sql.exec("DELETE FROM pending WHERE seq = ?", p.seq);
			sql.exec("UPDATE meta SET processed_mutation = ?, processed_ms = ? WHERE id = 1", p.mutation_id, p.created_ms);
		}
	}

	/** Records the model and dimensions on the first write; refuses any other afterwards. */
	#checkWriter(options: IndexOptions): void {
		const sql = this.ctx.storage.sql;
		const meta = sql
			.exec<{ model: string; dimensions: number }>("SELECT model, dimensions FROM meta WHERE id = 1")
			.toArray()[0];
		if (!meta) {
			sql.exec("INSERT INTO meta (id, model, dimensions) VALUES (1, ?, ?)", options.model, options.dimensions);
			return;
		}
		if (meta.model !== options.model || meta.dimensions !== options.dimensions) {
			throw new Error(
				`VECTOR_INDEX_MODEL_MISMATCH: this index holds ${meta.model} (${meta.dimensions} dimensions), not ${options.model} (${options.dimensions})`,
			);
		}
	}

	#mutate(op: "insert" | "upsert", vectors: VectorizeVector[], options: IndexOptions): VectorizeAsyncMutation {
		this.#ready();
		this.#checkWriter(options);
		for (const v of vectors) {
			if (typeof v.id !== "string" || v.id.length === 0 || bytes(v.id) > LIMITS.idBytes) {
				throw new Error(`VECTOR_INVALID_ID: ids are 1-${LIMITS.idBytes} bytes (got '${String(v.id).slice(0, 80)}')`);
			}
			if (v.values.length !== options.dimensions) {
				throw new Error(
					`VECTOR_DIMENSION_MISMATCH: vector ${v.id} has ${v.values.length} dimensions; the index has ${options.dimensions}`,
				);
			}
			for (const x of Array.from(v.values))
				if (!Number.isFinite(x)) throw new Error(`VECTOR_INVALID_VALUES: vector ${v.id} has a non-finite value`);
			if (v.namespace !== undefined && bytes(v.namespace) > LIMITS.namespaceBytes) {
				throw new Error(`VECTOR_INVALID_NAMESPACE: namespaces are at most ${LIMITS.namespaceBytes} bytes`);
			}
			if (v.metadata !== undefined && bytes(JSON.stringify(v.metadata)) > LIMITS.metadataBytes) {
				throw new Error(
					`VECTOR_METADATA_TOO_LARGE: vector ${v.id} carries more than ${LIMITS.metadataBytes} bytes of metadata`,
				);
			}
		}
		return this.#enqueue(
			options.indexingDelayMs,
			vectors.map((v) => ({
				op,
				id: v.id,
				namespace: v.namespace ?? null,
				vals: encodeVector(v.values),
				metadata: v.metadata === undefined ? null : JSON.stringify(v.metadata),
			})),
		);
	}

	async insert(vectors: VectorizeVector[], options: IndexOptions): Promise<Outcome<VectorizeAsyncMutation>> {
		return outcome(() => this.#mutate("insert", vectors, options));
	}

	async upsert(vectors: VectorizeVector[], options: IndexOptions): Promise<Outcome<VectorizeAsyncMutation>> {
		return outcome(() => this.#mutate("upsert", vectors, options));
	}

	async deleteByIds(
		ids: string[],
		options: Pick<IndexOptions, "indexingDelayMs">,
	): Promise<Outcome<VectorizeAsyncMutation>> {
		return outcome(() => this.#delete(ids, options));
	}

	#delete(ids: string[], options: Pick<IndexOptions, "indexingDelayMs">): VectorizeAsyncMutation {
		this.#ready();
		return this.#enqueue(
			options.indexingDelayMs,
			ids.map((id) => ({ op: "delete" as const, id, namespace: null, vals: null, metadata: null })),
		);
	}

	/**
	 * Queues one mutation's writes, applied once `indexingDelayMs` has passed (Vectorize's asynchronous indexing);
	 * what is already due is applied now.
	 */
	#enqueue(
		indexingDelayMs: number,
		writes: {
			op: "insert" | "upsert" | "delete";
			id: string;
			namespace: string | null;
			vals: Uint8Array | null;
			metadata: string | null;
		}[],
	): VectorizeAsyncMutation {
		const sql = this.ctx.storage.sql;
		const mutationId = crypto.randomUUID();
		const now = Date.now();
		for (const w of writes) {
			sql.exec(
				"INSERT INTO pending (mutation_id, created_ms, apply_at_ms, op, id, namespace, vals, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
				mutationId,
				now,
				now + indexingDelayMs,
				w.op,
				w.id,
				w.namespace,
				w.vals,
				w.metadata,
			);
		}
		this.#applyDue(now);
		return { mutationId };
	}

	async getByIds(ids: string[]): Promise<Outcome<VectorizeVector[]>> {
		return outcome(() => this.#getByIds(ids));
	}

	#getByIds(ids: string[]): VectorizeVector[] {
		const sql = this.#ready();
		const out: VectorizeVector[] = [];
		for (const id of ids) {
			const row = sql.exec<Row>("SELECT * FROM vectors WHERE id = ?", id).toArray()[0];
			if (row) out.push(this.#vector(row, true, "all"));
		}
		return out;
	}

	async describe(): Promise<Outcome<VectorizeIndexInfo>> {
		return outcome(() => this.#describe());
	}

	#describe(): VectorizeIndexInfo {
		const sql = this.#ready();
		const meta = sql
			.exec<{ dimensions: number; processed_mutation: string | null; processed_ms: number | null }>(
				"SELECT dimensions, processed_mutation, processed_ms FROM meta WHERE id = 1",
			)
			.toArray()[0];
		const pending = sql.exec<{ n: number }>("SELECT count(*) AS n FROM pending").one().n;
		return {
			vectorCount: sql.exec<{ n: number }>("SELECT count(*) AS n FROM vectors").one().n,
			dimensions: meta?.dimensions ?? 0,
			// Nothing pending: every write so far is reflected, up to now.
			processedUpToDatetime: pending === 0 ? Date.now() : (meta?.processed_ms ?? 0),
			processedUpToMutation: (meta?.processed_mutation ?? "") as unknown as number,
		};
	}

	async query(vector: number[], options: VectorizeQueryOptions = {}): Promise<Outcome<VectorizeMatches>> {
		return outcome(() => this.#query(vector, options));
	}

	#query(vector: number[], options: VectorizeQueryOptions): VectorizeMatches {
		const sql = this.#ready();
		const returnValues = options.returnValues === true;
		const level =
			options.returnMetadata === true
				? "all"
				: options.returnMetadata === false
					? "none"
					: (options.returnMetadata ?? "none");
		const topK = options.topK ?? 5;
		const cap = returnValues || level === "all" ? LIMITS.topKWithValuesOrAllMetadata : LIMITS.topK;
		if (!Number.isInteger(topK) || topK < 1 || topK > cap) {
			throw new Error(
				`VECTOR_QUERY_ERROR: topK must be 1-${cap}${cap === 20 ? " when returning values or all metadata" : ""} (got ${topK})`,
			);
		}
		if (options.filter !== undefined) {
			const filterBytes = bytes(JSON.stringify(options.filter));
			if (filterBytes >= LIMITS.filterJsonBytes) {
				throw new Error(
					`VECTOR_QUERY_ERROR: a filter's compact JSON must be under ${LIMITS.filterJsonBytes} bytes (got ${filterBytes})`,
				);
			}
		}
		const meta = sql.exec<{ dimensions: number }>("SELECT dimensions FROM meta WHERE id = 1").toArray()[0];
		if (meta && vector.length !== meta.dimensions) {
			throw new Error(
				`VECTOR_DIMENSION_MISMATCH: the query has ${vector.length} dimensions; the index has ${meta.dimensions}`,
			);
		}
		const rows =
			options.namespace !== undefined
				? sql.exec<Row>("SELECT * FROM vectors WHERE namespace = ?", options.namespace).toArray()
				: sql.exec<Row>("SELECT * FROM vectors").toArray();
		const filter = options.filter as MetadataFilter | undefined;
		const scored = rows
			.filter((r) => matches(filter, r.metadata ? (JSON.parse(r.metadata) as Record<string, unknown>) : {}))
			.map((r) => ({ r, score: cosine(vector, decodeVector(r.vals)) }))
			.sort((a, b) => b.score - a.score || (a.r.id < b.r.id ? -1 : 1))
			.slice(0, topK);
		return {
			count: scored.length,
			matches: scored.map(({ r, score }) => ({ ...this.#vector(r, returnValues, level), score })),
		};
	}

	#vector(r: Row, withValues: boolean, level: "all" | "indexed" | "none"): VectorizeVector {
		const out: VectorizeVector = { id: r.id, values: [] };
		if (withValues) out.values = Array.from(decodeVector(r.vals));
		else delete (out as Partial<VectorizeVector>).values;
		if (r.namespace !== null) out.namespace = r.namespace;
		if (level !== "none" && r.metadata) {
			const m = JSON.parse(r.metadata) as Record<string, VectorizeVectorMetadata>;
			if (level === "indexed") {
				for (const [k, v] of Object.entries(m)) {
					if (typeof v === "string" && bytes(v) > LIMITS.indexedStringBytes)
						m[k] = new TextDecoder()
							.decode(encoder.encode(v).slice(0, LIMITS.indexedStringBytes))
							.replace(/\uFFFD+$/, "");
				}
			}
			out.metadata = m;
		}
		return out;
	}
}
