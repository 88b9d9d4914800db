/**
 * Fixed-bucket latency histograms, as the `SloCounter` keeps them and the exporters expose them.
 *
 * Layout: one non-cumulative count per {@link LATENCY_BUCKETS_S} upper bound (seconds, inclusive: Prometheus's
 * `le`), then one overflow count (+Inf), so `LATENCY_BUCKETS_S.length + 1` counts in all. Stored arrays written
 * before a bound was added are shorter; they are read as zero-padded, and never truncated when written back (a
 * newer version may have written more bounds: N−1 must not drop them during a gradual deployment).
 *
 * Precision: a quantile read from these buckets is only known to lie within its bucket; every SLO threshold is a
 * bound (src/slo/spec.ts), so "within the threshold" is counted exactly. Cost: O(buckets) per observation.
 *
 * @example
 * ```ts
 * let h = observe(undefined, 0.2); // { count: 1, sum: 0.2, buckets: [0, 0, 0, 0, 0, 1, 0, …] } (0.1 < 0.2 ≤ 0.25)
 * h = observe(h, 1.2, 1_200);       // the request series adds ms to its sum while bucketing by seconds
 * ```
 *
 * @module
 */
import { LATENCY_BUCKETS_S } from "./spec";

/** Counts a histogram keeps: one per bound and the overflow. */
export const BUCKET_COUNT = LATENCY_BUCKETS_S.length + 1;

/** A histogram's cumulative state: `sum` in whatever unit its observations add (s, or ms for the request series). */
export type Histogram = { count: number; sum: number; buckets: number[] };

/** Index of the first bucket whose upper bound holds `seconds` (`LATENCY_BUCKETS_S.length`: the +Inf bucket). */
export function bucketIndex(seconds: number): number {
	const index = LATENCY_BUCKETS_S.findIndex((b) => seconds <= b);
	return index < 0 ? LATENCY_BUCKETS_S.length : index;
}

/** Adds one to the bucket holding `seconds`; pads a short stored array with zeros, keeps a longer one whole. */
export function addToBuckets(buckets: readonly number[] | undefined, seconds: number): number[] {
	const out = buckets ? [...buckets] : new Array<number>(BUCKET_COUNT).fill(0);
	while (out.length < BUCKET_COUNT) out.push(0);
	const index = bucketIndex(seconds);
	out[index] = (out[index] ?? 0) + 1;
	return out;
}

/**
 * One more observation: `seconds` picks the bucket and `amount` (default `seconds`) is added to the sum, in the
 * sum's own unit. `h` undefined: the first observation of a series.
 */
export function observe(h: Histogram | undefined, seconds: number, amount: number = seconds): Histogram {
	return {
		count: (h?.count ?? 0) + 1,
		sum: (h?.sum ?? 0) + amount,
		buckets: addToBuckets(h?.buckets, seconds),
	};
}

/** Exactly {@link BUCKET_COUNT} non-cumulative counts (missing ones 0, extra ones dropped): OTLP's `bucketCounts`. */
export function bucketCounts(buckets: readonly number[]): number[] {
	return Array.from({ length: BUCKET_COUNT }, (_, i) => buckets[i] ?? 0);
}

/**
 * The cumulative count at each bound of {@link LATENCY_BUCKETS_S} (Prometheus's `_bucket{le="<bound>"}`), without
 * the +Inf one: that is the series' `count`.
 */
export function cumulativeCounts(buckets: readonly number[]): { bound: number; count: number }[] {
	let count = 0;
	return LATENCY_BUCKETS_S.map((bound, i) => {
		count += buckets[i] ?? 0;
		return { bound, count };
	});
}
