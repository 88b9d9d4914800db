/**
 * Tracing with `@microlabs/otel-cf-workers` (docs/metrics.md#tracing): spans for every request, Durable Object
 * call and outgoing `fetch` (with `traceparent` propagated, so model upstreams join the trace), exported as OTLP/HTTP
 * to `<OTLP_ENDPOINT>/v1/traces` with the same headers as the metrics push. Head sampling `TRACE_SAMPLE_RATIO`
 * (1 locally, 0.1 in production), and the tail sampler always keeps errors (5xx, exceptions) and requests slower than
 * the default p99 objective. Without `OTLP_ENDPOINT` spans are still made (trace ids in logs and problem bodies)
 * but go nowhere.
 *
 * @module
 */
import {
	isHeadSampled,
	isRootErrorSpan,
	type LocalTrace,
	multiTailSampler,
	type ResolveConfigFn,
	type TraceConfig,
} from "@microlabs/otel-cf-workers";
import { trace } from "@opentelemetry/api";
import { FALLBACK_CONFIG, loadConfig } from "../config";
import { DEFAULT_SLO } from "../slo/spec";
import { versionOf } from "./version";

/** The exporter without `OTLP_ENDPOINT`: drops every span. */
const discard = {
	export(_spans: unknown[], done: (result: { code: number }) => void) {
		done({ code: 0 });
	},
	async shutdown() {},
};

/** Keeps the trace of a failed or SLO-violating request whatever the head sampler decided. */
export const keepErrorsAndSlow = (t: LocalTrace): boolean => {
	const root = t.localRootSpan;
	const status = Number(root.attributes["http.response.status_code"] ?? 0);
	const [s, ns] = root.duration;
	const ms = s * 1000 + ns / 1e6;
	return status >= 500 || ms > (DEFAULT_SLO.latency.at(-1)?.thresholdMs ?? 1_000);
};

export const traceConfig: ResolveConfigFn<Env> = (env) => {
	const loaded = loadConfig(env);
	const config = loaded.ok ? loaded.config : FALLBACK_CONFIG;
	const endpoint = config.otlp.endpoint;
	const resolved: TraceConfig = {
		exporter: endpoint
			? { url: `${endpoint.replace(/\/+$/, "")}/v1/traces`, headers: config.otlp.headers }
			: (discard as never),
		service: { name: config.otlp.serviceName, version: versionOf(env).id },
		sampling: {
			headSampler: { ratio: config.tracing.sampleRatio, acceptRemote: true },
			tailSampler: multiTailSampler([isHeadSampled, isRootErrorSpan, keepErrorsAndSlow]),
		},
		fetch: { includeTraceContext: true },
	};
	return resolved;
};

/** The current trace id, for log lines and problem bodies (undefined outside a traced request). */
export function currentTraceId(): string | undefined {
	const id = trace.getActiveSpan()?.spanContext().traceId;
	return id && !/^0+$/.test(id) ? id : undefined;
}
