// Chaos traffic (docs/resilience.md#chaos-scenarios): the routes of one scenario at fixed arrival rates while
// `npm run chaos` (scripts/chaos.ts) holds faults on the service. It judges nothing itself: every request is
// classified here, request by request, and written as one sample of `chaos_request_duration` (k6's JSON output,
// `--out json=…`) tagged with the route, its API route pattern, the outcome and the error type; the runner counts
// those samples and compares them with what the service's own SLO counters recorded.
//
// Outcomes (what the client saw):
//   ok     the route's expected status and a right answer (load/config.js ANSWERS: a RAG answer is grounded and
//          cites, a search has hits); a stream ended with `data: [DONE]` and no `data: {"error": …}` event
//   bad    a 5xx, a stream that carried an in-stream error event or ended without [DONE], or no answer at all: what
//          the SLO counts as a bad event
//   client a 4xx (429 included): the client's problem, not a bad event for the SLO
//   wrong  the expected status with a wrong answer (an answer that does not cite): not available for the client,
//          yet a good event for the SLO, which judges status and latency only
// Error types: `<status> <problem type>` (plus `, Retry-After` when the answer carried one), `stream <code>` for an
// in-stream error event, `stream truncated`, `network <k6 error code>`, `<status> wrong answer`.
//
// Env: CHAOS_ROUTES (`name:rate[:hold],…`: req/s, and the seconds one request holds its VU when that is long — a
// hanging dependency; names below), DURATION (default 20s), CORPUS_DOCS (documents the runner
// ingested before the run: the RAG routes ask about them), MAX_TOKENS, BASE_URL, API_KEYS (load/config.js).
// ES2017 (k6 0.48).

import exec from "k6/execution";
import { Trend } from "k6/metrics";
import {
	ANSWERS,
	CALLS,
	header,
	jsonOf,
	newContext,
	pick,
	ROUTES,
	SYSTEM_TAGS,
	send,
	stagger,
	TREND_STATS,
} from "./config.js";

/**
 * The routes a scenario can drive: a route of load/config.js (`route`), optionally with a search `mode` other than
 * the default (hybrid).
 * @type {Record<string, { route: string; mode?: string }>}
 */
export const CHAOS_ROUTES = {
	chat: { route: "chat" },
	chat_stream: { route: "chat_stream" },
	rag_query: { route: "rag_query" },
	rag_query_stream: { route: "rag_query_stream" },
	rag_search: { route: "rag_search" },
	rag_search_vector: { route: "rag_search", mode: "vector" },
	auth_me: { route: "auth_me" },
	documents_list: { route: "documents_list" },
	ingest: { route: "ingest" },
};

const DURATION = __ENV.DURATION || "20s";
/** How long k6 waits for the requests in flight when the duration is over: longer than any route's deadline. */
const GRACEFUL_STOP = __ENV.GRACEFUL_STOP || "90s";
/** The client's own timeout: longer than every deadline of the service, so the service always answers first. */
const CLIENT_TIMEOUT = __ENV.CLIENT_TIMEOUT || "120s";

/** @type {{ name: string; rate: number; holdS: number }[]} */
const RUN = (__ENV.CHAOS_ROUTES || "")
	.split(",")
	.filter(Boolean)
	.map((pair) => {
		const parts = pair.split(":");
		const name = (parts[0] || "").trim();
		if (!CHAOS_ROUTES[name]) throw new Error(`CHAOS_ROUTES: unknown route "${name}"`);
		const rate = Number(parts[1]);
		if (!(rate > 0)) throw new Error(`CHAOS_ROUTES: "${pair}" needs a rate above 0 (req/s)`);
		// How long one request holds its VU, s (default 1): a hanging dependency holds it for a whole deadline.
		const holdS = Number(parts[2] || 1);
		if (!(holdS > 0)) throw new Error(`CHAOS_ROUTES: "${pair}": the seconds a request holds its VU must be above 0`);
		return { name, rate, holdS };
	});
if (RUN.length === 0) throw new Error("CHAOS_ROUTES is empty: name the routes, e.g. chat:10,chat_stream:4");

/** @type {Record<string, import("k6/options").Scenario>} */
const scenarios = {};
RUN.forEach((r, i) => {
	scenarios[r.name] = {
		executor: "constant-arrival-rate",
		rate: r.rate,
		timeUnit: "1s",
		duration: DURATION,
		startTime: stagger(i, RUN.length, r.rate),
		// An arrival that finds every VU busy is dropped while k6 starts another: enough of them from the start for the
		// requests in flight (rate × the seconds each holds its VU, plus a second's worth).
		preAllocatedVUs: Math.max(2, Math.ceil(r.rate * (r.holdS + 1))),
		maxVUs: Math.min(300, Math.max(20, Math.ceil(r.rate * (r.holdS + 1) * 2))),
		gracefulStop: GRACEFUL_STOP,
		exec: "hit",
	};
});

