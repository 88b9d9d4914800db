// Building blocks of promtool rule unit tests (https://prometheus.io/docs/prometheus/latest/configuration/unit_testing_rules/):
// counter series described as traffic over time, and checks of which alerts fire when.
import { bucketLabel, LATENCY_BUCKETS_S } from "../../src/slo/spec.ts";
import { FAILED_STREAM_METRIC, JOB, METRIC } from "./slo-rules.ts";

export type InputSeries = { series: string; values: string };
export type ExpectedAlert = { exp_labels: Record<string, string>; exp_annotations?: Record<string, string> };
export type AlertRuleTest = { eval_time: string; alertname: string; exp_alerts: ExpectedAlert[] };
export type PromqlExprTest = {
	expr: string;
	eval_time: string;
	exp_samples: { labels: string; value: number }[];
};
export type TestGroup = {
	name: string;
	interval: string;
	input_series: InputSeries[];
	alert_rule_test?: AlertRuleTest[];
	promql_expr_test?: PromqlExprTest[];
};

/** A stretch of a counter's life: `minutes` long, increasing by `perMinute` each minute. */
export type Segment = { minutes: number; perMinute: number };

const num = (x: number) => String(Number(x.toPrecision(12)));

/**
 * promtool's expanding notation for a counter sampled every minute from 0: one sample at minute 0, then one per minute
 * of each segment (`a+bxn` gives n + 1 samples a, a+b, …, a+nb).
 */
export function counterValues(segments: readonly Segment[]): string {
	const [first, ...rest] = segments.filter((s) => s.minutes > 0);
	if (!first) return "";
	return [`0+${num(first.perMinute)}x${first.minutes}`, ...continued(first.perMinute * first.minutes, rest)].join(" ");
}

/** The minute of a counter's first increase (1 for the first minute), or 0 when it never increases. */
export function firstIncrease(segments: readonly Segment[]): number {
	return perMinute(segments).findIndex((n) => n > 0) + 1;
}

/**
 * A counter the service exports only from minute `first` on — the failed-stream histogram has no series before the
 * first failed stream, and then every bucket at once (`first` is its `_count`'s {@link firstIncrease}; by default
 * the counter's own): no sample (`_`) before, then one a minute as in {@link counterValues}. Empty (no series at all)
 * when `first` is 0 or past the segments.
 */
export function sparseCounterValues(segments: readonly Segment[], first = firstIncrease(segments)): string {
	const increases = perMinute(segments);
	if (first < 1 || first > increases.length) return "";
	const value = increases.slice(0, first).reduce((a, b) => a + b, 0);
	const [next, ...later] = runs(increases.slice(first));
	// `_xn` is n missing samples (unlike `axn`, n + 1 samples of a).
	const head = next ? `${num(value)}+${num(next.perMinute)}x${next.minutes}` : num(value);
	return [`_x${first}`, head, ...continued(value + (next ? next.perMinute * next.minutes : 0), later)].join(" ");
}

/** Each minute's increase, minute 1 first. */
const perMinute = (segments: readonly Segment[]) =>
	segments.flatMap((s) => Array.from({ length: Math.max(0, s.minutes) }, () => s.perMinute));

/** Per-minute increases as segments of equal increases. */
export function runs(increases: readonly number[]): Segment[] {
	const out: Segment[] = [];
	for (const n of increases) {
		const last = out.at(-1);
		if (last && last.perMinute === n) last.minutes++;
		else out.push({ minutes: 1, perMinute: n });
	}
	return out;
}

/** The samples of each segment's minutes (one at the end of each minute), continuing a counter at `value`. */
function continued(value: number, segments: readonly Segment[]): string[] {
	const parts: string[] = [];
	for (const s of segments) {
		parts.push(`${num(value + s.perMinute)}+${num(s.perMinute)}x${s.minutes - 1}`);
		value += s.perMinute * s.minutes;
	}
	return parts;
}

/** A gauge holding `value` for `minutes` + 1 samples. */
export const gaugeValues = (value: number, minutes: number) => `${num(value)}x${minutes}`;

