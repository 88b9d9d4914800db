// The chaos scenarios of `npm run chaos` (docs/resilience.md#chaos-scenarios): for each, the faults the operator
// endpoint holds while it runs (PUT /v1/admin/faults), the traffic (load/chaos.js routes and their rates), the
// behaviour we promise in words, and the checks that hold us to it. Every scenario also has to pass the count check
// (`countsMatch`): what the clients saw, request for request, equals what the service's SLO counters recorded.
import { type ClientStats, type MetricSample, type RouteComparison, sumOf } from "./measure.ts";

/** A dependency's runtime fault, as PUT /v1/admin/faults takes it. */
export type Fault = { rate?: number; latency_ms?: number; after_tokens?: number };
export type Faults = Record<string, Fault>;

/** What a scenario's checks see. */
export type Measured = {
	/** Every request of the scenario, as the clients saw it. */
	client: ClientStats;
	/** Per load/chaos.js route. */
	routes: Record<string, ClientStats>;
	/** Per API route: the clients' counts against the service's. */
	comparisons: RouteComparison[];
	/** /metrics: what moved during the scenario (after − before). */
	metrics: MetricSample[];
	/** Cron runs (metric pushes) the runner triggered during the scenario. */
	cronRuns: number;
	/** Metric pushes (`POST /v1/metrics`) the run's OTLP receiver got during the scenario. */
	pushesReceived: number;
};

/** One expectation and whether it held, with the figures that decided it. */
export type Check = { what: string; ok: boolean; detail: string };

export type Scenario = {
	name: string;
	/** The faults while it runs (an empty object: none). */
	faults: Faults;
	/** The promise, in words (the docs' table). */
	expected: string;
	/** load/chaos.js route → req/s. */
	routes: Record<string, number>;
	/** Routes whose requests hold a client for long → how long, s (k6 starts enough VUs for them up front). */
	holdS?: Record<string, number>;
	/** Trigger the cron (an OTLP metric push) every this many seconds while traffic runs. */
	cronEveryS?: number;
	/** Compared with the `baseline` scenario of the same invocation, which then runs first (and right before it). */
	needsBaseline?: boolean;
	/**
	 * Replaces the exact count check: for scenarios where the service may lose counts and has to say so.
	 */
	countCheck?: (m: Measured) => Check;
	checks: (m: Measured, baseline: Measured | undefined) => Check[];
};

const pct = (x: number | null) => (x === null ? "–" : `${(x * 100).toFixed(2)} %`);
const ms = (x: number | null) => (x === null ? "–" : `${Math.round(x)} ms`);

/** A route's stats (every chaos route a scenario names has some: k6 sent its requests). */
function route(m: Measured, name: string): ClientStats {
	const r = m.routes[name];
	if (!r) throw new Error(`no requests of route ${name} were measured`);
	return r;
}

/** Every request of `name` was a right answer. */
function allOk(m: Measured, name: string): Check {
	const r = route(m, name);
	return {
		what: `${name}: every request answered right`,
		ok: r.requests > 0 && r.outcomes.ok === r.requests,
		detail: `${r.outcomes.ok} of ${r.requests} ok${errorsText(r)}`,
	};
}

/** Every request of `name` failed with exactly the error `error`. */
function allFailWith(m: Measured, name: string, error: string): Check {
	const r = route(m, name);
	return {
		what: `${name}: every request answers ${error}`,
		ok: r.requests > 0 && r.errors[error] === r.requests,
		detail: `${r.errors[error] ?? 0} of ${r.requests}${errorsText(r)}`,
	};
}

const errorsText = (r: ClientStats) => {
	const e = Object.entries(r.errors);
	return e.length === 0 ? "" : `; ${e.map(([k, n]) => `${k} ×${n}`).join(", ")}`;
};

/** A metric moved by exactly `expected`. */
function metricIs(m: Measured, what: string, name: string, labels: Record<string, string>, expected: number): Check {
	const got = sumOf(m.metrics, name, labels);
	return { what, ok: got === expected, detail: `${name}${JSON.stringify(labels)} +${got}, expected +${expected}` };
}

/**
 * Every metric push of the scenario (at least one) ended with `outcome` and was counted so; the receiver got one
 * request per accepted push, none of the failed ones (the fault fails an attempt before it is sent).
 */
function pushesCounted(m: Measured, outcome: "ok" | "error", what: string): Check {
	const counted = metricIs(m, what, "otlp_exports_total", { outcome }, m.cronRuns);
	const received = outcome === "ok" ? m.cronRuns : 0;
	return {
		...counted,
		ok: counted.ok && m.cronRuns > 0 && m.pushesReceived === received,
		detail: `${m.cronRuns} cron runs; ${counted.detail}; the receiver got ${m.pushesReceived} pushes, expected ${received}`,
	};
}

