// What one chaos scenario measured, from two sides (docs/resilience.md#chaos-scenarios): the clients' — every request
// load/chaos.js classified, read back from k6's JSON output — and the service's own — the deltas of GET /v1/slo's
// counts and of /metrics over the scenario. Pure: parsing and arithmetic only; scripts/chaos/service-counts.ts reads
// the service and scripts/chaos.ts runs the scenarios.
import { z } from "zod";
import { SloReportSchema } from "../canary/slo-source.ts";

/** What the client saw of one request (load/chaos.js `classify`). */
export type Outcome = "ok" | "bad" | "client" | "wrong";
const OUTCOMES: readonly Outcome[] = ["ok", "bad", "client", "wrong"];

/** One request as load/chaos.js wrote it: a `chaos_request_duration` sample of k6's JSON output. */
export type ClientSample = {
	chaosRoute: string;
	apiRoute: string;
	status: number;
	outcome: Outcome;
	/** "" when ok. */
	error: string;
	durationMs: number;
	ttfbMs: number;
};

const PointSchema = z.object({
	type: z.literal("Point"),
	metric: z.string(),
	data: z.object({ value: z.number(), tags: z.record(z.string(), z.string()) }),
});

/**
 * The requests in k6's JSON output (`--out json=…`, one JSON object a line): each `chaos_request_duration` sample,
 * joined with the `chaos_request_ttfb` sample k6 wrote for the same request (the same tags, in the same order); and
 * how many scheduled requests k6 could not start (`dropped_iterations`: no VU free). Other metrics are skipped.
 */
export function readK6Output(lines: Iterable<string>): { samples: ClientSample[]; notStarted: number } {
	const samples: ClientSample[] = [];
	const ttfbs: number[] = [];
	let notStarted = 0;
	for (const line of lines) {
		if (!line.includes('"chaos_request_') && !line.includes('"dropped_iterations"')) continue;
		const point = PointSchema.safeParse(JSON.parse(line));
		if (!point.success) continue;
		const { value, tags } = point.data.data;
		if (point.data.metric === "dropped_iterations") {
			notStarted += value;
			continue;
		}
		if (point.data.metric === "chaos_request_ttfb") {
			ttfbs.push(value);
			continue;
		}
		if (point.data.metric !== "chaos_request_duration") continue;
		const outcome = tags.outcome as Outcome;
		if (!OUTCOMES.includes(outcome)) throw new Error(`k6 output: unknown outcome "${tags.outcome}"`);
		samples.push({
			chaosRoute: tags.chaos_route ?? "",
			apiRoute: tags.api_route ?? "",
			status: Number(tags.status ?? 0),
			outcome,
			error: tags.error ?? "",
			durationMs: value,
			ttfbMs: Number.NaN,
		});
	}
	if (ttfbs.length !== samples.length) {
		throw new Error(`k6 output: ${samples.length} request samples but ${ttfbs.length} time-to-first-byte samples`);
	}
	samples.forEach((s, i) => {
		s.ttfbMs = ttfbs[i] ?? Number.NaN;
	});
	return { samples, notStarted };
}

/** The nearest-rank percentile `q` (0–1) of `values`, or null when there are none. */
export function percentile(values: readonly number[], q: number): number | null {
	if (values.length === 0) return null;
	const sorted = [...values].sort((a, b) => a - b);
	return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? null;
}

/** Counts of one group of requests as the client saw them. */
export type ClientStats = {
	requests: number;
	/** Per outcome. */
	outcomes: Record<Outcome, number>;
	/** ok ÷ requests (null without requests). */
	availability: number | null;
	p95Ms: number | null;
	p95TtfbMs: number | null;
	/** The fastest and slowest whole response, ms. */
	minMs: number | null;
	maxMs: number | null;
	/** Count per error type (outcomes other than ok). */
	errors: Record<string, number>;
	/** Count per HTTP status (0: no answer). */
	statuses: Record<string, number>;
};

