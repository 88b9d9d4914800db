import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { HistogramSeries, Series, Snapshot } from "../../src/slo/contract";
import { LATENCY_BUCKETS_S } from "../../src/slo/spec";
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, render } from "../../src/telemetry/prometheus";

// The renderer's output is checked by parsing it the way a scraper would, following the format documents
// (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format and OpenMetrics 1.0), not by
// rebuilding the expected text: each sample line is read character by character, label values unescaped.

type Sample = { name: string; labels: Record<string, string>; value: number; line: string };
type Family = { name: string; type: string; help: string; unit?: string; samples: Sample[] };
type Exposition = { families: Family[]; eof: boolean };

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;

/** One sample line: `name{label="value",…} value`, label values with the escapes `\\`, `\"` and `\n`. */
function parseSample(line: string): Sample {
	const name = METRIC_NAME.exec(line)?.[0];
	if (!name) throw new Error(`no metric name: ${line}`);
	let i = name.length;
	const labels: Record<string, string> = {};
	if (line[i] === "{") {
		i++;
		while (line[i] !== "}") {
			const label = LABEL_NAME.exec(line.slice(i))?.[0];
			if (!label) throw new Error(`bad label name at ${i}: ${line}`);
			i += label.length;
			if (line.slice(i, i + 2) !== '="') throw new Error(`expected =" at ${i}: ${line}`);
			i += 2;
			let value = "";
			for (;;) {
				const ch = line[i++];
				if (ch === undefined) throw new Error(`unterminated label value: ${line}`);
				if (ch === '"') break;
				if (ch === "\\") {
					const next = line[i++];
					if (next === "\\") value += "\\";
					else if (next === '"') value += '"';
					else if (next === "n") value += "\n";
					else throw new Error(`bad escape \\${next}: ${line}`);
				} else value += ch;
			}
			if (label in labels) throw new Error(`duplicate label ${label}: ${line}`);
			labels[label] = value;
			if (line[i] === ",") i++;
			else if (line[i] !== "}") throw new Error(`expected , or } at ${i}: ${line}`);
		}
		i++;
	}
	if (line[i] !== " ") throw new Error(`expected a space before the value: ${line}`);
	const text = line.slice(i + 1);
	const value = text === "+Inf" ? Number.POSITIVE_INFINITY : text === "-Inf" ? Number.NEGATIVE_INFINITY : Number(text);
	if (text === "" || text.includes(" ") || Number.isNaN(value)) throw new Error(`bad value "${text}": ${line}`);
	return { name, labels, value, line };
}

/** The family a sample belongs to: its name, or its name less the suffix its family's type allows. */
function familyOf(sample: string, families: Map<string, Family>, openMetrics: boolean): Family | undefined {
	const exact = families.get(sample);
	if (exact && exact.type !== "histogram" && !(openMetrics && exact.type === "counter")) return exact;
	for (const suffix of ["_bucket", "_sum", "_count", "_created", "_total"]) {
		if (!sample.endsWith(suffix)) continue;
		const f = families.get(sample.slice(0, -suffix.length));
		if (f?.type === "histogram" && suffix !== "_total") return f;
		if (f?.type === "counter" && openMetrics && (suffix === "_total" || suffix === "_created")) return f;
	}
	return undefined;
}

/**
 * Parses a whole exposition, enforcing what scrapers rely on: `# HELP` and `# TYPE` once per family and before its
 * samples, every sample under a declared family, a family's samples together, and (OpenMetrics) `# EOF` last.
 */
function parse(text: string, openMetrics: boolean): Exposition {
	if (!text.endsWith("\n")) throw new Error("the exposition must end with a newline");
	const lines = text.slice(0, -1).split("\n");
	const families = new Map<string, Family>();
	const order: Family[] = [];
	let current: Family | undefined;
	let eof = false;
	for (const line of lines) {
		if (eof) throw new Error(`content after # EOF: ${line}`);
		if (line === "# EOF") {
			eof = true;
			continue;
		}
		const meta = /^# (HELP|TYPE|UNIT) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
		if (meta) {
			const [, kind, name, rest] = meta as unknown as [string, "HELP" | "TYPE" | "UNIT", string, string];
			let f = families.get(name);
			if (!f) {
				if (kind !== "HELP") throw new Error(`# ${kind} before # HELP for ${name}`);
				f = { name, type: "", help: rest, samples: [] };
				families.set(name, f);
				order.push(f);
				current = f;
				continue;
			}
			if (f !== current || f.samples.length > 0) throw new Error(`family ${name} declared twice or after samples`);
			if (kind === "HELP") throw new Error(`second # HELP for ${name}`);
			if (kind === "TYPE") {
				if (f.type) throw new Error(`second # TYPE for ${name}`);
				f.type = rest;
			} else f.unit = rest;
			continue;
		}
		if (line.startsWith("#")) throw new Error(`unexpected comment: ${line}`);
		const sample = parseSample(line);
		const f = familyOf(sample.name, families, openMetrics);
		if (!f?.type) throw new Error(`sample of an undeclared family: ${line}`);
		if (f !== current) throw new Error(`samples of ${f.name} are not together: ${line}`);
		f.samples.push(sample);
	}
	return { families: order, eof };
}

