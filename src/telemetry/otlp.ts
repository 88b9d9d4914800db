/**
 * OTLP/HTTP (JSON) push of the shards' cumulative numbers to an OpenTelemetry Collector or Grafana Cloud
 * (`OTLP_ENDPOINT`, headers from `OTLP_HEADERS`), from the cron trigger. Cumulative temporality with each shard's
 * persisted start time, so every push is complete, correct data on its own and receivers never double count;
 * resource attributes `service.name` and `service.version`. A failed push is retried with backoff; outcomes are
 * counted (`otlp_exports_total{outcome}`) and the last success is a gauge (`otlp_last_success_timestamp_seconds`).
 *
 * @example
 * ```ts
 * await pushMetrics(snapshots, { endpoint: "http://collector:4318", headers: {}, serviceName: "edge-ai-api", serviceVersion: "v1" });
 * ```
 *
 * @module
 */
import type { Snapshot } from "../slo/contract";
import { bucketCounts } from "../slo/histogram";
import { LATENCY_BUCKETS_S } from "../slo/spec";
import type { Logger } from "./logger";

const CUMULATIVE = 2;
const nanos = (ms: number) => `${BigInt(Math.round(ms)) * 1_000_000n}`;
const attrs = (labels: Record<string, string>) =>
	Object.entries(labels).map(([key, v]) => ({ key, value: { stringValue: v } }));

/** One cumulative histogram data point (explicit bounds LATENCY_BUCKETS_S, s); `time` in Unix ns. */
const histogramPoint = (
	labels: Record<string, string>,
	h: { count: number; sum: number; buckets: readonly number[] },
	startMs: number,
	time: string,
) => ({
	attributes: attrs(labels),
	startTimeUnixNano: nanos(startMs),
	timeUnixNano: time,
	count: String(h.count),
	sum: h.sum,
	bucketCounts: bucketCounts(h.buckets).map(String),
	explicitBounds: [...LATENCY_BUCKETS_S],
});

const SUMS: Record<string, { name: string; unit: string }> = {
	rate_limit_decisions: { name: "rate_limit.decisions", unit: "{decision}" },
	llm_tokens: { name: "llm.tokens", unit: "{token}" },
	// "{USD}": an annotation, so the Prometheus translation of OTLP names it llm_cost_usd_total, as the scrape does.
	llm_cost_usd: { name: "llm.cost.usd", unit: "{USD}" },
	rag_operations: { name: "rag.operations", unit: "{call}" },
	rag_ingest_documents: { name: "rag.ingest.documents", unit: "{document}" },
	llm_upstream_requests: { name: "llm.upstream.requests", unit: "{attempt}" },
	llm_fallbacks: { name: "llm.fallbacks", unit: "{completion}" },
	rate_limit_denied_subjects: { name: "rate_limit.denied_subjects", unit: "{decision}" },
	otlp_exports: { name: "otlp.exports", unit: "{push}" },
};

/**
 * The other histograms (Prometheus name → OTLP name), in seconds; `attributes` renames labels to their OpenTelemetry
 * attribute names (whose Prometheus translation gives back the scrape's label names).
 */
const HISTOGRAMS: Record<string, { name: string; description: string; attributes?: Record<string, string> }> = {
	rag_retrieval_duration_seconds: { name: "rag.retrieval.duration", description: "RAG retrieval time." },
	http_server_failed_stream_duration_seconds: {
		name: "http.server.failed_stream.duration",
		description: "Duration to the first byte of streamed responses that failed after it, by error.type.",
		attributes: {
			http_route: "http.route",
			http_request_method: "http.request.method",
			error_type: "error.type",
		},
	},
};

/** `labels` with their names renamed by `names` (others kept). */
const renamed = (labels: Record<string, string>, names: Record<string, string> = {}) =>
	Object.fromEntries(Object.entries(labels).map(([k, v]) => [names[k] ?? k, v]));

