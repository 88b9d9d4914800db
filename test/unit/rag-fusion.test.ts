import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RRF_K, reciprocalRankFusion } from "../../src/rag/fusion";

type Hit = { id: string; score: number };
const hit = (id: string, score = 0): Hit => ({ id, score });
const fuse = (...lists: Hit[][]) => reciprocalRankFusion(lists, (h) => h.id);

describe("reciprocal rank fusion", () => {
	it("uses the paper's k of 60", () => {
		expect(RRF_K).toBe(60);
		expect(fuse([hit("a")])[0]?.rrf).toBe(1 / 61);
	});

	it("ranks an item both lists found above items only one list found, whatever their ranks there", () => {
		const fused = fuse([hit("a"), hit("b"), hit("c")], [hit("c"), hit("d")]);
		expect(fused.map((f) => f.id)).toEqual(["c", "a", "b", "d"]);
	});

	it("gives exact scores: Σ 1 / (k + rank) with ranks from 1, summed in list order", () => {
		const fused = fuse([hit("a"), hit("b"), hit("c")], [hit("c"), hit("d")]);
		const score = Object.fromEntries(fused.map((f) => [f.id, f.rrf]));
		expect(score).toEqual({ c: 1 / 63 + 1 / 61, a: 1 / 61, b: 1 / 62, d: 1 / 62 });
	});

	it("takes another k when given one", () => {
		const fused = reciprocalRankFusion([[hit("a"), hit("b")], [hit("b")]], (h) => h.id, 0);
		expect(fused.map((f) => [f.id, f.rrf])).toEqual([
			["b", 1 / 2 + 1 / 1],
			["a", 1 / 1],
		]);
	});

	it("breaks ties by first appearance: the first list's items, then the next list's new ones", () => {
		expect(fuse([hit("x")], [hit("y")]).map((f) => f.id)).toEqual(["x", "y"]);
		expect(fuse([hit("y")], [hit("x")]).map((f) => f.id)).toEqual(["y", "x"]);
		// b and d both score 1/62: b came first (list one).
		expect(fuse([hit("a"), hit("b")], [hit("c"), hit("d")]).map((f) => f.id)).toEqual(["a", "c", "b", "d"]);
	});

	it("merges an item found by both lists into one entry that keeps each list's copy", () => {
		const vector = hit("c", 0.9);
		const keyword = hit("c", 7.5);
		const fused = fuse([hit("a", 0.95), vector], [keyword]);
		expect(fused).toHaveLength(2);
		const c = fused.find((f) => f.id === "c");
		expect(c?.from[0]).toBe(vector);
		expect(c?.from[1]).toBe(keyword);
		expect(fused.find((f) => f.id === "a")?.from).toEqual([hit("a", 0.95), undefined]);
	});

	it("counts an item repeated within one list once, at its first rank", () => {
		const fused = fuse([hit("a", 1), hit("b"), hit("a", 2)]);
		expect(fused.map((f) => [f.id, f.rrf])).toEqual([
			["a", 1 / 61],
			["b", 1 / 62],
		]);
		expect(fused[0]?.from[0]).toEqual(hit("a", 1));
	});

	it("with one list empty, is that list's ranking with its RRF scores", () => {
		const fused = fuse([], [hit("a"), hit("b")]);
		expect(fused.map((f) => [f.id, f.rrf])).toEqual([
			["a", 1 / 61],
			["b", 1 / 62],
		]);
		expect(fused[0]?.from).toEqual([undefined, hit("a")]);
		expect(fuse([], [])).toEqual([]);
		expect(fuse()).toEqual([]);
	});

	it("returns every distinct item once, best first, each scored within (0, lists / (k + 1)]", () => {
		const ids = fc.array(fc.constantFrom("a", "b", "c", "d", "e", "f"), { maxLength: 8 });
		fc.assert(
			fc.property(fc.array(ids, { maxLength: 3 }), (lists) => {
				const fused = fuse(...lists.map((l) => l.map((id) => hit(id))));
				expect(fused.map((f) => f.id).sort()).toEqual([...new Set(lists.flat())].sort());
				for (const [i, f] of fused.entries()) {
					expect(f.rrf).toBeGreaterThan(0);
					expect(f.rrf).toBeLessThanOrEqual(lists.length / (RRF_K + 1));
					if (i > 0) expect(f.rrf).toBeLessThanOrEqual(fused[i - 1]?.rrf ?? Number.NaN);
				}
			}),
			{ numRuns: 300 },
		);
	});
});