/** A histogram's samples per label set (without `le`): buckets in exposition order, sum, count, created. */
function histogramsOf(f: Family) {
	const out = new Map<
		string,
		{ labels: Record<string, string>; buckets: [string, number][]; sum?: number; count?: number; created?: number }
	>();
	for (const s of f.samples) {
		const { le, ...labels } = s.labels;
		const key = JSON.stringify(Object.entries(labels).sort());
		const h = out.get(key) ?? { labels, buckets: [] };
		out.set(key, h);
		const suffix = s.name.slice(f.name.length);
		if (suffix === "_bucket") h.buckets.push([le as string, s.value]);
		else if (suffix === "_sum") h.sum = s.value;
		else if (suffix === "_count") h.count = s.value;
		else if (suffix === "_created") h.created = s.value;
	}
	return [...out.values()];
}

const options = { exportFailures: 0, scrapedShards: 2, failedShards: 0 };
const boundIndex = (b: number) => LATENCY_BUCKETS_S.indexOf(b);
/** Non-cumulative buckets with the given counts at the given bounds (and the overflow). */
function bucketsAt(counts: [bound: number | "+Inf", count: number][]): number[] {
	const buckets = new Array<number>(LATENCY_BUCKETS_S.length + 1).fill(0);
	for (const [bound, count] of counts) buckets[bound === "+Inf" ? LATENCY_BUCKETS_S.length : boundIndex(bound)] = count;
	return buckets;
}
const series = (over: Partial<Series> = {}): Series => ({
	route: "/v1/chat/completions",
	method: "POST",
	status: 200,
	version: "v1",
	count: 4,
	sumSeconds: 61.3,
	buckets: bucketsAt([
		[0.005, 1],
		[0.25, 2],
		["+Inf", 1],
	]),
	...over,
});
const retrieval = (over: Partial<HistogramSeries> = {}): HistogramSeries => ({
	metric: "rag_retrieval_duration_seconds",
	labels: { mode: "hybrid", outcome: "ok" },
	count: 2,
	sum: 0.1 + 0.2,
	buckets: bucketsAt([[0.25, 2]]),
	...over,
});
const snapshot = (over: Partial<Snapshot> = {}): Snapshot => ({
	startTimeMs: 1_700_000_000_500,
	series: [series()],
	counters: [
		{ metric: "llm_tokens", labels: { model: "local", tenant: "t1", type: "prompt" }, value: 12 },
		{ metric: "llm_cost_usd", labels: { model: "local", tenant: "t1" }, value: 0.1 + 0.2 },
	],
	gauges: [{ metric: "otlp_last_success_timestamp_seconds", labels: {}, value: 1_700_000_123.5 }],
	histograms: [retrieval()],
	...over,
});
const family = (e: Exposition, name: string) => {
	const f = e.families.find((x) => x.name === name);
	if (!f) throw new Error(`no family ${name}`);
	return f;
};

