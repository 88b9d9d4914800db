// Smoke test (docs/load-testing.md#smoke): every public route once per VU at a low rate, with checks on status,
// body shape and headers (request id echoed, problem+json errors, rate-limit headers where a policy applies,
// X-Worker-Version when EXPECT_VERSION is set). Any failed check aborts the run (abortOnFail), and k6 exits 99.
// The canary controller runs it against a pinned version (VERSION_OVERRIDE) before shifting traffic.
//
// Env (besides load/config.js's BASE_URL, API_KEY, OPS_KEY, CLIENT_ID/CLIENT_SECRET, VERSION_OVERRIDE, EXPECT_VERSION):
//   VUS (2), ITERATIONS per VU (1), SMOKE_PAUSE_S between requests (0.1 s), MAX_DURATION (2m).
// API_KEY is a tenant key (chat rag:read rag:write usage:read); OPS_KEY an operator key (metrics:read, of the operator
// tenant) for /metrics and /v1/slo.
// Rate limits: one iteration costs about 15 requests of the tenant key's `default` policy, 3 of `chat` and 3 of
// `rag-query` (default policies: 60, 30 and 60 per minute), one `/v1/slo` of the operator key's, and one token
// request of the client.

import { check, sleep } from "k6";
import http from "k6/http";
import { Rate } from "k6/metrics";
import { routeStats, routeTable } from "./analysis.js";
import {
	ANSWERS,
	API_KEYS,
	BASE_URL,
	baseHeaders,
	CLIENT_ID,
	EXPECT_VERSION,
	header,
	jsonOf,
	mergeThresholds,
	newContext,
	OPS_KEY,
	pick,
	ROUTES,
	RUN_ID,
	SYSTEM_TAGS,
	send,
	TREND_STATS,
	trackRoutes,
} from "./config.js";
import { summaryOutputs } from "./summary.js";

const VUS = Number(__ENV.VUS || 2);
const ITERATIONS = Number(__ENV.ITERATIONS || 1);
const PAUSE_S = Number(__ENV.SMOKE_PAUSE_S === undefined ? 0.1 : __ENV.SMOKE_PAUSE_S);

/**
 * Operations of /openapi.json the smoke test does not call, and why. Every other operation must map to a route
 * name of thresholds.gen.js, or setup fails the run: a new route cannot ship untested by the smoke test.
 */
export const NOT_SMOKED = {
	"POST /v1/admin/clients": "mutating admin API: needs scope admin (npm run load creates the run's client with it)",
	"DELETE /v1/admin/clients/{client_id}": "mutating admin API (npm run load revokes the run's client with it)",
	"POST /v1/admin/api-keys": "mutating admin API (npm run load creates the run's keys with it)",
	"DELETE /v1/admin/api-keys/{key_id}": "mutating admin API (npm run load revokes the run's keys with it)",
	// The operator's fault switchboard: local and test environments only (a deployment answers 403), scope admin.
	"GET /v1/admin/faults": "fault injection, local and test only: npm run chaos reads it (docs/resilience.md)",
	"PUT /v1/admin/faults": "fault injection, local and test only: npm run chaos sets the faults of each scenario",
	"DELETE /v1/admin/faults": "fault injection, local and test only: npm run chaos clears them after each scenario",
};

const versionMatches = new Rate("worker_version_match");

export const options = {
	scenarios: {
		smoke: {
			executor: "per-vu-iterations",
			vus: VUS,
			iterations: ITERATIONS,
			maxDuration: __ENV.MAX_DURATION || "2m",
		},
	},
	systemTags: SYSTEM_TAGS,
	summaryTrendStats: TREND_STATS,
	thresholds: mergeThresholds(
		{
			checks: [{ threshold: "rate==1", abortOnFail: true }],
			http_req_failed: [{ threshold: "rate==0", abortOnFail: true }],
		},
		EXPECT_VERSION ? { worker_version_match: [{ threshold: "rate==1", abortOnFail: true }] } : {},
		trackRoutes(Object.keys(ROUTES)),
	),
};

/** `/v1/documents/:id` → `/v1/documents/{id}` (how the OpenAPI document writes it). @param {string} route */
const openApiPath = (route) => route.replace(/:([A-Za-z_]+)/g, "{$1}");

/**
 * Reads /openapi.json: which operations exist (each must be smoked or listed in NOT_SMOKED) and which are rate
 * limited in this deployment (the document lists a "Rate limited: …" 429 for those), so header checks follow the
 * deployment's policies rather than assuming the defaults.
 */
