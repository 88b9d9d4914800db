/**
 * Security headers on every response, and the default CSP of the JSON API ({@link API_CSP}).
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { mutableHeaders } from "../../http/mutable-headers";

/**
 * The CSP for JSON responses: nothing may load and nothing may frame it (OWASP REST Security Cheat Sheet).
 * HTML pages set their own, stricter-than-default policy (see routes/docs).
 */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/**
 * Security headers on every response: HSTS (2 years, subdomains; ignored by browsers over plain http, so harmless
 * locally), `nosniff`, framing denied both ways (`X-Frame-Options` and CSP `frame-ancestors`), no referrer, and
 * a default CSP unless the route set one (HTML pages do).
 *
 * @example
 * ```ts
 * app.use(securityHeaders());
 * ```
 */
export function securityHeaders(): MiddlewareHandler<{ Bindings: Env }> {
	return async function securityHeadersMiddleware(c, next) {
		await next();
		const h = mutableHeaders(c);
		h.set("Strict-Transport-Security", "max-age=63072000; includeSubDomains");
		h.set("X-Content-Type-Options", "nosniff");
		h.set("X-Frame-Options", "DENY");
		h.set("Referrer-Policy", "no-referrer");
		if (!h.has("Content-Security-Policy")) h.set("Content-Security-Policy", API_CSP);
	};
}
