// Grafana dashboards as code (@grafana/grafana-foundation-sdk), from the SLO spec and the metrics of docs/metrics.md.
// Every panel queries Prometheus through the `datasource` variable; `route` and `version` filter where they apply.
// test/e2e/observability.test.ts runs every panel's PromQL against a real Prometheus scraping the service.
import {
	GraphThresholdsStyleConfigBuilder,
	GraphThresholdsStyleMode,
	LegendDisplayMode,
	LegendPlacement,
	VizLegendOptionsBuilder,
} from "@grafana/grafana-foundation-sdk/common";
import {
	DashboardBuilder,
	type DataSourceRef,
	DatasourceVariableBuilder,
	MappingType,
	QueryVariableBuilder,
	RowBuilder,
	ThresholdsConfigBuilder,
	ThresholdsMode,
	VariableRefresh,
	VariableSort,
} from "@grafana/grafana-foundation-sdk/dashboard";
import { DataqueryBuilder, PromQueryFormat } from "@grafana/grafana-foundation-sdk/prometheus";
import { PanelBuilder as StatPanel } from "@grafana/grafana-foundation-sdk/stat";
import { PanelBuilder as TablePanel } from "@grafana/grafana-foundation-sdk/table";
import { PanelBuilder as TimeseriesPanel } from "@grafana/grafana-foundation-sdk/timeseries";
import { BURN_RATE_CONDITIONS, SLO_WINDOWS } from "../../src/slo/spec.ts";
import { CANARY_MIN_EFFECT, CANARY_MIN_REQUESTS } from "./operational-alerts.ts";
import { ALL_ROUTES, FAILED_STREAM_METRIC, failedRequests, JOB_MATCHER, METRIC, selector } from "./slo-rules.ts";

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's own variable syntax, not a template literal.
const ds: DataSourceRef = { type: "prometheus", uid: "${datasource}" };
const R = `http_route=~"$route"`;
const V = `version=~"$version"`;
const RI = "$__rate_interval";

/** One PromQL target (range by default; `instant` for tables and stats). */
function q(expr: string, legend = "", options: { instant?: boolean; table?: boolean; refId?: string } = {}) {
	const b = new DataqueryBuilder().expr(expr).legendFormat(legend || "__auto");
	if (options.instant) b.instant();
	if (options.table) b.format(PromQueryFormat.Table);
	if (options.refId) b.refId(options.refId);
	return b;
}

const legend = () =>
	new VizLegendOptionsBuilder().displayMode(LegendDisplayMode.Table).placement(LegendPlacement.Bottom).showLegend(true);

function thresholds(steps: [number | null, string][]) {
	return new ThresholdsConfigBuilder()
		.mode(ThresholdsMode.Absolute)
		.steps(steps.map(([value, color]) => ({ value, color })));
}

function ts(title: string, unit: string, targets: DataqueryBuilder[], description = "") {
	const p = new TimeseriesPanel().title(title).description(description).datasource(ds).unit(unit).legend(legend());
	for (const t of targets) p.withTarget(t);
	return p.height(8).span(12);
}

function stat(title: string, unit: string, target: DataqueryBuilder, description = "") {
	return new StatPanel()
		.title(title)
		.description(description)
		.datasource(ds)
		.unit(unit)
		.withTarget(target)
		.height(5)
		.span(6);
}

function table(title: string, targets: DataqueryBuilder[], description = "") {
	const p = new TablePanel().title(title).description(description).datasource(ds);
	for (const t of targets) p.withTarget(t);
	return p.height(9).span(24);
}

