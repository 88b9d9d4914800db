// k6 thresholds from the SLO spec (src/slo/spec.ts), so "passes the load test" and "meets the SLO" mean the same
// thing. `renderK6Thresholds()` returns the whole text of load/thresholds.gen.js; `npm run gen:observability`
// writes it and `--check` fails when it is stale. docs/load-testing.md#thresholds explains the mapping.
//
// Runs under Node's type stripping (erasable syntax only, `.ts` imports) and is imported by the generator and tests.
import { type RouteSlo, sloFor, UNRECORDED_ROUTES } from "../../src/slo/spec.ts";

/**
 * The k6 route names: every request a load script sends is tagged `route:<name>`, and its thresholds are keyed by
 * that name (`http_req_duration{route:chat}`), never by URL, so ids in paths do not multiply the series. One API
 * route may have several names when the scripts exercise it in distinct ways (chat plain and streamed); they share
 * the route's SLO. `route` is the pattern as the Worker registers it (Hono syntax), which is what the SLO spec and
 * the `SloCounter` objects are keyed by.
 */
export type K6Route = { name: string; method: "GET" | "POST" | "DELETE"; route: string };

export const K6_ROUTES: readonly K6Route[] = [
	{ name: "health", method: "GET", route: "/healthz" },
	{ name: "ready", method: "GET", route: "/readyz" },
	{ name: "version", method: "GET", route: "/version" },
	{ name: "openapi", method: "GET", route: "/openapi.json" },
	{ name: "docs", method: "GET", route: "/docs" },
	{ name: "jwks", method: "GET", route: "/.well-known/jwks.json" },
	{ name: "auth_token", method: "POST", route: "/v1/auth/token" },
	{ name: "auth_me", method: "GET", route: "/v1/auth/me" },
	{ name: "models", method: "GET", route: "/v1/models" },
	{ name: "chat", method: "POST", route: "/v1/chat/completions" },
	{ name: "chat_stream", method: "POST", route: "/v1/chat/completions" },
	{ name: "conversation_get", method: "GET", route: "/v1/conversations/:id" },
	{ name: "conversation_delete", method: "DELETE", route: "/v1/conversations/:id" },
	{ name: "ingest", method: "POST", route: "/v1/documents" },
	{ name: "documents_list", method: "GET", route: "/v1/documents" },
	{ name: "document_get", method: "GET", route: "/v1/documents/:id" },
	{ name: "document_chunks", method: "GET", route: "/v1/documents/:id/chunks" },
	{ name: "document_delete", method: "DELETE", route: "/v1/documents/:id" },
	{ name: "rag_search", method: "POST", route: "/v1/rag/search" },
	{ name: "rag_query", method: "POST", route: "/v1/rag/query" },
	{ name: "rag_query_stream", method: "POST", route: "/v1/rag/query" },
	{ name: "embeddings", method: "POST", route: "/v1/embeddings" },
	{ name: "usage", method: "GET", route: "/v1/usage" },
	{ name: "usage_storage", method: "GET", route: "/v1/usage/storage" },
	{ name: "metrics", method: "GET", route: "/metrics" },
	{ name: "slo", method: "GET", route: "/v1/slo" },
	{ name: "admin_clients_list", method: "GET", route: "/v1/admin/clients" },
	{ name: "admin_keys_list", method: "GET", route: "/v1/admin/api-keys" },
];

/** What one route name's thresholds are, before they are written as k6 expressions. */
export type K6RouteThresholds = {
	method: K6Route["method"];
	route: string;
	/**
	 * The k6 metric the latency objectives apply to. Routes judged on time to first token (spec
	 * `timeToFirstToken`) use `http_req_waiting`, k6's time to first byte — what the Worker's recorder measures for
	 * every route, and for a stream the first token; the others use `http_req_duration` (whole response).
	 */
	metric: "http_req_waiting" | "http_req_duration";
	latency: { quantile: number; stat: string; threshold_ms: number }[];
	/** 1 − availability: the largest share of failed requests that still meets the availability objective. */
	error_ratio: number;
	/** Whether the Worker records this route in its SLO counters (probes and /metrics are not recorded). */
	recorded: boolean;
};

