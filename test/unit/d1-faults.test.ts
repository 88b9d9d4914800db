import { describe, expect, it } from "vitest";
import { INJECTED_D1_ERROR, isTransientD1Error } from "../../src/db/d1-faults";

describe("isTransientD1Error", () => {
	it("recognises D1's transient failures (the database could not answer) and the injected one", () => {
		for (const message of [
			INJECTED_D1_ERROR,
			"D1_ERROR: Network connection lost.",
			"D1_ERROR: D1 DB is overloaded. Too many requests queued.",
			"D1_ERROR: Internal error while starting up D1 storage caused object to be reset.",
			"D1_ERROR: Cannot resolve D1 DB due to transient issue on remote node.",
		]) {
			expect(isTransientD1Error(new Error(message)), message).toBe(true);
		}
	});

	it("leaves our own mistakes alone: they stay 500s, logged as bugs", () => {
		for (const message of [
			'D1_ERROR: near "SELEC": syntax error at offset 0: SQLITE_ERROR',
			"D1_ERROR: too many SQL variables at offset 329: SQLITE_ERROR",
			"D1_ERROR: UNIQUE constraint failed: documents.id: SQLITE_CONSTRAINT",
			"Network connection lost.",
		]) {
			expect(isTransientD1Error(new Error(message)), message).toBe(false);
		}
		expect(isTransientD1Error("D1_ERROR: Network connection lost.")).toBe(false);
	});
});
