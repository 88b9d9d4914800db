import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
	binomialTail,
	DEFAULT_POLICY,
	type HistogramBucket,
	judgeStep,
	type Outcome,
	type RouteSample,
	type VerdictPolicy,
	type VersionStats,
} from "../../scripts/canary/verdict";
import { LATENCY_BUCKETS_S } from "../../src/slo/spec";

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
	slow95: number | null = errors,
	slow99: number | null = errors,
	p95?: number,
	p99?: number,
	histogram?: HistogramBucket[],
): VersionStats {
	return {
		requests,
		errors,
		latency: [
			{ quantile: 0.95, thresholdMs: 500, slow: slow95, valueMs: p95 ?? null },
			{ quantile: 0.99, thresholdMs: 1_000, slow: slow99, valueMs: p99 ?? null },
		],
		...(histogram ? { histogram } : {}),
	};
}
/** A cumulative histogram from `[bound ms, requests at most that long]` pairs, then +Inf = all requests. */
const hist = (requests: number, ...pairs: [number, number][]): HistogramBucket[] => [
	...pairs.map(([leMs, count]) => ({ leMs, count })),
	{ leMs: Number.POSITIVE_INFINITY, count: requests },
];
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
			name: "below the minimum with every request failing: not judged, but a significant failure fails (fail-only)",
			samples: [route(v(20, 20), v(5_000, 0))],
			outcome: "fail",
			why: /error ratio 100\.0 % \(20\/20\)/,
		},
		{
			name: "below the minimum, one error in 10: significant at 0.1 %, but one bad request never fails a quiet route",
			samples: [route(v(10, 1), v(5_000, 0))],
			outcome: "inconclusive",
			why: /no route judged/,
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
			name: "a small absolute difference under the minimum effect (a quarter of the budget) is not a regression",
			// stable 0.01 %, canary 0.02 %: 2× stable but only +0.01 points, under 0.025 (a quarter of 0.1 %).
			samples: [route(v(5_000, 1), v(10_000, 1))],
			outcome: "pass",
		},
		{
			name: "a 9× error regression within the SLO fails the relative check (0.09 % vs 0.01 %, budget 0.1 %)",
			samples: [route(v(20_000, 18), v(100_000, 10))],
			outcome: "fail",
			why: /error ratio 0\.090 % \(18\/20000\) vs stable 0\.010 % .*allowed 0\.035 %/,
		},
		{
			name: "an excess over the minimum effect that chance explains is inconclusive, not a failure",
			// 1 error in 2 000 (0.05 %) against 0.035 % allowed: p ≈ 0.5.
			samples: [route(v(2_000, 1), v(10_000, 1))],
			outcome: "inconclusive",
			why: /allowed 0\.035 %.*p = 0\.5/,
		},
		{
			name: "stable itself failing, canary no worse: inconclusive, not a rollback",
			samples: [route(v(1_000, 21), v(20_000, 400))],
			outcome: "inconclusive",
			why: /stable fails it too/,
		},
		{
			name: "stable failing, the canary somewhat worse but within noise (relative inconclusive): inconclusive",
			// 2.5 % vs 2.0 %: above 1.1 × stable, p ≈ 0.27. Stable fails the same objective: not the canary's fault.
			samples: [route(v(1_000, 25), v(20_000, 400))],
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
			name: "quantiles (Prometheus): p95 360 ms vs stable 90 ms, within the 500 ms objective, fails the relative check",
			// 56 of 300 canary requests slower than 250 ms (the first bucket at or above the 140 ms limit): a p95 at
			// most 250 ms allows 5 %.
			samples: [
				route(v(300, 0, 3, 0, 360, 450, hist(300, [100, 150], [250, 244], [500, 297])), v(5_000, 0, 10, 0, 90, 200)),
			],
			outcome: "fail",
			why: /p95 360 ms vs stable 90 ms; allowed 140 ms.*56 of 300 requests slower than 250 ms.*p = /,
		},
		{
			name: "quantiles: an estimate over the limit from 100 requests with an insignificant excess is not a failure",
			// p95 300 ms vs 200 ms (limit 250 ms): 8 of 100 slower than 250 ms, p ≈ 0.13; from 100 requests a p95 is
			// the fifth-slowest, interpolated in a bucket. The slow-share checks still judge the objective.
			samples: [route(v(100, 0, 2, 0, 300, 480, hist(100, [250, 92], [500, 98])), v(5_000, 0, 50, 0, 200, 400))],
			outcome: "pass",
		},
		{
			name: "quantiles: the same excess from 300 requests (enough for a p95) holds the step as inconclusive",
			samples: [route(v(300, 0, 6, 0, 300, 480, hist(300, [250, 282], [500, 294])), v(5_000, 0, 50, 0, 200, 400))],
			outcome: "inconclusive",
			why: /18 of 300 requests slower than 250 ms/,
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
			name: "a failing judged route fails the step",
			samples: [route(v(400, 40), v(9_000, 0)), route(v(3, 0), v(80, 0), "/v1/embeddings")],
			outcome: "fail",
		},
		{
			name: "a badly broken quiet route fails the step beside a healthy judged one (99/99 errors on chat)",
			samples: [
				route(v(400, 0), v(9_000, 0)),
				{
					...route(v(99, 99), v(9_000, 0), "/v1/chat/completions"),
					objectives: { ...DEFAULT_OBJECTIVES, availability: 0.995 },
				},
			],
			outcome: "fail",
			why: /\/v1\/chat\/completions: error ratio 100\.0 % \(99\/99\)/,
		},
		{
			name: "a quiet route failing like stable does (an outage) is not the canary's fault",
			samples: [route(v(400, 0), v(9_000, 0)), route(v(30, 30), v(900, 900), "/v1/embeddings")],
			outcome: "pass",
			why: /1 route\(s\) not judged/,
		},
		{
			name: "a missing slow-request series is no number, not zero: the latency checks are inconclusive",
			samples: [route(v(400, 0, null, 0), v(9_000, 0))],
			outcome: "inconclusive",
			why: /no count of requests slower than 500 ms .*missing series/,
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

	const rank: Record<Outcome, number> = { fail: 0, inconclusive: 1, pass: 2 };
	/** A version's numbers with `errors` errors, counted as slow by both objectives (the SLI counts errors as slow). */
	const stats = (requests: number, errors: number) => v(requests, Math.min(errors, requests));
	const arbitraryRoute = fc.record({
		canary: fc.integer({ min: 0, max: 3_000 }),
		canaryErrors: fc.integer({ min: 0, max: 200 }),
		stable: fc.integer({ min: 0, max: 20_000 }),
		stableErrors: fc.integer({ min: 0, max: 800 }),
	});

	it("never passes below the minimum sample (property)", () => {
		fc.assert(
			fc.property(arbitraryRoute, fc.integer({ min: 1, max: 500 }), (r, min) => {
				fc.pre(r.canary < min);
				const verdict = judgeStep([route(stats(r.canary, r.canaryErrors), stats(r.stable, r.stableErrors))], {
					...policy,
					minRequests: min,
				});
				expect(verdict.outcome).not.toBe("pass");
			}),
			{ numRuns: 500 },
		);
	});

	it("more canary errors never improve the verdict, more stable errors never worsen it (property)", () => {
		fc.assert(
			fc.property(arbitraryRoute, fc.integer({ min: 1, max: 100 }), (r, more) => {
				const judge = (canaryErrors: number, stableErrors: number) =>
					rank[judgeStep([route(stats(r.canary, canaryErrors), stats(r.stable, stableErrors))], policy).outcome];
				const base = judge(r.canaryErrors, r.stableErrors);
				expect(judge(r.canaryErrors + more, r.stableErrors)).toBeLessThanOrEqual(base);
				expect(judge(r.canaryErrors, r.stableErrors + more)).toBeGreaterThanOrEqual(base);
			}),
			{ numRuns: 500 },
		);
	});

	it("a route too quiet to judge can only fail a step, never pass it or hold it (property)", () => {
		fc.assert(
			fc.property(arbitraryRoute, arbitraryRoute, (judged, quiet) => {
				fc.pre(quiet.canary < policy.minRequests);
				const main = route(stats(judged.canary, judged.canaryErrors), stats(judged.stable, judged.stableErrors));
				const extra = route(
					stats(quiet.canary, quiet.canaryErrors),
					stats(quiet.stable, quiet.stableErrors),
					"/v1/embeddings",
				);
				const without = judgeStep([main], policy).outcome;
				const withQuiet = judgeStep([main, extra], policy).outcome;
				expect([without, "fail"]).toContain(withQuiet);
			}),
			{ numRuns: 500 },
		);
	});
});