function variables(d: DashboardBuilder, options: { version?: boolean; route?: boolean } = {}) {
	d.withVariable(new DatasourceVariableBuilder("datasource").label("Prometheus").type("prometheus"));
	if (options.route !== false) {
		d.withVariable(
			new QueryVariableBuilder("route")
				.label("Route")
				.datasource(ds)
				.query(`label_values(${METRIC}_count{${JOB_MATCHER}}, http_route)`)
				.refresh(VariableRefresh.OnTimeRangeChanged)
				.sort(VariableSort.AlphabeticalAsc)
				.multi(true)
				.includeAll(true)
				.allValue(".+"),
		);
	}
	if (options.version !== false) {
		d.withVariable(
			new QueryVariableBuilder("version")
				.label("Version")
				.datasource(ds)
				.query(`label_values(${METRIC}_count{${JOB_MATCHER}}, version)`)
				.refresh(VariableRefresh.OnTimeRangeChanged)
				.multi(true)
				.includeAll(true)
				.allValue(".+"),
		);
	}
	return d;
}

const dashboard = (uid: string, title: string, description: string) =>
	new DashboardBuilder(title)
		.uid(uid)
		.description(description)
		.tags(["edge-ai-api", "generated"])
		.refresh("30s")
		.time({ from: "now-6h", to: "now" })
		.timezone("browser")
		.editable();

/** Request rate per `by`, filtered by route and (unless `allVersions`) version. */
const requestsBy = (by: string, extra = "", allVersions = false) =>
	`sum by (${by}) (rate(${METRIC}_count{${[JOB_MATCHER, R, allVersions ? "" : V, extra].filter(Boolean).join(", ")}}[${RI}]))`;
const quantileBy = (qn: number, by: string, allVersions = false) =>
	`histogram_quantile(${qn}, sum by (${by}, le) (rate(${METRIC}_bucket{${[JOB_MATCHER, R, allVersions ? "" : V].filter(Boolean).join(", ")}}[${RI}])))`;
/**
 * Failed requests ÷ requests per `by`, filtered by route and (unless `allVersions`) version: the availability SLI's
 * error ratio from the raw histograms — 5xx and streams failed after their first byte — as the recording rules count it.
 */
const errorRatioBy = (by: string, allVersions = false) => {
	const total = requestsBy(by, "", allVersions);
	return `${failedRequests({ matchers: allVersions ? [R] : [R, V], w: RI, by, fn: "rate", total })} / ${total}`;
};
/** What the error-ratio panels count, for their descriptions. */
const FAILED =
	"Failed requests: 5xx answers, and streams (chat, RAG answers) that failed after their first byte — answered 200, then broke (model error, stream deadline, internal error). 4xx and client disconnects are not failures (docs/slo.md).";
/** Burn rate of a recorded SLI error ratio (one SLI kind, or every one): ratio ÷ (1 − objective). */
const burn = (w: string, slo?: string) =>
	`slo:sli_error:ratio_rate${w}{${slo ? `slo="${slo}", ` : ""}${R}} / on (http_route, slo, slo_id) group_left () (1 - slo:objective:ratio)`;