describe("render: Prometheus text format 0.0.4", () => {
	const text = render([snapshot()], { ...options, openMetrics: false });
	const e = parse(text, false);

	it("declares every family once with # HELP and # TYPE before its samples", () => {
		expect(e.eof).toBe(false);
		for (const f of e.families) {
			expect(f.help, f.name).not.toBe("");
			expect(["counter", "gauge", "histogram"], f.name).toContain(f.type);
		}
		expect(family(e, "http_server_request_duration_seconds").type).toBe("histogram");
		expect(family(e, "rag_retrieval_duration_seconds").type).toBe("histogram");
		expect(family(e, "otlp_last_success_timestamp_seconds").type).toBe("gauge");
		// No # UNIT, _created or # EOF: those are OpenMetrics only.
		expect(text).not.toMatch(/^# UNIT|_created|^# EOF/m);
	});

	it("names counters with _total, in # TYPE as in the samples", () => {
		const tokens = family(e, "llm_tokens_total");
		expect(tokens.type).toBe("counter");
		expect(tokens.samples).toEqual([
			expect.objectContaining({
				name: "llm_tokens_total",
				labels: { model: "local", tenant: "t1", type: "prompt" },
				value: 12,
			}),
		]);
		// Sums of floats are written at 15 significant digits: 0.1 + 0.2 is exposed as 0.3.
		expect(family(e, "llm_cost_usd_total").samples[0]?.line).toMatch(/ 0\.3$/);
	});

	it('exposes a histogram as cumulative _bucket samples ending at le="+Inf", then _sum and _count', () => {
		const [h, ...others] = histogramsOf(family(e, "http_server_request_duration_seconds"));
		expect(others).toEqual([]);
		expect(h?.labels).toEqual({
			http_route: "/v1/chat/completions",
			http_request_method: "POST",
			http_response_status_code: "200",
			version: "v1",
		});
		const buckets = h?.buckets ?? [];
		expect(buckets.map(([le]) => le)).toEqual([
			...LATENCY_BUCKETS_S.map((b) => (Number.isInteger(b) ? `${b}.0` : String(b))),
			"+Inf",
		]);
		const at = (le: string) => buckets.find(([l]) => l === le)?.[1];
		expect(at("0.005")).toBe(1);
		expect(at("0.1")).toBe(1);
		expect(at("0.25")).toBe(3);
		expect(at("60.0")).toBe(3);
		expect(at("+Inf")).toBe(4);
		expect(h?.count).toBe(4);
		expect(h?.sum).toBe(61.3);
		// Cumulative: never decreasing, bounds ascending (+Inf last).
		const bounds = buckets.map(([le]) => (le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le)));
		expect(bounds.every((b, i) => i === 0 || b > (bounds[i - 1] as number))).toBe(true);
		expect(buckets.every(([, n], i) => i === 0 || n >= (buckets[i - 1] as [string, number])[1])).toBe(true);
		// The order a histogram is written in: the buckets, +Inf last, then _sum and _count.
		const samples = family(e, "http_server_request_duration_seconds").samples;
		expect(samples.slice(-3).map((s) => [s.name, s.labels.le])).toEqual([
			["http_server_request_duration_seconds_bucket", "+Inf"],
			["http_server_request_duration_seconds_sum", undefined],
			["http_server_request_duration_seconds_count", undefined],
		]);
	});

	it("exposes the other histograms the same way, labels as recorded", () => {
		const [h] = histogramsOf(family(e, "rag_retrieval_duration_seconds"));
		expect(h?.labels).toEqual({ mode: "hybrid", outcome: "ok" });
		expect(h?.buckets.at(-1)).toEqual(["+Inf", 2]);
		expect(h?.buckets.find(([le]) => le === "0.25")?.[1]).toBe(2);
		expect(h?.buckets.find(([le]) => le === "0.1")?.[1]).toBe(0);
		expect(h?.sum).toBe(0.3);
		expect(h?.count).toBe(2);
	});

	it("escapes backslash, double quote and newline in label values, and nothing else", () => {
		const route = 'C:\\dir "quoted"\nnext line\ttab {x="y"},é';
		const out = render([snapshot({ series: [series({ route })] })], { ...options, openMetrics: false });
		// The newline in the value must not break the sample across lines.
		expect(out.split("\n").filter((l) => l.startsWith("http_server_request_duration_seconds_count"))).toHaveLength(1);
		const count = parse(out, false)
			.families.find((f) => f.name === "http_server_request_duration_seconds")
			?.samples.find((s) => s.name.endsWith("_count"));
		expect(count?.labels.http_route).toBe(route);
		expect(count?.line).toContain('http_route="C:\\\\dir \\"quoted\\"\\nnext line\ttab {x=\\"y\\"},é"');
	});

	it("ends with the scrape's own gauges", () => {
		const out = parse(
			render([], { exportFailures: 3, droppedRequests: 7, scrapedShards: 5, failedShards: 1, openMetrics: false }),
			false,
		);
		const value = (name: string) => family(out, name).samples[0]?.value;
		expect(value("slo_scrape_shards")).toBe(5);
		expect(value("slo_scrape_shard_failures")).toBe(1);
		expect(value("slo_flush_failures_isolate")).toBe(3);
		expect(value("slo_flush_dropped_requests_isolate")).toBe(7);
		expect(out.families.at(-1)?.name).toBe("slo_flush_dropped_requests_isolate");
		// Families without series are still declared (so absent() and rules see them), with no samples.
		expect(family(out, "http_server_request_duration_seconds").samples).toEqual([]);
	});

	it("groups the series of every shard under one declaration per family", () => {
		const two = render(
			[
				snapshot(),
				snapshot({
					series: [series({ route: "/v1/documents", status: 201 })],
					histograms: [retrieval({ labels: { mode: "vector", outcome: "ok" } })],
				}),
			],
			{ ...options, openMetrics: false },
		);
		const out = parse(two, false);
		expect(histogramsOf(family(out, "http_server_request_duration_seconds")).map((h) => h.labels.http_route)).toEqual([
			"/v1/chat/completions",
			"/v1/documents",
		]);
		expect(histogramsOf(family(out, "rag_retrieval_duration_seconds"))).toHaveLength(2);
		expect(family(out, "llm_tokens_total").samples).toHaveLength(2);
	});

	it("reads back what a snapshot holds, for any label values and bucket counts", () => {
		const labelValue = fc.string({ unit: "binary", maxLength: 12 });
		const counts = fc.array(fc.nat({ max: 50 }), {
			minLength: LATENCY_BUCKETS_S.length + 1,
			maxLength: LATENCY_BUCKETS_S.length + 1,
		});
		fc.assert(
			fc.property(
				labelValue,
				labelValue,
				counts,
				fc.double({ min: 0, max: 1e6, noNaN: true }),
				(route, mode, b, sum) => {
					const count = b.reduce((x, y) => x + y, 0);
					const snap = snapshot({
						series: [series({ route, buckets: b, count, sumSeconds: sum })],
						histograms: [retrieval({ labels: { mode }, buckets: b, count, sum })],
					});
					const out = parse(render([snap], { ...options, openMetrics: false }), false);
					for (const [name, labels] of [
						["http_server_request_duration_seconds", { http_route: route }],
						["rag_retrieval_duration_seconds", { mode }],
					] as const) {
						const [h] = histogramsOf(family(out, name));
						expect(h?.labels).toMatchObject(labels);
						// le="<bound>" counts every observation in the buckets up to that bound.
						LATENCY_BUCKETS_S.forEach((bound, i) => {
							const expected = b.slice(0, i + 1).reduce((x, y) => x + y, 0);
							expect(h?.buckets[i]).toEqual([Number.isInteger(bound) ? `${bound}.0` : String(bound), expected]);
						});
						expect(h?.buckets.at(-1)).toEqual(["+Inf", count]);
						expect(h?.count).toBe(count);
						expect(h?.sum).toBeCloseTo(sum, 8);
					}
				},
			),
			{ numRuns: 100 },
		);
	});

	it("is served with the 0.0.4 content type", () => {
		expect(PROMETHEUS_CONTENT_TYPE).toBe("text/plain; version=0.0.4; charset=utf-8");
	});
});

