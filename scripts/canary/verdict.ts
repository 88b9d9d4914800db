/**
 * The canary verdict: pure functions from per-version SLO numbers to pass / fail / inconclusive, with a reason per
 * check. No I/O, no clock, no imports: the controller feeds it numbers read from `/v1/slo` or Prometheus, and the unit
 * tests feed it tables (test/unit/canary-verdict.test.ts).
 *
 * Rules (docs/canary.md#verdict-rules), per route, over one window (e.g. the last 5 minutes):
 * 1. **Sample size.** A route whose canary served fewer than `minRequests` requests in the window is not judged: it
 *    can never pass, and a step where no route is judged (or a `requiredRoutes` route is not) is inconclusive. Its
 *    checks still run *fail-only*: a significant failure (and at least {@link QUIET_ROUTE_MIN_BAD} bad requests)
 *    fails the step — a quiet route that is badly broken is not ignored — but nothing else it shows counts.
 * 2. **Absolute checks** against the SLO spec: the error ratio against the route's error budget (1 − availability),
 *    and for each latency objective the share of requests slower than its threshold against 1 − quantile (p95: 5 %).
 *    A check *passes* when the observed ratio is within the allowance; it *fails* only when the excess is
 *    significant (one-sided exact binomial test at `alpha`: could the allowed ratio have produced this many bad
 *    requests by chance?); an excess that chance explains is *inconclusive*. A handful of errors in a sparse sample
 *    is not proof of a bad canary, and none at all is not proof of a good one (rule 1).
 * 3. **Relative checks**, canary against stable, on rates (never raw counts, which scale with the traffic split): the
 *    canary's error ratio, and its slow-request share per objective, may exceed stable's by at most `maxRatio`
 *    (1.1 ×) *or* by less than the minimum effect size, whichever allows more. The default minimum effect is a
 *    quarter of the objective's allowance ({@link DEFAULT_MIN_EFFECT_FRACTION}: 0.025 points of a 0.1 % error budget,
 *    1.25 points of a p95's 5 %), so a regression binds here long before the canary breaches the SLO itself, while
 *    0.02 % against 0.01 % is not one. The excess must again be significant to fail. When the source has latency
 *    quantiles and histograms (Prometheus), p95/p99 may exceed stable's by at most `maxRatio` or
 *    `latencyMinEffectMs`; a canary estimate above that limit fails only if significantly more than 1 − q of its
 *    requests were slower than the first bucket bound at or above the limit (a quantile estimated from a hundred
 *    requests is noise). Stable needs `minRequests` too (and 10 / (1 − q) requests for its quantile to set a limit),
 *    or the relative checks are inconclusive (the quantile comparison is skipped).
 * 4. **A failing stable.** When the canary breaks an absolute objective that stable breaks as well (significantly),
 *    and the relative check does not find the canary worse (pass or inconclusive), the absolute check is
 *    inconclusive, not failed: the environment is failing (an upstream outage), not the canary — and a step is never
 *    passed while that holds.
 *
 * @example
 * ```ts
 * const v = judgeStep([{ route: "/v1/models", objectives, canary, stable }], DEFAULT_POLICY);
 * v.outcome; // "pass" | "fail" | "inconclusive"
 * v.checks.filter((c) => c.outcome !== "pass").map((c) => c.reason);
 * ```
 */

export type Outcome = "pass" | "fail" | "inconclusive";

/** Latency numbers of one objective over the window. */
export type LatencyStat = {
	quantile: number;
	thresholdMs: number;
	/**
	 * Requests slower than the threshold, errors included (the SLI counts an error as not fast); null when the source
	 * has no number for it (a missing series is not zero slow requests: the checks on it are inconclusive).
	 */
	slow: number | null;
	/** The estimated quantile (ms), when the source has one (Prometheus); null from /v1/slo. */
	valueMs: number | null;
};

/** One cumulative histogram bucket: requests at most `leMs` long (`Infinity` for `+Inf`). */
export type HistogramBucket = { leMs: number; count: number };

/** One version's numbers on one route over the window. */
export type VersionStats = {
	requests: number;
	errors: number;
	latency: LatencyStat[];
	/** The latency histogram over the window, cumulative and sorted by bound (Prometheus); absent from /v1/slo. */
	histogram?: HistogramBucket[] | null;
};

