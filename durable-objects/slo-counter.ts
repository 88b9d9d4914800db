import { DurableObject } from "cloudflare:workers";
import { LabelCap } from "../src/slo/label-cap";
import { isError, LATENCY_BUCKETS_S, SLO_WINDOWS, sloFor } from "../src/slo/spec";
import { applySchema, type SchemaStep } from "./sqlite-schema";

/**
 * Storage schema of `SloCounter` (docs/storage-schema.md): cumulative series (counts, sums, histogram buckets) per
 * route × method × status × version, 1-minute buckets per route × version for exact windows, other cumulative
 * counters (rate-limit decisions, tokens, cost, RAG operations), applied batch ids (idempotency), and the start time.
 */
export const SLO_COUNTER_SCHEMA: readonly SchemaStep[] = [
	[
		"CREATE TABLE IF NOT EXISTS meta (id INTEGER PRIMARY KEY CHECK (id = 1), start_ms INTEGER NOT NULL)",
		`CREATE TABLE IF NOT EXISTS series (
			route TEXT NOT NULL, method TEXT NOT NULL, status INTEGER NOT NULL, version TEXT NOT NULL,
			count INTEGER NOT NULL, sum_ms REAL NOT NULL, buckets TEXT NOT NULL,
			PRIMARY KEY (route, method, status, version)
		)`,
		`CREATE TABLE IF NOT EXISTS minutes (
			minute INTEGER NOT NULL, route TEXT NOT NULL, version TEXT NOT NULL,
			total INTEGER NOT NULL, errors INTEGER NOT NULL, fast TEXT NOT NULL,
			PRIMARY KEY (minute, route, version)
		)`,
		`CREATE TABLE IF NOT EXISTS counters (
			metric TEXT NOT NULL, labels TEXT NOT NULL, value REAL NOT NULL,
			PRIMARY KEY (metric, labels)
		)`,
		"CREATE TABLE IF NOT EXISTS batches (id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL)",
	],
	[
		"CREATE TABLE IF NOT EXISTS gauges (metric TEXT NOT NULL, labels TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (metric, labels))",
	],
	// Step 3: histograms other than the request histogram (retrieval latency by mode). Additive: N−1 ignores it.
	[
		`CREATE TABLE IF NOT EXISTS histograms (
			metric TEXT NOT NULL, labels TEXT NOT NULL, count INTEGER NOT NULL, sum REAL NOT NULL, buckets TEXT NOT NULL,
			PRIMARY KEY (metric, labels)
		)`,
	],
];

/** One finished request, as the recorder saw it. */
export type RequestRecord = {
	route: string;
	method: string;
	status: number;
	version: string;
	/** To the first byte of the response (a stream's first token). */
	durationMs: number;
	atMs: number;
};

/** An increment of another cumulative counter (labels are a flat string map). */
export type CounterIncrement = { metric: string; labels: Record<string, string>; value: number };

/** One observation of another histogram (value in seconds; buckets are LATENCY_BUCKETS_S). */
export type Observation = { metric: string; labels: Record<string, string>; seconds: number };

/**
 * What an isolate sends. `observations` is optional: batches of the previous version (N−1, during a gradual
 * deployment) have none, and N−1's objects ignore the field.
 */
export type Batch = {
	id: string;
	requests: RequestRecord[];
	counters: CounterIncrement[];
	observations?: Observation[];
};

export type Series = {
	route: string;
	method: string;
	status: number;
	version: string;
	count: number;
	sumSeconds: number;
	/** Non-cumulative counts per LATENCY_BUCKETS_S bound, then the overflow (+Inf) count. */
	buckets: number[];
};

export type Snapshot = {
	startTimeMs: number;
	series: Series[];
	counters: { metric: string; labels: Record<string, string>; value: number }[];
	gauges: { metric: string; labels: Record<string, string>; value: number }[];
	/** Absent in snapshots of objects that predate schema step 3. */
	histograms?: HistogramSeries[];
};

export type HistogramSeries = {
	metric: string;
	labels: Record<string, string>;
	count: number;
	sum: number;
	/** Non-cumulative counts per LATENCY_BUCKETS_S bound, then the overflow (+Inf) count. */
	buckets: number[];
};

/** Summed counts of one window: the basis of every ratio (never averaged ratios). */
export type WindowCounts = { window: string; minutes: number; total: number; errors: number; fast: number[] };
export type RouteWindows = { route: string; version: string; windows: WindowCounts[] };

const MINUTE = 60_000;

/** Index of the first bucket whose upper bound holds `seconds` (LATENCY_BUCKETS_S.length: the +Inf bucket). */
function bucketIndex(seconds: number): number {
	const index = LATENCY_BUCKETS_S.findIndex((b) => seconds <= b);
	return index < 0 ? LATENCY_BUCKETS_S.length : index;
}

/** Labels as a canonical key (sorted by name), so the same labels in another order are the same series. */
const labelKey = (labels: Record<string, string>) =>
	JSON.stringify(Object.fromEntries(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1))));
