/**
 * The RPC contract of the `LocalVectorIndex` Durable Object (durable-objects/vector-index.ts), the offline stand-in
 * for Vectorize: what the Worker's adapter (src/adapters/local-vector-index.ts) sends and gets back. The object
 * implements {@link LocalVectorIndexRpc}; the Worker depends on this module only, never on the object's file.
 *
 * Two versions of the Worker and the object run side by side during a gradual deployment: these shapes change only
 * in ways both sides accept.
 *
 * @example
 * ```ts
 * const index: LocalVectorIndexRpc = env.VECTOR_INDEX.get(env.VECTOR_INDEX.idFromName("rag"));
 * const r = await index.upsert([{ id: "c1", values, namespace: "t-1" }], { model: "local-hash-768", dimensions: 768, indexingDelayMs: 0 });
 * if (!r.ok) throw new Error(r.error);
 * ```
 *
 * @module
 */

/** How the adapter describes the writer: its embedding model and dimensions, and the simulated indexing delay (ms). */
export type IndexOptions = { model: string; dimensions: number; indexingDelayMs: number };

/**
 * What each RPC method answers: the value, or the error a Vectorize binding would throw. Errors travel as values
 * because an exception thrown across RPC is also reported as uncaught inside the object; the adapter rethrows it.
 */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

/** The object's RPC methods: Vectorize's surface, with the writer's options on every write. */
export interface LocalVectorIndexRpc {
	insert(vectors: VectorizeVector[], options: IndexOptions): Promise<Outcome<VectorizeAsyncMutation>>;
	upsert(vectors: VectorizeVector[], options: IndexOptions): Promise<Outcome<VectorizeAsyncMutation>>;
	deleteByIds(ids: string[], options: Pick<IndexOptions, "indexingDelayMs">): Promise<Outcome<VectorizeAsyncMutation>>;
	getByIds(ids: string[]): Promise<Outcome<VectorizeVector[]>>;
	describe(): Promise<Outcome<VectorizeIndexInfo>>;
	query(vector: number[], options?: VectorizeQueryOptions): Promise<Outcome<VectorizeMatches>>;
}
