/**
 * How a `SloCounter` shard's rows encode the contract's values, and their assembly into a {@link Snapshot}
 * (docs/storage-schema.md): label sets are stored as one canonical JSON key, histogram buckets as a JSON array,
 * and the request series' sum in ms (the contract reports seconds).
 *
 * @example
 * ```ts
 * labelKey({ outcome: "ok", mode: "hybrid" }); // '{"mode":"hybrid","outcome":"ok"}'
 * toSnapshot({ startMs, series: [seriesRow], counters: [], gauges: [], histograms: [] }).series[0]?.sumSeconds;
 * ```
 *
 * @module
 */
import type { HistogramSeries, LabeledValue, Series, Snapshot } from "./contract";

/** A stored row of the `series` table (the request histogram of route × method × status × version). */
export type SeriesRow = {
	route: string;
	method: string;
	status: number;
	version: string;
	count: number;
	sum_ms: number;
	/** JSON array of non-cumulative bucket counts. */
	buckets: string;
};

/** A stored row of the `counters` or `gauges` table. */
export type LabeledRow = { metric: string; labels: string; value: number };

/** A stored row of the `histograms` table (`sum` in seconds). */
export type HistogramRow = { metric: string; labels: string; count: number; sum: number; buckets: string };

/** What a snapshot is read from: the start time (Unix ms) and every row, in the order the snapshot lists them. */
export type StoredRows = {
	startMs: number;
	series: readonly SeriesRow[];
	counters: readonly LabeledRow[];
	gauges: readonly LabeledRow[];
	histograms: readonly HistogramRow[];
};

/** Labels as a canonical key (sorted by name), so the same labels in another order are the same series. */
export function labelKey(labels: Record<string, string>): string {
	return JSON.stringify(Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))));
}

const labelsOf = (key: string) => JSON.parse(key) as Record<string, string>;
const bucketsOf = (json: string) => JSON.parse(json) as number[];
const labeledValue = (r: LabeledRow): LabeledValue => ({
	metric: r.metric,
	labels: labelsOf(r.labels),
	value: r.value,
});

/** The snapshot the rows make, rows in their given order (the object sorts them in SQL). */
export function toSnapshot(rows: StoredRows): Snapshot {
	const series = rows.series.map(
		(r): Series => ({
			route: r.route,
			method: r.method,
			status: r.status,
			version: r.version,
			count: r.count,
			sumSeconds: r.sum_ms / 1000,
			buckets: bucketsOf(r.buckets),
		}),
	);
	const histograms = rows.histograms.map(
		(r): HistogramSeries => ({
			metric: r.metric,
			labels: labelsOf(r.labels),
			count: r.count,
			sum: r.sum,
			buckets: bucketsOf(r.buckets),
		}),
	);
	return {
		startTimeMs: rows.startMs,
		series,
		counters: rows.counters.map(labeledValue),
		gauges: rows.gauges.map(labeledValue),
		histograms,
	};
}
