// Stress (docs/load-testing.md#stress): finds each route's knee. One route at a time (so routes do not share the
// cores while measured). First the capacity block: every route's short closed loop (CAPACITY_VUS requests always in
// flight: its capacity at a fixed concurrency, whose ratio to /healthz's is what npm run load:compare tracks), back
// to back in CAPACITY_ROUNDS rounds of alternating order, /healthz first and last. Then per route a
// `ramping-arrival-rate` staircase of STEPS levels, geometric from the route's start rate to its top rate, each held
// STEP_S seconds; ingest's closed loops and staircase come last (it grows the corpus the RAG routes search). Per
// step: offered vs achieved rate, the share of arrivals k6 could not start (no free VU: the service is not keeping
// up), latency on the route's SLO metric, errors. The knee is the last step sustained (≤ DROP_MAX dropped) within
// the SLO, a lone failing step between passing ones being reported as transient; past the knee, the peak achieved
// rate is what the route managed under overload.
//
// Stress is measured, not judged: thresholds here only keep the per-step figures in the summary (k6 exits 0 past
// the knee). Env: ROUTES (default below; with VARIANTS=1 also the /v1/auth/me variants), STEPS (6), STEP_S (10),
// WARMUP_S (5, at the first level, not counted), CAPACITY_VUS (8), CAPACITY_S (10), CAPACITY_ROUNDS (2), GAP_S (10, after each
// staircase: the backlog drains),
// LEVELS_<route> (explicit levels, e.g. LEVELS_chat=10,20,40), TOP_<route> / START_<route> (req/s),
// PREALLOCATED_VUS (100), MAX_VUS (300), DROP_MAX (0.05).

import exec from "k6/execution";
import { fmt, routeStats, stressRoute, stressTable } from "./analysis.js";
import {
	checkCheap,
	ingestCorpus,
	mergeThresholds,
	newContext,
	runRoutes,
	SYSTEM_TAGS,
	send,
	TREND_STATS,
	trackRoutes,
} from "./config.js";
import { summaryOutputs } from "./summary.js";

/** Default [start, top] req/s per route: wide enough to pass the knee of a 2-core machine running k6 and workerd. */
const RANGES = {
	health: [20, 640],
	auth_me: [20, 640],
	auth_me_no_limiter: [20, 640],
	auth_me_bare: [20, 640],
	auth_token: [5, 160],
	chat: [20, 640],
	chat_stream: [10, 320],
	rag_search: [10, 320],
	rag_query: [10, 320],
	ingest: [5, 160],
};
const DEFAULT_ROUTES = ["health", "auth_me", "auth_token", "chat", "chat_stream", "rag_search", "rag_query", "ingest"];

const RUN_ROUTES = runRoutes("stress", DEFAULT_ROUTES, true);

const STEPS = Number(__ENV.STEPS || 6);
const STEP_S = Number(__ENV.STEP_S || 10);
const GAP_S = Number(__ENV.GAP_S || 10);
const WARMUP_S = Number(__ENV.WARMUP_S || 5);
const CAPACITY_VUS = Number(__ENV.CAPACITY_VUS || 8);
const CAPACITY_S = Number(__ENV.CAPACITY_S || 10);
const CAPACITY_ROUNDS = Number(__ENV.CAPACITY_ROUNDS || 2);
const DROP_MAX = Number(__ENV.DROP_MAX || 0.05);

/** The staircase of one route, in req/s. @param {string} route @returns {number[]} */
function levelsOf(route) {
	const explicit = __ENV[`LEVELS_${route}`];
	if (explicit) return explicit.split(",").map(Number);
	const range = /** @type {Record<string, number[]>} */ (RANGES)[route] || [10, 320];
	const start = Number(__ENV[`START_${route}`] || range[0]);
	const top = Number(__ENV[`TOP_${route}`] || range[1]);
	const out = [];
	for (let i = 0; i < STEPS; i++) {
		out.push(Math.round(STEPS === 1 ? top : start * (top / start) ** (i / (STEPS - 1))));
	}
	return out;
}

