/**
 * The production adapter of the `VectorIndex` port (src/ports/vector-index.ts): the Vectorize (V2) binding as it
 * is. The offline stand-in is src/adapters/local-vector-index.ts.
 *
 * @module
 */
import type { VectorIndex } from "../ports/vector-index";

/**
 * The `VectorIndex` port over the Vectorize (V2) binding: the binding already has the port's shape. Vectorize
 * records no embedding model, so the model guard lives in D1 (`rag_index_meta`, checked on every ingest), and
 * dimensions are checked by Vectorize itself on every write.
 *
 * @example
 * ```ts
 * const index = vectorizeIndex(env.VECTORIZE as unknown as Vectorize);
 * ```
 */
export function vectorizeIndex(binding: Vectorize): VectorIndex {
	return binding;
}
