import { describe, expect, it } from "vitest";
import { ndcgAtK, recallAtK, reciprocalRank } from "../../scripts/eval/metrics";

describe("retrieval metrics (hand-computed)", () => {
	const rel = new Set(["a", "b"]);
	it("recall@k counts the relevant results in the top k", () => {
		expect(recallAtK(["x", "a", "y", "b"], rel, 2)).toBe(0.5);
		expect(recallAtK(["x", "a", "y", "b"], rel, 4)).toBe(1);
		expect(recallAtK([], rel, 5)).toBe(0);
	});
	it("reciprocal rank is 1 / the rank of the first relevant result", () => {
		expect(reciprocalRank(["a"], rel)).toBe(1);
		expect(reciprocalRank(["x", "y", "b"], rel)).toBeCloseTo(1 / 3, 12);
		expect(reciprocalRank(["x"], rel)).toBe(0);
	});
	it("nDCG@k discounts by log2 of the rank and normalises by the ideal ranking", () => {
		// Relevant at ranks 2 and 4: DCG = 1/log2(3) + 1/log2(5); ideal = 1 + 1/log2(3).
		const expected = (1 / Math.log2(3) + 1 / Math.log2(5)) / (1 + 1 / Math.log2(3));
		expect(ndcgAtK(["x", "a", "y", "b"], rel, 10)).toBeCloseTo(expected, 12);
		expect(ndcgAtK(["a", "b"], rel, 10)).toBe(1);
		expect(ndcgAtK(["x", "a"], new Set(["a"]), 1)).toBe(0);
	});
});