/** @type {Record<string, import("k6/options").Scenario>} */
const scenarios = {};
/** @type {Record<string, string[]>[]} */
const tracked = [];
let offset = 0;

/** A warm-up at the route's first level (JIT, connections): sent, not counted. @param {string} route @param {string} tag */
function warmUpScenario(route, tag) {
	scenarios[`warmup__${route}__${tag}`] = {
		executor: "constant-arrival-rate",
		rate: levelsOf(route)[0] || 1,
		timeUnit: "1s",
		duration: `${WARMUP_S}s`,
		startTime: `${offset}s`,
		preAllocatedVUs: 20,
		maxVUs: 50,
		gracefulStop: "2s",
		exec: "hit",
	};
	offset += WARMUP_S + 2;
}

/**
 * Closed loop: CAPACITY_VUS requests always in flight, k6 doing little else — the route's capacity at a fixed
 * concurrency, which the ratios use. @param {string} route @param {number} round
 */
function closedLoop(route, round) {
	if (round === 0) warmUpScenario(route, "r0");
	scenarios[`capacity__${route}__r${round}`] = {
		executor: "constant-vus",
		vus: CAPACITY_VUS,
		duration: `${CAPACITY_S}s`,
		startTime: `${offset}s`,
		gracefulStop: "2s",
		exec: "hit",
	};
	offset += CAPACITY_S + 2;
}

// Part 1, the capacity block: every route's closed loop back to back, before any overload, so the ratios compare
// routes measured minutes apart at most. CAPACITY_ROUNDS rounds in alternating order (forward, then backward …):
// a machine whose background load or service heap drifts during the block moves every route about equally, and
// each route's capacity is its mean over the rounds. /healthz, the denominator, opens the first round and closes
// the second: the two tell how much the machine moved meanwhile. The /v1/auth/me variants run right after
// /v1/auth/me. Ingest is not in the block: it grows the corpus the RAG routes search (their cost grows with it) and
// leaves the local vector index work to do after it, so its closed loops and staircase come last (part 3).
const firsts = ["health", "auth_me", "auth_me_no_limiter", "auth_me_bare"];
const capacityOrder = firsts
	.filter((r) => RUN_ROUTES.indexOf(r) >= 0)
	.concat(RUN_ROUTES.filter((r) => firsts.indexOf(r) < 0 && r !== "ingest"));
for (let round = 0; round < CAPACITY_ROUNDS; round++) {
	const order = round % 2 === 0 ? capacityOrder : capacityOrder.slice().reverse();
	for (const route of order) closedLoop(route, round);
}
tracked.push(trackRoutes(RUN_ROUTES, { step: "capacity" }));
for (let round = 0; round < CAPACITY_ROUNDS; round++) {
	tracked.push(trackRoutes(["health"], { step: "capacity", round: String(round) }));
}

// Part 2, the staircases, one route at a time: a jump (0 s stage) to each level, held for the step. Part 3: ingest's
// closed loops and its staircase.
const staircaseOrder = RUN_ROUTES.filter((r) => r !== "ingest");
if (RUN_ROUTES.indexOf("ingest") >= 0) staircaseOrder.push("ingest");
for (const route of staircaseOrder) {
	if (route === "ingest") for (let round = 0; round < CAPACITY_ROUNDS; round++) closedLoop(route, round);
	const levels = levelsOf(route);
	/** @type {{ target: number; duration: string }[]} */
	const stages = [];
	for (const level of levels) stages.push({ target: level, duration: "0s" }, { target: level, duration: `${STEP_S}s` });
	warmUpScenario(route, "staircase");
	scenarios[route] = {
		executor: "ramping-arrival-rate",
		startRate: levels[0] || 1,
		timeUnit: "1s",
		startTime: `${offset}s`,
		stages,
		// VUs started mid-step cost k6 time (each loads the script) and show as dropped arrivals: start most up front.
		preAllocatedVUs: Number(__ENV.PREALLOCATED_VUS || 100),
		maxVUs: Number(__ENV.MAX_VUS || 300),
		gracefulStop: `${GAP_S}s`,
		exec: "hit",
	};
	for (let i = 0; i < levels.length; i++) tracked.push(trackRoutes([route], { step: String(i) }));
	offset += levels.length * STEP_S + GAP_S;
}

