// What a load run means, computed from k6's end-of-test summary: per-route throughput and latency, the stress knee,
// spike recovery, soak drift, and the ratios `npm run load:compare` tracks. Pure ES2017 with no k6 import, so the
// scripts' handleSummary (k6) and the runner, the comparison and the tests (Node) share one implementation.
// Latencies are in ms, rates in requests per second. docs/load-testing.md#reading-the-results.

import { ROUTES } from "./thresholds.gen.js";

/**
 * The parts of k6's summary data this module reads.
 * @typedef {{ type?: string; values: Record<string, number>; thresholds?: Record<string, { ok: boolean }> }} SummaryMetric
 * @typedef {{ name: string; passes: number; fails: number }} SummaryCheck
 * @typedef {{ name?: string; checks: SummaryCheck[]; groups: SummaryGroup[] }} SummaryGroup
 * @typedef {{ metrics: Record<string, SummaryMetric>; root_group?: SummaryGroup; state?: { testRunDurationMs: number } }} Summary
 */

/** @param {Summary} data @param {string} key @param {string} stat @returns {number | null} */
export function stat(data, key, stat) {
	const m = data.metrics[key];
	if (!m) return null;
	const v = m.values[stat];
	return typeof v === "number" && Number.isFinite(v) ? v : null;
}

/** `route:x` plus extra tags, in the order k6 names submetrics we declared. @param {string} route @param {Record<string, string>} [tags] */
function selector(route, tags) {
	let s = `route:${route}`;
	if (tags) for (const k of Object.keys(tags)) s += `,${k}:${tags[k]}`;
	return s;
}

/**
 * @typedef {{ route: string; requests: number; rps: number; p50: number | null; p95: number | null; p99: number | null;
 *   ttfb_p50: number | null; ttfb_p95: number | null; ttfb_p99: number | null; failed_ratio: number | null;
 *   slo_metric: string | null; slo_ok: boolean | null; slo_misses: string[] }} RouteStats
 */

/**
 * One route's figures from its tagged submetrics (`trackRoutes` declares them): requests, their rate over
 * `seconds`, whole-response percentiles, time-to-first-byte percentiles, failed ratio, and whether they meet the
 * route's SLO (null for variants, which have none).
 * @param {Summary} data @param {string} route @param {number} seconds @param {Record<string, string>} [tags]
 * @returns {RouteStats}
 */
export function routeStats(data, route, seconds, tags) {
	const sel = selector(route, tags);
	const requests = stat(data, `http_reqs{${sel}}`, "count") || 0;
	const d = `http_req_duration{${sel}}`;
	const w = `http_req_waiting{${sel}}`;
	const failed = requests > 0 ? stat(data, `http_req_failed{${sel}}`, "rate") : null;
	const slo = ROUTES[route];
	/** @type {string[]} */
	const misses = [];
	if (slo && requests > 0) {
		const key = slo.metric === "http_req_waiting" ? w : d;
		for (const l of slo.latency) {
			const v = stat(data, key, l.stat);
			if (v === null || v > l.threshold_ms)
				misses.push(`${l.stat} ${v === null ? "n/a" : round(v)} > ${l.threshold_ms} ms`);
		}
		if (failed !== null && failed > slo.error_ratio) misses.push(`errors ${pct(failed)} > ${pct(slo.error_ratio)}`);
	}
	return {
		route,
		requests,
		rps: seconds > 0 ? requests / seconds : 0,
		p50: stat(data, d, "med"),
		p95: stat(data, d, "p(95)"),
		p99: stat(data, d, "p(99)"),
		ttfb_p50: stat(data, w, "med"),
		ttfb_p95: stat(data, w, "p(95)"),
		ttfb_p99: stat(data, w, "p(99)"),
		failed_ratio: failed,
		slo_metric: slo ? slo.metric : null,
		slo_ok: slo && requests > 0 ? misses.length === 0 : null,
		slo_misses: misses,
	};
}

/** Every check with failures, as `name (fails/total)`, from all groups. @param {Summary} data @returns {string[]} */
export function failedChecks(data) {
	/** @type {string[]} */
	const out = [];
	/** @param {SummaryGroup | undefined} g */
	const walk = (g) => {
		if (!g) return;
		for (const c of g.checks || []) if (c.fails > 0) out.push(`${c.name} (${c.fails}/${c.passes + c.fails} failed)`);
		for (const sub of g.groups || []) walk(sub);
	};
	walk(data.root_group);
	return out;
}

