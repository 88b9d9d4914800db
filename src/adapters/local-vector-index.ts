/**
 * The `VectorIndex` port over the local Durable Object index (`VECTOR_INDEX`), one object per index name, through
 * its RPC contract (src/adapters/local-vector-index-contract.ts). Writes carry the writer's model, dimensions and
 * the simulated indexing delay (`RAG_INDEXING_DELAY_MS`).
 *
 * @example
 * ```ts
 * const index = localVectorIndex(env.VECTOR_INDEX, "rag", { model: "local-hash-768", dimensions: 768, indexingDelayMs: 0 });
 * ```
 *
 * @module
 */
import type { VectorIndex } from "../ports/vector-index";
import type { IndexOptions, LocalVectorIndexRpc, Outcome } from "./local-vector-index-contract";

/** The `VectorIndex` port over the object named `name` in `namespace`. */
export function localVectorIndex(namespace: Env["VECTOR_INDEX"], name: string, options: IndexOptions): VectorIndex {
	const stub = (): LocalVectorIndexRpc => namespace.get(namespace.idFromName(name));
	// The object answers errors as values (see Outcome); they become exceptions again here, as Vectorize throws them.
	const unwrap = async <T>(call: Promise<Outcome<T>>): Promise<T> => {
		const r = await call;
		if (!r.ok) throw new Error(r.error);
		return r.value;
	};
	return {
		describe: () => unwrap(stub().describe()),
		query: (vector, queryOptions) => unwrap(stub().query(Array.from(vector), queryOptions)),
		insert: (vectors) => unwrap(stub().insert(vectors, options)),
		upsert: (vectors) => unwrap(stub().upsert(vectors, options)),
		deleteByIds: (ids) => unwrap(stub().deleteByIds(ids, options)),
		getByIds: (ids) => unwrap(stub().getByIds(ids)),
	};
}
