/**
 * SLO and metrics recording in the pipeline: every request, and the counters and observations its handlers add, go to
 * the `SloCounter` shard of its route in the background.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { deferrer } from "../../http/background";
import { routeOf } from "../../http/route-of";
import type { MetricsCollector } from "../../slo/collector";
import type { CounterIncrement, Observation } from "../../slo/contract";
import { recorder as isolateRecorder, type Recorder } from "../../slo/recorder";
import { UNRECORDED_ROUTES } from "../../slo/spec";
import type { RequestLogVariables } from "../request-log";

/** What {@link sloRecording} puts in the context. */
export type SloRecordingVariables = {
	/** Counts things for the metrics export (docs/metrics.md). */
	metrics: MetricsCollector;
};

/** Methods with their own label value; any other (clients may send any token) is `_OTHER`, as OpenTelemetry's HTTP
 * semantic conventions say, so a caller cannot mint series. */
const KNOWN_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);

export function methodLabel(method: string): string {
	return KNOWN_METHODS.has(method) ? method : "_OTHER";
}

/**
 * Records every request (route pattern, method, status, version, time to the response's first byte) and the
 * counters its handlers add (`c.get("metrics").count(...)`) into the `SloCounter` shard of its route, off the hot
 * path (docs/metrics.md). Probes and the scrape endpoint are not recorded.
 *
 * @example
 * ```ts
 * app.use(requestId(), requestLog(), sloRecording());
 * c.get("metrics").count("rag_operations", { operation: "embed", outcome: "ok" });
 * ```
 */
export function sloRecording(options: { recorder?: Recorder; now?: () => number } = {}): MiddlewareHandler<{
	Bindings: Env;
	Variables: SloRecordingVariables & Pick<RequestLogVariables, "log" | "versionId">;
}> {
	const recorder = options.recorder ?? isolateRecorder;
	const now = options.now ?? Date.now;
	return async function sloRecordingMiddleware(c, next) {
		const started = now();
		// The recorder logs its own failures.
		const waitUntil = deferrer(c, "SLO flush failed");
		const pending: CounterIncrement[] = [];
		const observed: Observation[] = [];
		let done = false;
		c.set("metrics", {
			count(metric, labels, value = 1) {
				const increment = { metric, labels, value };
				if (!done) pending.push(increment);
				else recorder.add(c.env, routeOf(c), { counters: [increment] }, waitUntil, c.get("log"));
			},
			observe(metric, labels, seconds) {
				const observation = { metric, labels, seconds };
				if (!done) observed.push(observation);
				else recorder.add(c.env, routeOf(c), { observations: [observation] }, waitUntil, c.get("log"));
			},
		});
		await next();
		done = true;
		const route = routeOf(c);
		if (UNRECORDED_ROUTES.has(route)) return;
		recorder.add(
			c.env,
			route,
			{
				requests: [
					{
						route,
						method: methodLabel(c.req.method),
						status: c.res.status,
						version: c.get("versionId") ?? "unknown",
						durationMs: now() - started,
						atMs: started,
					},
				],
				counters: pending,
				observations: observed,
			},
			waitUntil,
			c.get("log"),
		);
	};
}
