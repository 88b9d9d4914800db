/**
 * The `Embedder` port: texts in, unit-length vectors out, in batches. Production: Workers AI
 * `@cf/baai/bge-base-en-v1.5` (768 dimensions, ≤ 100 texts per call); offline: a deterministic local embedder with
 * the same dimensions. The model name and dimensions are recorded per index, and writes from another model are
 * refused (their vectors would not be comparable).
 *
 * @example
 * ```ts
 * const [v] = await embedder.embed(["What is an edge worker?"]);
 * v.length === embedder.dimensions; // 768
 * const all = await embedAll(embedder, texts); // any number of texts, `maxBatch` per call
 * ```
 *
 * @module
 */
export interface Embedder {
	/** The model id recorded with the index (e.g. `@cf/baai/bge-base-en-v1.5`, `local-hash-768`). */
	readonly model: string;
	readonly dimensions: number;
	/** Largest batch one call takes; callers split larger inputs. */
	readonly maxBatch: number;
	embed(texts: string[], signal?: AbortSignal): Promise<number[][]>;
}

/**
 * Embeds any number of texts with any embedder, `embedder.maxBatch` at a time, in order: the one way callers embed
 * more than a batch (adapters implement {@link Embedder.embed} only).
 */
export async function embedAll(embedder: Embedder, texts: string[], signal?: AbortSignal): Promise<number[][]> {
	const out: number[][] = [];
	for (let i = 0; i < texts.length; i += embedder.maxBatch) {
		out.push(...(await embedder.embed(texts.slice(i, i + embedder.maxBatch), signal)));
	}
	return out;
}
