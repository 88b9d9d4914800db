import { describe, expect, it } from "vitest";
import { ftsQuery } from "../../src/rag/search-store";

describe("keyword query building", () => {
	it("quotes every word so users cannot inject FTS operators", () => {
		expect(ftsQuery('ERR-4471 OR "x" NEAR(a b) *')).toBe('"err" OR "4471" OR "x" OR "near" OR "b"');
		expect(ftsQuery("  ... ")).toBeNull();
	});
});
