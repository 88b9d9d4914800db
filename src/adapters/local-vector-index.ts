import type { IndexOptions, LocalVectorIndex, Outcome } from "../../durable-objects/vector-index";
import type { VectorIndex } from "../ports/vector-index";

/**
 * The `VectorIndex` port over the local Durable Object index (`VECTOR_INDEX`), one object per index name. Writes
 * carry the writer's model, dimensions and the simulated indexing delay (`RAG_INDEXING_DELAY_MS`).
 *
 * @example
 * ```ts
 * const index = localVectorIndex(env.VECTOR_INDEX, "rag", { model: "local-hash-768", dimensions: 768, indexingDelayMs: 0 });
 * ```
 */
export function localVectorIndex(
	namespace: DurableObjectNamespace<LocalVectorIndex>,
	name: string,
	options: IndexOptions,
): VectorIndex {
	const stub = () => namespace.get(namespace.idFromName(name));
	// The object answers errors as values (see Outcome); they become exceptions again here, as Vectorize throws them.
	const unwrap = async <T>(call: Promise<unknown>): Promise<T> => {
		const r = (await call) as Outcome<T>;
		if (!r.ok) throw new Error(r.error);
		return r.value;
	};
	return {
		describe: () => unwrap<VectorizeIndexInfo>(stub().describe()),
		query: (vector, queryOptions) => unwrap<VectorizeMatches>(stub().query(Array.from(vector), queryOptions)),
		insert: (vectors) => unwrap<VectorizeAsyncMutation>(stub().insert(vectors, options)),
		upsert: (vectors) => unwrap<VectorizeAsyncMutation>(stub().upsert(vectors, options)),
		deleteByIds: (ids) => unwrap<VectorizeAsyncMutation>(stub().deleteByIds(ids, options)),
		getByIds: (ids) => unwrap<VectorizeVector[]>(stub().getByIds(ids)),
	};
}
