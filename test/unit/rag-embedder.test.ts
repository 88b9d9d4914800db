import { describe, expect, it } from "vitest";
import { type Embedder, embedAll } from "../../src/ports/embedder";

/** An embedder that records its batches and answers each text with its length. */
function recording(maxBatch: number): Embedder & { calls: string[][] } {
	const calls: string[][] = [];
	return {
		model: "test",
		dimensions: 1,
		maxBatch,
		calls,
		async embed(texts) {
			calls.push(texts);
			return texts.map((t) => [t.length]);
		},
	};
}

describe("embedAll (the Embedder port's batching)", () => {
	it("embeds any number of texts, maxBatch per call, in order", async () => {
		const embedder = recording(2);
		const vectors = await embedAll(embedder, ["a", "bb", "ccc", "dddd", "eeeee"]);
		expect(embedder.calls).toEqual([["a", "bb"], ["ccc", "dddd"], ["eeeee"]]);
		expect(vectors).toEqual([[1], [2], [3], [4], [5]]);
	});

	it("makes no call for no texts", async () => {
		const embedder = recording(2);
		expect(await embedAll(embedder, [])).toEqual([]);
		expect(embedder.calls).toEqual([]);
	});

	it("passes the signal to every call, and fails as the embedder fails", async () => {
		const signals: (AbortSignal | undefined)[] = [];
		const signal = new AbortController().signal;
		const failing: Embedder = {
			model: "test",
			dimensions: 1,
			maxBatch: 1,
			async embed(texts, s) {
				signals.push(s);
				if (texts[0] === "bad") throw new Error("embedder down");
				return [[0]];
			},
		};
		await expect(embedAll(failing, ["ok", "bad", "never"], signal)).rejects.toThrow("embedder down");
		expect(signals).toEqual([signal, signal]);
	});
});
