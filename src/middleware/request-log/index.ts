/**
 * One structured log line per request, and the request-scoped logger every later middleware and route logs with.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { Principal } from "../../auth/principal";
import { FALLBACK_CONFIG, loadConfig } from "../../config";
import { routeOf } from "../../http/route-of";
import type { RateLimitOutcome } from "../../rate-limit/stats";
import { createLogger, type Logger } from "../../telemetry/logger";
import { currentTraceId } from "../../telemetry/tracing";
import { versionOf } from "../../telemetry/version";
import type { RequestIdVariables } from "../request-id";

/** What {@link requestLog} puts in the context. */
export type RequestLogVariables = {
	/** Request-scoped structured logger (carries request id and version). */
	log: Logger;
	/** Version of this Worker (version metadata id; `dev` locally). */
	versionId: string;
};

/** What the log line reads from later middleware, when they ran (they set these after this middleware). */
type LoggedLater = { principal?: Principal; rateLimit?: RateLimitOutcome };

/**
 * One structured log line per request, written when the response is ready: time, level, request id, method,
 * route **pattern** (never the raw URL: bounded cardinality, no ids or secrets from paths), status, duration in
 * ms and version id. Also puts the request-scoped logger and the version id into the context.
 *
 * Levels: 5xx → error, 4xx → warn, else info.
 *
 * @example
 * ```ts
 * app.use(requestId(), requestLog());
 * // {"time":"…","level":"info","msg":"request","request_id":"…","version":"dev","method":"GET","route":"/healthz","status":200,"duration_ms":1}
 * ```
 */
export function requestLog(options: { now?: () => number } = {}): MiddlewareHandler<{
	Bindings: Env;
	Variables: RequestLogVariables & RequestIdVariables & LoggedLater;
}> {
	const now = options.now ?? Date.now;
	return async function requestLogMiddleware(c, next) {
		const started = now();
		const loaded = loadConfig(c.env);
		const level = loaded.ok ? loaded.config.logLevel : FALLBACK_CONFIG.logLevel;
		const versionId = versionOf(c.env).id;
		const traceId = currentTraceId();
		const log = createLogger({
			level,
			base: { request_id: c.get("requestId"), version: versionId, ...(traceId ? { trace_id: traceId } : {}) },
		});
		c.set("versionId", versionId);
		c.set("log", log);
		await next();
		const status = c.res.status;
		const principal = c.get("principal");
		const fields = {
			method: c.req.method,
			route: routeOf(c),
			status,
			duration_ms: now() - started,
			// Who, never with what: tenant and subject only, no credential.
			...(principal ? { tenant: principal.tenant, subject: principal.subject, auth: principal.via } : {}),
			...(c.get("rateLimit") ? { rate_limit: c.get("rateLimit") } : {}),
		};
		if (status >= 500) log.error("request", fields);
		else if (status >= 400) log.warn("request", fields);
		else log.info("request", fields);
	};
}