export type RouteObjectives = { availability: number; latency: { quantile: number; thresholdMs: number }[] };

export type RouteSample = {
	route: string;
	objectives: RouteObjectives;
	canary: VersionStats;
	/** Absent when stable served nothing on this route in the window. */
	stable: VersionStats | null;
};

export type VerdictPolicy = {
	/** Requests the canary (and, for relative checks, stable) must have served on a route in the window. */
	minRequests: number;
	/** Canary may be at most this multiple of stable (1.1 = 10 % worse). */
	maxRatio: number;
	/**
	 * Minimum effect size for the relative error check, as an absolute ratio; null: {@link DEFAULT_MIN_EFFECT_FRACTION}
	 * of the route's error budget.
	 */
	minEffectErrorRatio: number | null;
	/** Minimum effect size for the relative slow-share checks; null: that fraction of 1 − the objective's quantile. */
	minEffectSlowRatio: number | null;
	/** Minimum effect size for relative latency quantiles (ms). */
	latencyMinEffectMs: number;
	/** Significance level of the tests that turn an excess into a failure. */
	alpha: number;
	/** Routes that must be judged for a step to pass (empty: any route with enough data will do). */
	requiredRoutes: string[];
};

export const DEFAULT_POLICY: VerdictPolicy = {
	minRequests: 100,
	maxRatio: 1.1,
	minEffectErrorRatio: null,
	minEffectSlowRatio: null,
	latencyMinEffectMs: 50,
	alpha: 0.05,
	requiredRoutes: [],
};

/**
 * The default minimum effect of a relative check, as a fraction of the objective's own allowance (the error budget,
 * or 1 − quantile). A quarter: with a healthy stable, a canary whose error ratio grows by a quarter of the budget (or
 * more) is a regression the relative check can fail, while the absolute check would wait for the whole budget.
 */
export const DEFAULT_MIN_EFFECT_FRACTION = 0.25;

/**
 * Bad requests a route too quiet to judge (rule 1) must have for one of its checks to fail: one error among a few
 * requests is significant against a 0.1 % budget (p ≈ 1 % for 1 in 10), but a single transient 5xx is no proof.
 */
export const QUIET_ROUTE_MIN_BAD = 2;

/** Requests a quantile estimate needs before it can set a limit for another version: 10 / (1 − q). */
export const quantileSampleSize = (q: number) => Math.ceil(10 / (1 - q) - 1e-9);

export type CheckName =
	| "sample-size"
	| "error-ratio"
	| "latency"
	| "relative-error-ratio"
	| "relative-latency"
	| "relative-latency-quantile";

export type Check = {
	route: string;
	check: CheckName;
	objective?: string;
	outcome: Outcome;
	reason: string;
	/** The bad requests the check counted (what {@link QUIET_ROUTE_MIN_BAD} is compared with). */
	bad?: number;
};

export type StepVerdict = {
	outcome: Outcome;
	checks: Check[];
	/** One line per check that did not pass, and one for the routes not judged (what the state and logs carry). */
	reasons: string[];
	/** The failed checks' reasons (what a rollback names). */
	failures: string[];
	/** Routes that had enough canary traffic to be judged. */
	judgedRoutes: string[];
};

const pct = (x: number) => {
	const v = x * 100;
	return `${v >= 10 || v === 0 ? v.toFixed(1) : v >= 0.1 ? v.toFixed(2) : v.toPrecision(2)} %`;
};
const pName = (q: number) => `p${Math.round(q * 100)}`;