/** Every API route's client-seen totals and bad events equal the SLO-counted ones (and statuses, failed streams). */
export function countsMatch(m: Measured): Check {
	const off = m.comparisons.filter((c) => !c.equal);
	return {
		what: "client-seen = SLO-counted, per route: requests, bad events, statuses, failed streams",
		ok: m.comparisons.length > 0 && off.length === 0,
		detail:
			off.length === 0
				? m.comparisons.map((c) => `${c.route} ${c.client.bad}/${c.client.total}`).join(", ")
				: off
						.map(
							(c) =>
								`${c.route}: client ${c.client.bad} bad of ${c.client.total}, SLO ${c.slo.bad} of ${c.slo.total}; statuses ${JSON.stringify(c.statuses)}; failed streams ${JSON.stringify(c.failedStreams)}`,
						)
						.join("; "),
	};
}

/** The chat model failing: 30 % of calls. */
const MODEL_FAILURE_RATE = 0.3;
/** The slow model's pause before each call, ms: well under the chat deadline. */
const MODEL_SLOW_MS = 1_500;
/** The chat route's deadline locally, ms: wrangler.toml's TIMEOUT_CHAT_MS (test/node/chaos.test.ts holds them equal). */
export const CHAT_DEADLINE_MS = 60_000;
/** How late after the deadline a 504 may reach the client on a busy machine, ms. */
const DEADLINE_SLACK_MS = 2_000;
/** The pause of a hanging model, ms: past every deadline. */
const MODEL_HANG_MS = 600_000;
/** D1's pause before each execution, ms. */
const D1_SLOW_MS = 250;
/** Share of SloCounter calls failing. */
const SLO_COUNTER_FAILURE_RATE = 0.3;
/** How much slower than the baseline a route may be while only the OTLP receiver fails: noise on a shared machine. */
const OTLP_P95_FACTOR = 1.5;
const OTLP_P95_SLACK_MS = 25;

/** The baseline's and OTLP scenario's traffic (and the run's warm-up): the same, so their latencies compare. */
export const MIXED_TRAFFIC = { chat: 4, chat_stream: 2, rag_query: 2, rag_search: 3, auth_me: 5 };
const RAG_TRAFFIC = { rag_query: 3, rag_search: 4, rag_search_vector: 3 };

/** RAG with one side of retrieval down: the same promise for the embedder and the vector index. */
function ragSideDown(m: Measured): Check[] {
	const hybrid = route(m, "rag_query").requests + route(m, "rag_search").requests;
	return [
		allOk(m, "rag_query"),
		allOk(m, "rag_search"),
		allFailWith(m, "rag_search_vector", "503 upstream-unavailable, Retry-After"),
		metricIs(
			m,
			"every hybrid retrieval degraded to keyword search",
			"rag_retrieval_duration_seconds_count",
			{ mode: "hybrid", outcome: "degraded" },
			hybrid,
		),
	];
}

