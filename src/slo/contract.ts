/**
 * The RPC contract of the `SloCounter` Durable Object (durable-objects/slo-counter.ts): what isolates send it and what
 * scrapes, pushes and `/v1/slo` read back. The object implements {@link SloCounterRpc}; the Worker side (the
 * recorder, the shard readers, the Prometheus and OTLP exporters, the metrics routes) depends on this module only,
 * never on the object's file.
 *
 * These shapes cross the RPC boundary between two live versions during a gradual deployment (N and N−1 share
 * objects): fields are only ever added, as optional ones (`Batch.observations`, `Batch.opened`,
 * `RequestRecord.errorType`, `Snapshot.histograms`).
 *
 * @module
 */

/** One finished request, as the recorder saw it. */
export type RequestRecord = {
	route: string;
	method: string;
	status: number;
	version: string;
	/** To the first byte of the response (a stream's first token), ms. */
	durationMs: number;
	/** When the request started (Unix ms): picks its 1-minute bucket. */
	atMs: number;
	/**
	 * Set when a stream failed after its first byte (`model_error`, `timeout`, `internal`): a bad event whatever the
	 * status. Optional (added later): N−1's objects ignore it and count such a request by its status.
	 */
	errorType?: string;
	/** A stream's record carries the id its opening was announced with ({@link OpenedStream}): it closes it. */
	streamId?: string;
};

/**
 * A stream that has sent its first byte, announced before it ends: the shard counts it as `abandoned` (a bad
 * event) if its closing record never comes — the isolate serving it died (a crash, a restart) — so a cut stream
 * is never missing from the counts. Optional in batches (added later; N−1's objects ignore it).
 */
export type OpenedStream = { id: string; request: RequestRecord };

/** An increment of another cumulative counter (labels are a flat string map). */
export type CounterIncrement = { metric: string; labels: Record<string, string>; value: number };

/** One observation of another histogram (value in seconds; buckets are LATENCY_BUCKETS_S). */
export type Observation = { metric: string; labels: Record<string, string>; seconds: number };

/**
 * What an isolate sends. `observations` is optional: batches of the previous version (N−1, during a gradual
 * deployment) have none, and N−1's objects ignore the field.
 */
export type Batch = {
	/** Idempotency key: a shard applies a batch id once, so a retried flush never double counts. */
	id: string;
	requests: RequestRecord[];
	counters: CounterIncrement[];
	observations?: Observation[];
	opened?: OpenedStream[];
};

/** The request histogram of one route × method × status × version. */
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

/** A counter's or a gauge's current value under one set of labels. */
export type LabeledValue = { metric: string; labels: Record<string, string>; value: number };

/** Another histogram (e.g. `rag_retrieval_duration_seconds`) under one set of labels; `sum` in seconds. */
export type HistogramSeries = {
	metric: string;
	labels: Record<string, string>;
	count: number;
	sum: number;
	/** Non-cumulative counts per LATENCY_BUCKETS_S bound, then the overflow (+Inf) count. */
	buckets: number[];
};

/** Every cumulative number of one shard, counted from `startTimeMs` (Unix ms, the shard's creation). */
export type Snapshot = {
	startTimeMs: number;
	series: Series[];
	counters: LabeledValue[];
	gauges: LabeledValue[];
	/** Absent in snapshots of objects that predate schema step 3. */
	histograms?: HistogramSeries[];
};

/**
 * Summed counts of one window: the basis of every ratio (never averaged ratios). `fast[i]` counts the non-error
 * requests within the route's i-th latency threshold (`sloFor(route).latency[i]`).
 */
export type WindowCounts = { window: string; minutes: number; total: number; errors: number; fast: number[] };

/** Every SLO window of one route × version. */
export type RouteWindows = { route: string; version: string; windows: WindowCounts[] };

/** What the Worker calls on a `SloCounter` object (one per route pattern: `idFromName("slo:<route>")`). */
export interface SloCounterRpc {
	/** Applies a batch once; resolves to false when this batch id was applied before. */
	apply(batch: Batch): Promise<boolean>;
	/** Sets a gauge (export health: the last successful push). */
	setGauge(metric: string, labels: Record<string, string>, value: number): Promise<void>;
	/** Every cumulative series, counter, gauge and histogram, with the start time they count from. */
	snapshot(): Promise<Snapshot>;
	/** Summed counts per route × version for every SLO window ending at `nowMs` (default: the object's clock). */
	windows(nowMs?: number): Promise<RouteWindows[]>;
}
