/**
 * The request body size limit (`MAX_BODY_BYTES`), enforced before a body is read whole.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { bodyLimit as honoBodyLimit } from "hono/body-limit";
import { AppError } from "../../http/app-error";
import type { ConfigVariables } from "../config-gate";

/**
 * Rejects request bodies larger than the configured `MAX_BODY_BYTES` with 413 (RFC 9110 §15.5.14). A declared
 * `Content-Length` is refused before anything is read; a chunked body is counted as it streams and refused as
 * soon as it crosses the limit, so a large body is never buffered whole.
 *
 * @example
 * ```ts
 * app.use(bodyLimit());   // limit from the validated config in the context
 * ```
 */
export function bodyLimit(): MiddlewareHandler<{ Bindings: Env; Variables: ConfigVariables }> {
	return async function bodyLimitMiddleware(c, next) {
		const maxSize = c.get("config").maxBodyBytes;
		const limited = honoBodyLimit({
			maxSize,
			onError: () => {
				throw new AppError({
					status: 413,
					slug: "content-too-large",
					detail: `The request body exceeds the limit of ${maxSize} bytes`,
					extensions: { max_bytes: maxSize },
				});
			},
		});
		return limited(c, next);
	};
}
