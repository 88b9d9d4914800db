import { describe, expect, it } from "vitest";
import { LocalEmbedder } from "../../src/adapters/local-embedder";
import { cosine } from "../../src/lib/cosine";

describe("local embedder", () => {
	it("is deterministic, unit length, 768-dimensional, and closer for texts sharing words", async () => {
		const e = new LocalEmbedder();
		const [a, b, c, a2] = await e.embed([
			"roll back the canary",
			"how to roll back a canary release",
			"invoice refund policy",
			"roll back the canary",
		]);
		expect(a).toHaveLength(768);
		expect(a).toEqual(a2);
		expect(Math.hypot(...(a ?? []))).toBeCloseTo(1, 6);
		expect(cosine(a ?? [], b ?? [])).toBeGreaterThan(cosine(a ?? [], c ?? []));
	});
});
