/**
 * Authentication and authorisation in the pipeline: {@link authenticate} resolves the caller of every non-public
 * route, {@link requireScope} and {@link requireAnyScope} guard a route by the caller's scopes.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { resolvePrincipal } from "../../auth/credentials";
import { insufficientScope } from "../../auth/errors";
import type { Principal, Scope } from "../../auth/principal";
import { deferrer } from "../../http/background";
import { clientIp } from "../../http/client-ip";
import type { ConfigVariables } from "../config-gate";
import type { RequestLogVariables } from "../request-log";

/** What {@link authenticate} puts in the context. */
export type AuthVariables = {
	/** The authenticated caller; set by {@link authenticate} on every non-public route. */
	principal: Principal;
};

type AuthEnv = { Bindings: Env; Variables: AuthVariables & ConfigVariables & RequestLogVariables };

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
export function authenticate(): MiddlewareHandler<AuthEnv> {
	return async function authenticateMiddleware(c, next) {
		if (PUBLIC_PATHS.has(c.req.path) || c.req.method === "OPTIONS") return next();
		const principal = await resolvePrincipal(
			c.env.DB,
			c.get("config").auth,
			{
				authorization: c.req.header("Authorization"),
				apiKey: c.req.header("X-API-Key"),
				ip: clientIp(c.req.raw),
			},
			{ env: c.env, waitUntil: deferrer(c, "api key bookkeeping failed"), log: c.get("log"), now: Date.now },
		);
		c.set("principal", principal);
		return next();
	};
}

/**
 * Requires at least one of `scopes`: 403 naming the first otherwise.
 *
 * @example
 * ```ts
 * router.get("/v1/usage", requireAnyScope("usage:read", "admin"), handler);
 * ```
 */
export function requireAnyScope(...scopes: [Scope, ...Scope[]]): MiddlewareHandler<{ Variables: AuthVariables }> {
	return async function requireAnyScopeMiddleware(c, next) {
		const held = c.get("principal").scopes;
		if (!scopes.some((s) => held.includes(s))) throw insufficientScope(scopes[0]);
		return next();
	};
}

/**
 * Requires scopes on a route, all of them: 403 `insufficient_scope` naming the first missing otherwise. Without an
 * argument it only requires authentication (which `authenticate` already did).
 *
 * @example
 * ```ts
 * router.use("/v1/admin/*", requireScope("admin"));
 * router.post("/v1/rag/query", requireScope("rag:read", "chat"), handler);
 * ```
 */
export function requireScope(...scopes: Scope[]): MiddlewareHandler<{ Variables: AuthVariables }> {
	return async function requireScopeMiddleware(c, next) {
		const held = c.get("principal").scopes;
		const missing = scopes.find((s) => !held.includes(s));
		if (missing) throw insufficientScope(missing);
		return next();
	};
}