/** Counts, availability, p95 and errors of `samples`. */
export function clientStats(samples: readonly ClientSample[]): ClientStats {
	const outcomes: Record<Outcome, number> = { ok: 0, bad: 0, client: 0, wrong: 0 };
	const errors: Record<string, number> = {};
	const statuses: Record<string, number> = {};
	for (const s of samples) {
		outcomes[s.outcome]++;
		if (s.outcome !== "ok") errors[s.error] = (errors[s.error] ?? 0) + 1;
		statuses[String(s.status)] = (statuses[String(s.status)] ?? 0) + 1;
	}
	return {
		requests: samples.length,
		outcomes,
		availability: samples.length > 0 ? outcomes.ok / samples.length : null,
		p95Ms: percentile(
			samples.map((s) => s.durationMs),
			0.95,
		),
		p95TtfbMs: percentile(
			samples.map((s) => s.ttfbMs),
			0.95,
		),
		minMs: percentile(
			samples.map((s) => s.durationMs),
			0,
		),
		maxMs: percentile(
			samples.map((s) => s.durationMs),
			1,
		),
		errors: sortedRecord(errors),
		statuses: sortedRecord(statuses),
	};
}

/** `record[key]`, set to `init()` first when absent. */
function entry<T>(record: Record<string, T>, key: string, init: () => T): T {
	const existing = record[key];
	if (existing !== undefined) return existing;
	const created = init();
	record[key] = created;
	return created;
}

/** Groups samples by a key, in key order. */
export function groupBy<T>(items: readonly T[], key: (item: T) => string): Record<string, T[]> {
	const out: Record<string, T[]> = {};
	for (const item of items) entry(out, key(item), () => []).push(item);
	return sortedRecord(out);
}

function sortedRecord<T>(r: Record<string, T>): Record<string, T> {
	return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Total and bad events of one API route. */
export type EventCounts = { total: number; bad: number };

/** /v1/slo's counts per API route, summed over versions, in its longest window (`30d`: nothing leaves it during a run). */
export function sloCounts(body: unknown, window = "30d"): Record<string, EventCounts> {
	const report = SloReportSchema.parse(body);
	const out: Record<string, EventCounts> = {};
	for (const r of report.routes) {
		const w = r.windows[window];
		if (!w) throw new Error(`/v1/slo has no window "${window}"`);
		const c = entry(out, r.route, () => ({ total: 0, bad: 0 }));
		c.total += w.requests;
		c.bad += w.errors;
	}
	return out;
}

/** `after − before` per route, for the routes of `after` (a route appears once it has a request). */
export function countDeltas(
	before: Record<string, EventCounts>,
	after: Record<string, EventCounts>,
): Record<string, EventCounts> {
	const out: Record<string, EventCounts> = {};
	for (const [route, a] of Object.entries(after)) {
		const b = before[route] ?? { total: 0, bad: 0 };
		if (a.total !== b.total || a.bad !== b.bad) out[route] = { total: a.total - b.total, bad: a.bad - b.bad };
	}
	return sortedRecord(out);
}

/** One sample of the Prometheus text exposition: metric name, labels, value. */
export type MetricSample = { name: string; labels: Record<string, string>; value: number };

/**
 * The samples of a Prometheus text exposition (format 0.0.4, what GET /metrics answers by default): `# ` lines are
 * skipped; label values are unescaped (`\\`, `\"`, `\n`).
 */
export function parseExposition(text: string): MetricSample[] {
	const out: MetricSample[] = [];
	for (const line of text.split("\n")) {
		if (line === "" || line.startsWith("#")) continue;
		const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
		if (!m) throw new Error(`/metrics: cannot parse the line "${line.slice(0, 200)}"`);
		const labels: Record<string, string> = {};
		for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
			labels[l[1] ?? ""] = (l[2] ?? "").replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
		}
		out.push({ name: m[1] ?? "", labels, value: Number(m[3]) });
	}
	return out;
}

/** A sample's identity: its name and labels in label order. */
const seriesKey = (s: MetricSample) =>
	`${s.name}{${Object.entries(s.labels)
		.sort(([a], [b]) => (a < b ? -1 : 1))
		.map(([k, v]) => `${k}=${JSON.stringify(v)}`)
		.join(",")}}`;

