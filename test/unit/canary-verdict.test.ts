import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
	binomialTail,
	DEFAULT_POLICY,
	judgeStep,
	type RouteSample,
	type VerdictPolicy,
	type VersionStats,
} from "../../scripts/canary/verdict";

// The canary verdict as pure functions over tables of per-version numbers (scripts/canary/verdict.ts).
const DEFAULT_OBJECTIVES = {
	availability: 0.999,
	latency: [
		{ quantile: 0.95, thresholdMs: 500 },
		{ quantile: 0.99, thresholdMs: 1_000 },
	],
};
const policy: VerdictPolicy = { ...DEFAULT_POLICY, minRequests: 100 };

/** A version's numbers: `slow95` / `slow99` requests over the p95 / p99 thresholds (errors count as slow). */
function v(
	requests: number,
	errors: number,
	slow95 = errors,
	slow99 = errors,
	p95?: number,
	p99?: number,
): VersionStats {
	return {
		requests,
		errors,
		latency: [
			{ quantile: 0.95, thresholdMs: 500, slow: slow95, valueMs: p95 ?? null },
			{ quantile: 0.99, thresholdMs: 1_000, slow: slow99, valueMs: p99 ?? null },
		],
	};
}
const route = (canary: VersionStats, stable: VersionStats | null, name = "/v1/models"): RouteSample => ({
	route: name,
	objectives: DEFAULT_OBJECTIVES,
	canary,
	stable,
});

describe("binomialTail (one-sided exact test)", () => {
	it("matches closed forms and a direct summation", () => {
		expect(binomialTail(0, 100, 0.01)).toBe(1);
		expect(binomialTail(101, 100, 0.01)).toBe(0);
		expect(binomialTail(1, 100, 0.001)).toBeCloseTo(1 - 0.999 ** 100, 10);
		expect(binomialTail(2, 100, 0.001)).toBeCloseTo(1 - 0.999 ** 100 - 100 * 0.001 * 0.999 ** 99, 10);
		// Direct summation of the pmf (n = 1000 stays within doubles).
		const n = 1_000;
		const p = 0.02;
		let pmf = (1 - p) ** n;
		let below = 0;
		for (let i = 0; i < 30; i++) {
			below += pmf;
			pmf = (pmf * (n - i) * p) / ((i + 1) * (1 - p));
		}
		expect(binomialTail(30, n, p)).toBeCloseTo(1 - below, 8);
	});

	it("stays finite where the pmf underflows doubles (n = 10⁶)", () => {
		// Mean 10 000, sd ≈ 99.5: 10 400 is ~4 sd above (normal tail ≈ 3.2e-5).
		const tail = binomialTail(10_400, 1_000_000, 0.01);
		expect(tail).toBeGreaterThan(1e-5);
		expect(tail).toBeLessThan(1e-4);
		expect(binomialTail(20_000, 1_000_000, 0.01)).toBeLessThan(1e-100);
	});

	it("is a probability that falls as k rises", () => {
		fc.assert(
			fc.property(fc.integer({ min: 1, max: 2_000 }), fc.double({ min: 1e-4, max: 0.5, noNaN: true }), (n, p) => {
				let previous = 1;
				for (const k of [1, Math.ceil(n * p), Math.ceil(n * p * 2), n]) {
					const t = binomialTail(k, n, p);
					expect(t).toBeGreaterThanOrEqual(0);
					expect(t).toBeLessThanOrEqual(previous + 1e-12);
					previous = t;
				}
			}),
			{ numRuns: 200 },
		);
	});
});