/** ln Γ(x) (Lanczos, g = 7): for binomial coefficients of large n without overflow. */
function logGamma(x: number): number {
	const c = [
		0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
		12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
	];
	if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
	const y = x - 1;
	let a = c[0] ?? 1;
	const t = y + 7.5;
	for (let i = 1; i < 9; i++) a += (c[i] ?? 0) / (y + i);
	return 0.5 * Math.log(2 * Math.PI) + (y + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * P(X ≥ k) for X ~ Binomial(n, p): the one-sided p-value of seeing `k` or more bad requests out of `n` when the true
 * bad ratio is `p`. Summed in log space (terms of large n underflow doubles otherwise).
 *
 * @example
 * ```ts
 * binomialTail(2, 100, 0.001); // ≈ 0.0046: 2 errors in 100 are unlikely at a 0.1 % error ratio
 * ```
 */
export function binomialTail(k: number, n: number, p: number): number {
	if (k <= 0) return 1;
	if (k > n) return 0;
	if (p <= 0) return 0;
	if (p >= 1) return 1;
	const logTerm = (i: number) =>
		logGamma(n + 1) - logGamma(i + 1) - logGamma(n - i + 1) + i * Math.log(p) + (n - i) * Math.log1p(-p);
	// Sum the shorter side: the upper tail directly, or 1 − the lower tail.
	const upper = k > n * p;
	const from = upper ? k : 0;
	const to = upper ? n : k - 1;
	let max = Number.NEGATIVE_INFINITY;
	const logs: number[] = [];
	for (let i = from; i <= to; i++) {
		const l = logTerm(i);
		logs.push(l);
		if (l > max) max = l;
		// Terms past the mode only shrink; stop once they no longer change the sum (relative 1e-17).
		if (upper && l < max - 40) break;
	}
	const sum = Math.exp(max) * logs.reduce((s, l) => s + Math.exp(l - max), 0);
	const tail = upper ? sum : 1 - sum;
	return Math.min(1, Math.max(0, tail));
}

/**
 * Judges `bad` out of `n` against an allowed ratio: pass within it, fail when the excess is significant at
 * `alpha`, inconclusive otherwise.
 */
function judgeRatio(bad: number, n: number, allowed: number, alpha: number): { outcome: Outcome; p: number } {
	if (n <= 0) return { outcome: "inconclusive", p: 1 };
	if (bad / n <= allowed) return { outcome: "pass", p: 1 };
	const p = binomialTail(bad, n, Math.min(1, Math.max(allowed, 1e-12)));
	return { outcome: p < alpha ? "fail" : "inconclusive", p };
}

const fmtP = (p: number) => (p < 1e-4 ? p.toExponential(1) : p.toFixed(4));
const objectiveName = (l: { quantile: number; thresholdMs: number }) => `${pName(l.quantile)} < ${l.thresholdMs} ms`;
const sameObjective = (a: LatencyStat) => (b: LatencyStat) =>
	a.quantile === b.quantile && a.thresholdMs === b.thresholdMs;

/**
 * Relative p95/p99 (Prometheus): the canary's estimate may exceed stable's by `maxRatio` or `latencyMinEffectMs`.
 * An estimate above that limit is not a failure by itself — from a hundred requests a p95 is the fifth-slowest one,
 * interpolated inside a histogram bucket — so the excess is tested like the others: the canary's requests slower
 * than the first bucket bound at or above the limit must be significantly more than 1 − q for a failure (then its
 * q-quantile is above that bound, so above the limit). Skipped (null) when stable's own estimate rests on fewer
 * than 10 / (1 − q) requests (it cannot set a limit), and fail-only while the canary's does.
 */
function quantileCheck(
	route: string,
	l: LatencyStat,
	sl: LatencyStat,
	canary: VersionStats,
	stable: VersionStats,
	policy: VerdictPolicy,
): Check | null {
	if (l.valueMs === null || sl.valueMs === null) return null;
	if (stable.requests < quantileSampleSize(l.quantile)) return null;
	const q = pName(l.quantile);
	const limit = Math.max(sl.valueMs * policy.maxRatio, sl.valueMs + policy.latencyMinEffectMs);
	const base = `${route}: ${q} ${Math.round(l.valueMs)} ms vs stable ${Math.round(sl.valueMs)} ms; allowed ${Math.round(limit)} ms (${policy.maxRatio}× stable or +${policy.latencyMinEffectMs} ms)`;
	const check = { route, check: "relative-latency-quantile" as const, objective: q };
	if (l.valueMs <= limit) return { ...check, outcome: "pass", reason: base };
	const bound = (canary.histogram ?? []).find((b) => Number.isFinite(b.leMs) && b.leMs >= limit);
	if (!bound) {
		return {
			...check,
			outcome: "inconclusive",
			reason: `${base}; no histogram bucket at or above the limit to test the excess against`,
		};
	}
	const over = Math.max(0, canary.requests - bound.count);
	const p = binomialTail(over, canary.requests, 1 - l.quantile);
	// From fewer than 10 / (1 − q) requests the estimate is mostly noise (a p99 of 100 requests is their maximum):
	// the check may still fail on a significant excess, but an insignificant one does not hold the step.
	if (p >= policy.alpha && canary.requests < quantileSampleSize(l.quantile)) return null;
	return {
		...check,
		outcome: p < policy.alpha ? "fail" : "inconclusive",
		bad: over,
		reason: `${base}; ${over} of ${canary.requests} requests slower than ${bound.leMs} ms where a ${q} at most that allows ${pct(1 - l.quantile)}, p = ${fmtP(p)}`,
	};
}

function judgeRoute(s: RouteSample, policy: VerdictPolicy): Check[] {
	const checks: Check[] = [];
	const { route, canary, stable, objectives } = s;
	if (canary.requests <= 0) return checks;
	const stableJudgeable = stable !== null && stable.requests >= policy.minRequests;
	const budget = 1 - objectives.availability;
	const effectOf = (allowance: number, given: number | null) => given ?? DEFAULT_MIN_EFFECT_FRACTION * allowance;

	// Relative checks first: the absolute ones consult them when stable is failing too (rule 4).
	const relative = new Map<string, Check>();
	if (!stableJudgeable) {
		checks.push({
			route,
			check: "relative-error-ratio",
			outcome: "inconclusive",
			reason: `${route}: stable served ${stable?.requests ?? 0} requests in the window, fewer than the ${policy.minRequests} needed to compare with it`,
		});
	} else {
		const sRatio = stable.errors / stable.requests;
		const effect = effectOf(budget, policy.minEffectErrorRatio);
		const allowed = Math.min(1, Math.max(sRatio * policy.maxRatio, sRatio + effect));
		const r = judgeRatio(canary.errors, canary.requests, allowed, policy.alpha);
		const c: Check = {
			route,
			check: "relative-error-ratio",
			outcome: r.outcome,
			bad: canary.errors,
			reason: `${route}: error ratio ${pct(canary.errors / canary.requests)} (${canary.errors}/${canary.requests}) vs stable ${pct(sRatio)} (${stable.errors}/${stable.requests}); allowed ${pct(allowed)} (${policy.maxRatio}× stable or +${pct(effect)})${r.outcome === "pass" ? "" : `, p = ${fmtP(r.p)}`}`,
		};
		relative.set("errors", c);
		checks.push(c);
		for (const l of canary.latency) {
			const sl = stable.latency.find(sameObjective(l));
			if (!sl) continue;
			const name = objectiveName(l);
			let lc: Check;
			if (l.slow === null || sl.slow === null) {
				lc = {
					route,
					check: "relative-latency",
					objective: name,
					outcome: "inconclusive",
					reason: `${route}: no count of requests slower than ${l.thresholdMs} ms for the ${l.slow === null ? "canary" : "stable version"} from the source (missing series)`,
				};
			} else {
				const sShare = sl.slow / stable.requests;
				const eff = effectOf(1 - l.quantile, policy.minEffectSlowRatio);
				const allow = Math.min(1, Math.max(sShare * policy.maxRatio, sShare + eff));
				const rr = judgeRatio(l.slow, canary.requests, allow, policy.alpha);
				lc = {
					route,
					check: "relative-latency",
					objective: name,
					outcome: rr.outcome,
					bad: l.slow,
					reason: `${route}: requests slower than ${l.thresholdMs} ms ${pct(l.slow / canary.requests)} vs stable ${pct(sShare)}; allowed ${pct(allow)}${rr.outcome === "pass" ? "" : `, p = ${fmtP(rr.p)}`}`,
				};
			}
			relative.set(name, lc);
			checks.push(lc);
			const qc = quantileCheck(route, l, sl, canary, stable, policy);
			if (qc) checks.push(qc);
		}
	}

	// Absolute checks against the spec.
	const absolute = (
		check: CheckName,
		objective: string | undefined,
		bad: number | null,
		allowed: number,
		stableBad: number | null,
		rel: Check | undefined,
		what: string,
	) => {
		const named = { route, check, ...(objective ? { objective } : {}) };
		if (bad === null) {
			checks.push({
				...named,
				outcome: "inconclusive",
				reason: `${route}: no count of ${what} from the source (missing series)`,
			});
			return;
		}
		const r = judgeRatio(bad, canary.requests, allowed, policy.alpha);
		let outcome = r.outcome;
		let reason = `${route}: ${what} ${pct(bad / canary.requests)} (${bad}/${canary.requests}); objective allows ${pct(allowed)}${r.outcome === "pass" ? "" : `, p = ${fmtP(r.p)}`}`;
		// Rule 4: stable failing the same objective, and the comparison not finding the canary worse (noise makes
		// it inconclusive as often as not), is the environment's failure, not the canary's.
		if (outcome === "fail" && stableJudgeable && stableBad !== null && stable !== null && rel?.outcome !== "fail") {
			const sr = judgeRatio(stableBad, stable.requests, allowed, policy.alpha);
			if (sr.outcome === "fail") {
				outcome = "inconclusive";
				reason += `; stable fails it too (${pct(stableBad / stable.requests)}) and the canary is not worse than stable: not attributable to the canary`;
			}
		}
		checks.push({ ...named, outcome, reason, bad });
	};
	absolute(
		"error-ratio",
		undefined,
		canary.errors,
		budget,
		stable?.errors ?? null,
		relative.get("errors"),
		"error ratio",
	);
	for (const l of canary.latency) {
		const name = objectiveName(l);
		const sl = stable?.latency.find(sameObjective(l));
		absolute(
			"latency",
			name,
			l.slow,
			1 - l.quantile,
			sl?.slow ?? null,
			relative.get(name),
			`requests slower than ${l.thresholdMs} ms (${pName(l.quantile)} objective)`,
		);
	}
	return checks;
}

/**
 * Judges one step: every route's checks, then the step's outcome — fail if any check failed (on a route too quiet
 * to judge: a significant failure with at least {@link QUIET_ROUTE_MIN_BAD} bad requests); pass only if at least one
 * route (and every required route) was judged and every check of the judged routes passed; else inconclusive.
 */
export function judgeStep(samples: RouteSample[], policy: VerdictPolicy = DEFAULT_POLICY): StepVerdict {
	const isJudged = (s: RouteSample) => s.canary.requests >= policy.minRequests;
	const checks: Check[] = [];
	for (const s of samples) {
		const route = judgeRoute(s, policy);
		if (isJudged(s)) {
			checks.push(...route);
			continue;
		}
		// Rule 1: a route too quiet to judge never passes and is never inconclusive because of its checks; a
		// significant failure still fails the step.
		checks.push({
			route: s.route,
			check: "sample-size",
			outcome: "inconclusive",
			reason: `${s.route}: canary served ${s.canary.requests} requests in the window, fewer than the ${policy.minRequests} needed to judge it`,
		});
		checks.push(...route.filter((c) => c.outcome === "fail" && (c.bad ?? 0) >= QUIET_ROUTE_MIN_BAD));
	}
	const judgedRoutes = samples.filter(isJudged).map((s) => s.route);
	const missing = policy.requiredRoutes.filter((r) => !judgedRoutes.includes(r));
	for (const r of missing) {
		if (!samples.some((s) => s.route === r)) {
			checks.push({
				route: r,
				check: "sample-size",
				outcome: "inconclusive",
				reason: `${r}: canary served no requests in the window (required route)`,
			});
		}
	}
	const judged = checks.filter((c) => judgedRoutes.includes(c.route));
	let outcome: Outcome;
	if (checks.some((c) => c.outcome === "fail")) outcome = "fail";
	else if (judgedRoutes.length === 0 || missing.length > 0 || judged.some((c) => c.outcome === "inconclusive"))
		outcome = "inconclusive";
	else outcome = "pass";
	// Unjudged routes that are not required and did not fail: one summary line, not one reason each.
	const unjudged = samples.filter((s) => !isJudged(s) && !policy.requiredRoutes.includes(s.route));
	const summarised = (c: Check) => c.check === "sample-size" && unjudged.some((u) => u.route === c.route);
	const reasons = checks.filter((c) => c.outcome !== "pass" && !summarised(c)).map((c) => c.reason);
	if (judgedRoutes.length === 0 && samples.length === 0)
		reasons.push("no request of the canary was recorded in the window");
	if (unjudged.length > 0) {
		reasons.push(
			`${judgedRoutes.length === 0 ? "no route" : `${unjudged.length} route(s) not`} judged: fewer than ${policy.minRequests} canary requests in the window (${unjudged
				.map((u) => `${u.route} ${u.canary.requests}`)
				.join(", ")})`,
		);
	}
	const failures = checks.filter((c) => c.outcome === "fail").map((c) => c.reason);
	return { outcome, checks, reasons, failures, judgedRoutes };
}
