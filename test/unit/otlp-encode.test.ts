import { describe, expect, it } from "vitest";
import type { HistogramSeries, Snapshot } from "../../src/slo/contract";
import { LATENCY_BUCKETS_S } from "../../src/slo/spec";
import { encodeMetrics } from "../../src/telemetry/otlp";

// The OTLP push names each histogram and its attributes so that the standard OTLP → Prometheus translation gives
// back the scrape's names (docs/metrics.md#push): `http.server.failed_stream.duration` with `error.type` becomes
// http_server_failed_stream_duration_seconds{error_type=…}, which the SLO rules read.

const buckets = (n: number) => [n, ...Array.from({ length: LATENCY_BUCKETS_S.length }, () => 0)];
const histogram = (metric: string, labels: Record<string, string>, count: number): HistogramSeries => ({
	metric,
	labels,
	count,
	sum: count * 0.1,
	buckets: buckets(count),
});

const snapshot: Snapshot = {
	startTimeMs: 1_000,
	series: [],
	counters: [],
	gauges: [],
	histograms: [
		histogram(
			"http_server_failed_stream_duration_seconds",
			{ http_route: "/v1/chat/completions", http_request_method: "POST", version: "v1", error_type: "model_error" },
			3,
		),
		histogram("rag_retrieval_duration_seconds", { mode: "hybrid", outcome: "ok" }, 2),
	],
};

type Point = { attributes: { key: string; value: { stringValue: string } }[]; count: string };
type Metric = { name: string; unit: string; histogram?: { dataPoints: Point[] } };

describe("encodeMetrics", () => {
	const metrics = (
		encodeMetrics([snapshot], { serviceName: "edge-ai-api", serviceVersion: "v1", nowMs: 2_000 }) as unknown as {
			resourceMetrics: { scopeMetrics: { metrics: Metric[] }[] }[];
		}
	).resourceMetrics[0]?.scopeMetrics[0]?.metrics;

	it("pushes failed streams as http.server.failed_stream.duration with OpenTelemetry attribute names", () => {
		const failed = metrics?.find((m) => m.name === "http.server.failed_stream.duration");
		expect(failed?.unit).toBe("s");
		const [point] = failed?.histogram?.dataPoints ?? [];
		expect(point?.count).toBe("3");
		expect(Object.fromEntries((point?.attributes ?? []).map((a) => [a.key, a.value.stringValue]))).toEqual({
			"http.route": "/v1/chat/completions",
			"http.request.method": "POST",
			version: "v1",
			"error.type": "model_error",
		});
	});

	it("keeps the retrieval histogram's own label names", () => {
		const retrieval = metrics?.find((m) => m.name === "rag.retrieval.duration");
		const [point] = retrieval?.histogram?.dataPoints ?? [];
		expect((point?.attributes ?? []).map((a) => a.key).sort()).toEqual(["mode", "outcome"]);
	});
});
