import { describe, expect, it } from "vitest";
import { WorkersAiEmbedder } from "../../src/adapters/workers-ai-embedder";
import { embedAll } from "../../src/ports/embedder";

describe("Workers AI embedder (against a stub of the binding's format)", () => {
	it("embeds in batches of at most 100, checks the shape, and fails clearly without a binding", async () => {
		const calls: number[] = [];
		const ai = {
			run: async (_model: string, inputs: Record<string, unknown>) => {
				const text = inputs.text as string[];
				calls.push(text.length);
				return {
					shape: [text.length, 768],
					data: text.map((t) => Array.from({ length: 768 }, (_, i) => (i === t.length % 768 ? 1 : 0))),
				};
			},
		};
		const embedder = new WorkersAiEmbedder(ai);
		expect(embedder.model).toBe("@cf/baai/bge-base-en-v1.5");
		const vectors = await embedAll(
			embedder,
			Array.from({ length: 250 }, (_, i) => "x".repeat(i + 1)),
		);
		expect(calls).toEqual([100, 100, 50]);
		expect(vectors).toHaveLength(250);
		expect(vectors[4]?.[5]).toBe(1);
		const wrong = new WorkersAiEmbedder({ run: async () => ({ shape: [1, 3], data: [[1, 2, 3]] }) });
		await expect(wrong.embed(["a"])).rejects.toThrow(/dimensions/);
		await expect(new WorkersAiEmbedder(undefined).embed(["a"])).rejects.toThrow(/not bound/);
	});
});
