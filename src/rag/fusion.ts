/**
 * Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): merges rankings whose scores are not comparable
 * (cosine similarity, BM25) by rank alone. An item scores Σ 1 / (k + rank) over the lists it is in (rank from 1), so
 * one found by both retrievers outranks one found high by a single retriever, and no score needs calibrating.
 *
 * Pure and exact: the sum is taken over the lists in the order given; ties keep the order of first appearance
 * (the first list's items, then the next list's new ones); an item repeated within one list counts at its first rank.
 *
 * @example
 * ```ts
 * const fused = reciprocalRankFusion([vectorHits, keywordHits], (h) => h.id);
 * fused[0]; // { id: "c1", rrf: 1/61 + 1/62, from: [vectorHit, keywordHit] }
 * ```
 *
 * @module
 */

/** The paper's constant k: 60 damps the weight of the very first ranks. */
export const RRF_K = 60;

export type Fused<T> = {
	id: string;
	/** Σ 1 / (k + rank) over the lists holding the item. */
	rrf: number;
	/** The item as each list holds it (undefined where a list lacks it), in the order of the lists. */
	from: (T | undefined)[];
};

/** Fuses `lists` (each best first) into one ranking, best first; `idOf` says which entries are the same item. */
export function reciprocalRankFusion<T>(
	lists: readonly (readonly T[])[],
	idOf: (item: T) => string,
	k: number = RRF_K,
): Fused<T>[] {
	const fused = new Map<string, Fused<T>>();
	lists.forEach((list, l) => {
		const seen = new Set<string>();
		list.forEach((item, i) => {
			const id = idOf(item);
			if (seen.has(id)) return;
			seen.add(id);
			let entry = fused.get(id);
			if (!entry) {
				entry = { id, rrf: 0, from: lists.map(() => undefined) };
				fused.set(id, entry);
			}
			entry.rrf += 1 / (k + i + 1);
			entry.from[l] = item;
		});
	});
	// Array.prototype.sort is stable: equal sums keep the order of first appearance.
	return [...fused.values()].sort((a, b) => b.rrf - a.rrf);
}
