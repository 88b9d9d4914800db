/**
 * CORS for browser clients, from `CORS_ORIGINS`; off unless origins are configured.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { cors as honoCors } from "hono/cors";
import { loadConfig } from "../../config";

/** Headers browsers may read from our responses: request id, rate-limit state and retry hints. */
export const EXPOSED_HEADERS = [
	"X-Request-ID",
	"X-Worker-Version",
	"RateLimit",
	"RateLimit-Policy",
	"X-RateLimit-Limit",
	"X-RateLimit-Remaining",
	"X-RateLimit-Reset",
	"Retry-After",
];

/**
 * CORS from `CORS_ORIGINS` (comma-separated origins, or `*`). Empty (the staging/production default) sends no
 * CORS headers, so browsers on other origins are refused. Preflights are answered here, before auth and rate
 * limits, because browsers send them without credentials.
 *
 * @example
 * ```ts
 * app.use(cors());   // CORS_ORIGINS="https://app.example.com,https://admin.example.com"
 * ```
 */
export function cors(): MiddlewareHandler<{ Bindings: Env }> {
	return async function corsMiddleware(c, next) {
		const loaded = loadConfig(c.env);
		const origins = loaded.ok ? loaded.config.corsOrigins : [];
		if (origins.length === 0) return next();
		const allowAny = origins.includes("*");
		return honoCors({
			origin: allowAny ? "*" : (origin) => (origins.includes(origin) ? origin : null),
			allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
			// Cloudflare-Workers-Version-Key: browser clients keep a conversation on one version during a canary.
			allowHeaders: [
				"Authorization",
				"Content-Type",
				"X-API-Key",
				"X-Request-ID",
				"Idempotency-Key",
				"Cloudflare-Workers-Version-Key",
			],
			exposeHeaders: EXPOSED_HEADERS,
			maxAge: 600,
		})(c, next);
	};
}
