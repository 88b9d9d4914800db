// The one config module of the load scripts (docs/load-testing.md): where the API is, which credentials to use,
// and the routes — how to call each one and what a right answer looks like. Thresholds come from the generated
// thresholds.gen.js (the SLO spec), never from here.
//
// ES2017 only (k6 0.48's compiler has no optional chaining, nullish coalescing or object spread); every script is proved
// with `k6 inspect`.
//
// Environment (k6 `-e NAME=value` or the process environment; `npm run load` sets them):
//   BASE_URL          the API (default http://127.0.0.1:8787)
//   API_KEY           an API key, sent as `Authorization: Bearer eak_…`; API_KEYS (comma-separated) spreads VUs
//                     over several subjects (one rate-limiter object each), VU n using key n mod count
//   OPS_KEY           an operator key (a key of the operator tenant with scope metrics:read) for the routes of
//                     `auth: "ops"`: /metrics and /v1/slo, which tenant keys cannot read
//   CLIENT_ID, CLIENT_SECRET   an API client for the token route (OAuth client credentials, HTTP Basic)
//   VERSION_OVERRIDE  sent verbatim as `Cloudflare-Workers-Version-Overrides` on every request (pin a version)
//   EXPECT_VERSION    every response's `X-Worker-Version` must equal it (smoke: aborts the run otherwise)
//   RUN_ID            prefix of the ids this run creates (documents, conversations, request ids); default unique
//   MAX_TOKENS        max_tokens of chat and RAG answers (default 32)
//   CORPUS_DOCS       documents ingested by setup for the RAG routes (default 20)
//   VARIANTS=1        the target is the load Worker (scripts/bench/load-worker.ts), which also serves /v1/auth/me
//                     without the limiter and without SLO recording, for the ratios in docs/performance.md

import { check } from "k6";
import encoding from "k6/encoding";
import http from "k6/http";
import { codeWord, corpusDocument, questionFor } from "./corpus.js";
import { ROUTES, THRESHOLDS } from "./thresholds.gen.js";

export { ROUTES, THRESHOLDS };

export const BASE_URL = (__ENV.BASE_URL || "http://127.0.0.1:8787").replace(/\/+$/, "");
export const API_KEYS = (__ENV.API_KEYS || __ENV.API_KEY || "")
	.split(",")
	.map((k) => k.trim())
	.filter((k) => k.length > 0);
export const OPS_KEY = __ENV.OPS_KEY || "";
export const CLIENT_ID = __ENV.CLIENT_ID || "";
export const CLIENT_SECRET = __ENV.CLIENT_SECRET || "";
export const VERSION_OVERRIDE = __ENV.VERSION_OVERRIDE || "";
export const EXPECT_VERSION = __ENV.EXPECT_VERSION || "";
// Unique per run by default (init time in base 36): ids also carry the VU, so VUs initialised apart cannot collide.
export const RUN_ID = (__ENV.RUN_ID || `k6${Date.now().toString(36)}`).replace(/[^A-Za-z0-9._:-]/g, "-").slice(0, 24);
// A number of this run (FNV-1a of RUN_ID, below 1 000 000): the code words of the documents the run writes carry it,
// so a document an aborted run left behind cannot win a later run's searches for "its" document.
const RUN_SALT = (() => {
	let h = 0x811c9dc5;
	for (let i = 0; i < RUN_ID.length; i++) h = Math.imul(h ^ RUN_ID.charCodeAt(i), 0x01000193) >>> 0;
	return h % 1000000;
})();
export const MAX_TOKENS = Number(__ENV.MAX_TOKENS || 32);
export const CORPUS_DOCS = Number(__ENV.CORPUS_DOCS || 20);
export const VARIANTS_ENABLED = __ENV.VARIANTS === "1";

/** "90s", "2m", "1h30m", "500ms" → seconds. @param {string} d */
export function seconds(d) {
	let total = 0;
	const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
	let m = re.exec(d);
	while (m) {
		const n = Number(m[1]);
		total += m[2] === "h" ? n * 3600 : m[2] === "m" ? n * 60 : m[2] === "s" ? n : n / 1000;
		m = re.exec(d);
	}
	return total;
}

