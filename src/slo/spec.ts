/**
 * The SLO spec: one typed module from which everything SLO-shaped is derived — the histogram buckets the
 * `SloCounter` objects keep, `/v1/slo`, and (generated from it) the Prometheus rules, dashboards and canary verdicts.
 * Change a target here and regenerate.
 *
 * Per route pattern: an availability objective (default 99.9 %, as in the seeds) and latency objectives (default
 * p95 < 500 ms and p99 < 1 s: at least 95 % / 99 % of requests within the threshold). Streaming routes are judged on
 * time to first byte — for chat, the first token. Errors (bad events) are 5xx answers (504 timeouts included) and
 * streams that fail after their first byte (`RequestRecord.errorType`: model error, stream timeout, our bug, or cut
 * by a crash — `abandoned`); 429 and other 4xx are counted but are the client's, not the service's, failures, and so
 * is a client leaving mid-stream (docs/slo.md#which-responses-are-bad).
 *
 * @example
 * ```ts
 * sloFor("/v1/chat/completions"); // { availability: 0.995, latency: [{ quantile: 0.95, thresholdMs: 2000 }, …] }
 * ```
 *
 * @module
 */
/** A latency objective: at least `quantile` of the requests answer within `thresholdMs` (ms). */
export type LatencyObjective = { quantile: 0.95 | 0.99; thresholdMs: number };
/** A route's objectives. */
export type RouteSlo = {
	/** Fraction of requests that must not be errors, over the SLO period. */
	availability: number;
	latency: LatencyObjective[];
	/** Latency is time to first byte (streams); documentation only: it is what the recorder measures anyway. */
	timeToFirstToken?: boolean;
};

/** The SLO period: error budgets are computed over 30 days. */
export const SLO_PERIOD_DAYS = 30;

export const DEFAULT_SLO: RouteSlo = {
	availability: 0.999,
	latency: [
		{ quantile: 0.95, thresholdMs: 500 },
		{ quantile: 0.99, thresholdMs: 1_000 },
	],
};

/** Routes with their own objectives; every other route gets {@link DEFAULT_SLO}. */
export const ROUTE_SLOS: Record<string, RouteSlo> = {
	"/v1/chat/completions": {
		availability: 0.995,
		latency: [
			{ quantile: 0.95, thresholdMs: 2_000 },
			{ quantile: 0.99, thresholdMs: 5_000 },
		],
		timeToFirstToken: true,
	},
	"/v1/rag/query": {
		availability: 0.995,
		latency: [
			{ quantile: 0.95, thresholdMs: 3_000 },
			{ quantile: 0.99, thresholdMs: 8_000 },
		],
		timeToFirstToken: true,
	},
	"/v1/documents": {
		availability: 0.999,
		latency: [
			{ quantile: 0.95, thresholdMs: 2_500 },
			{ quantile: 0.99, thresholdMs: 10_000 },
		],
	},
};

/** Routes never recorded: the scrape itself and probes would drown the signal. */
/**
 * The histogram of streams that failed after their first byte (docs/metrics.md), by `error_type`: `model_error`,
 * `timeout`, `internal` (recorded by the Worker), `abandoned` (counted by the shard when a stream never closed).
 */
export const FAILED_STREAM_METRIC = "http_server_failed_stream_duration_seconds";

export const UNRECORDED_ROUTES = new Set(["/metrics", "/healthz", "/readyz"]);

export function sloFor(route: string): RouteSlo {
	return ROUTE_SLOS[route] ?? DEFAULT_SLO;
}

/** Histogram bucket upper bounds (seconds); every latency threshold of the spec is one of them. */
export const LATENCY_BUCKETS_S: readonly number[] = (() => {
	const base = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
	const thresholds = [DEFAULT_SLO, ...Object.values(ROUTE_SLOS)].flatMap((s) =>
		s.latency.map((l) => l.thresholdMs / 1000),
	);
	return [...new Set([...base, ...thresholds])].sort((a, b) => a - b);
})();

/**
 * A bucket bound as Prometheus's `le` label value: integers get `.0` (`1.0`, not `1`), as Prometheus 3 normalises
 * them, so rules that select `le="1.0"` match what we expose.
 */
export function bucketLabel(bound: number): string {
	return Number.isInteger(bound) ? `${bound}.0` : String(bound);
}

/** Whether a status counts against availability (a failed stream does too, whatever its status: `errorType`). */
export function isError(status: number): boolean {
	return status >= 500;
}

/** The windows `/v1/slo` reports, with their lengths in minutes. */
export const SLO_WINDOWS: readonly { name: string; minutes: number }[] = [
	{ name: "5m", minutes: 5 },
	{ name: "30m", minutes: 30 },
	{ name: "1h", minutes: 60 },
	{ name: "2h", minutes: 120 },
	{ name: "6h", minutes: 360 },
	{ name: "1d", minutes: 1_440 },
	{ name: "3d", minutes: 4_320 },
	{ name: "30d", minutes: 43_200 },
];

/**
 * Multiwindow, multi-burn-rate alerting (Google SRE workbook, "Alerting on SLOs", table 5-8): an alert condition
 * holds when the error ratio over both its long and its short window exceeds `factor` × the error budget. The short
 * window makes an alert stop soon after the burn stops. At 14.4× a 30-day budget lasts about 2 days (2 % of it spent
 * in 1 hour); at 6×, 5 days (5 % in 6 hours); at 3×, 10 days (10 % in 1 day); at 1×, exactly the period.
 */
export type BurnRateCondition = { severity: "page" | "ticket"; factor: number; long: string; short: string };
export const BURN_RATE_CONDITIONS: readonly BurnRateCondition[] = [
	{ severity: "page", factor: 14.4, long: "1h", short: "5m" },
	{ severity: "page", factor: 6, long: "6h", short: "30m" },
	{ severity: "ticket", factor: 3, long: "1d", short: "2h" },
	{ severity: "ticket", factor: 1, long: "3d", short: "6h" },
];

/**
 * The low-traffic guards: a burn-rate condition only holds with at least `ALERT_MIN_REQUESTS` requests and at least
 * `ALERT_MIN_BAD_EVENTS` bad ones in its long window. A ratio of a handful of events is noise: two errors in ten
 * requests is a 20 % error ratio, and one error in 121 requests already exceeds 6 × a 99.9 % budget. Quiet routes
 * are still covered: ten failures within the window page, whatever the traffic.
 */
export const ALERT_MIN_REQUESTS: Record<BurnRateCondition["severity"], number> = { page: 100, ticket: 100 };
export const ALERT_MIN_BAD_EVENTS: Record<BurnRateCondition["severity"], number> = { page: 10, ticket: 10 };