export function setup() {
	check(API_KEYS, { "API_KEY is set": (k) => k.length > 0 });
	check(OPS_KEY, { "OPS_KEY (an operator key for /metrics and /v1/slo) is set": (k) => k.length > 0 });
	const res = http.get(`${BASE_URL}/openapi.json`, {
		headers: baseHeaders(),
		tags: { route: "setup", name: "GET /openapi.json (setup)" },
		responseType: "text",
	});
	const doc = jsonOf(res);
	const paths = /** @type {Record<string, Record<string, unknown>>} */ (pick(doc, "paths") || {});
	/** @type {Record<string, boolean>} */
	const limited = {};
	for (const name of Object.keys(ROUTES)) {
		const r = ROUTES[name];
		if (!r) continue;
		const desc = pick(paths, openApiPath(r.route), r.method.toLowerCase(), "responses", "429", "description");
		limited[name] = typeof desc === "string" && desc.indexOf("Rate limited:") === 0;
	}
	/** @type {Record<string, boolean>} */
	const covered = {};
	for (const name of Object.keys(ROUTES)) {
		const r = ROUTES[name];
		if (r) covered[`${r.method} ${openApiPath(r.route)}`] = true;
	}
	/** @type {string[]} */
	const uncovered = [];
	for (const path of Object.keys(paths)) {
		for (const method of Object.keys(paths[path] || {})) {
			const op = `${method.toUpperCase()} ${path}`;
			if (!covered[op] && Object.keys(NOT_SMOKED).indexOf(op) < 0) uncovered.push(op);
		}
	}
	check(res, { "setup: /openapi.json answers 200": (r) => r.status === 200 });
	const ok = check(uncovered, { "setup: every operation of /openapi.json is smoked": (u) => u.length === 0 });
	if (!ok) console.error(`smoke: operations with no smoke request: ${uncovered.join(", ")}`);
	return { limited };
}

/**
 * Checks one answer: status and body as load/config.js's ANSWERS say, the request id echoed, problem+json for
 * errors (its `instance` the request id), rate-limit headers where a policy applies, and the version.
 * @param {string} name @param {{ res: import("./config.js").TextResponse; requestId: string }} sent
 * @param {import("./config.js").Ctx} ctx @param {{ limited: Record<string, boolean> }} data @param {string} [label]
 */
function verify(name, sent, ctx, data, label) {
	const res = sent.res;
	const answer = ANSWERS[name];
	if (!answer) throw new Error(`no answer for ${name}`);
	const json = jsonOf(res);
	const tag = label ? `${name} (${label})` : name;
	/** @type {Record<string, boolean>} */
	const results = {};
	results[`${tag}: status ${answer.status}`] = res.status === answer.status;
	if (answer.body) results[`${tag}: body`] = res.status === answer.status && answer.body(json, res, ctx);
	results[`${tag}: X-Request-ID echoed`] = header(res, "X-Request-ID") === sent.requestId;
	if (res.status >= 400) {
		results[`${tag}: problem+json with instance = request id`] =
			/^application\/problem\+json/.test(header(res, "Content-Type")) &&
			pick(json, "instance") === sent.requestId &&
			/^https:\/\/errors\.edge-ai-api\.dev\//.test(String(pick(json, "type")));
	}
	if (data.limited[name]) {
		const field = /^"([a-z0-9._-]+)";r=(\d+);t=(\d+)$/.exec(header(res, "RateLimit"));
		results[`${tag}: RateLimit headers`] =
			header(res, "RateLimit-Policy").length > 0 &&
			field !== null &&
			header(res, "X-RateLimit-Remaining") === field[2] &&
			header(res, "X-RateLimit-Reset") === field[3] &&
			/^\d+$/.test(header(res, "X-RateLimit-Limit"));
	}
	if (EXPECT_VERSION) {
		const same = header(res, "X-Worker-Version") === EXPECT_VERSION;
		versionMatches.add(same, { route: name });
		results[`${tag}: X-Worker-Version is ${EXPECT_VERSION}`] = same;
	}
	/** @type {Record<string, () => boolean>} */
	const fns = {};
	for (const k of Object.keys(results)) fns[k] = () => results[k] === true;
	const ok = check(res, fns, { route: name });
	if (!ok) {
		const failed = Object.keys(results).filter((k) => !results[k]);
		console.error(
			`smoke: ${failed.join("; ")} — got ${res.status} ${String(res.body || "").slice(0, 300)} (request ${sent.requestId})`,
		);
	}
	return json;
}

