// promtool scenarios of streams that fail after their first byte (alerts/tests/failed-streams.test.yml): the
// service answers 200, the stream then breaks, and the request counts as failed — for availability, and for latency
// however fast its first byte was (docs/slo.md, "Which responses are bad"). Every expected value below is worked out
// by hand from the requests per minute the scenario sends, never from the rule generator; the traffic is exported as
// the service exports it: the request histogram (a failed stream is a 200 there) and the failed-stream histogram,
// whose series appear with the first failed stream.
import { BURN_RATE_CONDITIONS, bucketLabel, LATENCY_BUCKETS_S, ROUTE_SLOS } from "../../src/slo/spec.ts";
import { dashboards } from "./dashboards.ts";
import {
	at,
	counterValues,
	firing,
	firstIncrease,
	type InputSeries,
	labelText,
	type PromqlExprTest,
	runs,
	SCRAPE_LABELS,
	type Segment,
	sparseCounterValues,
	type TestGroup,
} from "./promtool-tests.ts";
import { type FAILED_STREAM_ERROR_TYPES, FAILED_STREAM_METRIC, METRIC } from "./slo-rules.ts";

type ErrorType = (typeof FAILED_STREAM_ERROR_TYPES)[number];

/**
 * Requests of one kind: `perMinute` of them in each minute from `from` (default 0) to `until` — counted in the samples
 * of minutes from + 1 … until, one a minute — each answered after `seconds` with `status` (default 200), or, with
 * `failed`, a stream answered 200 that then failed for that reason.
 */
type Requests = {
	route: string;
	version?: string;
	perMinute: number;
	seconds: number;
	status?: number;
	failed?: ErrorType;
	from?: number;
	until: number;
};

const CHAT = "/v1/chat/completions";
const RAG = "/v1/rag/query";
const MODELS = "/v1/models";
const FAST = 0.1; // s: within every threshold
const SLOW = 90; // s: over every bucket bound (+Inf only)

// The scenarios' durations assume the chat thresholds are 2 s (p95) and 5 s (p99), and a bucket bound at 3 s between
// them; the burn-rate scenario assumes its 99.5 % objective. A changed spec must change the scenarios, not pass them.
const chatSlo = ROUTE_SLOS[CHAT];
const MID = 3; // s: over chat's p95 threshold, within its p99 threshold
if (
	chatSlo?.availability !== 0.995 ||
	chatSlo.latency.map((l) => `${l.quantile}:${l.thresholdMs}`).join() !== "0.95:2000,0.99:5000" ||
	!LATENCY_BUCKETS_S.includes(MID) ||
	Math.max(...LATENCY_BUCKETS_S) >= SLOW
)
	throw new Error("failed-stream-tests.ts: the chat SLO or the buckets changed; rework these scenarios");

/**
 * The input series of some traffic, from minute 0 to its last `until`: one request histogram per route × version × status, one
 * failed-stream histogram per route × version × error type; `_count`, every `_bucket` (cumulative: a request of
 * `seconds` is in every bucket whose bound is at least that), no `_sum` (no rule reads it).
 */
function exported(traffic: readonly Requests[]): InputSeries[] {
	const minutes = Math.max(...traffic.map((r) => r.until));
	const histograms = new Map<string, { metric: string; labels: Record<string, string>; requests: Requests[] }>();
	for (const r of traffic) {
		const base = { ...SCRAPE_LABELS, http_route: r.route, http_request_method: "POST", version: r.version ?? "v1" };
		const kinds: [string, Record<string, string>][] = [
			[METRIC, { ...base, http_response_status_code: String(r.status ?? 200) }],
		];
		if (r.failed) kinds.push([FAILED_STREAM_METRIC, { ...base, error_type: r.failed }]);
		for (const [metric, labels] of kinds) {
			const key = metric + labelText(labels);
			const h = histograms.get(key) ?? { metric, labels, requests: [] };
			h.requests.push(r);
			histograms.set(key, h);
		}
	}
	const out: InputSeries[] = [];
	for (const { metric, labels, requests } of histograms.values()) {
		// The increase of each minute (its sample at i + 1) by the requests of this histogram within `bound` seconds.
		const segments = (bound: number): Segment[] =>
			runs(
				Array.from({ length: minutes }, (_, i) =>
					requests
						.filter((r) => r.seconds <= bound && (r.from ?? 0) <= i && i < r.until)
						.reduce((n, r) => n + r.perMinute, 0),
				),
			);
		// The request histogram's series exist from the start; the failed-stream histogram's (every bucket of it) from
		// its first stream on.
		const count = segments(Number.POSITIVE_INFINITY);
		const values = (x: Segment[]) =>
			metric === FAILED_STREAM_METRIC ? sparseCounterValues(x, firstIncrease(count)) : counterValues(x);
		out.push({ series: `${metric}_count${labelText(labels)}`, values: values(count) });
		for (const b of [...LATENCY_BUCKETS_S, Number.POSITIVE_INFINITY]) {
			const le = b === Number.POSITIVE_INFINITY ? "+Inf" : bucketLabel(b);
			out.push({ series: `${metric}_bucket${labelText({ ...labels, le })}`, values: values(segments(b)) });
		}
	}
	return out;
}

