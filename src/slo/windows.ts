/**
 * SLO windows from 1-minute buckets (what `/v1/slo` and the canary verdicts read).
 *
 * Each finished request adds to the bucket of the minute it started in, per route × version: a total, an error
 * count (`isError`: 5xx, or a stream that failed after its first byte: `errorType`) and, per latency objective of the route, how many non-error requests answered within its
 * threshold. A window of `m` minutes ending at `now` is the sum of the buckets of the minutes `(⌊now⌋ − m, ⌊now⌋]`
 * (`⌊now⌋`: the current minute, included while it fills), so every ratio is a ratio of summed counts, never an
 * average of ratios.
 *
 * Precision: window edges fall on minute boundaries (a "5m" window read at 12:04:30 covers 12:00:00–12:04:30).
 * Cost: O(buckets in the longest window) per read; one bucket update per request.
 *
 * @example
 * ```ts
 * const m = countInMinute(undefined, { route: "/v1/chat/completions", method: "POST", status: 200, version: "v1", durationMs: 1_500, atMs });
 * // { total: 1, errors: 0, fast: [1, 1] }: within both 2 000 ms and 5 000 ms
 * sumWindows([{ minute: minuteOf(atMs), route: "/v1/chat/completions", version: "v1", ...m }], atMs);
 * ```
 *
 * @module
 */
import type { RequestRecord, RouteWindows } from "./contract";
import { isError, SLO_WINDOWS, sloFor } from "./spec";

export const MINUTE_MS = 60_000;

/** Minute buckets kept (the 30-day window and an hour's margin); older ones are pruned. */
export const RETAIN_MINUTES = 30 * 1_440 + 60;

/** One minute's counts of one route × version; `fast[i]`: within the route's i-th latency threshold. */
export type MinuteCounts = { total: number; errors: number; fast: number[] };

/** A stored minute bucket. */
export type MinuteBucket = MinuteCounts & { minute: number; route: string; version: string };

/** The minute (since the Unix epoch) that `atMs` falls in. */
export function minuteOf(atMs: number): number {
	return Math.floor(atMs / MINUTE_MS);
}

/** The minute's counts with `request` added (`counts` undefined: the minute's first request). */
export function countInMinute(counts: MinuteCounts | undefined, request: RequestRecord): MinuteCounts {
	const slo = sloFor(request.route);
	const error = isError(request.status) || request.errorType !== undefined;
	const fast = counts ? [...counts.fast] : slo.latency.map(() => 0);
	slo.latency.forEach((l, i) => {
		if (!error && request.durationMs <= l.thresholdMs) fast[i] = (fast[i] ?? 0) + 1;
	});
	return { total: (counts?.total ?? 0) + 1, errors: (counts?.errors ?? 0) + (error ? 1 : 0), fast };
}

/** The minutes some window ending at `nowMs` covers: those `> after` and `<= through`. */
export function coveredMinutes(nowMs: number): { after: number; through: number } {
	const current = minuteOf(nowMs);
	const longest = Math.max(...SLO_WINDOWS.map((w) => w.minutes));
	return { after: current - longest, through: current };
}

/** The newest minute that retention drops at `nowMs` (buckets of this minute and older are pruned). */
export function lastExpiredMinute(nowMs: number): number {
	return minuteOf(nowMs) - RETAIN_MINUTES;
}

/**
 * Summed counts per route × version for every window of {@link SLO_WINDOWS} ending at `nowMs`: one entry per route ×
 * version with a bucket in {@link coveredMinutes}, in order of first appearance in `buckets`. Buckets outside those
 * minutes are ignored, so `buckets` may hold more.
 */
export function sumWindows(buckets: readonly MinuteBucket[], nowMs: number): RouteWindows[] {
	const current = minuteOf(nowMs);
	const { after, through } = coveredMinutes(nowMs);
	const groups = new Map<string, { route: string; version: string; list: MinuteBucket[] }>();
	for (const b of buckets) {
		if (b.minute <= after || b.minute > through) continue;
		const key = JSON.stringify([b.route, b.version]);
		const group = groups.get(key) ?? { route: b.route, version: b.version, list: [] };
		group.list.push(b);
		groups.set(key, group);
	}
	return [...groups.values()].map(({ route, version, list }) => ({
		route,
		version,
		windows: SLO_WINDOWS.map((w) => {
			const inside = list.filter((b) => b.minute > current - w.minutes);
			return {
				window: w.name,
				minutes: w.minutes,
				total: inside.reduce((s, b) => s + b.total, 0),
				errors: inside.reduce((s, b) => s + b.errors, 0),
				fast: sloFor(route).latency.map((_, i) => inside.reduce((s, b) => s + (b.fast[i] ?? 0), 0)),
			};
		}),
	}));
}