/** @type {Record<string, number>} */
const RATES = {};
for (const pair of (__ENV.RATES || "").split(",").filter(Boolean)) {
	const parts = pair.split(":");
	if (parts[0] && parts[1]) RATES[parts[0].trim()] = Number(parts[1]);
}

/**
 * A route's arrival rate (req/s) for the fixed-rate scripts: RATES=`route:rate,…` wins, then RATE, then the
 * script's default.
 * @param {string} route @param {number} fallback
 */
export function rateFor(route, fallback) {
	return RATES[route] || Number(__ENV.RATE || 0) || fallback;
}

/**
 * Start offset of the i-th of n fixed-rate scenarios: k6 schedules every constant-arrival-rate scenario's arrivals
 * on the same instants (0, 1/rate, 2/rate … s), so n routes at one rate would arrive as bursts of n requests that
 * queue behind each other — a latency artifact. Offsetting them by 1/(n × rate) s interleaves the arrivals evenly.
 * @param {number} i @param {number} n @param {number} rate req/s
 */
export function stagger(i, n, rate) {
	return `${Math.round((i * 1000) / (n * Math.max(rate, 0.001)))}ms`;
}

/**
 * k6 tags every sample with these; `url` is left out on purpose: ids in paths would make one series per request.
 * Requests are grouped by the `route` tag (the k6 route name) and `name` (method + route pattern) instead.
 */
export const SYSTEM_TAGS = [
	"proto",
	"subproto",
	"status",
	"method",
	"name",
	"group",
	"check",
	"error",
	"error_code",
	"scenario",
	"expected_response",
];

/** Trend statistics in every summary (ms): med is p50. */
export const TREND_STATS = ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)", "count"];

/**
 * What `http_req_failed` counts: 2xx/3xx are successes and so is 429 — a rate-limited request is the limiter
 * doing its job, and the SLO does not count it as an error (src/slo/spec.ts). Every other 4xx, every 5xx and every
 * network error fails. Scripts that expect other statuses pass their own callback per request.
 */
http.setResponseCallback(http.expectedStatuses({ min: 200, max: 399 }, 429));

/**
 * Routes served only by the load Worker (scripts/bench/load-worker.ts): the same request as `of`, under a prefix
 * where the pipeline runs without a piece, side by side with the real route in one isolate.
 * @type {Record<string, { of: string; prefix: string; without: string }>}
 */
export const VARIANTS = {
	auth_me_no_limiter: { of: "auth_me", prefix: "/__load/no-limiter", without: "the rate limiter" },
	auth_me_bare: { of: "auth_me", prefix: "/__load/bare", without: "the rate limiter and SLO recording" },
};

/**
 * The routes a capacity script runs: `ROUTES` (comma-separated), else its defaults, plus the /v1/auth/me variants
 * when `withVariants` and VARIANTS=1 (the load Worker) and no explicit `ROUTES`. The token route is left out, with a
 * warning, without a client: it has nothing to measure then.
 * @param {string} script @param {string[]} defaults @param {boolean} withVariants @returns {string[]}
 */
export function runRoutes(script, defaults, withVariants) {
	const requested = __ENV.ROUTES ? __ENV.ROUTES.split(",").map((s) => s.trim()) : defaults;
	const routes = requested.filter((r) => {
		if (r !== "auth_token" || CLIENT_ID) return true;
		console.warn(`${script}: no CLIENT_ID/CLIENT_SECRET, so the token route is left out`);
		return false;
	});
	return withVariants && VARIANTS_ENABLED && !__ENV.ROUTES ? routes.concat(Object.keys(VARIANTS)) : routes;
}

/**
 * Headers every request of every script carries, setup's included: the version pin when VERSION_OVERRIDE is set.
 * @param {Record<string, string>} [extra] @returns {Record<string, string>}
 */