/**
 * The error rates of the rules, measured: seeded simulations (mulberry32, so every run draws the same numbers) of
 * many evaluations of one step. Each asserts a rate the rule promises, far from what the flawed rule it replaced
 * produced (noted beside each).
 */
describe("judgeStep error rates (seeded simulations)", () => {
	// The same generator as load/corpus.js's prng (this project's tsconfig loads no JavaScript).
	function mulberry32(seed: number) {
		let a = seed;
		return () => {
			a = (a + 0x6d2b79f5) | 0;
			let t = Math.imul(a ^ (a >>> 15), 1 | a);
			t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
			return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
		};
	}
	/** Successes in n Bernoulli(p) draws of `random`. */
	const binomialOf = (random: () => number) => (n: number, p: number) => {
		let k = 0;
		for (let i = 0; i < n; i++) if (random() < p) k++;
		return k;
	};
	const runs = 300;
	const rate = (outcomes: Outcome[], which: Outcome) => outcomes.filter((o) => o === which).length / outcomes.length;

	it("both versions at 2 % errors during an outage: the canary is rolled back by at most ~α of evaluations", () => {
		// Before rule 4 accepted an inconclusive comparison, 32 % of these evaluations failed.
		const random = mulberry32(4);
		const binomial = binomialOf(random);
		const outcomes = Array.from({ length: runs }, () => {
			const canary = binomial(1_000, 0.02);
			const stable = binomial(20_000, 0.02);
			return judgeStep([route(v(1_000, canary), v(20_000, stable))], policy).outcome;
		});
		expect(rate(outcomes, "fail")).toBeLessThanOrEqual(0.05);
		expect(rate(outcomes, "pass")).toBe(0); // no step passes while stable fails its objective
	});

	it("a 9× error regression that stays within the SLO is caught by most evaluations", () => {
		// 0.09 % vs 0.01 % at 20 000 / 100 000 requests: with the whole budget as the minimum effect, 27 % failed.
		const random = mulberry32(9);
		const binomial = binomialOf(random);
		const outcomes = Array.from({ length: runs }, () =>
			judgeStep([route(v(20_000, binomial(20_000, 0.0009)), v(100_000, binomial(100_000, 0.0001)))], policy),
		).map((verdict) => verdict.outcome);
		expect(rate(outcomes, "fail")).toBeGreaterThanOrEqual(0.8);
		expect(rate(outcomes, "pass")).toBe(0);
	});

	it("identical latency on both versions: the quantile check fails at most ~α of evaluations (Prometheus)", () => {
		// Histogram buckets of the default route (src/slo/spec.ts), and Prometheus's histogram_quantile: the rank's
		// bucket, linearly interpolated. With a bare estimate comparison, canary 100 / stable 5 000 failed 13.5 %.
		const bounds = LATENCY_BUCKETS_S.map((b) => b * 1_000);
		const random = mulberry32(7);
		const gaussian = () => Math.sqrt(-2 * Math.log(random() || 1e-12)) * Math.cos(2 * Math.PI * random());
		const quantileOf = (q: number, h: HistogramBucket[]) => {
			const rank = q * (h.at(-1)?.count ?? 0);
			const i = h.findIndex((b) => b.count >= rank);
			const b = h[i] as HistogramBucket;
			const lower = h[i - 1];
			if (!Number.isFinite(b.leMs)) return lower?.leMs ?? 0;
			const lo = lower?.leMs ?? 0;
			const below = lower?.count ?? 0;
			return lo + ((b.leMs - lo) * (rank - below)) / Math.max(1, b.count - below);
		};
		/** `n` requests of a lognormal latency (median `medianMs`, shape `sigma`), as Prometheus would report them. */
		const version = (n: number, medianMs: number, sigma: number): VersionStats => {
			const xs = Array.from({ length: n }, () => medianMs * Math.exp(sigma * gaussian()));
			const h = [...bounds, Number.POSITIVE_INFINITY].map((leMs) => ({
				leMs,
				count: xs.filter((x) => x <= leMs).length,
			}));
			const slow = (ms: number) => xs.filter((x) => x > ms).length;
			return {
				requests: n,
				errors: 0,
				histogram: h,
				latency: [
					{ quantile: 0.95, thresholdMs: 500, slow: slow(500), valueMs: quantileOf(0.95, h) },
					{ quantile: 0.99, thresholdMs: 1_000, slow: slow(1_000), valueMs: quantileOf(0.99, h) },
				],
			};
		};
		for (const [medianMs, sigma] of [
			[100, 0.5],
			[200, 0.8],
			[60, 0.9],
		] as const) {
			const failed = Array.from({ length: 200 }, () =>
				judgeStep([route(version(100, medianMs, sigma), version(5_000, medianMs, sigma))], policy).checks.some(
					(c) => c.check === "relative-latency-quantile" && c.outcome === "fail",
				),
			);
			expect(failed.filter(Boolean).length / failed.length, `median ${medianMs} ms, σ ${sigma}`).toBeLessThanOrEqual(
				0.05,
			);
		}
		// And it still binds: a canary 4× slower whose p95 stays within the 500 ms objective fails it almost always.
		const slower = Array.from({ length: 100 }, () =>
			judgeStep([route(version(300, 160, 0.5), version(5_000, 40, 0.5))], policy).checks.some(
				(c) => c.check === "relative-latency-quantile" && c.outcome === "fail",
			),
		);
		expect(slower.filter(Boolean).length).toBeGreaterThanOrEqual(90);
	});
});