function serviceOverview() {
	const d = variables(
		dashboard(
			"edge-ai-api-overview",
			"Edge AI API — service overview",
			"RED per route, SLOs (availability vs objective, error budget, burn rates) from the recording rules of alerts/recording-rules.yml.",
		),
	);
	d.withRow(new RowBuilder("Requests, errors, duration (RED)"));
	d.withPanel(ts("Requests per second by route", "reqps", [q(requestsBy("http_route"), "{{http_route}}")]));
	d.withPanel(ts("Error ratio by route", "percentunit", [q(errorRatioBy("http_route"), "{{http_route}}")], FAILED));
	d.withPanel(
		ts(
			"p95 latency by route (to first byte)",
			"s",
			[q(quantileBy(0.95, "http_route"), "{{http_route}}")],
			"Streams (chat, RAG answers) to their first token.",
		),
	);
	d.withPanel(ts("p99 latency by route (to first byte)", "s", [q(quantileBy(0.99, "http_route"), "{{http_route}}")]));
	d.withPanel(
		ts("Requests per second by status", "reqps", [
			q(requestsBy("http_response_status_code"), "{{http_response_status_code}}"),
		]),
	);
	d.withPanel(
		ts(
			"Streams failed after first byte by error_type",
			"reqps",
			[
				q(
					`sum by (http_route, error_type) (rate(${FAILED_STREAM_METRIC}_count${selector(R, V)}[${RI}])) or on () vector(0)`,
					"{{http_route}} {{error_type}}",
				),
			],
			"Streamed responses that answered 200 and then failed: model_error (the model failed mid-stream), timeout (the stream deadline passed), internal (our bug). Each is a failed request of the availability SLO and never a fast one for latency; above they count as 200. A single 0 series when none failed.",
		),
	);

	d.withRow(new RowBuilder("SLOs"));
	d.withPanel(
		ts(
			"Availability (30 d) vs objective",
			"percentunit",
			[
				q(`1 - slo:sli_error:ratio_rate30d{slo="availability", ${R}, http_route!="${ALL_ROUTES}"}`, "{{http_route}}"),
				q(`slo:objective:ratio{slo="availability", ${R}}`, "objective {{http_route}}"),
			],
			"Share of requests that did not fail (no 5xx, no stream failed after its first byte) over the 30-day SLO period, and the objective from src/slo/spec.ts.",
		),
	);
	d.withPanel(
		ts(
			"Error budget remaining (30 d) — burndown",
			"percentunit",
			[q(`slo:error_budget_remaining:ratio30d{${R}}`, "{{http_route}} {{slo}}")],
			"1 − (30-day error ratio ÷ budget); below 0 the budget is spent.",
		).thresholds(
			thresholds([
				[null, "red"],
				[0, "orange"],
				[0.25, "green"],
			]),
		),
	);
	const bands = [...new Set(BURN_RATE_CONDITIONS.map((c) => c.factor))].sort((a, b) => a - b);
	for (const slo of ["availability", "latency-p95", "latency-p99"]) {
		d.withPanel(
			ts(
				`Burn rate by window — ${slo}`,
				"x",
				SLO_WINDOWS.filter((w) => w.name !== "30d").map((w) => q(burn(w.name, slo), `{{http_route}} ${w.name}`)),
				`Error ratio ÷ error budget per window; bands at ${bands.join(", ")}× (the alert conditions: docs/slo.md).`,
			)
				.thresholds(
					thresholds([
						[null, "green"],
						...bands.map((b, i): [number, string] => [b, ["yellow", "orange", "red", "dark-red"][i] ?? "red"]),
					]),
				)
				.thresholdsStyle(new GraphThresholdsStyleConfigBuilder().mode(GraphThresholdsStyleMode.DashedAndArea))
				.span(8),
		);
	}
	d.withPanel(
		table(
			"Routes, worst first (1 h burn rate)",
			[
				q(`sort_desc(max by (http_route, slo) (${burn("1h")}))`, "", {
					instant: true,
					table: true,
				}),
			],
			"Burn rate over the last hour per route and SLO, highest first.",
		),
	);
	d.withRow(new RowBuilder("Telemetry health"));
	d.withPanel(
		stat(
			"SloCounter shards unreadable",
			"none",
			q(`max(slo_scrape_shard_failures{${JOB_MATCHER}})`, "", { instant: true }),
		),
	);
	d.withPanel(
		stat("SloCounter shards read", "none", q(`max(slo_scrape_shards{${JOB_MATCHER}})`, "", { instant: true })),
	);
	d.withPanel(
		stat(
			"OTLP pushes failed (range)",
			"none",
			q(`sum(increase(otlp_exports_total{${JOB_MATCHER}, outcome="error"}[$__range])) or vector(0)`, "", {
				instant: true,
			}),
			"0 when OTLP_ENDPOINT is unset (no pushes).",
		),
	);
	d.withPanel(stat("Scrape up", "none", q(`min(up{${JOB_MATCHER}})`, "", { instant: true })));
	return d.build();
}