export const SCENARIOS: readonly Scenario[] = [
	{
		name: "baseline",
		faults: {},
		expected: "no fault: every request answered right; metric pushes accepted",
		routes: MIXED_TRAFFIC,
		cronEveryS: 5,
		checks: (m) => [
			{
				what: "availability 100 %",
				ok: m.client.availability === 1,
				detail: `${pct(m.client.availability)} of ${m.client.requests}`,
			},
			pushesCounted(m, "ok", "every metric push accepted"),
		],
	},
	{
		name: "otlp-failing",
		faults: { otlp: { rate: 1 } },
		expected:
			"every push to the OTLP receiver fails: each push gives up after its bounded retries and is counted as failed; no request fails or slows (p95 against the baseline)",
		routes: MIXED_TRAFFIC,
		cronEveryS: 5,
		needsBaseline: true,
		checks: (m, baseline) => [
			{
				what: "availability 100 %",
				ok: m.client.availability === 1,
				detail: `${pct(m.client.availability)} of ${m.client.requests}${errorsText(m.client)}`,
			},
			pushesCounted(m, "error", "every metric push failed after its retries, and was counted"),
			...Object.keys(MIXED_TRAFFIC).map((r) => {
				const base = baseline?.routes[r]?.p95Ms ?? null;
				const now = route(m, r).p95Ms;
				const bound = base === null ? null : base * OTLP_P95_FACTOR + OTLP_P95_SLACK_MS;
				return {
					what: `${r}: p95 within ${OTLP_P95_FACTOR}× the baseline's + ${OTLP_P95_SLACK_MS} ms`,
					ok: bound !== null && now !== null && now <= bound,
					detail: `p95 ${ms(now)}, baseline ${ms(base)}`,
				};
			}),
		],
	},
	{
		name: "model-failing",
		faults: { chat_model: { rate: MODEL_FAILURE_RATE } },
		expected: `${MODEL_FAILURE_RATE * 100} % of model calls fail like an upstream 503: retries hide them, availability ≥ 99 %, the breaker stays closed`,
		routes: { chat: 14, chat_stream: 3, rag_query: 3 },
		checks: (m) => [
			{
				what: "availability ≥ 99 %",
				ok: (m.client.availability ?? 0) >= 0.99,
				detail: `${pct(m.client.availability)} of ${m.client.requests}`,
			},
			{
				what: "the fault was applied (model calls failed)",
				ok: sumOf(m.metrics, "llm_upstream_requests_total", { outcome: "server_error" }) > 0,
				detail: `llm_upstream_requests_total{outcome="server_error"} +${sumOf(m.metrics, "llm_upstream_requests_total", { outcome: "server_error" })}, {outcome="ok"} +${sumOf(m.metrics, "llm_upstream_requests_total", { outcome: "ok" })}`,
			},
			metricIs(m, "the breaker stayed closed", "llm_upstream_requests_total", { outcome: "circuit_open" }, 0),
		],
	},
	{
		name: "model-slow",
		faults: { chat_model: { latency_ms: MODEL_SLOW_MS } },
		expected: `every model call pauses ${MODEL_SLOW_MS} ms (under the deadline): latency up by that much, no errors`,
		routes: { chat: 4, chat_stream: 2 },
		checks: (m) => [
			allOk(m, "chat"),
			allOk(m, "chat_stream"),
			...["chat", "chat_stream"].map((r) => ({
				what: `${r}: time to first byte (p95) ≥ ${MODEL_SLOW_MS} ms`,
				ok: (route(m, r).p95TtfbMs ?? 0) >= MODEL_SLOW_MS,
				detail: `p95 TTFB ${ms(route(m, r).p95TtfbMs)}`,
			})),
		],
	},
	{
		name: "model-hang",
		faults: { chat_model: { latency_ms: MODEL_HANG_MS } },
		expected: `model calls hang: chat answers 504 at its deadline (${CHAT_DEADLINE_MS / 1000} s), not before and not much after; other routes unaffected`,
		// One chat request a second: each holds a client for the whole deadline.
		routes: { chat: 1, auth_me: 3 },
		holdS: { chat: (CHAT_DEADLINE_MS + DEADLINE_SLACK_MS) / 1_000 },
		checks: (m) => [
			allFailWith(m, "chat", "504 timeout"),
			{
				what: `chat: answered at the deadline (${CHAT_DEADLINE_MS / 1000} s to ${(CHAT_DEADLINE_MS + DEADLINE_SLACK_MS) / 1000} s)`,
				ok:
					(route(m, "chat").minMs ?? 0) >= CHAT_DEADLINE_MS &&
					(route(m, "chat").maxMs ?? Number.POSITIVE_INFINITY) <= CHAT_DEADLINE_MS + DEADLINE_SLACK_MS,
				detail: `${ms(route(m, "chat").minMs)} to ${ms(route(m, "chat").maxMs)}`,
			},
			allOk(m, "auth_me"),
		],
	},
	{
		name: "mid-stream",
		faults: { chat_stream: { rate: 0.5, after_tokens: 3 } },
		expected:
			"half the model streams die after 3 tokens: those streams end with an in-stream error event and no [DONE], and are bad events in the SLO counts",
		routes: { chat_stream: 5, rag_query_stream: 3 },
		checks: (m) =>
			["chat_stream", "rag_query_stream"].map((r) => {
				const s = route(m, r);
				const streamErrors = Object.entries(s.errors)
					.filter(([e]) => e.startsWith("stream ") && e !== "stream truncated")
					.reduce((a, [, n]) => a + n, 0);
				return {
					what: `${r}: some streams fail mid-stream with an error event, every failure is one, the rest end with [DONE]`,
					ok: streamErrors > 0 && streamErrors === s.outcomes.bad && s.outcomes.ok + streamErrors === s.requests,
					detail: `${streamErrors} in-stream errors, ${s.outcomes.ok} ok of ${s.requests}${errorsText(s)}`,
				};
			}),
	},
	{
		name: "embedder-down",
		faults: { embedder: { rate: 1 } },
		expected:
			"every embedding fails: hybrid search and answers degrade to keyword search (answers still cite), vector-only search answers 503 with Retry-After",
		routes: RAG_TRAFFIC,
		checks: ragSideDown,
	},
	{
		name: "vector-index-down",
		faults: { vector_index: { rate: 1 } },
		expected:
			"every vector index call fails: hybrid search and answers degrade to keyword search (answers still cite), vector-only search answers 503 with Retry-After",
		routes: RAG_TRAFFIC,
		checks: ragSideDown,
	},
	{
		name: "d1-slow",
		faults: { d1: { latency_ms: D1_SLOW_MS } },
		expected: `every D1 query pauses ${D1_SLOW_MS} ms: routes that read D1 slow down, nothing fails`,
		routes: { documents_list: 3, auth_me: 4, ingest: 1 },
		checks: (m) => [
			{
				what: "availability 100 %",
				ok: m.client.availability === 1,
				detail: `${pct(m.client.availability)} of ${m.client.requests}${errorsText(m.client)}`,
			},
			{
				what: `documents_list: p95 ≥ ${D1_SLOW_MS} ms`,
				ok: (route(m, "documents_list").p95Ms ?? 0) >= D1_SLOW_MS,
				detail: `p95 ${ms(route(m, "documents_list").p95Ms)}`,
			},
		],
	},
	{
		name: "limiter-failing",
		faults: { rate_limiter: { rate: 1 } },
		expected:
			"every RateLimiter call fails: policies that fail open admit (search, auth), chat's token budget (`llm-tokens`) fails closed: 503 limiter-unavailable with Retry-After",
		routes: { chat: 3, rag_search: 3, auth_me: 4 },
		checks: (m) => [
			allFailWith(m, "chat", "503 limiter-unavailable, Retry-After"),
			allOk(m, "rag_search"),
			allOk(m, "auth_me"),
			metricIs(
				m,
				"llm-tokens failed closed for every chat request",
				"rate_limit_decisions_total",
				{ http_route: "/v1/chat/completions", policy: "llm-tokens", outcome: "fail_closed" },
				route(m, "chat").requests,
			),
			metricIs(
				m,
				"rag-query failed open for every search",
				"rate_limit_decisions_total",
				{ http_route: "/v1/rag/search", policy: "rag-query", outcome: "fail_open" },
				route(m, "rag_search").requests,
			),
			metricIs(
				m,
				"default failed open for every /v1/auth/me",
				"rate_limit_decisions_total",
				{ http_route: "/v1/auth/me", policy: "default", outcome: "fail_open" },
				route(m, "auth_me").requests,
			),
		],
	},
	{
		name: "slo-counter-failing",
		faults: { slo_counter: { rate: SLO_COUNTER_FAILURE_RATE } },
		expected: `${SLO_COUNTER_FAILURE_RATE * 100} % of SloCounter calls fail: no request fails; the recorder's retries recover the counts, and what they cannot is reported, exactly`,
		routes: { auth_me: 6, chat: 3 },
		countCheck: (m) => {
			// Reported per isolate, not per route: wrangler dev runs one, and while the fault holds only the clients'
			// requests are recorded through it (the runner's PUT is recorded before it applies, and its DELETE's record
			// is retried after the next request has cleared the recorder's fault).
			const dropped = sumOf(m.metrics, "slo_flush_dropped_requests_isolate");
			const lost = m.comparisons.reduce((a, c) => a + (c.client.total - c.slo.total), 0);
			const exact = m.comparisons.length > 0 && m.comparisons.every((c) => c.equal);
			return {
				what: "client-seen = SLO-counted + reported lost (slo_flush_dropped_requests_isolate), exactly; bad events equal",
				ok:
					m.comparisons.length > 0 &&
					lost === dropped &&
					m.comparisons.every((c) => c.slo.bad === c.client.bad && c.slo.total <= c.client.total) &&
					(dropped > 0 || exact),
				detail: `${lost} requests not counted, ${dropped} reported lost (${sumOf(m.metrics, "slo_flush_failures_isolate")} batches dropped); ${m.comparisons.map((c) => `${c.route} SLO ${c.slo.total} of ${c.client.total}, bad ${c.slo.bad} of ${c.client.bad}`).join(", ")}`,
			};
		},
		checks: (m) => [
			{
				what: "availability 100 %",
				ok: m.client.availability === 1,
				detail: `${pct(m.client.availability)} of ${m.client.requests}${errorsText(m.client)}`,
			},
		],
	},
];

/** The scenarios named (all when none), baseline first when one of them compares with it. */
export function selectScenarios(names: readonly string[]): Scenario[] {
	const unknown = names.filter((n) => !SCENARIOS.some((s) => s.name === n));
	if (unknown.length > 0) {
		throw new Error(`unknown scenario(s) ${unknown.join(", ")}; known: ${SCENARIOS.map((s) => s.name).join(", ")}`);
	}
	const picked = names.length === 0 ? [...SCENARIOS] : SCENARIOS.filter((s) => names.includes(s.name));
	if (picked.some((s) => s.needsBaseline) && !picked.some((s) => s.name === "baseline")) {
		picked.unshift(SCENARIOS[0] as Scenario);
	}
	return picked;
}
