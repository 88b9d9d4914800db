/**
 * Cosine similarity, the one score of vector search (Vectorize's `cosine` metric): the Worker scores the fresh tail
 * with it, the local vector index ranks with it, so both agree to the last bit.
 *
 * @example
 * ```ts
 * cosine([1, 0], [1, 1]); // 0.7071…
 * cosine([0, 0], [1, 1]); // 0: a zero vector is similar to nothing
 * ```
 *
 * @module
 */

/** Cosine of the angle between `a` and `b` (-1 to 1); 0 when either is the zero vector. Missing values count as 0. */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
	let dot = 0;
	let na = 0;
	let nb = 0;
	for (let i = 0; i < a.length; i++) {
		const x = a[i] ?? 0;
		const y = b[i] ?? 0;
		dot += x * y;
		na += x * x;
		nb += y * y;
	}
	return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}