describe("judgeStep", () => {
	const table: { name: string; samples: RouteSample[]; outcome: "pass" | "fail" | "inconclusive"; why?: RegExp }[] = [
		{ name: "zero traffic: no route at all", samples: [], outcome: "inconclusive", why: /no request of the canary/ },
		{
			name: "zero canary requests on the route",
			samples: [route(v(0, 0), v(5_000, 0))],
			outcome: "inconclusive",
			why: /no route judged/,
		},
		{
			name: "one request below the minimum sample: never a pass, even with a perfect record",
			samples: [route(v(99, 0), v(5_000, 0))],
			outcome: "inconclusive",
			why: /99/,
		},
		{ name: "exactly the minimum sample, healthy: pass", samples: [route(v(100, 0), v(5_000, 1))], outcome: "pass" },
		{
			name: "below the minimum with every request failing: still not judged (top-up or wait)",
			samples: [route(v(20, 20), v(5_000, 0))],
			outcome: "inconclusive",
		},
		{
			name: "errors far above the budget, significant: fail",
			samples: [route(v(200, 10), v(5_000, 2))],
			outcome: "fail",
			why: /error ratio 5\.00 % \(10\/200\)/,
		},
		{
			name: "one error in 100 at a 0.1 % budget: above it, but chance explains it (p ≈ 0.095): inconclusive",
			samples: [route(v(100, 1), v(10_000, 10))],
			outcome: "inconclusive",
			why: /p = 0\.09/,
		},
		{
			name: "two errors in 100 at a 0.1 % budget: significant (p ≈ 0.0046): fail",
			samples: [route(v(100, 2), v(10_000, 10))],
			outcome: "fail",
		},
		{
			name: "a small absolute difference under the minimum effect (budget) is not a regression",
			// stable 0.01 %, canary 0.05 %: 5× stable but only +0.04 points, under the 0.1 % budget.
			samples: [route(v(2_000, 1), v(10_000, 1))],
			outcome: "pass",
		},
		{
			name: "stable itself failing, canary no worse: inconclusive, not a rollback",
			samples: [route(v(1_000, 21), v(20_000, 400))],
			outcome: "inconclusive",
			why: /stable fails it too/,
		},
		{
			name: "stable failing and the canary clearly worse: fail",
			samples: [route(v(1_000, 80), v(20_000, 400))],
			outcome: "fail",
			why: /vs stable 2\.00 % \(400\/20000\)/,
		},
		{
			name: "stable below the minimum: relative checks inconclusive, so no pass",
			samples: [route(v(500, 0), v(50, 0))],
			outcome: "inconclusive",
			why: /stable served 50 requests/,
		},
		{
			name: "stable absent on the route: no comparison, no pass",
			samples: [route(v(500, 0), null)],
			outcome: "inconclusive",
			why: /stable served 0 requests/,
		},
		{
			name: "slow requests over the p95 threshold: fail",
			samples: [route(v(300, 0, 60, 0), v(5_000, 0, 100, 0))],
			outcome: "fail",
			why: /slower than 500 ms/,
		},
		{
			name: "quantiles (Prometheus): p95 800 ms vs stable 300 ms fails the relative check",
			samples: [route(v(300, 0, 10, 0, 800, 900), v(5_000, 0, 200, 0, 300, 600))],
			outcome: "fail",
			why: /p95 800 ms vs stable 300 ms/,
		},
		{
			name: "quantiles within 1.1× or +50 ms pass",
			samples: [route(v(300, 0, 10, 0, 340, 650), v(5_000, 0, 200, 0, 300, 600))],
			outcome: "pass",
		},
		{
			name: "a judged healthy route and an unjudged quiet one: pass, the quiet one named",
			samples: [route(v(400, 0), v(9_000, 0)), route(v(3, 0), v(80, 0), "/v1/embeddings")],
			outcome: "pass",
			why: /1 route\(s\) not judged.*\/v1\/embeddings 3/,
		},
		{
			name: "a failing quiet route does not fail the step, a failing judged one does",
			samples: [route(v(400, 40), v(9_000, 0)), route(v(3, 3), v(80, 0), "/v1/embeddings")],
			outcome: "fail",
		},
	];
	for (const t of table) {
		it(t.name, () => {
			const verdict = judgeStep(t.samples, policy);
			expect(verdict.outcome).toBe(t.outcome);
			if (t.why) expect(verdict.reasons.join("\n")).toMatch(t.why);
			if (t.outcome === "fail") expect(verdict.failures.length).toBeGreaterThan(0);
		});
	}

	it("a required route without enough data keeps the step inconclusive", () => {
		const samples = [route(v(400, 0), v(9_000, 0)), route(v(30, 0), v(900, 0), "/v1/chat/completions")];
		expect(judgeStep(samples, policy).outcome).toBe("pass");
		const required = { ...policy, requiredRoutes: ["/v1/chat/completions"] };
		expect(judgeStep(samples, required).outcome).toBe("inconclusive");
		const absent = { ...policy, requiredRoutes: ["/v1/rag/query"] };
		expect(judgeStep(samples, absent).reasons.join("\n")).toMatch(/\/v1\/rag\/query: canary served no requests/);
	});

	it("judges rates, never raw counts: a 1 % canary with 1/99 of stable's traffic and the same ratios passes", () => {
		expect(judgeStep([route(v(1_000, 0, 20, 5), v(99_000, 0, 1_980, 495))], policy).outcome).toBe("pass");
	});

	it("never passes below the minimum sample, and never fails without a failed check (property)", () => {
		const stats = fc
			.record({ requests: fc.integer({ min: 0, max: 5_000 }), errorShare: fc.double({ min: 0, max: 1, noNaN: true }) })
			.map(({ requests, errorShare }) => {
				const errors = Math.floor(requests * errorShare);
				return v(requests, errors, errors, errors);
			});
		fc.assert(
			fc.property(stats, fc.option(stats, { nil: null }), fc.integer({ min: 1, max: 500 }), (canary, stable, min) => {
				const verdict = judgeStep([route(canary, stable)], { ...policy, minRequests: min });
				if (canary.requests < min) expect(verdict.outcome).toBe("inconclusive");
				if (verdict.outcome === "pass") expect(verdict.checks.some((c) => c.outcome === "fail")).toBe(false);
				if (verdict.outcome === "fail") expect(verdict.checks.some((c) => c.outcome === "fail")).toBe(true);
			}),
			{ numRuns: 500 },
		);
	});
});