export function encodeMetrics(
	snapshots: readonly Snapshot[],
	meta: { serviceName: string; serviceVersion: string; nowMs: number },
) {
	const time = nanos(meta.nowMs);
	const histogramPoints = snapshots.flatMap((snap) =>
		snap.series.map((s) =>
			histogramPoint(
				{
					"http.route": s.route,
					"http.request.method": s.method,
					"http.response.status_code": String(s.status),
					version: s.version,
				},
				{ ...s, sum: s.sumSeconds },
				snap.startTimeMs,
				time,
			),
		),
	);
	const metrics: object[] = [
		{
			name: "http.server.request.duration",
			unit: "s",
			description: "Duration of HTTP server requests, to the response's first byte.",
			histogram: { aggregationTemporality: CUMULATIVE, dataPoints: histogramPoints },
		},
	];
	for (const [metric, m] of Object.entries(HISTOGRAMS)) {
		const dataPoints = snapshots.flatMap((snap) =>
			(snap.histograms ?? [])
				.filter((h) => h.metric === metric)
				.map((h) => histogramPoint(renamed(h.labels, m.attributes), h, snap.startTimeMs, time)),
		);
		if (dataPoints.length > 0) {
			metrics.push({
				name: m.name,
				unit: "s",
				description: m.description,
				histogram: { aggregationTemporality: CUMULATIVE, dataPoints },
			});
		}
	}
	for (const [metric, m] of Object.entries(SUMS)) {
		const dataPoints = snapshots.flatMap((snap) =>
			snap.counters
				.filter((c) => c.metric === metric)
				.map((c) => ({
					attributes: attrs(c.labels),
					startTimeUnixNano: nanos(snap.startTimeMs),
					timeUnixNano: time,
					asDouble: c.value,
				})),
		);
		if (dataPoints.length > 0) {
			metrics.push({
				name: m.name,
				unit: m.unit,
				sum: { aggregationTemporality: CUMULATIVE, isMonotonic: true, dataPoints },
			});
		}
	}
	return {
		resourceMetrics: [
			{
				resource: {
					attributes: attrs({ "service.name": meta.serviceName, "service.version": meta.serviceVersion }),
				},
				scopeMetrics: [{ scope: { name: "edge-ai-api/slo", version: "1" }, metrics }],
			},
		],
	};
}

/** `k=v,k2=v2` (OTEL_EXPORTER_OTLP_HEADERS style, values URL-encoded) → headers. */
export function parseHeaders(raw: string | undefined): Record<string, string> {
	const out: Record<string, string> = {};
	for (const part of (raw ?? "").split(",")) {
		const eq = part.indexOf("=");
		if (eq > 0) out[decodeURIComponent(part.slice(0, eq).trim())] = decodeURIComponent(part.slice(eq + 1).trim());
	}
	return out;
}

export type PushOptions = {
	endpoint: string;
	headers: Record<string, string>;
	serviceName: string;
	serviceVersion: string;
	retries?: number;
	fetch?: typeof fetch;
	sleep?: (ms: number) => Promise<void>;
	log?: Logger;
	nowMs?: number;
};

/** POSTs to `<endpoint>/v1/metrics` with retries; resolves to whether the push was accepted. */
export async function pushMetrics(snapshots: readonly Snapshot[], options: PushOptions): Promise<boolean> {
	const body = JSON.stringify(
		encodeMetrics(snapshots, {
			serviceName: options.serviceName,
			serviceVersion: options.serviceVersion,
			nowMs: options.nowMs ?? Date.now(),
		}),
	);
	const doFetch = options.fetch ?? ((i: RequestInfo | URL, init?: RequestInit) => fetch(i, init));
	const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
	const retries = options.retries ?? 3;
	for (let attempt = 0; ; attempt++) {
		try {
			const res = await doFetch(`${options.endpoint.replace(/\/+$/, "")}/v1/metrics`, {
				method: "POST",
				headers: { "Content-Type": "application/json", ...options.headers },
				body,
				signal: AbortSignal.timeout(10_000),
			});
			if (res.ok) return true;
			// 4xx other than 429 will not get better by retrying.
			if (res.status < 500 && res.status !== 429) {
				options.log?.error("OTLP push refused", { status: res.status });
				return false;
			}
			options.log?.warn("OTLP push failed", { status: res.status, attempt });
		} catch (err) {
			options.log?.warn("OTLP push failed", { error_message: String(err), attempt });
		}
		if (attempt >= retries) return false;
		await sleep(500 * 2 ** attempt);
	}
}
