/**
 * The `SloCounter` Durable Object: the storage shell of the SLO counters. It keeps the SQL — schema, reads, upserts,
 * idempotency and retention — and nothing else: histogram bucketing is src/slo/histogram.ts, minute buckets and
 * window sums src/slo/windows.ts, the stored encoding and snapshot assembly src/slo/snapshot.ts, label capping
 * src/slo/label-cap.ts, and the RPC contract it implements src/slo/contract.ts.
 *
 * @module
 */
import { DurableObject } from "cloudflare:workers";
import type {
	Batch,
	CounterIncrement,
	Observation,
	OpenedStream,
	RequestRecord,
	RouteWindows,
	SloCounterRpc,
	Snapshot,
} from "../src/slo/contract";
import { type Histogram, observe } from "../src/slo/histogram";
import { LabelCap } from "../src/slo/label-cap";
import { type HistogramRow, type LabeledRow, labelKey, type SeriesRow, toSnapshot } from "../src/slo/snapshot";
import { FAILED_STREAM_METRIC } from "../src/slo/spec";
import {
	countInMinute,
	coveredMinutes,
	lastExpiredMinute,
	type MinuteBucket,
	type MinuteCounts,
	minuteOf,
	sumWindows,
} from "../src/slo/windows";
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
	// Step 4: streams announced at their first byte and not yet closed (counted `abandoned` if they never are), and
	// the ids of closed ones (a late announcement of a closed stream is ignored). Additive: N−1 ignores both.
	[
		"CREATE TABLE IF NOT EXISTS open_streams (id TEXT PRIMARY KEY, request TEXT NOT NULL, opened_ms INTEGER NOT NULL)",
		"CREATE TABLE IF NOT EXISTS closed_streams (id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL)",
	],
];

/**
 * How long an announced stream may stay open before it is counted `abandoned`: the longest stream budget
 * (TIMEOUT_STREAM_MS's maximum, 900 s — a live stream has ended by then, with `[DONE]` or its timeout event) and a
 * margin for its closing record's flush and retries.
 */
export const ABANDONED_AFTER_MS = 900_000 + 60_000;