/** Steps per route (LEVELS_<route> may differ from STEPS), for tagging requests. @type {Record<string, number>} */
const stepCount = {};
for (const r of RUN_ROUTES) stepCount[r] = levelsOf(r).length;

export const options = {
	scenarios,
	systemTags: SYSTEM_TAGS,
	summaryTrendStats: TREND_STATS,
	thresholds: mergeThresholds.apply(null, tracked),
};

export function setup() {
	return { bookmark: RUN_ROUTES.some((r) => /^rag_/.test(r)) ? ingestCorpus() : "" };
}

/** @type {import("./config.js").Ctx | undefined} */
let ctx;

export function hit() {
	// Scenarios: `<route>` (its staircase), `warmup__<route>__<r0|staircase>`, `capacity__<route>__r<round>`.
	const name = exec.scenario.name;
	const parts = name.split("__");
	const phase = parts.length > 1 ? parts[0] || "" : "staircase";
	const route = parts.length > 1 ? parts[1] || "" : name;
	if (!ctx) ctx = newContext(__VU);
	// A staircase request counts for the step that sent it, however long its answer takes.
	const t = Date.now() - exec.scenario.startTime;
	const step =
		phase === "staircase"
			? String(Math.min((stepCount[route] || STEPS) - 1, Math.max(0, Math.floor(t / (STEP_S * 1000)))))
			: phase;
	/** @type {Record<string, string>} */
	const tags = { step };
	if (phase === "capacity") tags.round = (parts[2] || "r0").slice(1);
	const sent = send(route, ctx, { tags });
	checkCheap(route, sent.res);
}

/** @param {import("./analysis.js").Summary} data */
export function handleSummary(data) {
	const routes = RUN_ROUTES.map((r) =>
		stressRoute(data, r, levelsOf(r), STEP_S, DROP_MAX, CAPACITY_S * CAPACITY_ROUNDS),
	);
	/** @type {number[]} */
	const healthRounds = [];
	for (let round = 0; round < CAPACITY_ROUNDS; round++) {
		const st = routeStats(data, "health", CAPACITY_S, { step: "capacity", round: String(round) });
		if (st.requests > 0) healthRounds.push(st.rps);
	}
	const markdown = [
		`One route at a time: first every route's ${CAPACITY_S} s closed loop with ${CAPACITY_VUS} VUs back to back, ${CAPACITY_ROUNDS} rounds in alternating order (the closed-loop column: the mean), then each route's staircase (${STEPS} steps unless LEVELS_<route> says otherwise) of ${STEP_S} s per step (ramping-arrival-rate, up to ${__ENV.MAX_VUS || 300} VUs), each after ${WARMUP_S} s of warm-up; a step is sustained when k6 started ≥ ${100 - DROP_MAX * 100} % of its arrivals. p95 is on the route's SLO metric (TTFB for chat and RAG answers).`,
		"",
		stressTable(routes),
		healthRounds.length > 1
			? `\n/healthz closed loop in each round of the capacity block: ${healthRounds.map((x) => fmt(x)).join(" and ")} req/s (how much the machine moved while the capacities were measured).`
			: "",
	].join("\n");
	return summaryOutputs("stress", data, {
		markdown,
		report: {
			step_s: STEP_S,
			steps: STEPS,
			capacity_vus: CAPACITY_VUS,
			capacity_s: CAPACITY_S,
			capacity_rounds: CAPACITY_ROUNDS,
			health_capacity_by_round: healthRounds,
			routes,
		},
	});
}
