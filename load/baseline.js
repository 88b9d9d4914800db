// Baseline (docs/load-testing.md#baseline): each route at a fixed arrival rate (`constant-arrival-rate`, one scenario
// per route, all at once), judged by the SLO spec's thresholds (thresholds.gen.js: p95, p99 and error ratio per
// route). Arrivals do not wait for answers (an open model), so a slow service shows as latency, not as a politely
// lower request rate; and a `dropped_iterations` threshold fails the run when k6 could not start the scheduled
// requests, so an under-powered load generator is not mistaken for a fast service.
//
// Env: RATE (req/s per route, default 3), RATES (per-route overrides, e.g. `auth_token:5,ingest:5`), DURATION (60s),
// ROUTES (comma-separated route names; default below), MAX_VUS per route (default 2 × rate, at least 10),
// DROP_MAX (share of a route's scheduled requests k6 may fail to start, default 0.01), CHECKS_MIN (0.999).
// The target must not rate limit the run's keys at these rates: `npm run load` raises the local service's limits
// (docs/load-testing.md#rate-limits-during-capacity-runs).

import exec from "k6/execution";
import { routeStats, routeTable, stat } from "./analysis.js";
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
/** The routes of this run (the variants only on the load Worker). */
const RUN_ROUTES = runRoutes("baseline", DEFAULT_ROUTES, true);

const RATE = 3;
const DURATION = __ENV.DURATION || "60s";
const DROP_MAX = Number(__ENV.DROP_MAX || 0.01);
/** @param {string} route */
const rateOf = (route) => rateFor(route, RATE);
const DURATION_S = seconds(DURATION);

/** Streams hold a VU for the whole answer (about MAX_TOKENS × the model's token delay). @param {string} route */
const expectedSeconds = (route) => (/_stream$/.test(route) ? 0.5 : 0.1);

/** @type {Record<string, import("k6/options").Scenario>} */
const scenarios = {};
/** @type {Record<string, string[]>} */
const dropped = {};
RUN_ROUTES.forEach((route, i) => {
	const rate = rateOf(route);
	scenarios[route] = {
		executor: "constant-arrival-rate",
		rate,
		timeUnit: "1s",
		duration: DURATION,
		startTime: stagger(i, RUN_ROUTES.length, rate),
		preAllocatedVUs: Math.max(2, Math.ceil(rate * expectedSeconds(route) * 2)),
		maxVUs: Number(__ENV.MAX_VUS || Math.max(10, 2 * rate)),
		exec: "hit",
	};
	dropped[`dropped_iterations{scenario:${route}}`] = [`count<=${Math.floor(rate * DURATION_S * DROP_MAX)}`];
});

export const options = {
	scenarios,
	systemTags: SYSTEM_TAGS,
	summaryTrendStats: TREND_STATS,
	discardResponseBodies: false,
	thresholds: mergeThresholds(
		{ checks: [`rate>=${__ENV.CHECKS_MIN || 0.999}`] },
		dropped,
		sloThresholds(RUN_ROUTES),
		trackRoutes(RUN_ROUTES),
	),
};

export function setup() {
	const bookmark = RUN_ROUTES.some((r) => /^rag_/.test(r)) ? ingestCorpus() : "";
	warmUp(RUN_ROUTES, 10);
	return { bookmark };
}

/** @type {import("./config.js").Ctx | undefined} */
let ctx;

/** One request of the scenario's route (the scenario is named after it). */
export function hit() {
	const route = exec.scenario.name;
	if (!ctx) ctx = newContext(__VU);
	const sent = send(route, ctx);
	checkCheap(route, sent.res);
}

/** @param {import("./analysis.js").Summary} data */
export function handleSummary(data) {
	const rows = RUN_ROUTES.map((r) => routeStats(data, r, DURATION_S));
	/** @type {Record<string, number>} */
	const drops = {};
	for (const r of RUN_ROUTES) drops[r] = stat(data, `dropped_iterations{scenario:${r}}`, "count") || 0;
	const rates = RUN_ROUTES.map((r) => `${r} ${rateOf(r)}`).join(", ");
	const dropLine = RUN_ROUTES.filter((r) => (drops[r] || 0) > 0)
		.map((r) => `${r} ${drops[r]}`)
		.join(", ");
	const markdown = [
		`Offered: ${rates} req/s per route for ${DURATION} (constant arrival rate, all routes at once).`,
		`Iterations k6 could not start: ${dropLine || "none"}.`,
		"",
		routeTable(rows),
	].join("\n");
	/** @type {Record<string, number>} */
	const offered = {};
	for (const r of RUN_ROUTES) offered[r] = rateOf(r);
	return summaryOutputs("baseline", data, {
		markdown,
		report: { duration_s: DURATION_S, rates: offered, dropped: drops, routes: rows },
	});
}