/** 1 − availability without binary noise (1 − 0.999 is 0.0010000000000000009 in floating point). */
function errorRatio(slo: RouteSlo): number {
	return Number((1 - slo.availability).toFixed(9));
}

/** Percentile stat name as k6 writes it: 0.95 → `p(95)`, 0.999 → `p(99.9)`. */
function stat(quantile: number): string {
	return `p(${Number((quantile * 100).toFixed(6))})`;
}

export function k6RouteThresholds(): Record<string, K6RouteThresholds> {
	const out: Record<string, K6RouteThresholds> = {};
	for (const r of K6_ROUTES) {
		const slo = sloFor(r.route);
		out[r.name] = {
			method: r.method,
			route: r.route,
			metric: slo.timeToFirstToken ? "http_req_waiting" : "http_req_duration",
			latency: slo.latency.map((l) => ({ quantile: l.quantile, stat: stat(l.quantile), threshold_ms: l.thresholdMs })),
			error_ratio: errorRatio(slo),
			recorded: !UNRECORDED_ROUTES.has(r.route),
		};
	}
	return out;
}

/**
 * k6 threshold expressions per route name. "Within the threshold" is `<=` (the SLO counts requests in the histogram
 * bucket `le` = threshold), and the error ratio may reach, not exceed, the budget.
 *
 * @example
 * ```ts
 * k6ThresholdExpressions()["http_req_waiting{route:chat}"]; // ["p(95)<=2000", "p(99)<=5000"]
 * ```
 */
export function k6ThresholdExpressions(): Record<string, string[]> {
	const out: Record<string, string[]> = {};
	for (const [name, t] of Object.entries(k6RouteThresholds())) {
		out[`${t.metric}{route:${name}}`] = t.latency.map((l) => `${l.stat}<=${l.threshold_ms}`);
		out[`http_req_failed{route:${name}}`] = [`rate<=${t.error_ratio}`];
	}
	return out;
}

/** The full text of load/thresholds.gen.js: an ES2017 module k6 0.48 loads, deterministic for a given spec. */
export function renderK6Thresholds(): string {
	// One entry per line: readable, and a changed objective is a one-line diff.
	const lines = (o: Record<string, unknown>) =>
		`{\n${Object.entries(o)
			.map(([k, v]) => `\t${JSON.stringify(k)}: ${JSON.stringify(v)},`)
			.join("\n")}\n}`;
	const routes = lines(k6RouteThresholds());
	const thresholds = lines(k6ThresholdExpressions());
	return `// Generated by \`npm run gen:observability\` (scripts/observability/k6-thresholds.ts) from the SLO spec
// (src/slo/spec.ts). Do not edit: change the spec and regenerate; \`npm test\` fails when this file is stale.
// ES2017 (k6 0.48). How these become the load tests' thresholds: docs/load-testing.md#thresholds.

/**
 * Per k6 route name (the \`route\` tag of every request): method and route pattern, the metric its latency objectives
 * apply to (\`http_req_waiting\` = time to first byte/token for streaming routes), the objectives in ms, and the
 * error ratio the availability objective allows (1 − availability).
 * @type {Record<string, { method: string; route: string; metric: "http_req_waiting" | "http_req_duration"; latency: { quantile: number; stat: string; threshold_ms: number }[]; error_ratio: number; recorded: boolean }>}
 */
export const ROUTES = ${routes};

/**
 * The same objectives as k6 threshold expressions, keyed \`<metric>{route:<name>}\`; scripts pick the routes they run.
 * @type {Record<string, string[]>}
 */
export const THRESHOLDS = ${thresholds};
`;
}