function canary() {
	const d = variables(
		dashboard(
			"edge-ai-api-canary",
			"Edge AI API — canary",
			"Live versions side by side during a gradual deployment: error ratio, p95/p99, traffic share, and the verdict the canary controller and the CanaryBurningFasterThanStable alert use.",
		),
		{ version: false },
	);
	d.withPanel(
		ts("Traffic share by version", "percentunit", [
			q(
				`${requestsBy("version", "", true)} / on () group_left () sum(rate(${METRIC}_count{${JOB_MATCHER}, ${R}}[${RI}]))`,
				"{{version}}",
			),
		]),
	);
	d.withPanel(ts("Error ratio by version", "percentunit", [q(errorRatioBy("version", true), "{{version}}")], FAILED));
	d.withPanel(ts("p95 by version", "s", [q(quantileBy(0.95, "version", true), "{{version}}")]));
	d.withPanel(ts("p99 by version", "s", [q(quantileBy(0.99, "version", true), "{{version}}")]));
	// The CanaryBurningFasterThanStable condition, as a number per version: 1 or more fails.
	const ratio30 = `slo_version:sli_error:ratio_rate30m{http_route="${ALL_ROUTES}", slo="availability"}`;
	const judged = `(${ratio30} and on (version) (slo_version:requests:increase30m{http_route="${ALL_ROUTES}"} >= ${CANARY_MIN_REQUESTS}))`;
	d.withPanel(
		table(
			"Verdict per version (30 min, all routes)",
			[
				q(
					`${judged} / on () group_left () (2 * min(${judged}) + ${CANARY_MIN_EFFECT}) or on (version) (0 * slo_version:requests:increase30m{http_route="${ALL_ROUTES}"} - 1)`,
					"",
					{ instant: true, table: true, refId: "A" },
				),
				q(`slo_version:requests:increase30m{http_route="${ALL_ROUTES}"}`, "", {
					instant: true,
					table: true,
					refId: "B",
				}),
			],
			`A: the version's error ratio (5xx and streams failed after their first byte) ÷ (2 × the best judged version's + ${CANARY_MIN_EFFECT * 100} %), for versions with at least ${CANARY_MIN_REQUESTS} requests in 30 minutes: 1 or more is FAIL (the CanaryBurningFasterThanStable condition), below PASS; fewer requests: INCONCLUSIVE (-1). B: requests in the window.`,
		).overrideByQuery("A", [
			{
				id: "mappings",
				value: [
					{ type: MappingType.ValueToText, options: { "-1": { text: "INCONCLUSIVE", color: "text", index: 0 } } },
					{
						type: MappingType.RangeToText,
						options: { from: 0, to: 0.999999, result: { text: "PASS", color: "green", index: 1 } },
					},
					{
						type: MappingType.RangeToText,
						options: { from: 1, to: null, result: { text: "FAIL", color: "red", index: 2 } },
					},
				],
			},
		]),
	);
	d.withPanel(
		ts(
			"Per-route error ratio by version (5 min, recorded)",
			"percentunit",
			[q(`slo_version:sli_error:ratio_rate5m{slo="availability", ${R}}`, "{{http_route}} {{version}}")],
			FAILED,
		),
	);
	d.withPanel(
		ts("Per-route p95 by version (5 min, recorded)", "s", [
			q(`slo_version:latency_seconds:p95_rate5m{${R}}`, "{{http_route}} {{version}}"),
		]),
	);
	return d.build();
}

