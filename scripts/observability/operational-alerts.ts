// The operational alerts (alerts/operational-alerts.yml): the seeds' alerts adapted to what this service exports
// (docs/metrics.md), declared once with the scenarios that prove each fires on its condition and stays quiet
// otherwise (alerts/tests/operational.test.yml). Budgets and thresholds are here; SLO thresholds come from the spec.
import { DEFAULT_SLO } from "../../src/slo/spec.ts";
import { runbookUrl } from "./config.ts";
import {
	counterValues,
	firing,
	gaugeValues,
	type InputSeries,
	labelText,
	requestSeries,
	SCRAPE_LABELS,
	type Segment,
	type TestGroup,
} from "./promtool-tests.ts";
import {
	type AlertRule,
	failedRequests,
	JOB,
	METRIC,
	objectives,
	type RuleGroup,
	routeMatcher,
	selector,
} from "./slo-rules.ts";

/** Spending limits the LLM alerts watch; set them to your budget and regenerate. */
export const LLM_BUDGET = { tokensPerHour: 2_000_000, costPerDayUsd: 50 };
/** The smallest canary-vs-best error ratio difference worth an alert: the default availability budget (0.1 %). */
export const CANARY_MIN_EFFECT = Number((1 - DEFAULT_SLO.availability).toPrecision(6));
/** Requests a version needs in the 30-minute window before it is judged. */
export const CANARY_MIN_REQUESTS = 100;

type Scenario = {
	name: string;
	series: InputSeries[];
	/** Checks: at `minutes`, the alert fires with exactly these label sets (empty: it does not fire). */
	expect: { minutes: number; alerts: Record<string, string>[] }[];
};

export type OperationalAlert = {
	alert: string;
	severity: "page" | "ticket" | "info";
	expr: string;
	for?: string;
	/** Labels beyond severity and service (e.g. `slo`, so a burn-rate page can inhibit it). */
	labels?: Record<string, string>;
	summary: string;
	description: string;
	scenarios: Scenario[];
};

const counter = (name: string, labels: Record<string, string>, segments: Segment[]): InputSeries => ({
	series: `${name}${labelText({ ...SCRAPE_LABELS, ...labels })}`,
	values: counterValues(segments),
});
const steady = (minutes: number, perMinute: number): Segment[] => [{ minutes, perMinute }];
const svc = { service: JOB };

/** p95/p99 above the objective's threshold, per class of routes (thresholds from the spec). */
function latencyAlerts(): OperationalAlert[] {
	const byQuantile = new Map<string, ReturnType<typeof objectives>>();
	for (const o of objectives().filter((x) => x.sli !== "availability"))
		byQuantile.set(o.sli, [...(byQuantile.get(o.sli) ?? []), o]);
	return [...byQuantile].map(([sli, objs]) => {
		const q = sli === "latency-p95" ? 0.95 : 0.99;
		const name = sli === "latency-p95" ? "LatencyP95AboveObjective" : "LatencyP99AboveObjective";
		const chat = objs.find((o) => o.sloClass === "chat-completions");
		return {
			alert: name,
			severity: "ticket" as const,
			expr: objs
				.map((o) => {
					const m = routeMatcher(o.routes);
					return `(\n  histogram_quantile(${q}, sum by (http_route, le) (rate(${METRIC}_bucket${selector(m)}[5m]))) > ${o.thresholdSeconds}\n  and on (http_route) (sum by (http_route) (increase(${METRIC}_count${selector(m)}[5m])) >= 20)\n)`;
				})
				.join("\nor\n"),
			for: "10m",
			labels: { slo: sli },
			summary: `{{ $labels.http_route }}: p${q * 100} latency above its objective`,
			description: `p${q * 100} latency of {{ $labels.http_route }} has been {{ $value | humanizeDuration }} over the last 5 minutes for 10 minutes, above the route's SLO threshold (src/slo/spec.ts).`,
			scenarios: [
				{
					name: `${name}: half the chat requests slower than every threshold`,
					series: [
						...requestSeries("/v1/chat/completions", [{ minutes: 40, perMinute: 20, slowShare: 0.5 }]),
						...requestSeries("/v1/auth/me", [{ minutes: 40, perMinute: 20 }]),
					],
					expect: [
						{ minutes: 10, alerts: [] },
						{
							minutes: 30,
							alerts: [{ http_route: "/v1/chat/completions", slo: sli, ...svc, severity: "ticket" }],
						},
					],
				},
				{
					name: `${name}: fast traffic, and slow traffic below the minimum count, stay quiet`,
					series: [
						...requestSeries("/v1/auth/me", [{ minutes: 40, perMinute: 20 }]),
						...requestSeries(chat ? "/v1/chat/completions" : "/v1/models", [
							{ minutes: 40, perMinute: 2, slowShare: 1 },
						]),
					],
					expect: [{ minutes: 30, alerts: [] }],
				},
			],
		};
	});
}

