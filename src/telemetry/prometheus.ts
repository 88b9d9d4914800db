import type { Snapshot } from "../../durable-objects/slo-counter";
import { LATENCY_BUCKETS_S } from "../slo/spec";

/**
 * Prometheus text exposition (0.0.4) and OpenMetrics 1.0 of the shards' cumulative numbers (docs/metrics.md).
 * Series of the same name are grouped under one `# HELP`/`# TYPE`; label values are escaped; OpenMetrics names
 * counters without `_total` in `# TYPE` and ends with `# EOF`.
 *
 * @example
 * ```ts
 * render([snapshot], { openMetrics: false, exportFailures: 0 });
 * ```
 */
const COUNTERS: Record<string, { help: string; unit?: string }> = {
	rate_limit_decisions: {
		help: "Rate-limit decisions by route, policy and outcome (allowed, denied, denied_cached, fail_open, fail_closed).",
	},
	llm_tokens: { help: "LLM tokens by model, tenant, route and type (prompt, completion)." },
	llm_cost_usd: { help: "LLM cost in US dollars by model, tenant and route (from CHAT_PRICES)." },
	rag_operations: { help: "Embedder and vector index calls by operation and outcome." },
	otlp_exports: { help: "OTLP metric pushes by outcome (ok, error)." },
};

const GAUGES: Record<string, string> = {
	otlp_last_success_timestamp_seconds: "Time of the last accepted OTLP metric push (Unix seconds).",
};

const escapeLabel = (v: string) => v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
const labelText = (labels: Record<string, string>) =>
	`{${Object.entries(labels)
		.map(([k, v]) => `${k}="${escapeLabel(v)}"`)
		.join(",")}}`;
const num = (v: number) => (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(15))));
const le = (b: number) => (Number.isInteger(b) ? `${b}.0` : String(b));

export function render(
	snapshots: readonly Snapshot[],
	options: { openMetrics: boolean; exportFailures: number; scrapedShards: number; failedShards: number },
): string {
	const lines: string[] = [];
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
			let cumulative = 0;
			LATENCY_BUCKETS_S.forEach((b, i) => {
				cumulative += s.buckets[i] ?? 0;
				lines.push(`${h}_bucket${labelText({ ...labels, le: le(b) })} ${cumulative}`);
			});
			lines.push(`${h}_bucket${labelText({ ...labels, le: "+Inf" })} ${s.count}`);
			lines.push(`${h}_sum${labelText(labels)} ${num(s.sumSeconds)}`);
			lines.push(`${h}_count${labelText(labels)} ${s.count}`);
			if (options.openMetrics) lines.push(`${h}_created${labelText(labels)} ${num(snap.startTimeMs / 1000)}`);
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
	if (options.openMetrics) lines.push("# EOF");
	return `${lines.join("\n")}\n`;
}

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";
