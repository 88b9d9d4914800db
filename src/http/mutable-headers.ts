/**
 * Response headers a middleware can set after the handler ran, whatever kind of `Response` the handler returned.
 *
 * @module
 */
import type { Context } from "hono";

/**
 * The response's headers, made writable first if needed: a `Response` passed through from `fetch()` has
 * immutable headers, and setting one would throw a TypeError after the handler already succeeded.
 */
export function mutableHeaders(c: Context): Headers {
	try {
		// Probe with a header nobody sends; deleting an absent header is a no-op on mutable headers.
		c.res.headers.delete("X-Mutability-Probe");
	} catch {
		c.res = new Response(c.res.body, c.res);
	}
	return c.res.headers;
}