/** How long applied batch ids are remembered: a retried flush within a day never double counts. */
const RETAIN_BATCH_IDS_MS = 24 * 3_600_000;
/** Housekeeping cadence (ms). */
const ALARM_EVERY_MS = 3_600_000;

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
export class SloCounter extends DurableObject<Env> implements SloCounterRpc {
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
			if ((await ctx.storage.getAlarm()) === null) await ctx.storage.setAlarm(Date.now() + ALARM_EVERY_MS);
		});
	}

	/** Applies a batch once; returns false when this batch id was applied before. */
	async apply(batch: Batch): Promise<boolean> {
		const sql = this.ctx.storage.sql;
		if (sql.exec("SELECT 1 FROM batches WHERE id = ?", batch.id).toArray().length > 0) return false;
		sql.exec("INSERT INTO batches (id, at_ms) VALUES (?, ?)", batch.id, Date.now());
		for (const o of batch.opened ?? []) this.#open(o);
		if ((batch.opened ?? []).length > 0) await this.#alarmBy(Date.now() + ABANDONED_AFTER_MS);
		for (const r of batch.requests) {
			if (r.streamId !== undefined) {
				// Already closed: counted as abandoned when its record was overdue; never twice.
				if (sql.exec("SELECT 1 FROM closed_streams WHERE id = ?", r.streamId).toArray().length > 0) continue;
				this.#close(r.streamId);
			}
			this.#count(r);
		}
		for (const o of batch.observations ?? []) this.#addToHistogram(o);
		for (const c of batch.counters) this.#addToCounter(c);
		return true;
	}

	/** Sets a gauge (export health: the last successful push). */
	async setGauge(metric: string, labels: Record<string, string>, value: number): Promise<void> {
		this.ctx.storage.sql.exec(
			"INSERT INTO gauges (metric, labels, value) VALUES (?, ?, ?) ON CONFLICT (metric, labels) DO UPDATE SET value = excluded.value",
			metric,
			labelKey(labels),
			value,
		);
	}

	/** Every cumulative series and counter, with the start time they count from. */
	async snapshot(): Promise<Snapshot> {
		const sql = this.ctx.storage.sql;
		return toSnapshot({
			startMs: sql.exec<{ start_ms: number }>("SELECT start_ms FROM meta WHERE id = 1").one().start_ms,
			series: sql.exec<SeriesRow>("SELECT * FROM series ORDER BY route, method, status, version").toArray(),
			counters: sql.exec<LabeledRow>("SELECT * FROM counters ORDER BY metric, labels").toArray(),
			gauges: [
				...sql.exec<LabeledRow>("SELECT * FROM gauges ORDER BY metric, labels").toArray(),
				...this.#openStreamGauges(),
			],
			histograms: sql.exec<HistogramRow>("SELECT * FROM histograms ORDER BY metric, labels").toArray(),
		});
	}

	/** Summed counts per route × version for every SLO window ending at `nowMs` (the current minute included). */
	async windows(nowMs: number = Date.now()): Promise<RouteWindows[]> {
		const { after, through } = coveredMinutes(nowMs);
		const buckets = this.ctx.storage.sql
			.exec<{ minute: number; route: string; version: string; total: number; errors: number; fast: string }>(
				"SELECT * FROM minutes WHERE minute > ? AND minute <= ?",
				after,
				through,
			)
			.toArray()
			.map((r): MinuteBucket => ({ ...r, fast: JSON.parse(r.fast) as number[] }));
		return sumWindows(buckets, nowMs);
	}

	/**
	 * Housekeeping (hourly, and when an open stream is due): counts streams open past {@link ABANDONED_AFTER_MS} as
	 * abandoned, drops minute buckets past retention (30 days), and batch and closed-stream ids older than a day.
	 */
	override async alarm(): Promise<void> {
		const now = Date.now();
		this.sweepAbandoned(now);
		this.ctx.storage.sql.exec("DELETE FROM minutes WHERE minute <= ?", lastExpiredMinute(now));
		this.ctx.storage.sql.exec("DELETE FROM batches WHERE at_ms <= ?", now - RETAIN_BATCH_IDS_MS);
		this.ctx.storage.sql.exec("DELETE FROM closed_streams WHERE at_ms <= ?", now - RETAIN_BATCH_IDS_MS);
		const oldest = this.ctx.storage.sql
			.exec<{ opened_ms: number | null }>("SELECT MIN(opened_ms) AS opened_ms FROM open_streams")
			.one().opened_ms;
		await this.ctx.storage.setAlarm(
			Math.min(now + ALARM_EVERY_MS, oldest === null ? Number.POSITIVE_INFINITY : oldest + ABANDONED_AFTER_MS),
		);
	}

	/**
	 * Counts every stream announced before `nowMs − ABANDONED_AFTER_MS` and never closed as a bad event
	 * (`error_type="abandoned"`): the client saw its stream cut. Returns how many.
	 */
	sweepAbandoned(nowMs: number): number {
		const sql = this.ctx.storage.sql;
		const due = sql
			.exec<{ id: string; request: string }>(
				"SELECT id, request FROM open_streams WHERE opened_ms <= ? ORDER BY opened_ms",
				nowMs - ABANDONED_AFTER_MS,
			)
			.toArray();
		for (const row of due) {
			const request = JSON.parse(row.request) as RequestRecord;
			this.#close(row.id, nowMs);
			this.#count({ ...request, errorType: "abandoned" });
		}
		return due.length;
	}

	/** Counts one finished request: its series, its minute, and — a stream that failed — the failed-stream histogram. */
	#count(r: RequestRecord): void {
		this.#addToSeries(r);
		this.#addToMinute(r);
		// A failed stream from the Worker comes with its observation in the same batch; only the object's own
		// verdict (abandoned) is observed here.
		if (r.errorType === "abandoned") {
			this.#addToHistogram({
				metric: FAILED_STREAM_METRIC,
				labels: { http_route: r.route, http_request_method: r.method, version: r.version, error_type: "abandoned" },
				seconds: r.durationMs / 1000,
			});
		}
	}

	/** `http_server_open_streams` per route: streams in flight, or cut and not yet counted as abandoned. */
	#openStreamGauges(): LabeledRow[] {
		return this.ctx.storage.sql
			.exec<{ route: string; n: number }>(
				"SELECT json_extract(request, '$.route') AS route, COUNT(*) AS n FROM open_streams GROUP BY route ORDER BY route",
			)
			.toArray()
			.map((r) => ({ metric: "http_server_open_streams", labels: labelKey({ http_route: r.route }), value: r.n }));
	}

	/** Remembers an announced stream until it closes (ignored if its closing record came first). */
	#open(o: OpenedStream): void {
		const sql = this.ctx.storage.sql;
		if (sql.exec("SELECT 1 FROM closed_streams WHERE id = ?", o.id).toArray().length > 0) return;
		sql.exec(
			"INSERT OR IGNORE INTO open_streams (id, request, opened_ms) VALUES (?, ?, ?)",
			o.id,
			JSON.stringify(o.request),
			Date.now(),
		);
	}

	/** Moves the next alarm earlier when it would come after `atMs` (an open stream's due time). */
	async #alarmBy(atMs: number): Promise<void> {
		const at = await this.ctx.storage.getAlarm();
		if (at === null || at > atMs) await this.ctx.storage.setAlarm(atMs);
	}

	/** Closes a stream: it is counted by its own record (or as abandoned), never twice. */
	#close(id: string, nowMs: number = Date.now()): void {
		this.ctx.storage.sql.exec("DELETE FROM open_streams WHERE id = ?", id);
		this.ctx.storage.sql.exec("INSERT OR IGNORE INTO closed_streams (id, at_ms) VALUES (?, ?)", id, nowMs);
	}

	/** The request histogram of the record's route × method × status × version (its sum kept in ms). */
	#addToSeries(r: RequestRecord): void {
		const sql = this.ctx.storage.sql;
		const row = sql
			.exec<{ count: number; sum_ms: number; buckets: string }>(
				"SELECT count, sum_ms, buckets FROM series WHERE route = ? AND method = ? AND status = ? AND version = ?",
				r.route,
				r.method,
				r.status,
				r.version,
			)
			.toArray()[0];
		const stored: Histogram | undefined = row && {
			count: row.count,
			sum: row.sum_ms,
			buckets: JSON.parse(row.buckets) as number[],
		};
		const next = observe(stored, r.durationMs / 1000, r.durationMs);
		sql.exec(
			`INSERT INTO series (route, method, status, version, count, sum_ms, buckets) VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (route, method, status, version) DO UPDATE SET count = excluded.count, sum_ms = excluded.sum_ms, buckets = excluded.buckets`,
			r.route,
			r.method,
			r.status,
			r.version,
			next.count,
			next.sum,
			JSON.stringify(next.buckets),
		);
	}

	/** The 1-minute bucket of the record's start, route and version. */
	#addToMinute(r: RequestRecord): void {
		const sql = this.ctx.storage.sql;
		const minute = minuteOf(r.atMs);
		const row = sql
			.exec<{ total: number; errors: number; fast: string }>(
				"SELECT total, errors, fast FROM minutes WHERE minute = ? AND route = ? AND version = ?",
				minute,
				r.route,
				r.version,
			)
			.toArray()[0];
		const stored: MinuteCounts | undefined = row && { ...row, fast: JSON.parse(row.fast) as number[] };
		const next = countInMinute(stored, r);
		sql.exec(
			`INSERT INTO minutes (minute, route, version, total, errors, fast) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (minute, route, version) DO UPDATE SET total = excluded.total, errors = excluded.errors, fast = excluded.fast`,
			minute,
			r.route,
			r.version,
			next.total,
			next.errors,
			JSON.stringify(next.fast),
		);
	}

	/** Another histogram (seconds), under its canonical label key. */
	#addToHistogram(o: Observation): void {
		const sql = this.ctx.storage.sql;
		const labels = labelKey(o.labels);
		const row = sql
			.exec<{ count: number; sum: number; buckets: string }>(
				"SELECT count, sum, buckets FROM histograms WHERE metric = ? AND labels = ?",
				o.metric,
				labels,
			)
			.toArray()[0];
		const stored: Histogram | undefined = row && { ...row, buckets: JSON.parse(row.buckets) as number[] };
		const next = observe(stored, o.seconds);
		sql.exec(
			`INSERT INTO histograms (metric, labels, count, sum, buckets) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (metric, labels) DO UPDATE SET count = excluded.count, sum = excluded.sum, buckets = excluded.buckets`,
			o.metric,
			labels,
			next.count,
			next.sum,
			JSON.stringify(next.buckets),
		);
	}

	/** Another counter, under its capped labels' canonical key. */
	#addToCounter(c: CounterIncrement): void {
		this.ctx.storage.sql.exec(
			"INSERT INTO counters (metric, labels, value) VALUES (?, ?, ?) ON CONFLICT (metric, labels) DO UPDATE SET value = value + excluded.value",
			c.metric,
			labelKey(this.#cap.apply(c.metric, c.labels)),
			c.value,
		);
	}
}
