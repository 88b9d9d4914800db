import { describe, expect, it } from "vitest";
import { costOf } from "../../src/chat/accounting";

describe("costOf", () => {
	const prices = { priced: { prompt_per_mtok: 0.15, completion_per_mtok: 0.6 } };

	it("prices prompt and completion tokens per million at the model's prices", () => {
		// 1 000 × 0.15 / 1e6 + 200 × 0.6 / 1e6
		expect(costOf("priced", { promptTokens: 1_000, completionTokens: 200 }, prices)).toBeCloseTo(0.00027, 12);
		expect(costOf("priced", { promptTokens: 1_000_000, completionTokens: 0 }, prices)).toBeCloseTo(0.15, 12);
	});

	it("costs nothing for an unpriced model or an empty call", () => {
		expect(costOf("unpriced", { promptTokens: 5_000, completionTokens: 5_000 }, prices)).toBe(0);
		expect(costOf("priced", { promptTokens: 0, completionTokens: 0 }, prices)).toBe(0);
	});
});
