/**
 * The `VectorIndex` port: exactly the Vectorize (V2) binding's surface the service uses, so the real binding is
 * an adapter as it is (src/adapters/vectorize.ts) and the offline stand-in — a Durable Object with SQLite
 * (durable-objects/vector-index.ts, src/adapters/local-vector-index.ts) — follows the same contract, proven by one
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
 */
export type VectorIndex = Pick<Vectorize, "describe" | "query" | "insert" | "upsert" | "deleteByIds" | "getByIds">;

export type VectorRecord = VectorizeVector;
export type VectorQueryOptions = VectorizeQueryOptions;
export type VectorMatches = VectorizeMatches;
export type VectorIndexInfo = VectorizeIndexInfo;