/** A ratio of two counter sums over `w`, with a minimum count in the denominator. */
const ratio = (num: string, den: string, by: string, w: string, min: number, above: number) =>
	`(\n  sum by (${by}) (rate(${num}[${w}])) / sum by (${by}) (rate(${den}[${w}])) > ${above}\n)\nand on (${by}) (sum by (${by}) (increase(${den}[${w}])) >= ${min})`;

export function operationalAlerts(): OperationalAlert[] {
	const route = (r: string) => ({ http_route: r });
	const requests5m = `sum by (http_route) (rate(${METRIC}_count${selector()}[5m]))`;
	return [
		{
			alert: "ServiceDown",
			severity: "page",
			expr: `up${selector()} == 0`,
			for: "2m",
			summary: "edge-ai-api is down: its /metrics scrapes fail",
			description:
				"Every scrape of {{ $labels.instance }} has failed for 2 minutes (up = {{ $value }}): the Worker, its route or the scrape credentials are broken.",
			scenarios: [
				{
					name: "ServiceDown: failing scrapes",
					series: [{ series: `up${labelText(SCRAPE_LABELS)}`, values: "1x5 0x20" }],
					expect: [
						{ minutes: 5, alerts: [] },
						{ minutes: 12, alerts: [{ ...SCRAPE_LABELS, ...svc, severity: "page" }] },
					],
				},
				{
					name: "ServiceDown: one failed scrape does not page",
					series: [{ series: `up${labelText(SCRAPE_LABELS)}`, values: "1x5 0 1x20" }],
					expect: [
						{ minutes: 6, alerts: [] },
						{ minutes: 9, alerts: [] },
					],
				},
			],
		},
		{
			alert: "ScrapeAbsent",
			severity: "ticket",
			// Pushed metrics (OTLP to Grafana Cloud or Mimir) carry no `up`: absent only when nothing arrives either way.
			expr: `absent(up${selector()}) unless on () (count(${METRIC}_count${selector()}) > 0)`,
			for: "10m",
			summary: "Prometheus receives nothing from edge-ai-api: no scrape target, no pushed metrics",
			description:
				"No `up` series of job edge-ai-api and no request metrics for 10 minutes: the scrape config or service discovery lost the target (or OTLP pushes stopped), so no SLO alert can fire.",
			scenarios: [
				{
					name: "ScrapeAbsent: only another job is scraped",
					series: [{ series: `up${labelText({ job: "other", instance: "x:9090" })}`, values: "1x30" }],
					expect: [{ minutes: 20, alerts: [{ job: JOB, ...svc, severity: "ticket" }] }],
				},
				{
					name: "ScrapeAbsent: the target is scraped",
					series: [{ series: `up${labelText(SCRAPE_LABELS)}`, values: "1x30" }],
					expect: [{ minutes: 20, alerts: [] }],
				},
				{
					name: "ScrapeAbsent: metrics pushed over OTLP, no scrape target",
					series: requestSeries("/v1/models", [{ minutes: 30, perMinute: 5 }]),
					expect: [{ minutes: 20, alerts: [] }],
				},
			],
		},
		{
			alert: "High5xxRatio",
			severity: "ticket",
			// The availability SLI's failed requests (5xx and streams failed after their first byte) over every request.
			expr: `(\n  ${failedRequests({ matchers: [], w: "5m", by: "http_route", fn: "rate", total: requests5m })} / ${requests5m} > 0.05\n)\nand on (http_route) (sum by (http_route) (increase(${METRIC}_count${selector()}[5m])) >= 20)`,
			for: "5m",
			labels: { slo: "availability" },
			summary:
				"{{ $labels.http_route }}: more than 5 % of requests fail (5xx, or streams failing after their first byte)",
			description:
				"{{ $value | humanizePercentage }} of {{ $labels.http_route }}'s requests failed over the last 5 minutes: answered 5xx, or streamed and broke after the first byte (from the raw histograms, independent of the recording rules).",
			scenarios: [
				{
					name: "High5xxRatio: 25 % errors",
					series: requestSeries("/v1/models", [{ minutes: 30, perMinute: 20, errorShare: 0.25 }]),
					expect: [
						{ minutes: 4, alerts: [] },
						{ minutes: 20, alerts: [{ ...route("/v1/models"), slo: "availability", ...svc, severity: "ticket" }] },
					],
				},
				{
					name: "High5xxRatio: no 5xx, but 25 % of the requests are streams failing after their first byte",
					series: requestSeries("/v1/chat/completions", [{ minutes: 30, perMinute: 20, failedStreamShare: 0.25 }]),
					expect: [
						{ minutes: 4, alerts: [] },
						{
							minutes: 20,
							alerts: [{ ...route("/v1/chat/completions"), slo: "availability", ...svc, severity: "ticket" }],
						},
					],
				},
				{
					name: "High5xxRatio: 1 % errors and 2 % failed streams, and 100 % errors on 2 requests a minute, stay quiet",
					series: [
						...requestSeries("/v1/models", [{ minutes: 30, perMinute: 20, errorShare: 0.01 }]),
						...requestSeries("/v1/chat/completions", [
							{ minutes: 30, perMinute: 100, errorShare: 0.01, failedStreamShare: 0.02 },
						]),
						...requestSeries("/v1/auth/me", [{ minutes: 30, perMinute: 2, errorShare: 1 }]),
					],
					expect: [{ minutes: 20, alerts: [] }],
				},
			],
		},
		...latencyAlerts(),
		{
			alert: "RateLimitDenialsHigh",
			severity: "info",
			expr: ratio(
				`rate_limit_decisions_total${selector('outcome=~"denied|denied_cached"')}`,
				`rate_limit_decisions_total${selector()}`,
				"http_route, policy",
				"10m",
				20,
				0.2,
			),
			for: "10m",
			summary: "{{ $labels.policy }} on {{ $labels.http_route }} denies more than 20 % of requests",
			description:
				"{{ $value | humanizePercentage }} of the {{ $labels.policy }} policy's decisions on {{ $labels.http_route }} were denials over 10 minutes: a client is over its limit, or the limit is too low for real traffic.",
			scenarios: [
				{
					name: "RateLimitDenialsHigh: half the decisions are denials",
					series: [
						counter(
							"rate_limit_decisions_total",
							{ http_route: "/v1/chat/completions", policy: "chat", outcome: "allowed" },
							steady(40, 10),
						),
						counter(
							"rate_limit_decisions_total",
							{ http_route: "/v1/chat/completions", policy: "chat", outcome: "denied" },
							steady(40, 10),
						),
					],
					expect: [
						{
							minutes: 30,
							alerts: [{ http_route: "/v1/chat/completions", policy: "chat", ...svc, severity: "info" }],
						},
					],
				},
				{
					name: "RateLimitDenialsHigh: 5 % denials stay quiet",
					series: [
						counter(
							"rate_limit_decisions_total",
							{ http_route: "/v1/chat/completions", policy: "chat", outcome: "allowed" },
							steady(40, 19),
						),
						counter(
							"rate_limit_decisions_total",
							{ http_route: "/v1/chat/completions", policy: "chat", outcome: "denied" },
							steady(40, 1),
						),
					],
					expect: [{ minutes: 30, alerts: [] }],
				},
			],
		},
		...(["fail_open", "fail_closed"] as const).map((outcome) => {
			const alert = outcome === "fail_open" ? "RateLimiterFailingOpen" : "RateLimiterFailingClosed";
			const labels = { http_route: "/v1/chat/completions", policy: "chat" };
			return {
				alert,
				severity: "ticket" as const,
				expr: `sum by (http_route, policy) (increase(rate_limit_decisions_total${selector(`outcome="${outcome}"`)}[5m])) > 0`,
				for: "5m",
				summary: `{{ $labels.policy }} on {{ $labels.http_route }}: the rate limiter is failing ${outcome === "fail_open" ? "open (requests pass unlimited)" : "closed (requests get 503)"}`,
				description: `{{ $value | printf "%.0f" }} decisions of {{ $labels.policy }} on {{ $labels.http_route }} in 5 minutes ${outcome === "fail_open" ? "were admitted without a limit" : "were refused with 503"} because the RateLimiter object did not answer within RATE_LIMIT_TIMEOUT_MS.`,
				scenarios: [
					{
						name: `${alert}: the limiter keeps timing out`,
						series: [
							counter("rate_limit_decisions_total", { ...labels, outcome: "allowed" }, steady(30, 10)),
							counter("rate_limit_decisions_total", { ...labels, outcome }, [
								{ minutes: 10, perMinute: 0 },
								{ minutes: 20, perMinute: 2 },
							]),
						],
						expect: [
							{ minutes: 9, alerts: [] },
							{ minutes: 20, alerts: [{ ...labels, ...svc, severity: "ticket" }] },
						],
					},
					{
						name: `${alert}: no ${outcome} decisions`,
						series: [
							counter("rate_limit_decisions_total", { ...labels, outcome: "allowed" }, steady(30, 10)),
							counter("rate_limit_decisions_total", { ...labels, outcome }, steady(30, 0)),
						],
						expect: [{ minutes: 20, alerts: [] }],
					},
				],
			};
		}),
		{
			alert: "LlmTokensPerHourHigh",
			severity: "ticket",
			expr: `sum(increase(llm_tokens_total${selector()}[1h])) > ${LLM_BUDGET.tokensPerHour}`,
			for: "5m",
			summary: "LLM token use above the hourly budget",
			description: `{{ $value | humanize }} tokens in the last hour, above the budget of ${LLM_BUDGET.tokensPerHour} (scripts/observability/operational-alerts.ts). The LLM dashboard shows which tenant and model.`,
			scenarios: [
				{
					name: "LlmTokensPerHourHigh: 50 000 tokens a minute",
					series: [
						counter(
							"llm_tokens_total",
							{ model: "local", tenant: "demo", http_route: "/v1/chat/completions", type: "completion" },
							steady(90, 50_000),
						),
					],
					expect: [
						{ minutes: 20, alerts: [] },
						{ minutes: 75, alerts: [{ ...svc, severity: "ticket" }] },
					],
				},
				{
					name: "LlmTokensPerHourHigh: 10 000 tokens a minute stay quiet",
					series: [
						counter(
							"llm_tokens_total",
							{ model: "local", tenant: "demo", http_route: "/v1/chat/completions", type: "completion" },
							steady(90, 10_000),
						),
					],
					expect: [{ minutes: 75, alerts: [] }],
				},
			],
		},
		{
			alert: "LlmCostPerDayHigh",
			severity: "ticket",
			expr: `sum(rate(llm_cost_usd_total${selector()}[1h])) * 86400 > ${LLM_BUDGET.costPerDayUsd}`,
			for: "15m",
			summary: "Projected LLM cost per day above budget",
			description: `At the last hour's rate the LLM spend is {{ $value | printf "%.2f" }} USD a day, above the budget of ${LLM_BUDGET.costPerDayUsd} USD (prices from CHAT_PRICES).`,
			scenarios: [
				{
					name: "LlmCostPerDayHigh: 0.06 USD a minute (86 USD a day)",
					series: [
						counter(
							"llm_cost_usd_total",
							{ model: "gpt-4o-mini", tenant: "demo", http_route: "/v1/chat/completions" },
							steady(90, 0.06),
						),
					],
					// rate() over 1 h of a younger series covers only its life: 36 USD/day at 25 min, 58 at 40.
					expect: [
						{ minutes: 10, alerts: [] },
						{ minutes: 75, alerts: [{ ...svc, severity: "ticket" }] },
					],
				},
				{
					name: "LlmCostPerDayHigh: 0.02 USD a minute (29 USD a day) stays quiet",
					series: [
						counter(
							"llm_cost_usd_total",
							{ model: "gpt-4o-mini", tenant: "demo", http_route: "/v1/chat/completions" },
							steady(90, 0.02),
						),
					],
					expect: [{ minutes: 75, alerts: [] }],
				},
			],
		},
		{
			alert: "LlmUpstreamFailures",
			severity: "ticket",
			expr: ratio(
				`llm_upstream_requests_total${selector('outcome!~"ok|client_error"')}`,
				`llm_upstream_requests_total${selector()}`,
				"provider, model",
				"10m",
				10,
				0.1,
			),
			for: "5m",
			summary: "Model {{ $labels.model }} ({{ $labels.provider }}) fails more than 10 % of calls",
			description:
				"{{ $value | humanizePercentage }} of attempts to {{ $labels.model }} failed (5xx, 429, network, timeout or an open circuit) over 10 minutes; retries and fallbacks may still hide it from clients.",
			scenarios: [
				{
					name: "LlmUpstreamFailures: a third of attempts time out",
					series: [
						counter(
							"llm_upstream_requests_total",
							{ provider: "openai", model: "gpt-4o-mini", outcome: "ok" },
							steady(30, 10),
						),
						counter(
							"llm_upstream_requests_total",
							{ provider: "openai", model: "gpt-4o-mini", outcome: "timeout" },
							steady(30, 5),
						),
					],
					expect: [{ minutes: 20, alerts: [{ provider: "openai", model: "gpt-4o-mini", ...svc, severity: "ticket" }] }],
				},
				{
					name: "LlmUpstreamFailures: client errors are not the provider's failures",
					series: [
						counter(
							"llm_upstream_requests_total",
							{ provider: "openai", model: "gpt-4o-mini", outcome: "ok" },
							steady(30, 10),
						),
						counter(
							"llm_upstream_requests_total",
							{ provider: "openai", model: "gpt-4o-mini", outcome: "client_error" },
							steady(30, 10),
						),
					],
					expect: [{ minutes: 20, alerts: [] }],
				},
			],
		},
		...(
			[
				["EmbeddingFailures", 'operation="embed"', "embed", "The embedder"],
				["VectorIndexFailures", 'operation=~"vector_upsert|vector_query"', "vector_query", "The vector index"],
			] as const
		).map(([alert, matcher, operation, who]) => ({
			alert,
			severity: "ticket" as const,
			expr: ratio(
				`rag_operations_total${selector(matcher, 'outcome="error"')}`,
				`rag_operations_total${selector(matcher)}`,
				"operation",
				"10m",
				10,
				0.05,
			),
			for: "5m",
			summary: `${who} fails more than 5 % of calls ({{ $labels.operation }})`,
			description: `{{ $value | humanizePercentage }} of {{ $labels.operation }} calls failed over 10 minutes. ${operation === "embed" ? "Ingest answers 503 and vector search degrades to keyword search." : "Hybrid search degrades to keyword search; vector mode answers 503; ingest fails."}`,
			scenarios: [
				{
					name: `${alert}: 20 % of ${operation} calls fail`,
					series: [
						counter("rag_operations_total", { operation, outcome: "ok" }, steady(30, 8)),
						counter("rag_operations_total", { operation, outcome: "error" }, steady(30, 2)),
					],
					expect: [{ minutes: 20, alerts: [{ operation, ...svc, severity: "ticket" }] }],
				},
				{
					name: `${alert}: 1 % of ${operation} calls fail`,
					series: [
						counter("rag_operations_total", { operation, outcome: "ok" }, steady(30, 99)),
						counter("rag_operations_total", { operation, outcome: "error" }, steady(30, 1)),
					],
					expect: [{ minutes: 20, alerts: [] }],
				},
			],
		})),
		{
			alert: "IngestionFailures",
			severity: "ticket",
			expr: `(\n  sum(increase(rag_ingest_documents_total${selector('outcome="failed"')}[30m])) / sum(increase(rag_ingest_documents_total${selector()}[30m])) > 0.05\n)\nand (sum(increase(rag_ingest_documents_total${selector('outcome="failed"')}[30m])) >= 5)`,
			for: "5m",
			summary: "More than 5 % of ingested documents fail",
			description:
				"{{ $value | humanizePercentage }} of the documents sent to POST /v1/documents in 30 minutes were in batches that failed (nothing of a failed batch is kept; clients must retry).",
			scenarios: [
				{
					name: "IngestionFailures: one document in five fails",
					series: [
						counter("rag_ingest_documents_total", { outcome: "created" }, steady(40, 4)),
						counter("rag_ingest_documents_total", { outcome: "failed" }, steady(40, 1)),
					],
					expect: [{ minutes: 30, alerts: [{ ...svc, severity: "ticket" }] }],
				},
				{
					name: "IngestionFailures: 2 failed documents in 30 minutes stay quiet",
					series: [
						counter("rag_ingest_documents_total", { outcome: "created" }, steady(40, 0.2)),
						counter("rag_ingest_documents_total", { outcome: "failed" }, [
							{ minutes: 20, perMinute: 0 },
							{ minutes: 2, perMinute: 1 },
							{ minutes: 18, perMinute: 0 },
						]),
					],
					expect: [{ minutes: 30, alerts: [] }],
				},
			],
		},
		{
			alert: "MetricsExportFailing",
			severity: "ticket",
			expr: `(\n  sum(increase(otlp_exports_total${selector('outcome="error"')}[15m])) > 0\n  unless sum(increase(otlp_exports_total${selector('outcome="ok"')}[15m])) > 0\n)\nor (time() - max(otlp_last_success_timestamp_seconds${selector()}) > 900)`,
			for: "5m",
			summary: "OTLP metric pushes are failing",
			description:
				"No OTLP metric push was accepted in the last 15 minutes ({{ $value | humanize }}): the collector (OTLP_ENDPOINT) is down or refuses OTLP_HEADERS. Prometheus scrapes are unaffected.",
			scenarios: [
				{
					name: "MetricsExportFailing: every push fails",
					series: [
						counter("otlp_exports_total", { outcome: "ok" }, [
							{ minutes: 10, perMinute: 1 },
							{ minutes: 30, perMinute: 0 },
						]),
						counter("otlp_exports_total", { outcome: "error" }, [
							{ minutes: 10, perMinute: 0 },
							{ minutes: 30, perMinute: 1 },
						]),
					],
					expect: [
						{ minutes: 12, alerts: [] },
						{ minutes: 35, alerts: [{ ...svc, severity: "ticket" }] },
					],
				},
				{
					name: "MetricsExportFailing: pushes stop entirely (the last success ages past 15 minutes)",
					series: [
						counter("otlp_exports_total", { outcome: "ok" }, [
							{ minutes: 10, perMinute: 1 },
							{ minutes: 40, perMinute: 0 },
						]),
						{
							series: `otlp_last_success_timestamp_seconds${labelText(SCRAPE_LABELS)}`,
							values: "0+60x10 600x40",
						},
					],
					expect: [
						{ minutes: 20, alerts: [] },
						{ minutes: 35, alerts: [{ ...svc, severity: "ticket" }] },
					],
				},
				{
					name: "MetricsExportFailing: occasional failures between successes stay quiet",
					series: [
						counter("otlp_exports_total", { outcome: "ok" }, steady(40, 1)),
						counter("otlp_exports_total", { outcome: "error" }, steady(40, 0.2)),
						{
							series: `otlp_last_success_timestamp_seconds${labelText(SCRAPE_LABELS)}`,
							values: "0+60x40",
						},
					],
					expect: [{ minutes: 35, alerts: [] }],
				},
			],
		},
		{
			alert: "SloShardsUnreadable",
			severity: "ticket",
			// Failing in every scrape of 10 minutes (one failed read is a blip the next scrape repairs), for 5 more.
			expr: `min_over_time(slo_scrape_shard_failures${selector()}[10m]) > 0`,
			for: "5m",
			summary: "Some SloCounter shards cannot be read: metrics are incomplete",
			description:
				"At least {{ $value }} SloCounter shard(s) failed to answer every scrape of the last 10 minutes; their series are missing, so SLI ratios of their routes are wrong or absent.",
			scenarios: [
				{
					name: "SloShardsUnreadable: one shard keeps failing",
					series: [
						{
							series: `slo_scrape_shard_failures${labelText(SCRAPE_LABELS)}`,
							values: "0x5 1x30",
						},
					],
					expect: [
						{ minutes: 10, alerts: [] },
						{ minutes: 25, alerts: [{ ...SCRAPE_LABELS, ...svc, severity: "ticket" }] },
					],
				},
				{
					name: "SloShardsUnreadable: one failed scrape is a blip",
					series: [
						{
							series: `slo_scrape_shard_failures${labelText(SCRAPE_LABELS)}`,
							values: "0x5 1 0x30",
						},
					],
					expect: [
						{ minutes: 10, alerts: [] },
						{ minutes: 20, alerts: [] },
					],
				},
				{
					name: "SloShardsUnreadable: every shard read",
					series: [
						{
							series: `slo_scrape_shard_failures${labelText(SCRAPE_LABELS)}`,
							values: gaugeValues(0, 35),
						},
					],
					expect: [{ minutes: 25, alerts: [] }],
				},
			],
		},
		canaryAlert(),
	];
}

