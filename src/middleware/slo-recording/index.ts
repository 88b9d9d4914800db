/**
 * SLO and metrics recording in the pipeline: every request, and the counters and observations its handlers add, go to
 * the `SloCounter` shard of its route in the background.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { deferrer } from "../../http/background";
import { routeOf } from "../../http/route-of";
import type { MetricsCollector, StreamFailure } from "../../slo/collector";
import type { CounterIncrement, Observation, RequestRecord } from "../../slo/contract";
import { recorder as isolateRecorder, type Recorder } from "../../slo/recorder";
import { FAILED_STREAM_METRIC, UNRECORDED_ROUTES } from "../../slo/spec";
import type { ConfigVariables } from "../config-gate";
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
 * path (docs/metrics.md). Probes and the scrape endpoint are not recorded. A streamed response declared with
 * `c.get("metrics").streamed(ended)` is recorded when its stream ends, in one batch with what it counted, and is a
 * bad event when the stream failed after its first byte (docs/slo.md#which-responses-are-bad).
 *
 * @example
 * ```ts
 * app.use(requestId(), requestLog(), sloRecording());
 * c.get("metrics").count("rag_operations", { operation: "embed", outcome: "ok" });
 * ```
 */
export function sloRecording(options: { recorder?: Recorder; now?: () => number } = {}): MiddlewareHandler<{
	Bindings: Env;
	Variables: SloRecordingVariables & Pick<RequestLogVariables, "log" | "versionId"> & Partial<ConfigVariables>;
}> {
	const recorder = options.recorder ?? isolateRecorder;
	const now = options.now ?? Date.now;
	return async function sloRecordingMiddleware(c, next) {
		const started = now();
		// The recorder logs its own failures.
		const waitUntil = deferrer(c, "SLO flush failed");
		// The injected SloCounter fault (local and test only); unset while the configuration is invalid.
		const fault = () => c.get("config")?.faults.sloCounter;
		const pending: CounterIncrement[] = [];
		const observed: Observation[] = [];
		let done = false;
		let streamEnded: Promise<StreamFailure | null> | undefined;
		c.set("metrics", {
			count(metric, labels, value = 1) {
				const increment = { metric, labels, value };
				if (!done) pending.push(increment);
				else recorder.add(c.env, routeOf(c), { counters: [increment] }, waitUntil, c.get("log"), fault());
			},
			observe(metric, labels, seconds) {
				const observation = { metric, labels, seconds };
				if (!done) observed.push(observation);
				else recorder.add(c.env, routeOf(c), { observations: [observation] }, waitUntil, c.get("log"), fault());
			},
			streamed(ended) {
				streamEnded = ended;
			},
		});
		await next();
		done = true;
		const route = routeOf(c);
		if (UNRECORDED_ROUTES.has(route)) return;
		const request: RequestRecord = {
			route,
			method: methodLabel(c.req.method),
			status: c.res.status,
			version: c.get("versionId") ?? "unknown",
			durationMs: now() - started,
			atMs: started,
		};
		const record = (failure: StreamFailure | null) => {
			const failed: Observation[] =
				failure === null
					? []
					: [
							{
								metric: FAILED_STREAM_METRIC,
								labels: {
									http_route: route,
									http_request_method: request.method,
									version: request.version,
									error_type: failure,
								},
								seconds: request.durationMs / 1000,
							},
						];
			recorder.add(
				c.env,
				route,
				{
					requests: [failure === null ? request : { ...request, errorType: failure }],
					counters: pending,
					observations: [...observed, ...failed],
				},
				waitUntil,
				c.get("log"),
				fault(),
			);
		};
		// A stream that is the response is announced now and recorded when it ends, bad if it failed after its first
		// byte — or, should this isolate die first, counted `abandoned` by its shard. Anything else (a problem
		// answered instead of the stream included) is recorded now, by its status.
		if (streamEnded && c.res.status === 200) {
			const id = crypto.randomUUID();
			recorder.add(c.env, route, { opened: [{ id, request: { ...request } }] }, waitUntil, c.get("log"), fault());
			request.streamId = id;
			waitUntil(streamEnded.then(record, () => record("internal")));
		} else {
			record(null);
		}
	};
}
