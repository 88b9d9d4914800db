// Prometheus recording rules and multiwindow multi-burn-rate alerts, derived from the SLO spec (src/slo/spec.ts).
// Pure: the generator (scripts/gen-observability.ts) serialises what these functions return; docs/slo.md explains
// the maths. Every ratio is built from summed rates of counts (`sum(rate(bad)) / sum(rate(total))`), never from
// averaged ratios, so routes and versions weigh by their traffic.
import {
	ALERT_MIN_BAD_EVENTS,
	ALERT_MIN_REQUESTS,
	BURN_RATE_CONDITIONS,
	type BurnRateCondition,
	bucketLabel,
	DEFAULT_SLO,
	LATENCY_BUCKETS_S,
	ROUTE_SLOS,
	type RouteSlo,
	SLO_PERIOD_DAYS,
	SLO_WINDOWS,
} from "../../src/slo/spec.ts";

/** The scrape job the rules select (the `job_name` of the Prometheus scrape config, or OTLP's `service.name`). */
export const JOB = "edge-ai-api";
/** The label matcher of {@link JOB}: the first matcher of every series selector of the rules, alerts and dashboards. */
export const JOB_MATCHER = `job="${JOB}"`;
/**
 * A series selector of the service's job and further matchers.
 * @example selector('outcome="error"') // {job="edge-ai-api", outcome="error"}
 */
export const selector = (...matchers: string[]) => `{${[JOB_MATCHER, ...matchers].join(", ")}}`;
/** The request histogram (docs/metrics.md). */
export const METRIC = "http_server_request_duration_seconds";
/**
 * The histogram of streamed responses that failed after their first byte (docs/metrics.md): time to the first byte,
 * by `http_route`, `http_request_method`, `version` and `error_type` ({@link FAILED_STREAM_ERROR_TYPES}). Every such
 * stream is also in {@link METRIC}, with status 200 and the same duration. Its series appear with the first failed
 * stream, so every expression reading it must hold without any.
 */
export const FAILED_STREAM_METRIC = "http_server_failed_stream_duration_seconds";
/** Why a stream failed after its first byte: the model failed mid-stream, the stream deadline passed, our bug. */
export const FAILED_STREAM_ERROR_TYPES = ["model_error", "timeout", "internal"] as const;
/** The matchers of 5xx answers in {@link METRIC}, and of every other answer. */
export const SERVER_ERROR = 'http_response_status_code=~"5.."';
export const NOT_SERVER_ERROR = 'http_response_status_code!~"5.."';
/** Label value of the all-routes aggregate series (real routes start with `/`, so it cannot collide). */
export const ALL_ROUTES = "all";
/** Windows of the per-version rules (canary verdicts and the canary dashboard). */
export const VERSION_WINDOWS = ["5m", "30m", "1h", "2h", "6h"] as const;
/** Evaluation interval of the rule groups over windows of a day or more (the others use the global interval). */
export const LONG_WINDOW_INTERVAL = "2m";

export type SliKind = "availability" | "latency-p95" | "latency-p99";

/** One SLO: an SLI kind with its objective, for one class of routes (a route with its own objectives, or the rest). */
export type SloObjective = {
	/** Stable id, e.g. `chat-completions-availability`; the `slo_id` label. */
	id: string;
	/** `chat-completions`, … or `default` (every route without objectives of its own). */
	sloClass: string;
	/** The routes of the class: a list, or every route except those (the default class). */
	routes: { only: string[] } | { except: string[] };
	sli: SliKind;
	/** Fraction of requests that must be good over the period (0.999); the error budget is 1 − objective. */
	objective: number;
	/** Latency SLIs: the threshold (seconds) a good request answers within; a bucket bound of the histogram. */
	thresholdSeconds?: number;
};

export type RecordingRule = { record: string; expr: string; labels?: Record<string, string> };
export type AlertRule = {
	alert: string;
	expr: string;
	for?: string;
	labels: Record<string, string>;
	annotations: Record<string, string>;
};
export type RuleGroup = { name: string; interval?: string; rules: (RecordingRule | AlertRule)[] };

