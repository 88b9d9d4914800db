/**
 * The `X-Worker-Version` header: which version of the Worker answered a request.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { mutableHeaders } from "../../http/mutable-headers";
import type { RequestLogVariables } from "../request-log";

export const WORKER_VERSION_HEADER = "X-Worker-Version";

/**
 * Echoes the version that answered as `X-Worker-Version` on every response, errors included (the error handler's
 * response passes back through here). During a gradual deployment it tells which of the two versions served a
 * request: the canary's smoke test checks it, so a version override the platform did not apply cannot pass on
 * stable's answers (docs/canary.md). Runs after `requestLog`, which puts the version id in the context.
 *
 * @example
 * ```ts
 * app.use(requestId(), requestLog(), workerVersion());
 * ```
 */
export function workerVersion(): MiddlewareHandler<{ Variables: Pick<RequestLogVariables, "versionId"> }> {
	return async function workerVersionMiddleware(c, next) {
		await next();
		mutableHeaders(c).set(WORKER_VERSION_HEADER, c.get("versionId") ?? "unknown");
	};
}