/**
 * The samples of each series summed: a series without a route label (`rag_operations_total{operation,outcome}`) is
 * written once by every `SloCounter` shard that counted it, so one exposition can hold it several times.
 */
function summed(samples: readonly MetricSample[]): Map<string, MetricSample> {
	const out = new Map<string, MetricSample>();
	for (const s of samples) {
		const key = seriesKey(s);
		const seen = out.get(key);
		out.set(key, seen ? { ...seen, value: seen.value + s.value } : s);
	}
	return out;
}

/**
 * The series whose value moved between two scrapes (duplicates summed), with `after − before` as value (a series new
 * in `after` counts from 0). Histogram buckets and sums are left out: the counts say how many; latency comes from the
 * clients.
 */
export function metricDeltas(before: readonly MetricSample[], after: readonly MetricSample[]): MetricSample[] {
	const old = summed(before);
	return [...summed(after).entries()]
		.filter(([, s]) => !s.name.endsWith("_bucket") && !s.name.endsWith("_sum"))
		.map(([key, s]) => ({ key, sample: { ...s, value: s.value - (old.get(key)?.value ?? 0) } }))
		.filter(({ sample }) => sample.value !== 0)
		.sort((a, b) => (a.key < b.key ? -1 : 1))
		.map(({ sample }) => sample);
}

/** The sum of the samples named `name` whose labels include `labels`. */
export function sumOf(samples: readonly MetricSample[], name: string, labels: Record<string, string> = {}): number {
	return samples
		.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
		.reduce((a, s) => a + s.value, 0);
}

/** What the client saw against what the service counted, for one API route. */
export type RouteComparison = {
	route: string;
	client: EventCounts;
	slo: EventCounts;
	/** Per HTTP status: the clients' count and /metrics' `http_server_request_duration_seconds_count`. */
	statuses: Record<string, { client: number; service: number }>;
	/** Streams that failed after their first byte: the clients' and /metrics' `http_server_failed_stream_duration_seconds_count`. */
	failedStreams: { client: number; service: number };
	/** Every count above equal. */
	equal: boolean;
};

/** The histogram of streams that failed after their first byte (counted as bad events; docs/slo.md). */
export const FAILED_STREAM_METRIC = "http_server_failed_stream_duration_seconds_count";
const REQUEST_METRIC = "http_server_request_duration_seconds_count";

/**
 * Compares, request for request, the clients' view of each API route they called with the service's: total and bad
 * events against /v1/slo's deltas, statuses against /metrics' request counts, failed streams against the failed-stream
 * histogram. Exact equality: a request counted twice or lost shows.
 */
export function compareCounts(
	samples: readonly ClientSample[],
	slo: Record<string, EventCounts>,
	metrics: readonly MetricSample[],
): RouteComparison[] {
	return Object.entries(groupBy(samples, (s) => s.apiRoute)).map(([route, list]) => {
		const client = { total: list.length, bad: list.filter((s) => s.outcome === "bad").length };
		const counted = slo[route] ?? { total: 0, bad: 0 };
		const statuses: Record<string, { client: number; service: number }> = {};
		const status = (code: string) => entry(statuses, code, () => ({ client: 0, service: 0 }));
		for (const s of list) status(String(s.status)).client++;
		for (const m of metrics) {
			if (m.name === REQUEST_METRIC && m.labels.http_route === route) {
				status(m.labels.http_response_status_code ?? "?").service += m.value;
			}
		}
		const failedStreams = {
			client: list.filter((s) => s.status === 200 && s.outcome === "bad").length,
			service: sumOf(metrics, FAILED_STREAM_METRIC, { http_route: route }),
		};
		const equal =
			client.total === counted.total &&
			client.bad === counted.bad &&
			Object.values(statuses).every((c) => c.client === c.service) &&
			failedStreams.client === failedStreams.service;
		return { route, client, slo: counted, statuses: sortedRecord(statuses), failedStreams, equal };
	});
}