const slug = (route: string) =>
	route
		.replace(/^\/v1\//, "")
		.replace(/[^a-z0-9]+/gi, "-")
		.replace(/^-|-$/g, "")
		.toLowerCase();

/** PromQL's label matcher for a class's routes (PromQL regexes are anchored). */
export function routeMatcher(routes: SloObjective["routes"]): string {
	const quoteRegex = (r: string) => r.replace(/[.*+?^${}()|[\]\\]/g, "\\\\$&");
	if ("only" in routes)
		return routes.only.length === 1
			? `http_route="${routes.only[0]}"`
			: `http_route=~"${routes.only.map(quoteRegex).join("|")}"`;
	return `http_route!~"${routes.except.map(quoteRegex).join("|")}"`;
}

/** Every SLO of the spec, routes with their own objectives first, then the default class. */
export function objectives(
	routeSlos: Record<string, RouteSlo> = ROUTE_SLOS,
	defaultSlo: RouteSlo = DEFAULT_SLO,
): SloObjective[] {
	const classes: { sloClass: string; routes: SloObjective["routes"]; slo: RouteSlo }[] = [
		...Object.entries(routeSlos).map(([route, slo]) => ({ sloClass: slug(route), routes: { only: [route] }, slo })),
		// The default class: every route but those, and never the aggregate series.
		{ sloClass: "default", routes: { except: [...Object.keys(routeSlos), ALL_ROUTES] }, slo: defaultSlo },
	];
	return classes.flatMap(({ sloClass, routes, slo }) => [
		{ id: `${sloClass}-availability`, sloClass, routes, sli: "availability" as const, objective: slo.availability },
		...slo.latency.map((l) => {
			if (!LATENCY_BUCKETS_S.includes(l.thresholdMs / 1000))
				throw new Error(`${sloClass}: latency threshold ${l.thresholdMs} ms is not a histogram bucket bound`);
			return {
				id: `${sloClass}-latency-p${Math.round(l.quantile * 100)}`,
				sloClass,
				routes,
				sli: `latency-p${Math.round(l.quantile * 100)}` as SliKind,
				objective: l.quantile,
				thresholdSeconds: l.thresholdMs / 1000,
			};
		}),
	]);
}

/**
 * The `le` matcher of a bucket bound. Integer bounds are written `2.0` by our exposition (and Prometheus 3), but `2`
 * by the OTLP→Prometheus translation (Grafana Cloud, Mimir): match both, so the rules work on either path.
 */
export function leMatcher(bound: number): string {
	const label = bucketLabel(bound);
	return Number.isInteger(bound) ? `le=~"${bound}|${label.replace(".", "\\\\.")}"` : `le="${label}"`;
}

/**
 * What the bad- and good-event expressions below aggregate: series selected by the service's job and `matchers`, over
 * `w` (a window or Grafana's `$__rate_interval`), with `fn`, summed `by` labels. `total` is the request rate (or count)
 * by the same labels: every group it has gets a value, 0 where a part has no series — no 5xx yet, or no failed stream
 * ever (the failed-stream histogram then does not exist at all).
 */
export type EventQuery = { matchers: readonly string[]; w: string; by: string; fn: "rate" | "increase"; total: string };

/** `sum by (by) (fn(series[w]))`, or 0 for every group of `total` the series have none for. */
function sumOrZero(q: EventQuery, series: string): string {
	return `(sum by (${q.by}) (${q.fn}(${series}[${q.w}])) or on (${q.by}) (0 * ${q.total}))`;
}

/**
 * Failed requests, the availability SLI's bad events: 5xx answers plus streams that failed after their first byte.
 * The two never overlap (a failed stream is a 200 in {@link METRIC}), so their sum counts each failure once.
 * @example failedRequests({ matchers: [], w: "5m", by: "http_route", fn: "rate", total: "slo:requests:rate5m" })
 */
export function failedRequests(q: EventQuery): string {
	return `(${sumOrZero(q, `${METRIC}_count${selector(...q.matchers, SERVER_ERROR)}`)} + on (${q.by}) ${sumOrZero(q, `${FAILED_STREAM_METRIC}_count${selector(...q.matchers)}`)})`;
}

/**
 * Requests answered within `bound` seconds that did not fail, a latency SLI's good events: the non-5xx requests in the
 * bucket `le` = bound, minus the failed streams in the same bucket. Exact, because each failed stream is in both
 * histograms with the same duration (a 200 in {@link METRIC}).
 */
export function fastRequests(q: EventQuery, bound: number): string {
	const le = leMatcher(bound);
	return `(${sumOrZero(q, `${METRIC}_bucket${selector(...q.matchers, le, NOT_SERVER_ERROR)}`)} - on (${q.by}) ${sumOrZero(q, `${FAILED_STREAM_METRIC}_bucket${selector(...q.matchers, le)}`)})`;
}

/**
 * Bad events of one SLO over `w`, per `by` labels: failed requests, or (latency) total − fast requests. Parenthesised,
 * as are {@link failedRequests} and {@link fastRequests}: they compose with any operator.
 */
function badEvents(o: SloObjective, w: string, by: string, fn: "rate" | "increase", total: string): string {
	const q: EventQuery = { matchers: [routeMatcher(o.routes)], w, by, fn, total };
	if (o.sli === "availability") return failedRequests(q);
	return `(${total} - on (${by}) ${fastRequests(q, o.thresholdSeconds ?? 0)})`;
}

/** Per route: request rate and count, bad-event rate and SLI error ratio per SLO; and the all-routes aggregate. */
export function recordingRules(objs: readonly SloObjective[] = objectives()): RuleGroup[] {
	const groups: RuleGroup[] = SLO_WINDOWS.map(({ name: w }) => {
		const rules: RecordingRule[] = [
			{ record: `slo:requests:rate${w}`, expr: `sum by (http_route) (rate(${METRIC}_count${selector()}[${w}]))` },
			{
				record: `slo:requests:increase${w}`,
				expr: `sum by (http_route) (increase(${METRIC}_count${selector()}[${w}]))`,
			},
		];
		for (const o of objs) {
			const total = `slo:requests:rate${w}{${routeMatcher(o.routes)}}`;
			rules.push({
				record: `slo:errors:rate${w}`,
				expr: badEvents(o, w, "http_route", "rate", total),
				labels: { slo: o.sli, slo_id: o.id },
			});
		}
		rules.push({
			record: `slo:sli_error:ratio_rate${w}`,
			expr: `slo:errors:rate${w} / on (http_route) group_left () (slo:requests:rate${w} > 0)`,
		});
		rules.push({
			record: `slo:sli_error:ratio_rate${w}`,
			expr: `sum by (slo) (slo:errors:rate${w}) / on () group_left () (sum(slo:requests:rate${w}) > 0)`,
			labels: { http_route: ALL_ROUTES },
		});
		// Day-long windows move slowly and cost the most (rate over days of raw samples): evaluate them less often.
		const minutes = SLO_WINDOWS.find((x) => x.name === w)?.minutes ?? 0;
		return { name: `slo-sli-${w}`, ...(minutes >= 1_440 ? { interval: LONG_WINDOW_INTERVAL } : {}), rules };
	});

	// Objectives as series (one per route seen in the period), the error budget remaining over the period.
	const period = `${SLO_PERIOD_DAYS}d`;
	const budget: RecordingRule[] = objs.map((o) => ({
		record: "slo:objective:ratio",
		expr: `0 * slo:requests:rate${period}{${routeMatcher(o.routes)}} + ${o.objective}`,
		labels: { slo: o.sli, slo_id: o.id },
	}));
	budget.push({
		record: `slo:error_budget_remaining:ratio${period}`,
		expr: `1 - slo:sli_error:ratio_rate${period}{http_route!="${ALL_ROUTES}"} / on (http_route, slo, slo_id) (1 - slo:objective:ratio)`,
	});
	groups.push({ name: "slo-budget", interval: LONG_WINDOW_INTERVAL, rules: budget });
	return groups;
}

/**
 * Per route × version, for canary verdicts and the canary dashboard (alerts/version-rules.yml): request and failed
 * request counts (5xx and streams failed after their first byte), SLI error ratios, latency quantiles; and per version
 * over all routes.
 */
export function versionRules(objs: readonly SloObjective[] = objectives()): RuleGroup[] {
	const groups: RuleGroup[] = [];
	// Per route × version (canary verdicts and dashboard): counts, SLI error ratios, latency quantiles.
	for (const w of VERSION_WINDOWS) {
		const by = "http_route, version";
		const requests = `slo_version:requests:increase${w}`;
		const rules: RecordingRule[] = [
			{ record: requests, expr: `sum by (${by}) (increase(${METRIC}_count${selector()}[${w}]))` },
			{
				record: `slo_version:errors:increase${w}`,
				expr: failedRequests({
					matchers: [],
					w,
					by,
					fn: "increase",
					total: `${requests}{http_route!="${ALL_ROUTES}"}`,
				}),
			},
		];
		for (const o of objs) {
			const total = `${requests}{${routeMatcher(o.routes)}}`;
			rules.push({
				record: `slo_version:sli_error:ratio_rate${w}`,
				expr: `${badEvents(o, w, by, "increase", total)} / on (${by}) (${total} > 0)`,
				labels: { slo: o.sli, slo_id: o.id },
			});
		}
		rules.push({
			record: `slo_version:requests:increase${w}`,
			expr: `sum by (version) (${requests}{http_route!="${ALL_ROUTES}"})`,
			labels: { http_route: ALL_ROUTES },
		});
		rules.push({
			record: `slo_version:sli_error:ratio_rate${w}`,
			expr: `sum by (version) (slo_version:errors:increase${w}{http_route!="${ALL_ROUTES}"}) / on (version) (sum by (version) (${requests}{http_route!="${ALL_ROUTES}"}) > 0)`,
			labels: { http_route: ALL_ROUTES, slo: "availability" },
		});
		for (const q of [0.5, 0.95, 0.99]) {
			rules.push({
				record: `slo_version:latency_seconds:p${Math.round(q * 100)}_rate${w}`,
				expr: `histogram_quantile(${q}, sum by (${by}, le) (rate(${METRIC}_bucket${selector()}[${w}])))`,
			});
		}
		groups.push({ name: `slo-version-${w}`, rules });
	}
	return groups;
}

/** The error ratio above which a condition holds: factor × budget, or `null` when that is 1 or more (infeasible). */
export function burnThreshold(o: SloObjective, c: BurnRateCondition): number | null {
	const t = c.factor * (1 - o.objective);
	return t < 1 ? t : null;
}

/** Alert names per SLI kind and severity (one runbook each). */
export function sloAlertName(o: Pick<SloObjective, "sli">, severity: BurnRateCondition["severity"]): string {
	const kind = o.sli === "availability" ? "Availability" : "Latency";
	return `Slo${kind}BudgetBurn${severity === "page" ? "Page" : "Ticket"}`;
}

const round = (x: number) => Number(x.toPrecision(6));

/** A window's length in seconds (`1h` → 3600), from SLO_WINDOWS. */
function windowSeconds(w: string): number {
	const found = SLO_WINDOWS.find((x) => x.name === w);
	if (!found) throw new Error(`unknown window ${w}`);
	return found.minutes * 60;
}

/**
 * Page and ticket alerts per SLO. A condition whose threshold would reach an error ratio of 1 or more (an objective
 * too loose for its factor: 14.4 × 10 % budget = 144 %) can never hold as written: it is replaced by "every request
 * in both windows failed" (`>= 1`) and named in the alert's `infeasible_conditions` annotation and in the generator's
 * warnings, never dropped silently.
 */
export function sloAlerts(
	objs: readonly SloObjective[] = objectives(),
	runbook: (alert: string) => string,
): { groups: RuleGroup[]; warnings: string[] } {
	const warnings: string[] = [];
	const groups: RuleGroup[] = objs.map((o) => {
		const budget = 1 - o.objective;
		const rules: AlertRule[] = (["page", "ticket"] as const).map((severity) => {
			const conditions = BURN_RATE_CONDITIONS.filter((c) => c.severity === severity);
			const infeasible: string[] = [];
			const parts = conditions.map((c) => {
				const t = burnThreshold(o, c);
				if (t === null) {
					infeasible.push(`${c.factor}x over ${c.long}/${c.short}`);
					warnings.push(
						`${o.id}: ${c.factor}x burn over ${c.long}/${c.short} needs an error ratio of ${round(c.factor * budget)} (>= 1); alerting on a total failure of both windows instead`,
					);
				}
				const cmp = t === null ? ">= 1" : `> ${round(t)}`;
				const ratio = (w: string) => `slo:sli_error:ratio_rate${w}{slo_id="${o.id}", http_route!="${ALL_ROUTES}"}`;
				// The value is the long window's burn rate (error ratio ÷ budget), which the description shows.
				// Guards: enough requests, and enough bad ones (rate × window seconds), in the long window.
				const bad = `slo:errors:rate${c.long}{slo_id="${o.id}"} * ${windowSeconds(c.long)} >= ${ALERT_MIN_BAD_EVENTS[severity]}`;
				return `(\n  (${ratio(c.long)} ${cmp}) / ${round(budget)}\n  and on (http_route) (${ratio(c.short)} ${cmp})\n  and on (http_route) (slo:requests:increase${c.long} >= ${ALERT_MIN_REQUESTS[severity]})\n  and on (http_route) (${bad})\n)`;
			});
			const windows = conditions.map((c) => `${c.factor}x over ${c.long} and ${c.short}`).join(", or ");
			const what =
				o.sli === "availability"
					? "failed requests (5xx, or streams failed after their first byte)"
					: `requests slower than ${o.thresholdSeconds} s or failed`;
			const alert = sloAlertName(o, severity);
			return {
				alert,
				expr: parts.join("\nor\n"),
				labels: { severity, service: JOB, slo: o.sli, slo_id: o.id, slo_class: o.sloClass },
				annotations: {
					summary: `{{ $labels.http_route }}: ${o.sli} error budget burning ${severity === "page" ? "fast" : "steadily"}`,
					description: `${what} on {{ $labels.http_route }} are burning the ${SLO_PERIOD_DAYS}-day error budget of the ${o.objective * 100} % ${o.sli} objective at {{ $value | printf "%.1f" }}x (condition: ${windows}).`,
					runbook_url: runbook(alert),
					...(infeasible.length > 0
						? { infeasible_conditions: `${infeasible.join("; ")}: alerting on total failure instead` }
						: {}),
				},
			};
		});
		return { name: `slo-alerts-${o.id}`, rules };
	});
	return { groups, warnings };
}

/**
 * Minutes of a total outage (every request bad, steady traffic) until a page condition holds, after `historyMinutes`
 * of good traffic (default: enough to fill every window). A window of W minutes then holds min(t, W) bad minutes out
 * of min(W, history + t); with a full history the long window crosses factor × budget after factor × budget × W
 * minutes (52 s for 99.9 % at 14.4× over 1 h). Scanned in 0.01-minute steps, so shorter histories are exact too.
 */
export function outageDetectionMinutes(o: SloObjective, historyMinutes = Number.POSITIVE_INFINITY): number {
	const minutes = (w: string) => {
		const found = SLO_WINDOWS.find((x) => x.name === w);
		if (!found) throw new Error(`unknown window ${w}`);
		return found.minutes;
	};
	const ratio = (w: number, t: number) => Math.min(t, w) / Math.min(w, historyMinutes + t);
	const times = BURN_RATE_CONDITIONS.filter((c) => c.severity === "page").map((c) => {
		const threshold = burnThreshold(o, c);
		for (let t = 0.01; t <= 30 * 1440; t = Math.round((t + 0.01) * 100) / 100) {
			const holds = (w: number) => (threshold === null ? ratio(w, t) >= 1 : ratio(w, t) > threshold);
			if (holds(minutes(c.long)) && holds(minutes(c.short))) return t;
		}
		return Number.POSITIVE_INFINITY;
	});
	return Math.min(...times);
}