export function baseHeaders(extra) {
	/** @type {Record<string, string>} */
	const headers = {};
	if (VERSION_OVERRIDE) headers["Cloudflare-Workers-Version-Overrides"] = VERSION_OVERRIDE;
	if (extra) for (const k of Object.keys(extra)) headers[k] = extra[k] || "";
	return headers;
}

/**
 * Per-VU state the routes share: the VU's key, a request counter, an access token, the last document written and
 * (smoke) its bookmark, the conversation, and how many corpus documents setup ingested.
 * @typedef {{ vu: number; key: string; seq: number; token?: string; docId?: string; bookmark?: string; lastIngest?: { id: string; n: number }; conversationId?: string; corpus: number }} Ctx
 */

/** @param {number} vu @returns {Ctx} */
export function newContext(vu) {
	return {
		vu,
		key: API_KEYS.length > 0 ? API_KEYS[(vu - 1) % API_KEYS.length] || "" : "",
		seq: 0,
		corpus: CORPUS_DOCS,
	};
}

/**
 * How to call one route: path, body, which credential. `auth`: `key` (API key as Bearer, the OpenAI SDKs' way),
 * `x-api-key` (the same key in `X-API-Key`), `jwt` (the access token from auth_token), `basic` (the client's id and
 * secret), `ops` (OPS_KEY as Bearer: the operator routes, whose scope `metrics:read` only the operator tenant holds),
 * `none`.
 * @typedef {{ path: string; body?: string | Record<string, string>; auth: "key" | "x-api-key" | "jwt" | "basic" | "ops" | "none"; form?: boolean }} Call
 */

/** A chat body; `n` varies the prompt so identical requests do not all take one path. @param {number} n @param {boolean} stream @param {string} [conversationId] */
function chatBody(n, stream, conversationId) {
	/** @type {Record<string, unknown>} */
	const body = {
		messages: [{ role: "user", content: `Summarise the rollback runbook of service ${n % 97} in one sentence.` }],
		max_tokens: MAX_TOKENS,
	};
	if (stream) body.stream = true;
	if (conversationId) body.conversation_id = conversationId;
	return JSON.stringify(body);
}

/**
 * The document an ingest iteration writes: new each time (id and text), so every request does the whole ingest
 * work — chunking, embedding, vector upsert, one D1 batch. Remembers it in `ctx.lastIngest`.
 * @param {Ctx} ctx
 */
function ingestBody(ctx) {
	// Past the setup corpus's numbers, unique per run, VU (below 1 000) and iteration (below 10 000); VUs writing at
	// the same moment get different topics (n mod 5: 10 001 per VU).
	const n = (1 + RUN_SALT) * 1e7 + (ctx.vu % 1000) * 10001 + (ctx.seq % 1e4);
	const doc = corpusDocument(n);
	doc.id = `${RUN_ID}-${ctx.vu}-${ctx.seq}`;
	ctx.lastIngest = { id: doc.id, n };
	return JSON.stringify({ documents: [doc] });
}

/**
 * Which document a RAG request asks about: with a bookmark (the smoke test, right after its ingest), the one just
 * written, read at once; otherwise one of the setup corpus, in turn.
 * @param {Ctx} ctx
 */
function ragTarget(ctx) {
	if (ctx.bookmark && ctx.lastIngest) return { n: ctx.lastIngest.n, bookmark: ctx.bookmark };
	return { n: ctx.seq % Math.max(1, ctx.corpus), bookmark: "" };
}

/** @param {Ctx} ctx */
function ragSearchBody(ctx) {
	const t = ragTarget(ctx);
	/** @type {Record<string, unknown>} */
	const body = { query: `${codeWord(t.n)} procedure` };
	if (t.bookmark) body.bookmark = t.bookmark;
	return JSON.stringify(body);
}

