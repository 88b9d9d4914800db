// Spike (docs/load-testing.md#spike): a route at a steady rate, then suddenly FACTOR× that (default 10×) for a while,
// then the steady rate again — and how long the service takes to get back to its pre-spike latency. Arrival-rate
// driven (`ramping-arrival-rate` with 0 s stages: jumps, not ramps), so the spike's requests really arrive whatever
// the latency. Every request is tagged with its second since the start and its phase (pre, spike, post).
//
// Recovery time (load/analysis.js spikeReport): seconds after the spike until three consecutive seconds have a p95
// within max(2 × the pre-spike p95, pre-spike p95 + 10 ms) and start ≥ 90 % of the base rate's arrivals.
// Measured, not judged, except errors: the route's SLO error ratio applies over the whole run (a spike may be
// slow; it must not fail requests).
//
// Env: ROUTE (default auth_me), BASE_RATE (req/s, default 20), FACTOR (10), PRE_S (20), SPIKE_S (10), POST_S (40),
// MAX_VUS (400).

import exec from "k6/execution";
import { fmt, markdownTable, pct, spikeReport } from "./analysis.js";
import {
	checkCheap,
	ingestCorpus,
	mergeThresholds,
	newContext,
	ROUTES,
	SYSTEM_TAGS,
	send,
	TREND_STATS,
	trackRoutes,
	warmUp,
} from "./config.js";
import { summaryOutputs } from "./summary.js";

const ROUTE = __ENV.ROUTE || "auth_me";
const BASE = Number(__ENV.BASE_RATE || 20);
const FACTOR = Number(__ENV.FACTOR || 10);
const PRE_S = Number(__ENV.PRE_S || 20);
const SPIKE_S = Number(__ENV.SPIKE_S || 10);
const POST_S = Number(__ENV.POST_S || 40);
const TOTAL_S = PRE_S + SPIKE_S + POST_S;

/** @type {Record<string, string[]>[]} */
const tracked = [
	trackRoutes([ROUTE], { phase: "pre" }),
	trackRoutes([ROUTE], { phase: "spike" }),
	trackRoutes([ROUTE], { phase: "post" }),
];
for (let s = 0; s < TOTAL_S; s++) tracked.push(trackRoutes([ROUTE], { sec: String(s) }));
const slo = ROUTES[ROUTE];

export const options = {
	scenarios: {
		spike: {
			executor: "ramping-arrival-rate",
			startRate: BASE,
			timeUnit: "1s",
			stages: [
				{ target: BASE, duration: `${PRE_S}s` },
				{ target: BASE * FACTOR, duration: "0s" },
				{ target: BASE * FACTOR, duration: `${SPIKE_S}s` },
				{ target: BASE, duration: "0s" },
				{ target: BASE, duration: `${POST_S}s` },
			],
			preAllocatedVUs: Math.max(10, Math.ceil(BASE / 2)),
			maxVUs: Number(__ENV.MAX_VUS || 400),
			exec: "hit",
		},
	},
	systemTags: SYSTEM_TAGS,
	summaryTrendStats: TREND_STATS,
	thresholds: mergeThresholds(
		slo ? { [`http_req_failed{route:${ROUTE}}`]: [`rate<=${slo.error_ratio}`] } : {},
		// A spike answered by the limiter (fast 429s) is not a recovery: the route's status is checked.
		{ checks: [`rate>=${__ENV.CHECKS_MIN || 0.999}`] },
		mergeThresholds.apply(null, tracked),
	),
};

export function setup() {
	const bookmark = /^rag_/.test(ROUTE) ? ingestCorpus() : "";
	warmUp([ROUTE], 20);
	return { bookmark };
}

/** @type {import("./config.js").Ctx | undefined} */
let ctx;

export function hit() {
	if (!ctx) ctx = newContext(__VU);
	const sec = Math.min(TOTAL_S - 1, Math.floor((Date.now() - exec.scenario.startTime) / 1000));
	const phase = sec < PRE_S ? "pre" : sec < PRE_S + SPIKE_S ? "spike" : "post";
	const sent = send(ROUTE, ctx, { tags: { sec: String(sec), phase } });
	checkCheap(ROUTE, sent.res);
}

/** @param {import("./analysis.js").Summary} data */
export function handleSummary(data) {
	const r = spikeReport(data, ROUTE, { base: BASE, spike: BASE * FACTOR, preS: PRE_S, spikeS: SPIKE_S, postS: POST_S });
	const markdown = [
		`${ROUTE}: ${BASE} req/s for ${PRE_S} s, ${BASE * FACTOR} req/s (${FACTOR}×) for ${SPIKE_S} s, ${BASE} req/s for ${POST_S} s. p95 on the route's SLO metric.`,
		"",
		markdownTable(
			["Pre-spike p95 ms", "Spike: achieved req/s, p95 ms, failed", "Recovered within (p95 ≤)", "Recovery time"],
			[
				[
					fmt(r.reference_p95),
					`${fmt(r.spike_achieved_rps)} of ${r.spike_rps}, ${fmt(r.spike_p95)}, ${r.spike_failed_ratio === null ? "—" : pct(r.spike_failed_ratio)}`,
					`${fmt(r.limit_p95)} ms`,
					r.recovery_s === null ? `not within ${POST_S} s` : `${r.recovery_s} s`,
				],
			],
		),
		"",
		`p95 per second (ms): ${r.seconds.map((s) => (s.p95 === null ? "—" : String(Math.round(s.p95)))).join(" ")}`,
	].join("\n");
	return summaryOutputs("spike", data, { markdown, report: r });
}
