/**
 * The request-scoped metrics collector: how handlers count things for the metrics export (docs/metrics.md). The
 * `slo-recording` middleware puts one in the context (`c.get("metrics")`) and hands what it collects to the
 * recorder; domain code depends on this type only, never on the middleware.
 *
 * @example
 * ```ts
 * c.get("metrics").count("rag_operations", { operation: "embed", outcome: "ok" });
 * c.get("metrics").observe("rag_retrieval_duration_seconds", { mode: "hybrid", outcome: "ok" }, 0.042);
 * c.get("metrics").streamed(ended); // the request is recorded when the stream ends, bad if it failed
 * ```
 *
 * @module
 */

/** Counts something for the metrics export, from anywhere in a request (even after the response, e.g. a stream). */
export type MetricsCollector = {
	/** Adds `value` (default 1) to a cumulative counter. */
	count(metric: string, labels: Record<string, string>, value?: number): void;
	/** One observation of a histogram (seconds), e.g. `rag_retrieval_duration_seconds`. */
	observe(metric: string, labels: Record<string, string>, seconds: number): void;
	/**
	 * Declares the response a stream whose request is recorded when `ended` resolves rather than at its first byte:
	 * to its failure kind (`model_error`, `timeout`, `internal` — a bad event in the SLO counts, docs/slo.md) or
	 * null (it finished, or the client left). Call it only with the stream that is the response.
	 */
	streamed(ended: Promise<StreamFailure | null>): void;
};

/** Why a stream failed after its first byte (the `error_type` of `http_server_failed_stream_duration_seconds`). */
export type StreamFailure = "model_error" | "timeout" | "internal";