/** @param {Ctx} ctx @param {boolean} stream */
function ragQueryBody(ctx, stream) {
	const t = ragTarget(ctx);
	/** @type {Record<string, unknown>} */
	const body = { query: questionFor(t.n), max_tokens: MAX_TOKENS };
	if (t.bookmark) body.bookmark = t.bookmark;
	if (stream) body.stream = true;
	return JSON.stringify(body);
}

/**
 * The request of every route name in thresholds.gen.js (and nothing else: see the check at the bottom).
 * Smoke-only routes use the state earlier routes left in `ctx` (the document it ingested, its conversation).
 * @type {Record<string, (ctx: Ctx) => Call>}
 */
export const CALLS = {
	health: () => ({ path: "/healthz", auth: "none" }),
	ready: () => ({ path: "/readyz", auth: "none" }),
	version: () => ({ path: "/version", auth: "none" }),
	openapi: () => ({ path: "/openapi.json", auth: "none" }),
	docs: () => ({ path: "/docs", auth: "none" }),
	jwks: () => ({ path: "/.well-known/jwks.json", auth: "none" }),
	auth_token: () => {
		/** @type {Call} */
		const withClient = {
			path: "/v1/auth/token",
			auth: "basic",
			form: true,
			body: { grant_type: "client_credentials" },
		};
		// Without a client: a request the endpoint must refuse (400 invalid_request: no grant_type) before it looks
		// at credentials, so no failed login is counted against anyone (docs/auth.md).
		/** @type {Call} */
		const withoutClient = { path: "/v1/auth/token", auth: "none", form: true, body: { scope: "chat" } };
		return CLIENT_ID ? withClient : withoutClient;
	},
	auth_me: () => ({ path: "/v1/auth/me", auth: "key" }),
	models: () => ({ path: "/v1/models", auth: "key" }),
	chat: (ctx) => ({ path: "/v1/chat/completions", auth: "key", body: chatBody(ctx.seq, false, ctx.conversationId) }),
	chat_stream: (ctx) => ({ path: "/v1/chat/completions", auth: "key", body: chatBody(ctx.seq, true) }),
	conversation_get: (ctx) => ({ path: `/v1/conversations/${ctx.conversationId}`, auth: "key" }),
	conversation_delete: (ctx) => ({ path: `/v1/conversations/${ctx.conversationId}`, auth: "key" }),
	ingest: (ctx) => ({ path: "/v1/documents", auth: "key", body: ingestBody(ctx) }),
	documents_list: () => ({ path: "/v1/documents?limit=5", auth: "key" }),
	document_get: (ctx) => ({ path: `/v1/documents/${ctx.docId}`, auth: "key" }),
	document_chunks: (ctx) => ({ path: `/v1/documents/${ctx.docId}/chunks`, auth: "key" }),
	document_delete: (ctx) => ({ path: `/v1/documents/${ctx.docId}`, auth: "key" }),
	rag_search: (ctx) => ({ path: "/v1/rag/search", auth: "key", body: ragSearchBody(ctx) }),
	rag_query: (ctx) => ({ path: "/v1/rag/query", auth: "key", body: ragQueryBody(ctx, false) }),
	rag_query_stream: (ctx) => ({ path: "/v1/rag/query", auth: "key", body: ragQueryBody(ctx, true) }),
	embeddings: (ctx) => ({
		path: "/v1/embeddings",
		auth: "key",
		body: JSON.stringify({ input: [`rollback ${ctx.seq}`, "canary deployment"] }),
	}),
	// Two buckets (yesterday and today, UTC: a run that crosses midnight still finds its calls) of the tenant's model
	// usage, by model and route.
	usage: () => ({ path: "/v1/usage?bucket_width=1d&limit=2&group_by=model,route", auth: "key" }),
	usage_storage: () => ({ path: "/v1/usage/storage", auth: "key" }),
	metrics: () => ({ path: "/metrics", auth: "ops" }),
	slo: () => ({ path: "/v1/slo", auth: "ops" }),
	admin_clients_list: () => ({ path: "/v1/admin/clients?limit=1", auth: "key" }),
	admin_keys_list: () => ({ path: "/v1/admin/api-keys?limit=1", auth: "key" }),
};