function llm() {
	const d = variables(
		dashboard(
			"edge-ai-api-llm",
			"Edge AI API — LLM",
			"Tokens and cost per tenant and model, upstream failures, fallbacks.",
		),
		{ route: false, version: false },
	);
	d.withPanel(
		ts("Tokens per second by tenant and model", "short", [
			q(`sum by (tenant, model) (rate(llm_tokens_total{${JOB_MATCHER}}[${RI}]))`, "{{tenant}} {{model}}"),
		]),
	);
	d.withPanel(
		ts("Tokens per second by type", "short", [
			q(`sum by (type) (rate(llm_tokens_total{${JOB_MATCHER}}[${RI}]))`, "{{type}}"),
		]),
	);
	d.withPanel(
		ts(
			"Projected cost per day by tenant (USD)",
			"currencyUSD",
			[q(`sum by (tenant) (rate(llm_cost_usd_total{${JOB_MATCHER}}[1h])) * 86400`, "{{tenant}}")],
			"At the last hour's rate; prices from CHAT_PRICES (0 when unset).",
		),
	);
	d.withPanel(
		table("Cost and tokens by model over the range", [
			q(`sum by (model) (increase(llm_cost_usd_total{${JOB_MATCHER}}[$__range]))`, "", {
				instant: true,
				table: true,
				refId: "A",
			}),
			q(`sum by (model) (increase(llm_tokens_total{${JOB_MATCHER}}[$__range]))`, "", {
				instant: true,
				table: true,
				refId: "B",
			}),
		]),
	);
	d.withPanel(
		ts("Upstream attempts by outcome", "reqps", [
			q(
				`sum by (provider, model, outcome) (rate(llm_upstream_requests_total{${JOB_MATCHER}}[${RI}]))`,
				"{{model}} {{outcome}}",
			),
		]),
	);
	d.withPanel(
		ts("Upstream failure ratio by model", "percentunit", [
			q(
				`sum by (model) (rate(llm_upstream_requests_total{${JOB_MATCHER}, outcome!~"ok|client_error"}[${RI}])) / sum by (model) (rate(llm_upstream_requests_total{${JOB_MATCHER}}[${RI}]))`,
				"{{model}}",
			),
		]),
	);
	d.withPanel(
		ts("Completions served by a fallback", "reqps", [
			q(
				`sum by (requested_model, served_model) (rate(llm_fallbacks_total{${JOB_MATCHER}}[${RI}]))`,
				"{{requested_model}} → {{served_model}}",
			),
		]),
	);
	return d.build();
}

function rag() {
	const d = variables(
		dashboard(
			"edge-ai-api-rag",
			"Edge AI API — RAG",
			"Ingest volume and failures, retrieval latency by mode, embedder and vector index calls.",
		),
		{ route: false, version: false },
	);
	d.withPanel(
		ts("Documents ingested by outcome", "short", [
			q(`sum by (outcome) (rate(rag_ingest_documents_total{${JOB_MATCHER}}[${RI}]))`, "{{outcome}}"),
		]),
	);
	d.withPanel(
		stat(
			"Ingest failure ratio (range)",
			"percentunit",
			q(
				`(sum(increase(rag_ingest_documents_total{${JOB_MATCHER}, outcome="failed"}[$__range])) or vector(0)) / sum(increase(rag_ingest_documents_total{${JOB_MATCHER}}[$__range]))`,
				"",
				{ instant: true },
			),
		).span(12),
	);
	d.withPanel(
		ts("Retrieval p95 by mode", "s", [
			q(
				`histogram_quantile(0.95, sum by (mode, le) (rate(rag_retrieval_duration_seconds_bucket{${JOB_MATCHER}}[${RI}])))`,
				"{{mode}}",
			),
		]),
	);
	d.withPanel(
		ts("Retrievals by mode and outcome", "reqps", [
			q(
				`sum by (mode, outcome) (rate(rag_retrieval_duration_seconds_count{${JOB_MATCHER}}[${RI}]))`,
				"{{mode}} {{outcome}}",
			),
		]),
	);
	d.withPanel(
		ts("Embedder and vector index calls", "reqps", [
			q(`sum by (operation, outcome) (rate(rag_operations_total{${JOB_MATCHER}}[${RI}]))`, "{{operation}} {{outcome}}"),
		]),
	);
	d.withPanel(
		ts("RAG routes p95 (to first byte)", "s", [
			q(
				`histogram_quantile(0.95, sum by (http_route, le) (rate(${METRIC}_bucket{${JOB_MATCHER}, http_route=~"/v1/rag/.+|/v1/documents.*|/v1/embeddings"}[${RI}])))`,
				"{{http_route}}",
			),
		]),
	);
	return d.build();
}

