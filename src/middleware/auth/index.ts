import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../app-env";
import { resolvePrincipal } from "../../auth/credentials";
import { insufficientScope } from "../../auth/errors";
import type { Scope } from "../../auth/principal";

/**
 * Paths anyone may call. Everything else requires a credential: secure by default, so a route added later is
 * protected unless it is listed here on purpose.
 */
export const PUBLIC_PATHS = new Set([
	"/healthz",
	"/readyz",
	"/version",
	"/openapi.json",
	"/docs",
	"/v1/auth/token",
	"/.well-known/jwks.json",
]);

/**
 * Authenticates every non-public request (JWT or API key) and puts the `principal` in the context; 401 problems
 * with an RFC 6750 challenge otherwise. CORS preflights pass (browsers send them without credentials).
 *
 * @example
 * ```ts
 * app.use(authenticate());
 * app.get("/v1/auth/me", requireScope(), (c) => c.json(c.get("principal")));
 * ```
 */
export function authenticate(): MiddlewareHandler<AppEnv> {
	return async function authenticateMiddleware(c, next) {
		if (PUBLIC_PATHS.has(c.req.path) || c.req.method === "OPTIONS") return next();
		const waitUntil = (p: Promise<unknown>) => {
			try {
				c.executionCtx.waitUntil(p.catch(() => undefined));
			} catch {
				void p.catch(() => undefined);
			}
		};
		const principal = await resolvePrincipal(
			c.env.DB,
			c.get("config").auth,
			{ authorization: c.req.header("Authorization"), apiKey: c.req.header("X-API-Key") },
			waitUntil,
			c.get("log"),
		);
		c.set("principal", principal);
		return next();
	};
}

/**
 * Requires a scope on a route: 403 `insufficient_scope` naming it otherwise. Without an argument it only
 * requires authentication (which `authenticate` already did).
 *
 * @example
 * ```ts
 * router.use("/v1/admin/*", requireScope("admin"));
 * ```
 */
export function requireScope(scope?: Scope): MiddlewareHandler<AppEnv> {
	return async function requireScopeMiddleware(c, next) {
		if (scope && !c.get("principal").scopes.includes(scope)) throw insufficientScope(scope);
		return next();
	};
}
