/**
 * Prometheus text exposition (0.0.4) and OpenMetrics 1.0 of the shards' cumulative numbers (docs/metrics.md).
 * Series of the same name are grouped under one `# HELP`/`# TYPE`; label values are escaped; OpenMetrics names
 * counters without `_total` in `# TYPE` and ends with `# EOF`.
 *
 * @example
 * ```ts
 * render([snapshot], { openMetrics: false, exportFailures: 0, scrapedShards: 1, failedShards: 0 });
 * ```
 *
 * @module
 */
import type { Snapshot } from "../slo/contract";
import { cumulativeCounts } from "../slo/histogram";
import { bucketLabel } from "../slo/spec";

const COUNTERS: Record<string, { help: string; unit?: string }> = {
	rate_limit_decisions: {
		help: "Rate-limit decisions by route, policy and outcome (allowed, denied, denied_cached, fail_open, fail_closed).",
	},
	llm_tokens: { help: "LLM tokens by model, tenant, route and type (prompt, completion)." },
	llm_cost_usd: { help: "LLM cost in US dollars by model, tenant and route (from CHAT_PRICES)." },
	rag_operations: { help: "Embedder and vector index calls by operation and outcome." },
	rag_ingest_documents: {
		help: "Documents in ingest requests by outcome (created, replaced, unchanged; rejected: a 4xx batch; failed: a 5xx batch).",
	},
	llm_upstream_requests: {
		help: "Model provider attempts by provider, model and outcome (ok, rate_limited, server_error, network_error, timeout, client_error, circuit_open).",
	},
	llm_fallbacks: { help: "Completions served by a fallback model, by requested and serving model." },
	rate_limit_denied_subjects: {
		help: "Rate-limit denials by policy and subject (tenant/subject of the principal, or the client's IPv4 /24 or IPv6 /48).",
	},
	otlp_exports: { help: "OTLP metric pushes by outcome (ok, error)." },
};

/** Histograms other than the request histogram (seconds; buckets LATENCY_BUCKETS_S). */
export const HISTOGRAMS: Record<string, string> = {
	http_server_failed_stream_duration_seconds:
		"Duration to the first byte of streamed responses that failed after it (model_error, timeout, internal); each is also in http_server_request_duration_seconds with its 200 status.",
	rag_retrieval_duration_seconds:
		"RAG retrieval time by mode (vector, keyword, hybrid) and outcome (ok, degraded: hybrid without its vector side, error).",
};

const GAUGES: Record<string, string> = {
	http_server_open_streams:
		"Streams that sent their first byte and have not ended (or were cut with their isolate and are not yet counted as abandoned), by route.",
	otlp_last_success_timestamp_seconds: "Time of the last accepted OTLP metric push (Unix seconds).",
};

const escapeLabel = (v: string) => v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
const labelText = (labels: Record<string, string>) =>
	`{${Object.entries(labels)
		.map(([k, v]) => `${k}="${escapeLabel(v)}"`)
		.join(",")}}`;
const num = (v: number) => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(15))));

/**
 * One histogram's samples: `_bucket` cumulative per bound and `le="+Inf"` (= `_count`), `_sum`, `_count`, and in
 * OpenMetrics `_created` (the shard's start, s).
 */
function histogramSamples(
	name: string,
	labels: Record<string, string>,
	h: { count: number; sum: number; buckets: readonly number[] },
	createdS: number | null,
): string[] {
	return [
		...cumulativeCounts(h.buckets).map(
			({ bound, count }) => `${name}_bucket${labelText({ ...labels, le: bucketLabel(bound) })} ${count}`,
		),
		`${name}_bucket${labelText({ ...labels, le: "+Inf" })} ${h.count}`,
		`${name}_sum${labelText(labels)} ${num(h.sum)}`,
		`${name}_count${labelText(labels)} ${h.count}`,
		...(createdS === null ? [] : [`${name}_created${labelText(labels)} ${num(createdS)}`]),
	];
}

/**
 * The exposition of every shard's snapshot, then this scrape's own health gauges. Text 0.0.4 by default;
 * `openMetrics` adds `# UNIT`, `_created` samples and `# EOF`.
 */
export function render(
	snapshots: readonly Snapshot[],
	options: {
		openMetrics: boolean;
		exportFailures: number;
		/** Request records in those dropped batches (absent: not reported). */
		droppedRequests?: number;
		scrapedShards: number;
		failedShards: number;
	},
): string {
	const lines: string[] = [];
	const created = (snap: Snapshot) => (options.openMetrics ? snap.startTimeMs / 1000 : null);
	const h = "http_server_request_duration_seconds";
	lines.push(`# HELP ${h} Duration of HTTP server requests, to the response's first byte (a stream's first token).`);
	lines.push(`# TYPE ${h} histogram`);
	if (options.openMetrics) lines.push(`# UNIT ${h} seconds`);
	for (const snap of snapshots) {
		for (const s of snap.series) {
			const labels = {
				http_route: s.route,
				http_request_method: s.method,
				http_response_status_code: String(s.status),
				version: s.version,
			};
			lines.push(...histogramSamples(h, labels, { ...s, sum: s.sumSeconds }, created(snap)));
		}
	}
	for (const [metric, help] of Object.entries(HISTOGRAMS)) {
		lines.push(`# HELP ${metric} ${help}`);
		lines.push(`# TYPE ${metric} histogram`);
		if (options.openMetrics) lines.push(`# UNIT ${metric} seconds`);
		for (const snap of snapshots) {
			for (const x of (snap.histograms ?? []).filter((y) => y.metric === metric)) {
				lines.push(...histogramSamples(metric, x.labels, x, created(snap)));
			}
		}
	}
	for (const [metric, meta] of Object.entries(COUNTERS)) {
		lines.push(`# HELP ${metric}${options.openMetrics ? "" : "_total"} ${meta.help}`);
		lines.push(`# TYPE ${metric}${options.openMetrics ? "" : "_total"} counter`);
		for (const snap of snapshots) {
			for (const c of snap.counters.filter((x) => x.metric === metric)) {
				lines.push(`${metric}_total${labelText(c.labels)} ${num(c.value)}`);
			}
		}
	}
	for (const [metric, help] of Object.entries(GAUGES)) {
		lines.push(`# HELP ${metric} ${help}`);
		lines.push(`# TYPE ${metric} gauge`);
		for (const snap of snapshots) {
			for (const g of (snap.gauges ?? []).filter((x) => x.metric === metric))
				lines.push(`${metric}${labelText(g.labels)} ${num(g.value)}`);
		}
	}
	const gauge = (name: string, help: string, value: number) => {
		lines.push(`# HELP ${name} ${help}`);
		lines.push(`# TYPE ${name} gauge`);
		lines.push(`${name} ${num(value)}`);
	};
	gauge("slo_scrape_shards", "SloCounter shards read by this scrape.", options.scrapedShards);
	gauge(
		"slo_scrape_shard_failures",
		"SloCounter shards that could not be read by this scrape (their series are missing).",
		options.failedShards,
	);
	gauge(
		"slo_flush_failures_isolate",
		"SLO batches this isolate dropped after every retry failed (per isolate, since it started).",
		options.exportFailures,
	);
	gauge(
		"slo_flush_dropped_requests_isolate",
		"Requests missing from the SLO counts because their batch was dropped (per isolate, since it started).",
		options.droppedRequests ?? 0,
	);
	if (options.openMetrics) lines.push("# EOF");
	return `${lines.join("\n")}\n`;
}

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";