function rateLimits() {
	const d = variables(
		dashboard(
			"edge-ai-api-rate-limits",
			"Edge AI API — rate limits",
			"Decisions by policy and outcome, fail-open/closed, the most limited subjects.",
		),
		{ version: false },
	);
	d.withPanel(
		ts("Decisions by policy and outcome", "reqps", [
			q(
				`sum by (policy, outcome) (rate(rate_limit_decisions_total{${JOB_MATCHER}, ${R}}[${RI}]))`,
				"{{policy}} {{outcome}}",
			),
		]),
	);
	d.withPanel(
		ts("Denial ratio by policy", "percentunit", [
			q(
				`sum by (policy) (rate(rate_limit_decisions_total{${JOB_MATCHER}, ${R}, outcome=~"denied|denied_cached"}[${RI}])) / sum by (policy) (rate(rate_limit_decisions_total{${JOB_MATCHER}, ${R}}[${RI}]))`,
				"{{policy}}",
			),
		]),
	);
	d.withPanel(
		stat(
			"Failed open (range)",
			"none",
			q(`sum(increase(rate_limit_decisions_total{${JOB_MATCHER}, outcome="fail_open"}[$__range])) or vector(0)`, "", {
				instant: true,
			}),
			"Requests admitted without a decision because the limiter did not answer in time.",
		).thresholds(
			thresholds([
				[null, "green"],
				[1, "red"],
			]),
		),
	);
	d.withPanel(
		stat(
			"Failed closed (range)",
			"none",
			q(`sum(increase(rate_limit_decisions_total{${JOB_MATCHER}, outcome="fail_closed"}[$__range])) or vector(0)`, "", {
				instant: true,
			}),
			"Requests refused with 503 because the limiter did not answer in time.",
		).thresholds(
			thresholds([
				[null, "green"],
				[1, "red"],
			]),
		),
	);
	d.withPanel(
		table(
			"Most limited subjects (range)",
			[
				q(
					`topk(10, sum by (subject, policy) (increase(rate_limit_denied_subjects_total{${JOB_MATCHER}}[$__range])))`,
					"",
					{
						instant: true,
						table: true,
					},
				),
			],
			"tenant/subject of authenticated callers; anonymous callers by network (/24, /48).",
		),
	);
	return d.build();
}

/** Every dashboard, by file name (dashboards/<name>.json). */
export function dashboards(): Record<string, object> {
	return {
		"service-overview": serviceOverview(),
		canary: canary(),
		llm: llm(),
		rag: rag(),
		"rate-limits": rateLimits(),
	};
}

/** Grafana provisioning: the Prometheus datasource and a file provider for this folder. */
export function provisioning(): Record<string, string> {
	return {
		"datasources/prometheus.yml": `# Grafana datasource provisioning (docs/observability.md#grafana). Grafana expands $VARIABLES in provisioning
# files (no defaults): start it with PROMETHEUS_URL set, e.g. http://127.0.0.1:9090 for \`npm run observe\`.
apiVersion: 1
datasources:
  - name: Prometheus
    uid: edge-ai-api-prometheus
    type: prometheus
    access: proxy
    url: \${PROMETHEUS_URL}
    isDefault: true
    jsonData:
      timeInterval: 15s
`,
		"dashboards/edge-ai-api.yml": `# Grafana dashboard provisioning (docs/observability.md#grafana): loads dashboards/*.json of this repository.
# EDGE_AI_API_DASHBOARDS is the absolute path of the dashboards/ folder.
apiVersion: 1
providers:
  - name: edge-ai-api
    folder: Edge AI API
    type: file
    disableDeletion: false
    allowUiUpdates: false
    updateIntervalSeconds: 30
    options:
      path: \${EDGE_AI_API_DASHBOARDS}
      foldersFromFilesStructure: false
`,
	};
}
