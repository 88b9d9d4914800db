/**
 * The `VectorIndex` port: exactly the Vectorize (V2) binding's surface the service uses, so the real binding is
 * an adapter as it is (src/adapters/vectorize.ts) and the offline stand-in — a Durable Object with SQLite
 * (durable-objects/vector-index.ts behind src/adapters/local-vector-index.ts) — follows the same contract, proven by one
 * suite (test/integration/vector-index-contract.test.ts) run against both it and a stub of the binding.
 *
 * Contract highlights (Vectorize's documented behaviour): cosine similarity; `namespace` partitions the index;
 * `topK` ≤ 100 (≤ 20 with `returnValues` or `returnMetadata: "all"`); `returnMetadata` "none" | "indexed" | "all";
 * metadata filters with `$eq $ne $lt $lte $gt $gte $in $nin`; `insert` keeps an existing id, `upsert` replaces it;
 * mutations are asynchronous — visible after indexing — and `describe()` says up to which mutation/time the index has
 * processed.
 *
 * @example
 * ```ts
 * await index.upsert([{ id: "c1", values, namespace: "tenant-a", metadata: { document_id: "d1" } }]);
 * const { matches } = await index.query(queryVector, { topK: 5, namespace: "tenant-a", returnMetadata: "indexed" });
 * ```
 *
 * @module
 */
export type VectorIndex = Pick<Vectorize, "describe" | "query" | "insert" | "upsert" | "deleteByIds" | "getByIds">;

export type VectorRecord = VectorizeVector;
export type VectorQueryOptions = VectorizeQueryOptions;
export type VectorMatches = VectorizeMatches;
export type VectorIndexInfo = VectorizeIndexInfo;

/** Vectorize's documented limits (https://developers.cloudflare.com/vectorize/platform/limits/), which every adapter keeps. */
export const VECTORIZE_LIMITS = {
	/** An id, UTF-8 bytes. */
	idBytes: 64,
	/** A vector's metadata as JSON, bytes. */
	metadataBytes: 10 * 1024,
	topK: 100,
	topKWithValuesOrAllMetadata: 20,
	/** A namespace name, UTF-8 bytes. */
	namespaceBytes: 64,
	/** A string in "indexed" metadata is cut to this many UTF-8 bytes. */
	indexedStringBytes: 64,
	/**
	 * A query's filter: its compact JSON (`JSON.stringify`, UTF-8) must be under this many bytes
	 * (https://developers.cloudflare.com/vectorize/reference/metadata-filtering/#supported-operations).
	 */
	filterJsonBytes: 2048,
} as const;
