import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
	addToBuckets,
	BUCKET_COUNT,
	bucketCounts,
	bucketIndex,
	cumulativeCounts,
	type Histogram,
	observe,
} from "../../src/slo/histogram";
import { LATENCY_BUCKETS_S } from "../../src/slo/spec";

const N = LATENCY_BUCKETS_S.length;
/** Seconds around every bound: the bound itself, a hair below and above, and far outside the range. */
const seconds = fc.oneof(
	fc.double({ min: 0, max: 120, noNaN: true }),
	fc.constantFrom(...LATENCY_BUCKETS_S.flatMap((b) => [b, b - 1e-9, b + 1e-9]), 0, 1e9),
);

describe("bucketIndex", () => {
	it("puts a value on a bound in that bound's bucket (le is inclusive) and just above it in the next", () => {
		LATENCY_BUCKETS_S.forEach((b, i) => {
			expect(bucketIndex(b)).toBe(i);
			expect(bucketIndex(b + 1e-9)).toBe(i + 1);
		});
		expect(bucketIndex(0)).toBe(0);
		expect(bucketIndex(-1)).toBe(0);
	});

	it("puts a value above the last bound in the overflow (+Inf) bucket", () => {
		expect(bucketIndex((LATENCY_BUCKETS_S.at(-1) ?? 0) + 1)).toBe(N);
		expect(bucketIndex(Number.POSITIVE_INFINITY)).toBe(N);
	});

	it("is the number of bounds below the value", () => {
		fc.assert(
			fc.property(seconds, (s) => {
				expect(bucketIndex(s)).toBe(LATENCY_BUCKETS_S.filter((b) => b < s).length);
			}),
		);
	});
});

describe("addToBuckets", () => {
	it("starts a series with one count per bound and the overflow", () => {
		const b = addToBuckets(undefined, 0.2);
		expect(b).toHaveLength(BUCKET_COUNT);
		expect(BUCKET_COUNT).toBe(N + 1);
		expect(b.reduce((x, y) => x + y, 0)).toBe(1);
		expect(b[LATENCY_BUCKETS_S.indexOf(0.25)]).toBe(1);
	});

	it("pads a short stored array (written before a bound existed) and never truncates a longer one", () => {
		expect(addToBuckets([3], 0.001)).toEqual([4, ...new Array(N).fill(0)]);
		// A newer version may have written more counts: they survive this version's writes.
		const longer = [...new Array(N + 1).fill(0), 7];
		expect(addToBuckets(longer, 1e9)).toEqual([...new Array(N).fill(0), 1, 7]);
	});

	it("does not modify the stored array", () => {
		const stored = new Array(N + 1).fill(1);
		addToBuckets(stored, 0.2);
		expect(stored).toEqual(new Array(N + 1).fill(1));
	});
});

describe("observe", () => {
	it("counts, sums and buckets; the sum may be kept in another unit than the bucketing", () => {
		let h: Histogram | undefined;
		h = observe(h, 0.3);
		h = observe(h, 2);
		expect(h.count).toBe(2);
		expect(h.sum).toBeCloseTo(2.3, 12);
		const ms = observe(observe(undefined, 0.3, 300), 2, 2_000);
		expect(ms).toEqual({ count: 2, sum: 2_300, buckets: h.buckets });
	});

	it("over any sequence: count = sum of buckets, and each bucket counts the values between its bounds", () => {
		fc.assert(
			fc.property(fc.array(seconds, { maxLength: 60 }), (values) => {
				const h = values.reduce<Histogram | undefined>((acc, v) => observe(acc, v), undefined);
				if (!h) return;
				expect(h.count).toBe(values.length);
				expect(h.buckets.reduce((a, b) => a + b, 0)).toBe(values.length);
				h.buckets.forEach((count, i) => {
					const lower = i === 0 ? Number.NEGATIVE_INFINITY : (LATENCY_BUCKETS_S[i - 1] as number);
					const upper = i === N ? Number.POSITIVE_INFINITY : (LATENCY_BUCKETS_S[i] as number);
					expect(count).toBe(values.filter((v) => v > lower && v <= upper).length);
				});
			}),
		);
	});
});

describe("bucketCounts", () => {
	it("has exactly one count per bound and the overflow: missing ones are 0, extra ones dropped", () => {
		expect(bucketCounts([])).toEqual(new Array(N + 1).fill(0));
		expect(bucketCounts([1, 2])).toEqual([1, 2, ...new Array(N - 1).fill(0)]);
		expect(bucketCounts(new Array(N + 5).fill(1))).toEqual(new Array(N + 1).fill(1));
	});
});

describe("cumulativeCounts", () => {
	it("gives, per bound in order, how many observations were at most that bound (Prometheus's le)", () => {
		fc.assert(
			fc.property(fc.array(seconds, { maxLength: 60 }), (values) => {
				const h = values.reduce<Histogram | undefined>((acc, v) => observe(acc, v), undefined);
				const got = cumulativeCounts(h?.buckets ?? []);
				expect(got.map((c) => c.bound)).toEqual([...LATENCY_BUCKETS_S]);
				for (const { bound, count } of got) expect(count).toBe(values.filter((v) => v <= bound).length);
			}),
		);
	});

	it("leaves the overflow out and reads a short array as zero-padded", () => {
		const counts = cumulativeCounts([1, 1]).map((c) => c.count);
		expect(counts).toEqual([1, ...new Array(N - 1).fill(2)]);
		expect(cumulativeCounts([...new Array(N).fill(0), 5]).every((c) => c.count === 0)).toBe(true);
	});
});