/** Every crossed threshold as `metric: expression`. @param {Summary} data @returns {string[]} */
export function failedThresholds(data) {
	/** @type {string[]} */
	const out = [];
	for (const key of Object.keys(data.metrics).sort()) {
		const metric = data.metrics[key];
		const t = metric ? metric.thresholds : undefined;
		if (!t) continue;
		for (const expr of Object.keys(t)) if (t[expr] && !t[expr].ok) out.push(`${key}: ${expr}`);
	}
	return out;
}

/** @param {number} x */
export function round(x) {
	return Math.abs(x) >= 100 ? Math.round(x) : Math.round(x * 10) / 10;
}

/** @param {number} x */
export function pct(x) {
	return `${Math.round(x * 10000) / 100} %`;
}

/** @param {number | null | undefined} x @param {string} [unit] */
export function fmt(x, unit) {
	return x === null || x === undefined ? "—" : `${round(x)}${unit || ""}`;
}

/** A markdown table. @param {string[]} head @param {(string | number)[][]} rows */
export function markdownTable(head, rows) {
	const line = (/** @type {(string | number)[]} */ cells) => `| ${cells.join(" | ")} |`;
	return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/** The per-route table of a report (baseline, soak). @param {RouteStats[]} rows */
export function routeTable(rows) {
	return markdownTable(
		["Route", "Requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "TTFB p50 / p95 / p99 ms", "Failed", "SLO"],
		rows.map((r) => [
			r.route,
			r.requests,
			fmt(r.rps),
			fmt(r.p50),
			fmt(r.p95),
			fmt(r.p99),
			`${fmt(r.ttfb_p50)} / ${fmt(r.ttfb_p95)} / ${fmt(r.ttfb_p99)}`,
			r.failed_ratio === null ? "—" : pct(r.failed_ratio),
			r.slo_ok === null
				? "—"
				: r.slo_ok
					? `met (${r.slo_metric === "http_req_waiting" ? "TTFB" : "duration"})`
					: `missed: ${r.slo_misses.join(", ")}`,
		]),
	);
}

// ---------------------------------------------------------------------------------------------------------------
// Stress: a staircase of arrival rates per route; the knee is the last step the route sustained within its SLO.

/**
 * @typedef {{ step: number; offered_rps: number; achieved_rps: number; drop_ratio: number; p95: number | null;
 *   p99: number | null; failed_ratio: number | null; sustained: boolean; within_slo: boolean }} StressStep
 * @typedef {{ route: string; steps: StressStep[]; knee: StressStep | null; past_knee: StressStep | null;
 *   past_knee_reason: string; transient: StressStep[]; peak_rps: number; saturated: boolean;
 *   capacity_rps: number | null; capacity_p50: number | null }} StressRoute
 */

/**
 * Per step: offered rate (the step's level), achieved rate (requests started in the step ÷ its length), the share
 * of scheduled iterations k6 could not start (`drop_ratio`, > `maxDrop` means the route, or the generator, could not
 * keep up), latency on the route's SLO metric and its failed ratio. The knee is the last step before the first one
 * that was not sustained or missed the SLO — unless the next step passes again: a failing step between two passing
 * ones is `transient` (a pause of the machine, a major collection, work another phase left behind), reported beside
 * the knee, not taken for it. `saturated` says the ramp went past the knee, which makes `peak_rps` the
 * route's capacity rather than the ramp's ceiling. With `capacitySeconds`, the closed-loop phase (`step:capacity`)
 * gives `capacity_rps`: requests completed at a fixed concurrency ÷ its length.
 * @param {Summary} data @param {string} route @param {number[]} levels @param {number} stepSeconds @param {number} [maxDrop]
 * @param {number} [capacitySeconds]
 * @returns {StressRoute}
 */
export function stressRoute(data, route, levels, stepSeconds, maxDrop, capacitySeconds) {
	const allowedDrop = maxDrop === undefined ? 0.05 : maxDrop;
	const slo = ROUTES[route];
	/** @type {StressStep[]} */
	const steps = levels.map((level, i) => {
		const s = routeStats(data, route, stepSeconds, { step: String(i) });
		const offered = level * stepSeconds;
		const drop = offered > 0 ? Math.max(0, 1 - s.requests / offered) : 0;
		const useTtfb = slo && slo.metric === "http_req_waiting";
		const p95 = useTtfb ? s.ttfb_p95 : s.p95;
		const p99 = useTtfb ? s.ttfb_p99 : s.p99;
		return {
			step: i,
			offered_rps: level,
			achieved_rps: s.rps,
			drop_ratio: drop,
			p95,
			p99,
			failed_ratio: s.failed_ratio,
			sustained: drop <= allowedDrop,
			within_slo: slo ? s.slo_ok !== false : true,
		};
	});
	/** @param {StressStep | undefined} st */
	const passes = (st) => (st ? st.sustained && st.within_slo : false);
	let knee = null;
	let past = null;
	/** @type {StressStep[]} */
	const transient = [];
	for (let i = 0; i < steps.length; i++) {
		const st = /** @type {StressStep} */ (steps[i]);
		if (passes(st)) knee = st;
		else if (passes(steps[i + 1])) transient.push(st);
		else {
			past = st;
			break;
		}
	}
	const reason = past ? stepFailure(past) : "";
	const capacity = capacitySeconds ? routeStats(data, route, capacitySeconds, { step: "capacity" }) : null;
	return {
		route,
		steps,
		knee,
		past_knee: past,
		past_knee_reason: reason,
		transient,
		peak_rps: steps.reduce((m, st) => Math.max(m, st.achieved_rps), 0),
		saturated: past !== null,
		capacity_rps: capacity && capacity.requests > 0 ? capacity.rps : null,
		capacity_p50: capacity ? (slo && slo.metric === "http_req_waiting" ? capacity.ttfb_p50 : capacity.p50) : null,
	};
}

/** Why a step failed: arrivals dropped, SLO missed, or both. @param {StressStep} st */
function stepFailure(st) {
	/** @type {string[]} */
	const why = [];
	if (!st.sustained) why.push(`${pct(st.drop_ratio)} of arrivals dropped`);
	if (!st.within_slo) why.push("SLO missed");
	return why.join(", ");
}

/** The stress report's table: one row per route. @param {StressRoute[]} routes */
export function stressTable(routes) {
	return markdownTable(
		[
			"Route",
			"Closed loop req/s (p50 ms)",
			"Knee (offered req/s)",
			"At the knee: achieved req/s, p95 ms",
			"Next step",
			"Peak achieved req/s",
		],
		routes.map((r) => [
			r.route,
			r.capacity_rps === null ? "—" : `${fmt(r.capacity_rps)} (${fmt(r.capacity_p50)})`,
			r.knee ? fmt(r.knee.offered_rps) : "below the first step",
			r.knee ? `${fmt(r.knee.achieved_rps)}, ${fmt(r.knee.p95)}` : "—",
			(r.past_knee
				? `${fmt(r.past_knee.offered_rps)} req/s: ${r.past_knee_reason} (p95 ${fmt(r.past_knee.p95)} ms)`
				: "not reached (raise the top step)") +
				(r.transient || [])
					.map((t) => `; transient at ${fmt(t.offered_rps)} req/s: ${stepFailure(t)} (p95 ${fmt(t.p95)} ms)`)
					.join(""),
			`${fmt(r.peak_rps)}${r.saturated ? "" : " (not saturated)"}`,
		]),
	);
}

// ---------------------------------------------------------------------------------------------------------------
// Spike: a steady rate, ten times that for a while, then the steady rate again; how long until latency recovers.

/**
 * @typedef {{ second: number; requests: number; p95: number | null }} SpikeSecond
 * @typedef {{ route: string; base_rps: number; spike_rps: number; reference_p95: number | null;
 *   spike_p95: number | null; spike_achieved_rps: number; spike_failed_ratio: number | null;
 *   recovery_s: number | null; limit_p95: number | null; seconds: SpikeSecond[] }} SpikeReport
 */

/**
 * Recovery time: seconds from the end of the spike until the first of `hold` consecutive seconds whose p95 is
 * within max(`factor` × the pre-spike p95, pre-spike p95 + `floorMs`) and which started at least 90 % of the base
 * rate. The pre-spike reference skips the first `warmup` seconds. Null when it never recovered in the run.
 * @param {Summary} data @param {string} route
 * @param {{ base: number; spike: number; preS: number; spikeS: number; postS: number; warmupS?: number; factor?: number; floorMs?: number; hold?: number }} shape
 * @returns {SpikeReport}
 */
export function spikeReport(data, route, shape) {
	const warmup = shape.warmupS === undefined ? 5 : shape.warmupS;
	const factor = shape.factor || 2;
	const floorMs = shape.floorMs === undefined ? 10 : shape.floorMs;
	const hold = shape.hold || 3;
	const total = shape.preS + shape.spikeS + shape.postS;
	const slo = ROUTES[route];
	const useTtfb = slo && slo.metric === "http_req_waiting";
	/** @type {SpikeSecond[]} */
	const seconds = [];
	for (let s = 0; s < total; s++) {
		const st = routeStats(data, route, 1, { sec: String(s) });
		seconds.push({ second: s, requests: st.requests, p95: useTtfb ? st.ttfb_p95 : st.p95 });
	}
	const phase = (/** @type {string} */ p) => routeStats(data, route, 1, { phase: p });
	const pre = phase("pre");
	const during = phase("spike");
	const ref = useTtfb ? pre.ttfb_p95 : pre.p95;
	const refSeconds = seconds.slice(warmup, shape.preS).filter((s) => s.p95 !== null);
	const reference = refSeconds.length > 0 ? median(refSeconds.map((s) => /** @type {number} */ (s.p95))) : ref;
	const limit = reference === null ? null : Math.max(factor * reference, reference + floorMs);
	let recovery = null;
	const end = shape.preS + shape.spikeS;
	if (limit !== null) {
		for (let s = end; s + hold <= total; s++) {
			let ok = true;
			for (let k = s; k < s + hold; k++) {
				const sec = seconds[k];
				if (!sec || sec.p95 === null || sec.p95 > limit || sec.requests < 0.9 * shape.base) ok = false;
			}
			if (ok) {
				recovery = s - end;
				break;
			}
		}
	}
	return {
		route,
		base_rps: shape.base,
		spike_rps: shape.spike,
		reference_p95: reference,
		spike_p95: useTtfb ? during.ttfb_p95 : during.p95,
		spike_achieved_rps: during.requests / shape.spikeS,
		spike_failed_ratio: during.failed_ratio,
		recovery_s: recovery,
		limit_p95: limit,
		seconds,
	};
}

/** @param {number[]} xs */
function median(xs) {
	const s = xs.slice().sort((a, b) => a - b);
	const mid = Math.floor(s.length / 2);
	return s.length % 2 ? /** @type {number} */ (s[mid]) : ((s[mid - 1] || 0) + (s[mid] || 0)) / 2;
}

// ---------------------------------------------------------------------------------------------------------------
// Soak: the same steady load for a long time, cut into segments; drift is the last segment against the first.

/**
 * @typedef {{ route: string; segments: RouteStats[]; p50_drift: number | null; p95_drift: number | null;
 *   rps_drift: number | null }} SoakRoute
 */

/**
 * Drift per route: last segment ÷ first segment for p50, p95 (on the SLO metric) and throughput (1 = no drift).
 * @param {Summary} data @param {string} route @param {number} segments @param {number} segmentSeconds
 * @returns {SoakRoute}
 */
export function soakRoute(data, route, segments, segmentSeconds) {
	const slo = ROUTES[route];
	const useTtfb = slo && slo.metric === "http_req_waiting";
	/** @type {RouteStats[]} */
	const rows = [];
	for (let i = 0; i < segments; i++) rows.push(routeStats(data, route, segmentSeconds, { segment: String(i) }));
	const first = rows[0];
	const last = rows[rows.length - 1];
	/** @param {(r: RouteStats) => number | null} f */
	const ratio = (f) => {
		const a = first ? f(first) : null;
		const b = last ? f(last) : null;
		return a && b !== null ? b / a : null;
	};
	return {
		route,
		segments: rows,
		p50_drift: ratio((r) => (useTtfb ? r.ttfb_p50 : r.p50)),
		p95_drift: ratio((r) => (useTtfb ? r.ttfb_p95 : r.p95)),
		rps_drift: ratio((r) => r.rps),
	};
}

// ---------------------------------------------------------------------------------------------------------------
// Ratios: what stays meaningful on a noisy machine. Absolute req/s move with the machine and whatever else runs
// on it; a route's capacity relative to /healthz in the same run, or a route with and without a piece of the
// pipeline side by side, moves only when the code does.

/**
 * @typedef {{ value: number; direction: "higher" | "lower"; what: string }} Ratio
 * @typedef {Record<string, Ratio>} Ratios
 */

/** Variant pairs: [route, reference, what the ratio measures]. */
export const VARIANT_PAIRS = [
	["auth_me", "auth_me_bare", "GET /v1/auth/me with ÷ without the rate limiter and SLO recording"],
	["auth_me", "auth_me_no_limiter", "GET /v1/auth/me with ÷ without the rate limiter"],
	["auth_me_no_limiter", "auth_me_bare", "GET /v1/auth/me with ÷ without SLO recording (both without the limiter)"],
];

/**
 * Ratios of a stress report (capacity: peak achieved req/s of saturated routes) and of a baseline report (latency
 * at the same offered rate, variants only). Keys are stable names, e.g. `stress.throughput.chat/health`.
 * @param {{ stress?: { routes: StressRoute[] }; baseline?: { routes: RouteStats[] } }} reports
 * @returns {Ratios}
 */
export function ratiosOf(reports) {
	/** @type {Ratios} */
	const out = {};
	if (reports.stress) {
		/** @type {Record<string, StressRoute>} */
		const by = {};
		for (const r of reports.stress.routes) by[r.route] = r;
		// Capacity at a fixed concurrency (closed loop) when the run has it; else the staircase's peak under overload,
		// which only means capacity when the route was driven past its knee.
		/** @param {StressRoute | undefined} r */
		const capacity = (r) => {
			if (!r) return null;
			if (typeof r.capacity_rps === "number" && r.capacity_rps > 0) return r.capacity_rps;
			return r.saturated && r.peak_rps > 0 ? r.peak_rps : null;
		};
		const measure = (/** @type {StressRoute | undefined} */ r) =>
			r && typeof r.capacity_rps === "number" ? "closed-loop req/s" : "peak achieved req/s";
		const health = capacity(by.health);
		for (const r of reports.stress.routes) {
			const c = capacity(r);
			if (r.route === "health" || health === null || c === null) continue;
			out[`stress.throughput.${r.route}/health`] = {
				value: c / health,
				direction: "higher",
				what: `capacity of ${r.route} relative to /healthz (${measure(r)}, same run)`,
			};
		}
		for (const [a, b, what] of VARIANT_PAIRS) {
			const ca = capacity(by[a || ""]);
			const cb = capacity(by[b || ""]);
			if (ca === null || cb === null) continue;
			out[`stress.throughput.${a}/${b}`] = { value: ca / cb, direction: "higher", what: `capacity: ${what}` };
		}
	}
	if (reports.baseline) {
		/** @type {Record<string, RouteStats>} */
		const by = {};
		for (const r of reports.baseline.routes) by[r.route] = r;
		for (const [a, b, what] of VARIANT_PAIRS) {
			const ra = by[a || ""];
			const rb = by[b || ""];
			for (const q of /** @type {const} */ (["p50", "p95"])) {
				const va = ra ? ra[q] : null;
				const vb = rb ? rb[q] : null;
				if (va === null || vb === null || !vb) continue;
				out[`baseline.${q}.${a}/${b}`] = { value: va / vb, direction: "lower", what: `${q} latency: ${what}` };
			}
		}
	}
	return out;
}

/**
 * @typedef {{ key: string; what: string; baseline: number; current: number | null; change: number | null;
 *   verdict: "ok" | "regression" | "improvement" | "missing" }} Comparison
 */

/**
 * Compares a run's ratios with the committed baseline: a ratio regresses when it moved the wrong way by more
 * than `tolerance` (relative: 0.25 = 25 %), per-ratio tolerances in the baseline file winning. Ratios the run
 * lacks are `missing` (reported, not regressions: e.g. a run without the load Worker's variants).
 * @param {{ tolerance?: number; ratios: Record<string, Ratio & { tolerance?: number }> }} baseline
 * @param {Ratios} current @param {number} [tolerance]
 * @returns {Comparison[]}
 */
export function compareRatios(baseline, current, tolerance) {
	const defaultTolerance =
		tolerance === undefined ? (baseline.tolerance === undefined ? 0.25 : baseline.tolerance) : tolerance;
	return Object.keys(baseline.ratios)
		.sort()
		.map((key) => {
			const b = /** @type {Ratio & { tolerance?: number }} */ (baseline.ratios[key]);
			const c = current[key];
			const tol = b.tolerance === undefined ? defaultTolerance : b.tolerance;
			if (!c) return { key, what: b.what, baseline: b.value, current: null, change: null, verdict: "missing" };
			const change = c.value / b.value - 1;
			const worse = b.direction === "higher" ? -change : change;
			/** @type {Comparison["verdict"]} */
			const verdict = worse > tol ? "regression" : worse < -tol ? "improvement" : "ok";
			return { key, what: b.what, baseline: b.value, current: c.value, change, verdict };
		});
}