describe("render: OpenMetrics 1.0", () => {
	const text = render([snapshot()], { ...options, openMetrics: true });
	const e = parse(text, true);

	it("ends with # EOF", () => {
		expect(e.eof).toBe(true);
		expect(text.endsWith("\n# EOF\n")).toBe(true);
	});

	it("names counter families without _total, samples with it", () => {
		const tokens = family(e, "llm_tokens");
		expect(tokens.type).toBe("counter");
		expect(tokens.samples.map((s) => s.name)).toEqual(["llm_tokens_total"]);
		expect(e.families.some((f) => f.name.endsWith("_total"))).toBe(false);
	});

	it("gives histograms their unit and a _created time (the shard's start, in seconds)", () => {
		for (const name of ["http_server_request_duration_seconds", "rag_retrieval_duration_seconds"]) {
			const f = family(e, name);
			expect(f.unit).toBe("seconds");
			const [h] = histogramsOf(f);
			expect(h?.created).toBe(1_700_000_000.5);
			expect(h?.buckets.at(-1)).toEqual(["+Inf", h?.count]);
		}
	});

	it("is served with the OpenMetrics content type", () => {
		expect(OPENMETRICS_CONTENT_TYPE).toBe("application/openmetrics-text; version=1.0.0; charset=utf-8");
	});
});
