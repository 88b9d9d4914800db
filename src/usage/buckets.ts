/**
 * Time buckets of a usage query (pure): aligns a range to the bucket width and fills every bucket, empty ones
 * included, from the ledger's grouped sums — OpenAI's usage API returns every bucket of the range the same way.
 *
 * @example
 * ```ts
 * fillBuckets({ startMs: 0, endMs: 2 * DAY, bucketMs: DAY }, [{ bucket: 1, model: "local", requests: 2, … }], ["model"]);
 * // [{ startMs: 0, endMs: DAY, results: [] }, { startMs: DAY, endMs: 2 * DAY, results: [{ model: "local", … }] }]
 * ```
 *
 * @module
 */
import type { UsageBucket, UsageGroupBy, UsageTotals } from "./contract";

/** An hour in ms: the ledger sums usage per hour. */
export const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

/** A grouped sum from the ledger: `bucket` is the bucket's index from the range's start. */
export type GroupedRow = {
	bucket: number;
	model: string | null;
	route: string | null;
	subject: string | null;
	requests: number;
	input_tokens: number;
	output_tokens: number;
	cost_usd: number;
};

/** `ms` rounded down to a multiple of `widthMs` (UTC: epoch-aligned, so days start at 00:00 UTC). */
export function alignDown(ms: number, widthMs: number): number {
	return Math.floor(ms / widthMs) * widthMs;
}

/** Every bucket of `range`, oldest first, each with the grouped sums of its rows. */
export function fillBuckets(
	range: { startMs: number; endMs: number; bucketMs: number },
	rows: readonly GroupedRow[],
	groupBy: readonly UsageGroupBy[],
): UsageBucket[] {
	const count = Math.max(0, Math.ceil((range.endMs - range.startMs) / range.bucketMs));
	const buckets: UsageBucket[] = Array.from({ length: count }, (_, i) => ({
		startMs: range.startMs + i * range.bucketMs,
		endMs: Math.min(range.endMs, range.startMs + (i + 1) * range.bucketMs),
		results: [],
	}));
	for (const r of rows) {
		const b = buckets[r.bucket];
		if (!b) continue;
		const totals: UsageTotals = {
			model: groupBy.includes("model") ? r.model : null,
			route: groupBy.includes("route") ? r.route : null,
			subject: groupBy.includes("subject") ? r.subject : null,
			requests: r.requests,
			inputTokens: r.input_tokens,
			outputTokens: r.output_tokens,
			costUsd: r.cost_usd,
		};
		b.results.push(totals);
	}
	return buckets;
}
