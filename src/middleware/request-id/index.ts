/**
 * The request id: taken from `X-Request-ID` when sane or generated, kept in the context and echoed on every response.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { mutableHeaders } from "../../http/mutable-headers";

/** What {@link requestId} puts in the context. */
export type RequestIdVariables = {
	/** Echoed as `X-Request-ID` and used as every problem's `instance`. */
	requestId: string;
};

export const REQUEST_ID_HEADER = "X-Request-ID";

/**
 * A sane incoming id: 1–128 characters of letters, digits and `-_.:` (UUIDs, ULIDs, trace ids, Heroku/nginx ids).
 * Anything else is replaced, so ids cannot smuggle log-injection payloads or blow up log size.
 */
const SANE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Accepts a sane incoming `X-Request-ID` or generates a UUID, stores it as `requestId`, and echoes it on every
 * response (errors included, since the error handler's response passes back through here).
 *
 * @example
 * ```ts
 * app.use(requestId());
 * app.get("/", (c) => c.text(c.get("requestId")));
 * ```
 */
export function requestId(): MiddlewareHandler<{ Variables: RequestIdVariables }> {
	return async function requestIdMiddleware(c, next) {
		const incoming = c.req.header(REQUEST_ID_HEADER);
		const id = incoming && SANE_ID.test(incoming) ? incoming : crypto.randomUUID();
		c.set("requestId", id);
		await next();
		mutableHeaders(c).set(REQUEST_ID_HEADER, id);
	};
}