/** @param {{ limited: Record<string, boolean> }} data */
export default function (data) {
	const ctx = newContext(__VU);
	ctx.corpus = 0;
	/**
	 * @param {string} name @param {{ auth?: import("./config.js").Call["auth"]; expect?: number[]; label?: string }} [opts]
	 */
	const hit = (name, opts) => {
		const o = opts || {};
		const answer = ANSWERS[name];
		// Statuses the route is meant to answer here (403 from the admin API, 400 from a clientless token request)
		// are not failures of the service; every other 4xx and 5xx still is.
		const expect = answer && answer.status >= 400 ? [answer.status] : o.expect;
		const sent = send(name, ctx, { auth: o.auth, expect });
		const json = verify(name, sent, ctx, data, o.label);
		if (PAUSE_S > 0) sleep(PAUSE_S);
		return json;
	};

	hit("health");
	hit("ready");
	hit("version");
	hit("openapi");
	hit("docs");
	hit("jwks");

	const token = hit("auth_token");
	hit("auth_me");
	hit("auth_me", { auth: "x-api-key", label: "X-API-Key" });
	if (CLIENT_ID) {
		ctx.token = String(pick(token, "access_token") || "");
		const me = hit("auth_me", { auth: "jwt", label: "access token" });
		check(me, { "auth_me (access token): via jwt": (j) => pick(j, "via") === "jwt" }, { route: "auth_me" });
	}

	hit("models");
	ctx.conversationId = `${RUN_ID}-conv-${__VU}-${__ITER}`;
	hit("chat");
	hit("conversation_get");
	hit("conversation_delete");
	ctx.conversationId = undefined;
	hit("chat_stream");

	const ingested = hit("ingest");
	ctx.docId = ctx.lastIngest ? ctx.lastIngest.id : "";
	ctx.bookmark = String(pick(ingested, "bookmark") || "");
	hit("documents_list");
	hit("document_get");
	hit("document_chunks");
	// With the ingest's bookmark, search and answers must see the document at once (read-your-writes). Among the
	// hits, not first: the VUs ingest look-alike documents at the same moment, and hybrid search may rank a twin
	// level with it (reciprocal-rank fusion ties when each wins one ranking).
	/** @param {unknown} list @param {string} key */
	const has = (list, key) => Array.isArray(list) && list.some((h) => pick(h, key) === ctx.docId);
	const hits = hit("rag_search");
	check(
		hits,
		{ "rag_search: finds the document just ingested": (j) => has(pick(j, "data"), "document_id") },
		{ route: "rag_search" },
	);
	const answer = hit("rag_query");
	check(
		answer,
		{ "rag_query: cites the document just ingested": (j) => has(pick(j, "citations"), "document_id") },
		{ route: "rag_query" },
	);
	hit("rag_query_stream");
	hit("embeddings");
	// The tenant's own usage: the document it stores (before the delete), and the model calls it just made — the
	// ledger is written in the background, long done by now.
	hit("usage_storage");
	const usage = hit("usage");
	check(
		usage,
		{
			"usage: counts the model requests just made": (j) => {
				const buckets = pick(j, "data");
				let requests = 0;
				if (Array.isArray(buckets)) {
					for (const b of buckets) {
						const results = pick(b, "results");
						if (Array.isArray(results)) for (const r of results) requests += Number(pick(r, "num_model_requests")) || 0;
					}
				}
				return requests >= 1;
			},
		},
		{ route: "usage" },
	);
	hit("document_delete");

	hit("metrics");
	hit("slo");
	hit("admin_clients_list");
	hit("admin_keys_list");
}

/** @param {import("./analysis.js").Summary} data */
export function handleSummary(data) {
	const seconds = data.state ? data.state.testRunDurationMs / 1000 : 0;
	const rows = Object.keys(ROUTES)
		.map((name) => routeStats(data, name, seconds))
		.filter((r) => r.requests > 0);
	// Latency objectives are not judged on a handful of requests: baseline.js does that, and the canary reads the
	// per-version SLO counters. The table is for reading.
	return summaryOutputs("smoke", data, {
		markdown: routeTable(rows.map((r) => Object.assign({}, r, { slo_ok: null }))),
		report: { routes: rows, vus: VUS, iterations: ITERATIONS },
	});
}
