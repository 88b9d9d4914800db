// Soak (docs/load-testing.md#soak): a steady mixed load for a long time (default 30 minutes), judged by the SLO
// like the baseline, and cut into SEGMENTS equal segments to show drift: each route's p50/p95 and throughput in the
// last segment against the first. Memory drift of the service is sampled by `npm run load` (workerd's resident
// memory, when it runs the service locally), since k6 cannot see it.
//
// Env: RATE (req/s per route, default 2: a mix the local service sustains while ingest grows its corpus), RATES
// (per-route overrides), DURATION (30m), SEGMENTS (6), ROUTES (default below), MAX_VUS per route (2 × rate, at
// least 10), DROP_MAX (0.01), CHECKS_MIN (0.999).

import exec from "k6/execution";
import { fmt, markdownTable, routeStats, routeTable, soakRoute } from "./analysis.js";
import {
	checkCheap,
	ingestCorpus,
	mergeThresholds,
	newContext,
	rateFor,
	runRoutes,
	SYSTEM_TAGS,
	seconds,
	send,
	sloThresholds,
	stagger,
	TREND_STATS,
	trackRoutes,
	warmUp,
} from "./config.js";
import { summaryOutputs } from "./summary.js";

const DEFAULT_ROUTES = ["health", "auth_token", "auth_me", "chat", "chat_stream", "rag_search", "rag_query", "ingest"];
const RUN_ROUTES = runRoutes("soak", DEFAULT_ROUTES, false);
const DURATION = __ENV.DURATION || "30m";
const DURATION_S = seconds(DURATION);
const SEGMENTS = Number(__ENV.SEGMENTS || 6);
const SEGMENT_S = DURATION_S / SEGMENTS;
const DROP_MAX = Number(__ENV.DROP_MAX || 0.01);
/** @param {string} route */
const soakRate = (route) => rateFor(route, 2);

/** @type {Record<string, import("k6/options").Scenario>} */
const scenarios = {};
/** @type {Record<string, string[]>} */
const dropped = {};
/** @type {Record<string, string[]>[]} */
const tracked = [trackRoutes(RUN_ROUTES)];
RUN_ROUTES.forEach((route, i) => {
	const rate = soakRate(route);
	scenarios[route] = {
		executor: "constant-arrival-rate",
		rate,
		timeUnit: "1s",
		duration: DURATION,
		startTime: stagger(i, RUN_ROUTES.length, rate),
		preAllocatedVUs: Math.max(2, Math.ceil(rate * (/_stream$/.test(route) ? 1 : 0.2))),
		maxVUs: Number(__ENV.MAX_VUS || Math.max(10, 2 * rate)),
		exec: "hit",
	};
	dropped[`dropped_iterations{scenario:${route}}`] = [`count<=${Math.floor(rate * DURATION_S * DROP_MAX)}`];
	for (let k = 0; k < SEGMENTS; k++) tracked.push(trackRoutes([route], { segment: String(k) }));
});

export const options = {
	scenarios,
	systemTags: SYSTEM_TAGS,
	summaryTrendStats: TREND_STATS,
	thresholds: mergeThresholds(
		{ checks: [`rate>=${__ENV.CHECKS_MIN || 0.999}`] },
		dropped,
		sloThresholds(RUN_ROUTES),
		mergeThresholds.apply(null, tracked),
	),
};

export function setup() {
	const bookmark = RUN_ROUTES.some((r) => /^rag_/.test(r)) ? ingestCorpus() : "";
	warmUp(RUN_ROUTES, 10);
	return { bookmark };
}

/** @type {import("./config.js").Ctx | undefined} */
let ctx;

export function hit() {
	const route = exec.scenario.name;
	if (!ctx) ctx = newContext(__VU);
	const segment = Math.min(SEGMENTS - 1, Math.floor((Date.now() - exec.scenario.startTime) / (SEGMENT_S * 1000)));
	const sent = send(route, ctx, { tags: { segment: String(segment) } });
	checkCheap(route, sent.res);
}

/** @param {import("./analysis.js").Summary} data */
export function handleSummary(data) {
	const totals = RUN_ROUTES.map((r) => routeStats(data, r, DURATION_S));
	const drift = RUN_ROUTES.map((r) => soakRoute(data, r, SEGMENTS, SEGMENT_S));
	const markdown = [
		`${RUN_ROUTES.map((r) => `${r} ${soakRate(r)}`).join(", ")} req/s per route for ${DURATION}, in ${SEGMENTS} segments of ${fmt(SEGMENT_S / 60)} min.`,
		"",
		routeTable(totals),
		"",
		"Drift (last segment ÷ first; 1 = none; p50/p95 on the route's SLO metric):",
		"",
		markdownTable(
			["Route", "p50 drift", "p95 drift", "req/s drift", "p95 per segment ms"],
			drift.map((d) => [
				d.route,
				fmt(d.p50_drift, "×"),
				fmt(d.p95_drift, "×"),
				fmt(d.rps_drift, "×"),
				d.segments.map((s) => fmt(s.slo_metric === "http_req_waiting" ? s.ttfb_p95 : s.p95)).join(" · "),
			]),
		),
	].join("\n");
	return summaryOutputs("soak", data, {
		markdown,
		report: { duration_s: DURATION_S, segments: SEGMENTS, routes: totals, drift },
	});
}