/**
 * `expr` at `minutes` has exactly these samples. Compared rounded to 6 decimals: promtool compares floats exactly,
 * and 15 / 100 computed as a ratio of rates need not be the double nearest 0.15.
 */
function samples(expr: string, minutes: number, values: [Record<string, string>, number][]): PromqlExprTest {
	return {
		expr: `round(${expr}, 0.000001)`,
		eval_time: at(minutes),
		exp_samples: values.map(([labels, value]) => ({
			labels: labelText(labels),
			value: Math.round(value * 1e6) / 1e6,
		})),
	};
}

const sli = (route: string, slo: "availability" | "latency-p95" | "latency-p99") => {
	const cls = route === CHAT ? "chat-completions" : route === RAG ? "rag-query" : "default";
	return { http_route: route, slo, slo_id: `${cls}-${slo}` };
};

/** A dashboard panel's first query as Grafana would send it with every route and version, over 5 minutes. */
function panelQuery(dashboard: string, title: string): string {
	const d = dashboards()[dashboard] as { panels: { title: string; targets?: { expr: string }[] }[] };
	const expr = d.panels.find((p) => p.title === title)?.targets?.[0]?.expr;
	if (!expr) throw new Error(`no panel "${title}" with a query in dashboards/${dashboard}.json`);
	return expr.replaceAll("$__rate_interval", "5m").replaceAll("$route", ".+").replaceAll("$version", ".+");
}

