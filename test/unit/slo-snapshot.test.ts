import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { labelKey, type StoredRows, toSnapshot } from "../../src/slo/snapshot";

describe("labelKey", () => {
	it("is the same key for the same labels in any order, and JSON with the names sorted", () => {
		expect(labelKey({ outcome: "ok", mode: "hybrid" })).toBe('{"mode":"hybrid","outcome":"ok"}');
		expect(labelKey({ mode: "hybrid", outcome: "ok" })).toBe(labelKey({ outcome: "ok", mode: "hybrid" }));
		expect(labelKey({})).toBe("{}");
	});

	it("tells different label sets apart and reads back as the same labels (any names and values)", () => {
		const labels = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.string({ maxLength: 12 }), {
			maxKeys: 5,
		});
		fc.assert(
			fc.property(labels, labels, (a, b) => {
				const same =
					Object.keys(a).length === Object.keys(b).length &&
					Object.entries(a).every(([k, v]) => Object.hasOwn(b, k) && b[k] === v);
				expect(labelKey(a) === labelKey(b)).toBe(same);
				expect(JSON.parse(labelKey(a))).toEqual(a);
				const reversed = Object.fromEntries(Object.entries(a).reverse());
				expect(labelKey(reversed)).toBe(labelKey(a));
			}),
		);
	});
});

describe("toSnapshot", () => {
	const rows: StoredRows = {
		startMs: 1_700_000_000_000,
		series: [
			{ route: "/a", method: "GET", status: 200, version: "v1", count: 3, sum_ms: 1_250, buckets: "[1,2,0]" },
			{ route: "/a", method: "GET", status: 503, version: "v1", count: 1, sum_ms: 7, buckets: "[1]" },
		],
		counters: [{ metric: "llm_tokens", labels: labelKey({ type: "prompt", model: "m" }), value: 12.5 }],
		gauges: [{ metric: "otlp_last_success_timestamp_seconds", labels: "{}", value: 1_700_000_000 }],
		histograms: [
			{ metric: "rag_retrieval_duration_seconds", labels: '{"mode":"vector"}', count: 2, sum: 0.3, buckets: "[0,2]" },
		],
	};

	it("reports the request series' sum in seconds (stored in ms), buckets and labels decoded, rows in order", () => {
		expect(toSnapshot(rows)).toEqual({
			startTimeMs: 1_700_000_000_000,
			series: [
				{ route: "/a", method: "GET", status: 200, version: "v1", count: 3, sumSeconds: 1.25, buckets: [1, 2, 0] },
				{ route: "/a", method: "GET", status: 503, version: "v1", count: 1, sumSeconds: 0.007, buckets: [1] },
			],
			counters: [{ metric: "llm_tokens", labels: { model: "m", type: "prompt" }, value: 12.5 }],
			gauges: [{ metric: "otlp_last_success_timestamp_seconds", labels: {}, value: 1_700_000_000 }],
			histograms: [
				{ metric: "rag_retrieval_duration_seconds", labels: { mode: "vector" }, count: 2, sum: 0.3, buckets: [0, 2] },
			],
		});
	});

	it("always lists histograms (an empty list, not absent, for a shard without any)", () => {
		const empty = toSnapshot({ startMs: 0, series: [], counters: [], gauges: [], histograms: [] });
		expect(empty).toEqual({ startTimeMs: 0, series: [], counters: [], gauges: [], histograms: [] });
	});
});
