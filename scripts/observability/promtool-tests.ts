// Building blocks of promtool rule unit tests (https://prometheus.io/docs/prometheus/latest/configuration/unit_testing_rules/):
// counter series described as traffic over time, and checks of which alerts fire when.
import { bucketLabel, LATENCY_BUCKETS_S } from "../../src/slo/spec.ts";
import { JOB, METRIC } from "./slo-rules.ts";

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
	const parts: string[] = [];
	let value = 0;
	let first = true;
	for (const s of segments) {
		if (s.minutes <= 0) continue;
		if (first) {
			parts.push(`0+${num(s.perMinute)}x${s.minutes}`);
			first = false;
		} else {
			parts.push(`${num(value + s.perMinute)}+${num(s.perMinute)}x${s.minutes - 1}`);
		}
		value += s.perMinute * s.minutes;
	}
	return parts.join(" ");
}

/** A gauge holding `value` for `minutes` + 1 samples. */
export const gaugeValues = (value: number, minutes: number) => `${num(value)}x${minutes}`;

export const labelText = (labels: Record<string, string>) =>
	`{${Object.entries(labels)
		.map(([k, v]) => `${k}="${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`)
		.join(", ")}}`;

/**
 * Traffic of one route as the request histogram's series: per segment, requests per minute, the share failing
 * with 5xx, and the share of good (non-5xx) requests slower than the slowest SLO threshold (buckets above it only).
 */
/** The target labels Prometheus gives every scraped series of the service in the promtool tests' input. */
export const SCRAPE_LABELS = { job: JOB, instance: "edge-ai-api.example:443" } as const;

export type TrafficSegment = { minutes: number; perMinute: number; errorShare?: number; slowShare?: number };

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
	const ok = segments.map((s) => ({ minutes: s.minutes, perMinute: s.perMinute * (1 - (s.errorShare ?? 0)) }));
	const errors = segments.map((s) => ({ minutes: s.minutes, perMinute: s.perMinute * (s.errorShare ?? 0) }));
	// Fast answers land in the lowest bucket; slow ones only in +Inf (slower than every threshold).
	const fast = segments.map((s) => ({
		minutes: s.minutes,
		perMinute: s.perMinute * (1 - (s.errorShare ?? 0)) * (1 - (s.slowShare ?? 0)),
	}));
	const out: InputSeries[] = [];
	for (const [status, counts, within] of [
		["200", ok, fast],
		["500", errors, errors],
	] as const) {
		const l = { ...base, http_response_status_code: status };
		out.push({ series: `${METRIC}_count${labelText(l)}`, values: counterValues(counts) });
		for (const b of LATENCY_BUCKETS_S)
			out.push({ series: `${METRIC}_bucket${labelText({ ...l, le: bucketLabel(b) })}`, values: counterValues(within) });
		out.push({ series: `${METRIC}_bucket${labelText({ ...l, le: "+Inf" })}`, values: counterValues(counts) });
	}
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