export function failedStreamScenarios(): TestGroup[] {
	const groups: TestGroup[] = [];

	// 1. No 5xx anywhere; streams fail after their first byte. Per minute: chat 100 requests, 5 of them failed streams
	// (3 model_error, 1 timeout, 1 internal); RAG answers 50, 1 failed (timeout); /v1/models 100, none. Everything is
	// fast. Steady from minute 0, so at 61 min the 5 min, 30 min and 1 h windows are full of samples and every rate is
	// exact (no extrapolation).
	{
		const until = 61;
		const traffic: Requests[] = [
			{ route: CHAT, perMinute: 95, seconds: FAST, until },
			{ route: CHAT, perMinute: 3, seconds: FAST, failed: "model_error", until },
			{ route: CHAT, perMinute: 1, seconds: FAST, failed: "timeout", until },
			{ route: CHAT, perMinute: 1, seconds: FAST, failed: "internal", until },
			{ route: RAG, perMinute: 49, seconds: FAST, until },
			{ route: RAG, perMinute: 1, seconds: FAST, failed: "timeout", until },
			{ route: MODELS, perMinute: 100, seconds: FAST, until },
		];
		const t = until;
		groups.push({
			name: "failed streams, no 5xx: the availability SLIs count them (chat 5 %, RAG 2 %, all routes 6 / 250)",
			interval: "1m",
			input_series: exported(traffic),
			promql_expr_test: [
				...["5m", "30m", "1h"].map((w) =>
					samples(`slo:sli_error:ratio_rate${w}{slo="availability"}`, t, [
						[sli(CHAT, "availability"), 5 / 100],
						[sli(RAG, "availability"), 1 / 50],
						[sli(MODELS, "availability"), 0],
						[{ http_route: "all", slo: "availability" }, (5 + 1) / (100 + 50 + 100)],
					]),
				),
				// Bad events in 5 minutes: 5 a minute on chat, 1 on RAG, none on /v1/models (0, not absent).
				samples('slo:errors:rate5m{slo="availability"} * 300', t, [
					[sli(CHAT, "availability"), 25],
					[sli(RAG, "availability"), 5],
					[sli(MODELS, "availability"), 0],
				]),
				// 30-day budget of chat: 1 − 5 % ÷ 0.5 % = −9 (overspent ninefold).
				samples('slo:error_budget_remaining:ratio30d{http_route="/v1/chat/completions", slo="availability"}', t, [
					[sli(CHAT, "availability"), 1 - 0.05 / 0.005],
				]),
				// The dashboards' raw-histogram error ratios agree with the rules.
				samples(panelQuery("service-overview", "Error ratio by route"), t, [
					[{ http_route: CHAT }, 5 / 100],
					[{ http_route: RAG }, 1 / 50],
					[{ http_route: MODELS }, 0],
				]),
				samples(panelQuery("canary", "Error ratio by version"), t, [[{ version: "v1" }, 6 / 250]]),
				// Failed streams per minute by route and error type (the panel shows per second).
				samples(`(${panelQuery("service-overview", "Streams failed after first byte by error_type")}) * 60`, t, [
					[{ http_route: CHAT, error_type: "model_error" }, 3],
					[{ http_route: CHAT, error_type: "timeout" }, 1],
					[{ http_route: CHAT, error_type: "internal" }, 1],
					[{ http_route: RAG, error_type: "timeout" }, 1],
				]),
			],
		});
	}

	// 2. Failed streams alone burn chat's availability budget (99.5 %: 0.5 %) and page. 20 requests a minute for 70
	// minutes, all 200 and fast; after minute 60, 10 of them a minute are streams failing (model_error). After k minutes
	// of failures the 6 h window holds all 60 + k minutes: 10k bad of 20(60 + k), over 6 × 0.5 % = 3 % from k ≈ 4, and
	// the 30 min window's 10k of 600 sooner; the 1 h window crosses 14.4 × 0.5 % = 7.2 % at k ≈ 9. Requests (1 200 an
	// hour) and bad events are over the low-traffic guards. So: quiet at minute 62, paging at 70.
	{
		const until = 70;
		const page = BURN_RATE_CONDITIONS.filter((c) => c.severity === "page").map((c) => `${c.factor}:${c.long}`);
		if (page.join() !== "14.4:1h,6:6h") throw new Error("failed-stream-tests.ts: the page conditions changed");
		const labels = {
			http_route: CHAT,
			service: "edge-ai-api",
			severity: "page",
			slo: "availability",
			slo_class: "chat-completions",
			slo_id: "chat-completions-availability",
		};
		groups.push({
			name: "failed streams alone (half of chat's requests, no 5xx) page through the availability burn rate",
			interval: "1m",
			input_series: exported([
				{ route: CHAT, perMinute: 20, seconds: FAST, until: 60 },
				{ route: CHAT, perMinute: 10, seconds: FAST, from: 60, until },
				{ route: CHAT, perMinute: 10, seconds: FAST, failed: "model_error", from: 60, until },
			]),
			promql_expr_test: [
				firing("SloAvailabilityBudgetBurnPage", 60, []),
				firing("SloAvailabilityBudgetBurnPage", 62, []),
				firing("SloAvailabilityBudgetBurnPage", 70, [labels]),
				// The 5 min window at minute 70 is all failures: half the requests.
				samples(`slo:sli_error:ratio_rate5m{slo="availability", http_route="${CHAT}"}`, 70, [
					[sli(CHAT, "availability"), 0.5],
				]),
			],
		});
	}

	// 3. 2 % of chat's requests are failed streams, steadily for an hour (50 a minute, 1 of them failing): 4× the
	// budget. Under both page thresholds (3 % and 7.2 %), over the 3× ticket threshold (1.5 %, 1 d and 2 h windows):
	// a ticket, no page. Counted twice (4 %) they would page through the 6× condition; not counted, nothing would.
	{
		const until = 60;
		const alert = (severity: "page" | "ticket") => ({
			http_route: CHAT,
			service: "edge-ai-api",
			severity,
			slo: "availability",
			slo_class: "chat-completions",
			slo_id: "chat-completions-availability",
		});
		const only = { slo_id: "chat-completions-availability" };
		groups.push({
			name: "failed streams at 4x chat's availability budget raise a ticket, not a page",
			interval: "1m",
			input_series: exported([
				{ route: CHAT, perMinute: 50, seconds: FAST, until: 1 },
				{ route: CHAT, perMinute: 49, seconds: FAST, until },
				{ route: CHAT, perMinute: 1, seconds: FAST, failed: "internal", until },
			]),
			promql_expr_test: [
				samples(`slo:sli_error:ratio_rate30m{slo="availability", http_route="${CHAT}"}`, 60, [
					[sli(CHAT, "availability"), 1 / 50],
				]),
				...[30, 60].map((m) => firing("SloAvailabilityBudgetBurnPage", m, [], only)),
				...[30, 60].map((m) => firing("SloAvailabilityBudgetBurnTicket", m, [alert("ticket")], only)),
			],
		});
	}

	// 4. Latency: a failed stream is never fast. Per minute on chat, 100 requests: 70 fast and fine; 5 fine in 3 s
	// (within p99's 5 s, over p95's 2 s); 10 fine but slower than every bound; 8 fast failed streams (6 model_error,
	// 2 internal); 2 failed streams with their first byte at 3 s (timeout); 5 fast 502s.
	//   availability: bad = 5 (502) + 8 + 2 (failed streams) = 15 %
	//   latency-p95:  good = the 70 fast and fine (the fast failed streams and 502s are not good) → bad 30 %
	//   latency-p99:  good = 70 + the 5 fine in 3 s → bad 25 %
	// Counting the fast failed streams as good would give 22 % and 15 %.
	{
		const until = 61;
		groups.push({
			name: "latency SLIs count fast failed streams as bad (chat: p95 30 %, p99 25 %, availability 15 %)",
			interval: "1m",
			input_series: exported([
				{ route: CHAT, perMinute: 70, seconds: FAST, until },
				{ route: CHAT, perMinute: 5, seconds: MID, until },
				{ route: CHAT, perMinute: 10, seconds: SLOW, until },
				{ route: CHAT, perMinute: 6, seconds: FAST, failed: "model_error", until },
				{ route: CHAT, perMinute: 2, seconds: FAST, failed: "internal", until },
				{ route: CHAT, perMinute: 2, seconds: MID, failed: "timeout", until },
				{ route: CHAT, perMinute: 5, seconds: FAST, status: 502, until },
			]),
			promql_expr_test: [
				...["5m", "1h"].map((w) =>
					samples(`slo:sli_error:ratio_rate${w}{http_route="${CHAT}"}`, until, [
						[sli(CHAT, "availability"), 0.15],
						[sli(CHAT, "latency-p95"), 0.3],
						[sli(CHAT, "latency-p99"), 0.25],
					]),
				),
				samples(`slo:errors:rate5m{http_route="${CHAT}"} * 300`, until, [
					[sli(CHAT, "availability"), 75],
					[sli(CHAT, "latency-p95"), 150],
					[sli(CHAT, "latency-p99"), 125],
				]),
				// The per-version rules agree (one version here).
				samples(`slo_version:sli_error:ratio_rate5m{http_route="${CHAT}"}`, until, [
					[{ ...sli(CHAT, "availability"), version: "v1" }, 0.15],
					[{ ...sli(CHAT, "latency-p95"), version: "v1" }, 0.3],
					[{ ...sli(CHAT, "latency-p99"), version: "v1" }, 0.25],
				]),
			],
		});
	}

	// 5. Two live versions, failed streams in both at different rates. Per minute on chat: stable-1 200 requests (187
	// fast and fine, 10 slow, 2 fast failed streams, 1 fast 503); canary-2 20 (16 fast and fine, 4 fast failed
	// streams, no 5xx at all). /v1/models: stable-1 100, canary-2 10, all fine. At minute 35, over 30 minutes:
	//   chat errors: stable (1 + 2) × 30 = 90, canary 4 × 30 = 120; ratios 3 / 200 = 1.5 %, 4 / 20 = 20 %
	//   chat latency (p95 and p99 alike): stable 13 / 200 = 6.5 % (10 slow, 2 failed, 1 503), canary 4 / 20 = 20 %
	//   all routes: stable 90 / (300 × 30) = 1 %, canary 120 / (30 × 30) = 13.3 %
	// and the canary, failing only through its streams, is flagged by CanaryBurningFasterThanStable; stable is not.
	{
		const until = 35;
		const stable = "stable-1";
		const canary = "canary-2";
		groups.push({
			name: "per-version rules split failed streams by version; a canary whose streams fail is flagged",
			interval: "1m",
			input_series: exported([
				{ route: CHAT, version: stable, perMinute: 187, seconds: FAST, until },
				{ route: CHAT, version: stable, perMinute: 10, seconds: SLOW, until },
				{ route: CHAT, version: stable, perMinute: 2, seconds: FAST, failed: "model_error", until },
				{ route: CHAT, version: stable, perMinute: 1, seconds: FAST, status: 503, until },
				{ route: CHAT, version: canary, perMinute: 16, seconds: FAST, until },
				{ route: CHAT, version: canary, perMinute: 4, seconds: FAST, failed: "timeout", until },
				{ route: MODELS, version: stable, perMinute: 100, seconds: FAST, until },
				{ route: MODELS, version: canary, perMinute: 10, seconds: FAST, until },
			]),
			promql_expr_test: [
				samples("slo_version:errors:increase30m", until, [
					[{ http_route: CHAT, version: stable }, 90],
					[{ http_route: CHAT, version: canary }, 120],
					[{ http_route: MODELS, version: stable }, 0],
					[{ http_route: MODELS, version: canary }, 0],
				]),
				samples(`slo_version:sli_error:ratio_rate30m{http_route="${CHAT}"}`, until, [
					[{ ...sli(CHAT, "availability"), version: stable }, 3 / 200],
					[{ ...sli(CHAT, "availability"), version: canary }, 4 / 20],
					[{ ...sli(CHAT, "latency-p95"), version: stable }, 13 / 200],
					[{ ...sli(CHAT, "latency-p95"), version: canary }, 4 / 20],
					[{ ...sli(CHAT, "latency-p99"), version: stable }, 13 / 200],
					[{ ...sli(CHAT, "latency-p99"), version: canary }, 4 / 20],
				]),
				samples('slo_version:sli_error:ratio_rate30m{http_route="all"}', until, [
					[{ http_route: "all", slo: "availability", version: stable }, 90 / (300 * 30)],
					[{ http_route: "all", slo: "availability", version: canary }, 120 / (30 * 30)],
				]),
				firing("CanaryBurningFasterThanStable", until, [
					{ http_route: "all", slo: "availability", version: canary, service: "edge-ai-api", severity: "page" },
				]),
			],
		});
	}

	// 6. No failed-stream series at all (no stream ever failed), and a route without any 5xx series either: every
	// rule still has its value. Per minute: chat 100 (85 fast and fine, 10 slow, 5 fast 500s); /v1/models 100, fine.
	//   chat: availability 5 %, latency-p95 and -p99 (5 errors + 10 slow) 15 %; /v1/models 0 for all three
	//   all routes: availability 5 / 200 = 2.5 %; budgets (30 d): chat 1 − 5 % ÷ 0.5 % = −9, /v1/models 1
	{
		const until = 30;
		groups.push({
			name: "without any failed-stream series the rules still give every value (0 where nothing failed)",
			interval: "1m",
			input_series: exported([
				{ route: CHAT, perMinute: 85, seconds: FAST, until },
				{ route: CHAT, perMinute: 10, seconds: SLOW, until },
				{ route: CHAT, perMinute: 5, seconds: FAST, status: 500, until },
				{ route: MODELS, perMinute: 100, seconds: FAST, until },
			]),
			promql_expr_test: [
				samples("slo:sli_error:ratio_rate5m", until, [
					[sli(CHAT, "availability"), 0.05],
					[sli(CHAT, "latency-p95"), 0.15],
					[sli(CHAT, "latency-p99"), 0.15],
					[sli(MODELS, "availability"), 0],
					[sli(MODELS, "latency-p95"), 0],
					[sli(MODELS, "latency-p99"), 0],
					[{ http_route: "all", slo: "availability" }, 5 / 200],
					[{ http_route: "all", slo: "latency-p95" }, 15 / 200],
					[{ http_route: "all", slo: "latency-p99" }, 15 / 200],
				]),
				samples('slo:error_budget_remaining:ratio30d{slo="availability"}', until, [
					[sli(CHAT, "availability"), 1 - 0.05 / 0.005],
					[sli(MODELS, "availability"), 1],
				]),
				samples("slo_version:errors:increase5m", until, [
					[{ http_route: CHAT, version: "v1" }, 25],
					[{ http_route: MODELS, version: "v1" }, 0],
				]),
				samples('slo_version:sli_error:ratio_rate5m{slo="availability"}', until, [
					[{ ...sli(CHAT, "availability"), version: "v1" }, 0.05],
					[{ ...sli(MODELS, "availability"), version: "v1" }, 0],
					[{ http_route: "all", slo: "availability", version: "v1" }, 5 / 200],
				]),
				samples(panelQuery("service-overview", "Error ratio by route"), until, [
					[{ http_route: CHAT }, 0.05],
					[{ http_route: MODELS }, 0],
				]),
				// The failed-stream panel shows one 0 series rather than no data.
				samples(panelQuery("service-overview", "Streams failed after first byte by error_type"), until, [[{}, 0]]),
			],
		});
	}
	return groups;
}