/** A version whose 30-minute error ratio is over twice the best version's (plus a minimum effect), both with traffic. */
function canaryAlert(): OperationalAlert {
	const r = `slo_version:sli_error:ratio_rate30m{http_route="all", slo="availability"}`;
	const enough = `on (version) (slo_version:requests:increase30m{http_route="all"} >= ${CANARY_MIN_REQUESTS})`;
	const versions = (stable: number, canary: number) => [
		...requestSeries("/v1/models", [{ minutes: 60, perMinute: 20, errorShare: stable }], { version: "stable-1" }),
		...requestSeries("/v1/models", [{ minutes: 60, perMinute: 5, errorShare: canary }], { version: "canary-2" }),
	];
	return {
		alert: "CanaryBurningFasterThanStable",
		severity: "page",
		expr: `(\n  (${r} and ${enough})\n  > on () group_left ()\n  (2 * min(${r} and ${enough}) + ${CANARY_MIN_EFFECT})\n)\nand on () (count(slo_version:requests:increase30m{http_route="all"} >= ${CANARY_MIN_REQUESTS}) >= 2)`,
		for: "5m",
		summary: "Version {{ $labels.version }} fails much more often than the other live version",
		description: `Version {{ $labels.version }} failed {{ $value | humanizePercentage }} of its requests over 30 minutes (5xx, or streams failed after their first byte), more than twice the best live version's ratio plus ${CANARY_MIN_EFFECT * 100} %. If it is the canary, roll it back (npm run canary -- abort); if it is the stable version, the canary is the healthier one (npm run canary -- status).`,
		scenarios: [
			{
				name: "CanaryBurningFasterThanStable: the canary fails 10 %, stable 0.1 %",
				series: versions(0.001, 0.1),
				expect: [
					{
						minutes: 45,
						alerts: [{ http_route: "all", slo: "availability", version: "canary-2", ...svc, severity: "page" }],
					},
				],
			},
			{
				name: "CanaryBurningFasterThanStable: the canary's streams fail after their first byte (10 %, no 5xx), stable's do not",
				series: [
					...requestSeries("/v1/chat/completions", [{ minutes: 60, perMinute: 20 }], { version: "stable-1" }),
					...requestSeries("/v1/chat/completions", [{ minutes: 60, perMinute: 5, failedStreamShare: 0.1 }], {
						version: "canary-2",
					}),
				],
				expect: [
					{
						minutes: 45,
						alerts: [{ http_route: "all", slo: "availability", version: "canary-2", ...svc, severity: "page" }],
					},
				],
			},
			{
				name: "CanaryBurningFasterThanStable: similar error ratios stay quiet",
				series: versions(0.01, 0.012),
				expect: [{ minutes: 45, alerts: [] }],
			},
			{
				name: "CanaryBurningFasterThanStable: a canary with fewer than 100 requests in 30 minutes is not judged",
				series: [
					...requestSeries("/v1/models", [{ minutes: 60, perMinute: 20, errorShare: 0.001 }], { version: "stable-1" }),
					...requestSeries("/v1/models", [{ minutes: 60, perMinute: 3, errorShare: 0.5 }], { version: "canary-2" }),
				],
				expect: [{ minutes: 45, alerts: [] }],
			},
		],
	};
}

/** The rules file's groups: one group of every operational alert. */
export function operationalRuleGroups(alerts: readonly OperationalAlert[] = operationalAlerts()): RuleGroup[] {
	const rules: AlertRule[] = alerts.map((a) => ({
		alert: a.alert,
		expr: a.expr,
		...(a.for ? { for: a.for } : {}),
		labels: { severity: a.severity, service: JOB, ...a.labels },
		annotations: { summary: a.summary, description: a.description, runbook_url: runbookUrl(a.alert) },
	}));
	return [{ name: "operational", rules }];
}

/** promtool scenarios of every operational alert. */
export function operationalScenarios(alerts: readonly OperationalAlert[] = operationalAlerts()): TestGroup[] {
	return alerts.flatMap((a) =>
		a.scenarios.map((sc) => ({
			name: sc.name,
			interval: "1m",
			input_series: sc.series,
			promql_expr_test: sc.expect.map((e) => firing(a.alert, e.minutes, e.alerts)),
		})),
	);
}