export const labelText = (labels: Record<string, string>) =>
	`{${Object.entries(labels)
		.map(([k, v]) => `${k}="${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`)
		.join(", ")}}`;

/** The target labels Prometheus gives every scraped series of the service in the promtool tests' input. */
export const SCRAPE_LABELS = { job: JOB, instance: "edge-ai-api.example:443" } as const;

/**
 * A stretch of one route's traffic: requests per minute; the share failing with 5xx; the share of the other
 * requests that are streams failing after their first byte (fast: bad only because they failed); and the share of
 * the rest slower than the slowest SLO threshold.
 */
export type TrafficSegment = {
	minutes: number;
	perMinute: number;
	errorShare?: number;
	failedStreamShare?: number;
	slowShare?: number;
};

/**
 * Traffic of one route as the service exports it: the request histogram (status 200 and 500) and, when some
 * segment has failed streams, the failed-stream histogram (`error_type="model_error"`). Fast requests land in the
 * lowest bucket, slow ones only in +Inf (slower than every threshold); failed streams are fast, and are 200s of the
 * request histogram too, with the same duration, as the service records them.
 */
export function requestSeries(
	route: string,
	segments: readonly TrafficSegment[],
	labels: Record<string, string> = {},
): InputSeries[] {
	const base = {
		...SCRAPE_LABELS,
		http_route: route,
		http_request_method: "POST",
		version: "v1",
		...labels,
	};
	const per = (f: (s: TrafficSegment) => number): Segment[] =>
		segments.map((s) => ({ minutes: s.minutes, perMinute: s.perMinute * f(s) }));
	const answered = (s: TrafficSegment) => 1 - (s.errorShare ?? 0);
	const failed = (s: TrafficSegment) => answered(s) * (s.failedStreamShare ?? 0);
	const ok = per(answered);
	const errors = per((s) => s.errorShare ?? 0);
	const fast = per((s) => failed(s) + (answered(s) - failed(s)) * (1 - (s.slowShare ?? 0)));
	const out: InputSeries[] = [];
	const histogram = (
		metric: string,
		l: Record<string, string>,
		counts: Segment[],
		within: Segment[],
		sparse = false,
	) => {
		const values = (x: Segment[]) => (sparse ? sparseCounterValues(x, firstIncrease(counts)) : counterValues(x));
		out.push({ series: `${metric}_count${labelText(l)}`, values: values(counts) });
		for (const b of LATENCY_BUCKETS_S)
			out.push({ series: `${metric}_bucket${labelText({ ...l, le: bucketLabel(b) })}`, values: values(within) });
		out.push({ series: `${metric}_bucket${labelText({ ...l, le: "+Inf" })}`, values: values(counts) });
	};
	histogram(METRIC, { ...base, http_response_status_code: "200" }, ok, fast);
	histogram(METRIC, { ...base, http_response_status_code: "500" }, errors, errors);
	const failedStreams = per(failed);
	if (failedStreams.some((s) => s.perMinute > 0))
		histogram(FAILED_STREAM_METRIC, { ...base, error_type: "model_error" }, failedStreams, failedStreams, true);
	return out;
}

/** Minutes as a promtool duration. */
export const at = (minutes: number) => `${Math.round(minutes)}m`;

/** "`alertname` fires at `minutes` with these labels" / "nothing of `alertname` fires" via the ALERTS series. */
export function firing(
	alertname: string,
	minutes: number,
	labelSets: Record<string, string>[],
	matchers: Record<string, string> = {},
): PromqlExprTest {
	const extra = Object.entries(matchers).map(([k, v]) => `, ${k}="${v}"`);
	return {
		expr: `ALERTS{alertname="${alertname}", alertstate="firing"${extra.join("")}}`,
		eval_time: at(minutes),
		exp_samples: labelSets.map((l) => ({
			labels: `ALERTS${labelText({ ...l, alertname, alertstate: "firing" })}`,
			value: 1,
		})),
	};
}
