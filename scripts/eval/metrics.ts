// Ranking metrics of `npm run eval:rag` (binary relevance):
//   recall@k = |relevant ∩ top k| / |relevant|
//   RR       = 1 / rank of the first relevant result (0 when none is returned)
//   nDCG@k   = DCG@k / IDCG@k with DCG@k = Σ_{i ≤ k, result i relevant} 1 / log2(i + 1) (ranks from 1) and IDCG@k
//              the DCG of a ranking with all min(|relevant|, k) relevant results first.
// MRR is the mean of RR over questions.

/** `ranked`: result ids, best first. */
export function recallAtK(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
	if (relevant.size === 0) return 0;
	let hits = 0;
	for (const id of ranked.slice(0, k)) if (relevant.has(id)) hits++;
	return hits / relevant.size;
}

export function reciprocalRank(ranked: readonly string[], relevant: ReadonlySet<string>): number {
	const i = ranked.findIndex((id) => relevant.has(id));
	return i < 0 ? 0 : 1 / (i + 1);
}

export function ndcgAtK(ranked: readonly string[], relevant: ReadonlySet<string>, k: number): number {
	if (relevant.size === 0) return 0;
	let dcg = 0;
	ranked.slice(0, k).forEach((id, i) => {
		if (relevant.has(id)) dcg += 1 / Math.log2(i + 2);
	});
	let ideal = 0;
	for (let i = 0; i < Math.min(relevant.size, k); i++) ideal += 1 / Math.log2(i + 2);
	return dcg / ideal;
}
