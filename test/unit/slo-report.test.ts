import { describe, expect, it } from "vitest";
import { report } from "../../src/slo/report";

// An unlisted route gets the default SLO: 99.9 % available, p95 < 500 ms, p99 < 1 s (src/slo/spec.ts).
const ROUTE = "/v1/test/report";

describe("report", () => {
	it("computes availability, burn rates and latency compliance from the counts of each window", () => {
		const r = report({
			route: ROUTE,
			version: "v1",
			windows: [
				// 10 000 requests, 20 errors: 0.2 % errors against a 0.1 % budget burns at 2×.
				{ window: "1h", minutes: 60, total: 10_000, errors: 20, fast: [9_400, 9_950] },
				{ window: "30d", minutes: 43_200, total: 1_000_000, errors: 400, fast: [990_000, 999_000] },
			],
		});
		expect(r.objectives).toEqual({
			availability: 0.999,
			latency: [
				{ quantile: 0.95, threshold_ms: 500 },
				{ quantile: 0.99, threshold_ms: 1_000 },
			],
		});
		const hour = r.windows["1h"];
		expect(hour?.requests).toBe(10_000);
		expect(hour?.errors).toBe(20);
		expect(hour?.availability).toBeCloseTo(0.998, 12);
		expect(hour?.burn_rate).toBeCloseTo(2, 9);
		// p95: 94 % within 500 ms → 6 % slow against a 5 % allowance: 1.2×. p99: 0.5 % slow against 1 %: 0.5×.
		expect(hour?.latency[0]?.compliance).toBeCloseTo(0.94, 12);
		expect(hour?.latency[0]?.burn_rate).toBeCloseTo(1.2, 9);
		expect(hour?.latency[1]?.compliance).toBeCloseTo(0.995, 12);
		expect(hour?.latency[1]?.burn_rate).toBeCloseTo(0.5, 9);
		// 30 days: 400 errors of a budget of 1 000 (0.1 % of 1 000 000) leaves 60 %.
		expect(r.error_budget_remaining).toBeCloseTo(0.6, 9);
	});

	it("reports no availability or compliance for a window without requests, and no budget without a period", () => {
		const r = report({
			route: ROUTE,
			version: "v2",
			windows: [{ window: "5m", minutes: 5, total: 0, errors: 0, fast: [0, 0] }],
		});
		expect(r.windows["5m"]).toMatchObject({ requests: 0, availability: null, burn_rate: 0 });
		expect(r.windows["5m"]?.latency.map((l) => [l.compliance, l.burn_rate])).toEqual([
			[null, 0],
			[null, 0],
		]);
		expect(r.error_budget_remaining).toBeNull();
	});

	it("goes negative when the period's errors exceed the budget (an overspent budget is shown, not clamped)", () => {
		const r = report({
			route: ROUTE,
			version: "v3",
			windows: [{ window: "30d", minutes: 43_200, total: 10_000, errors: 30, fast: [10_000, 10_000] }],
		});
		// Budget 10 errors, 30 spent: 1 − 3 = −2.
		expect(r.error_budget_remaining).toBeCloseTo(-2, 9);
	});
});