const RETAIN_MINUTES = 30 * 1_440 + 60;
const RETAIN_BATCH_IDS_MS = 24 * 3_600_000;

/**
 * The single writer of a shard's SLO counters (one object per route pattern: `idFromName("slo:<route>")`).
 * Every isolate sends its batches here, so any scrape of any isolate reads the same cumulative numbers. A batch
 * applies once: its id is remembered for a day, so a retried flush never double counts. Windows are computed from
 * 1-minute buckets by summing counts (kept 30 days; an alarm prunes older ones).
 *
 * @example
 * ```ts
 * const shard = env.SLO_COUNTER.get(env.SLO_COUNTER.idFromName("slo:/v1/chat/completions"));
 * await shard.apply({ id: crypto.randomUUID(), requests: [record], counters: [] });
 * ```
 */
export class SloCounter extends DurableObject<Env> {
	/** Caps the caller-derived labels (tenant, subject) of the counters this shard keeps (src/slo/label-cap.ts). */
	readonly #cap = new LabelCap(
		(metric, label) =>
			new Set(
				this.ctx.storage.sql
					.exec<{ v: string | null }>(
						"SELECT DISTINCT json_extract(labels, '$.' || ?) AS v FROM counters WHERE metric = ?",
						label,
						metric,
					)
					.toArray()
					.map((r) => r.v)
					.filter((v): v is string => typeof v === "string"),
			),
	);

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		void ctx.blockConcurrencyWhile(async () => {
			applySchema(ctx.storage.sql, SLO_COUNTER_SCHEMA);
			ctx.storage.sql.exec("INSERT OR IGNORE INTO meta (id, start_ms) VALUES (1, ?)", Date.now());
			if ((await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(Date.now() + 3_600_000);
		});
	}

	/** Applies a batch once; returns false when this batch id was applied before. */
	async apply(batch: Batch): Promise<boolean> {
		const sql = this.ctx.storage.sql;
		if (sql.exec("SELECT 1 FROM batches WHERE id = ?", batch.id).toArray().length > 0) return false;
		sql.exec("INSERT INTO batches (id, at_ms) VALUES (?, ?)", batch.id, Date.now());
		for (const r of batch.requests) {
			const index = bucketIndex(r.durationMs / 1000);
			const row = sql
				.exec<{ count: number; sum_ms: number; buckets: string }>(
					"SELECT count, sum_ms, buckets FROM series WHERE route = ? AND method = ? AND status = ? AND version = ?",
					r.route,
					r.method,
					r.status,
					r.version,
				)
				.toArray()[0];
			const buckets: number[] = row
				? (JSON.parse(row.buckets) as number[])
				: new Array(LATENCY_BUCKETS_S.length + 1).fill(0);
			while (buckets.length < LATENCY_BUCKETS_S.length + 1) buckets.push(0);
			buckets[index] = (buckets[index] ?? 0) + 1;
			sql.exec(
				`INSERT INTO series (route, method, status, version, count, sum_ms, buckets) VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (route, method, status, version) DO UPDATE SET count = excluded.count, sum_ms = excluded.sum_ms, buckets = excluded.buckets`,
				r.route,
				r.method,
				r.status,
				r.version,
				(row?.count ?? 0) + 1,
				(row?.sum_ms ?? 0) + r.durationMs,
				JSON.stringify(buckets),
			);
			const slo = sloFor(r.route);
			const minute = Math.floor(r.atMs / MINUTE);
			const m = sql
				.exec<{ total: number; errors: number; fast: string }>(
					"SELECT total, errors, fast FROM minutes WHERE minute = ? AND route = ? AND version = ?",
					minute,
					r.route,
					r.version,
				)
				.toArray()[0];
			const fast: number[] = m ? (JSON.parse(m.fast) as number[]) : slo.latency.map(() => 0);
			slo.latency.forEach((l, i) => {
				if (!isError(r.status) && r.durationMs <= l.thresholdMs) fast[i] = (fast[i] ?? 0) + 1;
			});
			sql.exec(
				`INSERT INTO minutes (minute, route, version, total, errors, fast) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (minute, route, version) DO UPDATE SET total = excluded.total, errors = excluded.errors, fast = excluded.fast`,
				minute,
				r.route,
				r.version,
				(m?.total ?? 0) + 1,
				(m?.errors ?? 0) + (isError(r.status) ? 1 : 0),
				JSON.stringify(fast),
			);
		}
		for (const o of batch.observations ?? []) {
			const labels = labelKey(o.labels);
			const row = sql
				.exec<{ count: number; sum: number; buckets: string }>(
					"SELECT count, sum, buckets FROM histograms WHERE metric = ? AND labels = ?",
					o.metric,
					labels,
				)
				.toArray()[0];
			const buckets: number[] = row
				? (JSON.parse(row.buckets) as number[])
				: new Array(LATENCY_BUCKETS_S.length + 1).fill(0);
			while (buckets.length < LATENCY_BUCKETS_S.length + 1) buckets.push(0);
			const index = bucketIndex(o.seconds);
			buckets[index] = (buckets[index] ?? 0) + 1;
			sql.exec(
				`INSERT INTO histograms (metric, labels, count, sum, buckets) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (metric, labels) DO UPDATE SET count = excluded.count, sum = excluded.sum, buckets = excluded.buckets`,
				o.metric,
				labels,
				(row?.count ?? 0) + 1,
				(row?.sum ?? 0) + o.seconds,
				JSON.stringify(buckets),
			);
		}
		for (const c of batch.counters) {
			const labels = labelKey(this.#cap.apply(c.metric, c.labels));
			sql.exec(
				"INSERT INTO counters (metric, labels, value) VALUES (?, ?, ?) ON CONFLICT (metric, labels) DO UPDATE SET value = value + excluded.value",
				c.metric,
				labels,
				c.value,
			);
		}
		return true;
	}

	/** Sets a gauge (export health: the last successful push). */
	async setGauge(metric: string, labels: Record<string, string>, value: number): Promise<void> {
		const key = labelKey(labels);
		this.ctx.storage.sql.exec(
			"INSERT INTO gauges (metric, labels, value) VALUES (?, ?, ?) ON CONFLICT (metric, labels) DO UPDATE SET value = excluded.value",
			metric,
			key,
			value,
		);
	}

	/** Every cumulative series and counter, with the start time they count from. */
	async snapshot(): Promise<Snapshot> {
		const sql = this.ctx.storage.sql;
		const start = sql.exec<{ start_ms: number }>("SELECT start_ms FROM meta WHERE id = 1").one().start_ms;
		const series = sql
			.exec<{
				route: string;
				method: string;
				status: number;
				version: string;
				count: number;
				sum_ms: number;
				buckets: string;
			}>("SELECT * FROM series ORDER BY route, method, status, version")
			.toArray()
			.map((r) => ({
				route: r.route,
				method: r.method,
				status: r.status,
				version: r.version,
				count: r.count,
				sumSeconds: r.sum_ms / 1000,
				buckets: JSON.parse(r.buckets) as number[],
			}));
		const counters = sql
			.exec<{ metric: string; labels: string; value: number }>("SELECT * FROM counters ORDER BY metric, labels")
			.toArray()
			.map((r) => ({ metric: r.metric, labels: JSON.parse(r.labels) as Record<string, string>, value: r.value }));
		const gauges = sql
			.exec<{ metric: string; labels: string; value: number }>("SELECT * FROM gauges ORDER BY metric, labels")
			.toArray()
			.map((r) => ({ metric: r.metric, labels: JSON.parse(r.labels) as Record<string, string>, value: r.value }));
		const histograms = sql
			.exec<{ metric: string; labels: string; count: number; sum: number; buckets: string }>(
				"SELECT * FROM histograms ORDER BY metric, labels",
			)
			.toArray()
			.map((r) => ({
				metric: r.metric,
				labels: JSON.parse(r.labels) as Record<string, string>,
				count: r.count,
				sum: r.sum,
				buckets: JSON.parse(r.buckets) as number[],
			}));
		return { startTimeMs: start, series, counters, gauges, histograms };
	}

	/** Summed counts per route × version for every SLO window ending at `nowMs` (the current minute included). */
	async windows(nowMs: number = Date.now()): Promise<RouteWindows[]> {
		const sql = this.ctx.storage.sql;
		const current = Math.floor(nowMs / MINUTE);
		const longest = Math.max(...SLO_WINDOWS.map((w) => w.minutes));
		const rows = sql
			.exec<{ minute: number; route: string; version: string; total: number; errors: number; fast: string }>(
				"SELECT * FROM minutes WHERE minute > ? AND minute <= ?",
				current - longest,
				current,
			)
			.toArray();
		const groups = new Map<string, typeof rows>();
		for (const r of rows) {
			const key = JSON.stringify([r.route, r.version]);
			groups.set(key, [...(groups.get(key) ?? []), r]);
		}
		return [...groups].map(([key, list]) => {
			const [route, version] = JSON.parse(key) as [string, string];
			return {
				route,
				version,
				windows: SLO_WINDOWS.map((w) => {
					const inside = list.filter((r) => r.minute > current - w.minutes);
					const fast = sloFor(route).latency.map((_, i) =>
						inside.reduce((s, r) => s + ((JSON.parse(r.fast) as number[])[i] ?? 0), 0),
					);
					return {
						window: w.name,
						minutes: w.minutes,
						total: inside.reduce((s, r) => s + r.total, 0),
						errors: inside.reduce((s, r) => s + r.errors, 0),
						fast,
					};
				}),
			};
		});
	}

	/** Daily housekeeping: drops minute buckets older than 30 days and batch ids older than a day. */
	override async alarm(): Promise<void> {
		const now = Date.now();
		this.ctx.storage.sql.exec("DELETE FROM minutes WHERE minute <= ?", Math.floor(now / MINUTE) - RETAIN_MINUTES);
		this.ctx.storage.sql.exec("DELETE FROM batches WHERE at_ms <= ?", now - RETAIN_BATCH_IDS_MS);
		await this.ctx.storage.setAlarm(now + 3_600_000);
	}
}