export const options = {
	scenarios,
	systemTags: SYSTEM_TAGS,
	summaryTrendStats: TREND_STATS,
	discardResponseBodies: false,
};

/** One sample per request (ms), tagged with what the client saw. */
const requests = new Trend("chaos_request_duration", true);
/** Time to the first byte (a stream's first event), ms: what the SLO's latency objectives measure. */
const ttfb = new Trend("chaos_request_ttfb", true);

/** @type {import("./config.js").Ctx | undefined} */
let vuContext;
function context() {
	if (!vuContext) vuContext = newContext(exec.vu.idInTest);
	return vuContext;
}

/** The problem's type, last path segment (`upstream-unavailable`), or "" when the body is not a problem. @param {unknown} json */
function problemType(json) {
	const type = String(pick(json, "type") || "");
	return type.slice(type.lastIndexOf("/") + 1);
}

/** The `code` of an in-stream error event's JSON (`{"error": {"code": …}}`). @param {string} data */
function streamErrorCode(data) {
	try {
		return String(pick(JSON.parse(data), "error", "code") || "unknown");
	} catch (_) {
		return "unparsable";
	}
}

/**
 * What the client saw: outcome and error type (see the header).
 * @param {string} route load/config.js route name @param {import("./config.js").TextResponse} res @param {import("./config.js").Ctx} ctx
 * @returns {{ outcome: "ok" | "bad" | "client" | "wrong"; error: string }}
 */
export function classify(route, res, ctx) {
	if (res.status === 0) return { outcome: "bad", error: `network ${res.error_code}` };
	const retryAfter = header(res, "Retry-After") ? ", Retry-After" : "";
	if (res.status >= 400) {
		const error = `${res.status} ${problemType(jsonOf(res)) || "(no problem type)"}${retryAfter}`;
		return { outcome: res.status >= 500 ? "bad" : "client", error };
	}
	const body = String(res.body || "");
	if (/^text\/event-stream/.test(header(res, "Content-Type"))) {
		const event = /^data: (\{"error".*)$/m.exec(body);
		if (event) return { outcome: "bad", error: `stream ${streamErrorCode(event[1] || "")}` };
		if (!/data: \[DONE\]\s*$/.test(body)) return { outcome: "bad", error: "stream truncated" };
	}
	const answer = ANSWERS[route];
	const right = !!answer && res.status === answer.status && (!answer.body || answer.body(jsonOf(res), res, ctx));
	return right ? { outcome: "ok", error: "" } : { outcome: "wrong", error: `${res.status} wrong answer` };
}

export function hit() {
	const name = exec.scenario.name;
	const spec = CHAOS_ROUTES[name];
	const ctx = context();
	const make = CALLS[spec.route];
	/** @type {import("./config.js").Call | undefined} */
	let call;
	if (spec.mode && make) {
		call = make(ctx);
		const body = JSON.parse(String(call.body));
		body.mode = spec.mode;
		call.body = JSON.stringify(body);
	}
	const sent = send(spec.route, ctx, { call, timeout: CLIENT_TIMEOUT, tags: { chaos_route: name } });
	const seen = classify(spec.route, sent.res, ctx);
	const tags = {
		chaos_route: name,
		api_route: ROUTES[spec.route].route,
		status: String(sent.res.status),
		outcome: seen.outcome,
		error: seen.error,
	};
	requests.add(sent.res.timings.duration, tags);
	ttfb.add(sent.res.timings.waiting, tags);
}

/** The runner reads the JSON output; this only says how many requests were made. @param {import("./analysis.js").Summary} data */
export function handleSummary(data) {
	const m = data.metrics.chaos_request_duration;
	const count = m ? m.values.count : 0;
	const s = data.state ? Math.round(data.state.testRunDurationMs / 100) / 10 : 0;
	return { stdout: `chaos: ${count} requests in ${s} s (${RUN.map((r) => `${r.name} ${r.rate}/s`).join(", ")})\n` };
}

// Sanity at init: every chaos route is a route of load/config.js with a request and an expected answer.
for (const name of Object.keys(CHAOS_ROUTES)) {
	const r = CHAOS_ROUTES[name].route;
	if (!CALLS[r] || !ANSWERS[r] || !ROUTES[r]) throw new Error(`load/chaos.js: "${name}" names unknown route "${r}"`);
}