/** The route table a name refers to (a variant answers as its base route). @param {string} name */
export function routeOf(name) {
	const variant = VARIANTS[name];
	const base = ROUTES[variant ? variant.of : name];
	if (!base) throw new Error(`unknown route name "${name}"`);
	return base;
}

/**
 * Sends route `name`'s request with the VU's credentials, tagged `route:<name>` and `name:<METHOD pattern>`.
 * Every request carries a fresh `X-Request-ID` (`<RUN_ID>-<vu>-<seq>`), which checks compare with the answer.
 * @param {string} name @param {Ctx} ctx
 * @param {{ auth?: Call["auth"]; tags?: Record<string, string>; expect?: number[]; call?: Call; timeout?: string }} [opts]
 */
export function send(name, ctx, opts) {
	const o = opts || {};
	const variant = VARIANTS[name];
	const base = routeOf(name);
	const make = CALLS[variant ? variant.of : name];
	if (!make) throw new Error(`no request for route "${name}"`);
	const call = o.call || make(ctx);
	ctx.seq++;
	const requestId = `${RUN_ID}-${ctx.vu}-${ctx.seq}`;
	const headers = baseHeaders({ "X-Request-ID": requestId });
	const auth = o.auth || call.auth;
	if (auth === "key") headers.Authorization = `Bearer ${ctx.key}`;
	if (auth === "x-api-key") headers["X-API-Key"] = ctx.key;
	if (auth === "jwt") headers.Authorization = `Bearer ${ctx.token || ""}`;
	if (auth === "ops") headers.Authorization = `Bearer ${OPS_KEY}`;
	if (auth === "basic") headers.Authorization = `Basic ${encoding.b64encode(`${CLIENT_ID}:${CLIENT_SECRET}`)}`;
	let body = call.body;
	if (typeof body === "string") headers["Content-Type"] = "application/json";
	if (call.form && body && typeof body === "object") {
		const fields = body;
		headers["Content-Type"] = "application/x-www-form-urlencoded";
		body = Object.keys(fields)
			.map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(fields[k] || "")}`)
			.join("&");
	}
	/** @type {Record<string, string>} */
	const tags = { route: name, name: `${base.method} ${base.route}` };
	if (o.tags) for (const k of Object.keys(o.tags)) tags[k] = o.tags[k] || "";
	/** @type {import("k6/http").RefinedParams<"text">} */
	const params = { headers, tags, responseType: "text" };
	if (o.expect) params.responseCallback = http.expectedStatuses.apply(null, o.expect);
	if (o.timeout) params.timeout = o.timeout;
	const res = http.request(base.method, BASE_URL + (variant ? variant.prefix : "") + call.path, body || null, params);
	return { res, requestId };
}

/** The answer's JSON, or undefined when it is not JSON. @param {import("k6/http").RefinedResponse<"text">} res @returns {unknown} */
export function jsonOf(res) {
	try {
		return JSON.parse(String(res.body || ""));
	} catch (_) {
		return undefined;
	}
}

/**
 * A value deep inside parsed JSON, or undefined when any step is missing: checks never throw (a throwing check
 * would end the VU's iteration instead of failing the check).
 * @param {unknown} value @param {...(string | number)} path @returns {unknown}
 */
export function pick(value, ...path) {
	let cur = value;
	for (const step of path) {
		if (cur === null || typeof cur !== "object") return undefined;
		cur = /** @type {Record<string | number, unknown>} */ (cur)[step];
	}
	return cur;
}

/** Length of an array inside JSON, -1 when it is not an array. @param {unknown} value @param {...(string | number)} path */
export function lengthAt(value, ...path) {
	const v = pick(value, ...path);
	return Array.isArray(v) ? v.length : -1;
}

/**
 * A response header by name, case-insensitively (k6 canonicalises names the Go way: `X-Request-Id`,
 * `Ratelimit-Policy`), or "" when absent.
 * @param {{ headers: Record<string, string> }} res @param {string} name
 */
export function header(res, name) {
	const lower = name.toLowerCase();
	for (const k of Object.keys(res.headers || {})) if (k.toLowerCase() === lower) return res.headers[k] || "";
	return "";
}

/** @typedef {import("k6/http").RefinedResponse<"text">} TextResponse */
/** @typedef {(json: unknown, res: TextResponse, ctx: Ctx) => boolean} BodyCheck */

/** @param {TextResponse} res @param {RegExp} re */
const typeIs = (res, re) => re.test(header(res, "Content-Type"));
/** @param {TextResponse} res */
const sseDone = (res) => typeIs(res, /^text\/event-stream/) && /data: \[DONE\]\s*$/.test(String(res.body || ""));

/**
 * The status and body every route must answer with when things are right, for the smoke test (`body`, parsed) and
 * the capacity scripts (`marker`, a substring of the body: no parsing, so the generator's CPU goes to sending).
 * @type {Record<string, { status: number; marker?: string; body?: BodyCheck }>}
 */
export const ANSWERS = {
	health: { status: 200, marker: '"ok"', body: (j) => pick(j, "status") === "ok" },
	ready: { status: 200, marker: '"ready"', body: (j) => pick(j, "status") === "ready" && !!pick(j, "checks", "d1") },
	version: {
		status: 200,
		marker: '"environment"',
		body: (j) => typeof pick(j, "id") === "string" && typeof pick(j, "environment") === "string",
	},
	openapi: {
		status: 200,
		marker: '"openapi"',
		body: (j) => /^3\./.test(String(pick(j, "openapi"))) && typeof pick(j, "paths") === "object",
	},
	docs: { status: 200, marker: "<html", body: (_j, res) => typeIs(res, /^text\/html/) },
	jwks: { status: 200, marker: '"keys"', body: (j) => lengthAt(j, "keys") >= 0 },
	auth_token: CLIENT_ID
		? {
				status: 200,
				marker: '"access_token"',
				body: (j) =>
					pick(j, "token_type") === "Bearer" &&
					typeof pick(j, "access_token") === "string" &&
					Number(pick(j, "expires_in")) > 0,
			}
		: { status: 400, marker: "invalid_request", body: (j) => pick(j, "error") === "invalid_request" },
	auth_me: {
		status: 200,
		marker: '"tenant"',
		body: (j) => typeof pick(j, "tenant") === "string" && typeof pick(j, "subject") === "string",
	},
	models: { status: 200, marker: '"list"', body: (j) => pick(j, "object") === "list" && lengthAt(j, "data") > 0 },
	chat: {
		status: 200,
		marker: '"chat.completion"',
		body: (j) =>
			pick(j, "object") === "chat.completion" &&
			typeof pick(j, "choices", 0, "message", "content") === "string" &&
			Number(pick(j, "usage", "total_tokens")) > 0,
	},
	chat_stream: {
		status: 200,
		marker: "data: [DONE]",
		body: (_j, res) => sseDone(res) && String(res.body).indexOf('"chat.completion.chunk"') >= 0,
	},
	conversation_get: {
		status: 200,
		marker: '"conversation"',
		body: (j) => pick(j, "object") === "conversation" && lengthAt(j, "messages") >= 2,
	},
	conversation_delete: { status: 204 },
	ingest: {
		status: 201,
		marker: '"bookmark"',
		body: (j) =>
			pick(j, "data", 0, "status") === "created" &&
			Number(pick(j, "data", 0, "chunks")) > 0 &&
			Number(pick(j, "data", 0, "stored_bytes")) > 0 &&
			typeof pick(j, "bookmark") === "string",
	},
	documents_list: { status: 200, marker: '"data"', body: (j) => lengthAt(j, "data") >= 1 },
	document_get: {
		status: 200,
		marker: '"document"',
		body: (j, _r, ctx) => pick(j, "object") === "document" && pick(j, "id") === ctx.docId,
	},
	document_chunks: { status: 200, marker: '"data"', body: (j) => lengthAt(j, "data") > 0 },
	document_delete: { status: 204 },
	rag_search: {
		status: 200,
		marker: '"document_id"',
		body: (j) => pick(j, "object") === "list" && lengthAt(j, "data") > 0,
	},
	rag_query: {
		status: 200,
		marker: '"rag.answer"',
		body: (j) => pick(j, "object") === "rag.answer" && pick(j, "grounded") === true && lengthAt(j, "citations") > 0,
	},
	rag_query_stream: {
		status: 200,
		marker: "data: [DONE]",
		body: (_j, res) => sseDone(res) && String(res.body).indexOf('"rag.citations"') >= 0,
	},
	embeddings: {
		status: 200,
		marker: '"embedding"',
		body: (j) => lengthAt(j, "data") === 2 && lengthAt(j, "data", 0, "embedding") > 0,
	},
	usage: {
		status: 200,
		marker: '"page"',
		body: (j) =>
			pick(j, "object") === "page" &&
			lengthAt(j, "data") === 2 &&
			[0, 1].every(
				(i) =>
					pick(j, "data", i, "object") === "bucket" &&
					Number(pick(j, "data", i, "end_time")) > Number(pick(j, "data", i, "start_time")) &&
					lengthAt(j, "data", i, "results") >= 0,
			) &&
			pick(j, "has_more") === false,
	},
	// Right after the run's own ingest (smoke): at least that document is stored, within the tenant's quotas.
	usage_storage: {
		status: 200,
		marker: '"storage_usage"',
		body: (j) =>
			pick(j, "object") === "storage_usage" &&
			typeof pick(j, "tenant") === "string" &&
			Number(pick(j, "documents", "used")) >= 1 &&
			Number(pick(j, "bytes", "used")) > 0 &&
			["documents", "chunks", "bytes"].every(
				(q) => Number(pick(j, q, "used")) <= Number(pick(j, q, "limit")) && Number(pick(j, q, "limit")) > 0,
			),
	},
	metrics: {
		status: 200,
		marker: "http_server_request_duration_seconds",
		body: (_j, res) => typeIs(res, /^(text\/plain|application\/openmetrics-text)/),
	},
	slo: {
		status: 200,
		marker: '"slo_report"',
		body: (j) => pick(j, "object") === "slo_report" && lengthAt(j, "routes") >= 0,
	},
	// The run's tenant key has no admin scope: the admin API must refuse it (403 insufficient_scope).
	admin_clients_list: { status: 403, marker: "insufficient", body: (j) => pick(j, "required_scope") === "admin" },
	admin_keys_list: { status: 403, marker: "insufficient", body: (j) => pick(j, "required_scope") === "admin" },
};

/**
 * The cheap check of the capacity scripts: right status and the route's marker in the body (a substring, not a
 * parse). Tagged with the route, so a failing route shows in the summary.
 * @param {string} name @param {import("k6/http").RefinedResponse<"text">} res
 */
export function checkCheap(name, res) {
	const variant = VARIANTS[name];
	const answer = ANSWERS[variant ? variant.of : name];
	if (!answer) throw new Error(`no answer for route "${name}"`);
	const marker = answer.marker;
	return check(
		res,
		{
			[`${name}: status ${answer.status}`]: (r) => r.status === answer.status,
			[`${name}: body`]: (r) => !marker || String(r.body || "").indexOf(marker) >= 0,
		},
		{ route: name },
	);
}

/**
 * Thresholds that only make k6 keep a per-route submetric (always true), so the summary has each route's request
 * count, latency and failures; merged with the SLO thresholds of the same keys.
 * @param {string[]} names @param {Record<string, string>} [extraTags] e.g. `{ step: "3" }`
 * @returns {Record<string, string[]>}
 */
export function trackRoutes(names, extraTags) {
	/** @type {Record<string, string[]>} */
	const out = {};
	let suffix = "";
	if (extraTags) for (const k of Object.keys(extraTags)) suffix += `,${k}:${extraTags[k]}`;
	for (const name of names) {
		out[`http_reqs{route:${name}${suffix}}`] = ["count>=0"];
		out[`http_req_duration{route:${name}${suffix}}`] = ["max>=0"];
		out[`http_req_waiting{route:${name}${suffix}}`] = ["max>=0"];
		out[`http_req_failed{route:${name}${suffix}}`] = ["rate>=0"];
	}
	return out;
}

/**
 * The SLO thresholds (thresholds.gen.js) of the given route names, as k6 `thresholds` entries. A variant has no
 * SLO of its own: it is measured, not judged.
 * @param {string[]} names @returns {Record<string, string[]>}
 */
export function sloThresholds(names) {
	/** @type {Record<string, string[]>} */
	const out = {};
	for (const name of names) {
		if (VARIANTS[name]) continue;
		const r = ROUTES[name];
		if (!r) throw new Error(`no SLO thresholds for route "${name}"`);
		for (const key of [`${r.metric}{route:${name}}`, `http_req_failed{route:${name}}`]) {
			const t = THRESHOLDS[key];
			if (t) out[key] = t.slice();
		}
	}
	return out;
}

/** @typedef {string | { threshold: string; abortOnFail?: boolean; delayAbortEval?: string }} Threshold */

/** Merges threshold maps; the same key's expressions are concatenated. @param {Record<string, Threshold[]>[]} maps */
export function mergeThresholds(...maps) {
	/** @type {Record<string, Threshold[]>} */
	const out = {};
	for (const m of maps) {
		for (const k of Object.keys(m)) out[k] = (out[k] || []).concat(m[k] || []);
	}
	return out;
}

/**
 * Ingests the corpus the RAG routes search (setup code): CORPUS_DOCS documents in batches of 25, with the first
 * key. Returns the bookmark of the last batch. Idempotent: documents with the same id and text are `unchanged`.
 */
export function ingestCorpus() {
	let bookmark = "";
	for (let start = 0; start < CORPUS_DOCS; start += 25) {
		const docs = [];
		for (let n = start; n < Math.min(CORPUS_DOCS, start + 25); n++) docs.push(corpusDocument(n));
		const res = http.post(`${BASE_URL}/v1/documents`, JSON.stringify({ documents: docs }), {
			headers: baseHeaders({ Authorization: `Bearer ${API_KEYS[0] || ""}`, "Content-Type": "application/json" }),
			tags: { route: "setup", name: "POST /v1/documents (setup)" },
			responseType: "text",
		});
		if (res.status !== 201) throw new Error(`corpus ingest answered ${res.status}: ${String(res.body).slice(0, 300)}`);
		bookmark = String(pick(jsonOf(res), "bookmark") || "");
	}
	return bookmark;
}

/**
 * Warm-up (setup code): `perRoute` sequential requests of each route before the measured scenarios start, so the
 * first measured seconds do not carry the isolate's cold start (JIT, first D1 and Durable Object access, the
 * OpenAPI document). Tagged `route:warmup`, so no route's figures include them. WARMUP=0 skips it.
 * @param {string[]} routes @param {number} perRoute
 */
export function warmUp(routes, perRoute) {
	if (__ENV.WARMUP === "0") return;
	const ctx = newContext(1);
	ctx.corpus = CORPUS_DOCS;
	for (const route of routes) {
		for (let i = 0; i < perRoute; i++) send(route, ctx, { tags: { route: "warmup" } });
	}
}

// Every generated route name has a request and an expected answer, and nothing here names a route the SLO spec's
// generator does not know: a mismatch fails `k6 inspect` in CI rather than a run later.
for (const name of Object.keys(ROUTES)) {
	if (!CALLS[name] || !ANSWERS[name]) throw new Error(`load/config.js has no request or answer for route "${name}"`);
}
for (const name of Object.keys(CALLS).concat(Object.keys(ANSWERS))) {
	if (!ROUTES[name]) throw new Error(`load/config.js names "${name}", which thresholds.gen.js does not know`);
}
