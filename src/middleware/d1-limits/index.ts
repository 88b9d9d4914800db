import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../../app-env";
import { isLocalEnvironment } from "../../config";
import { withD1Limits } from "../../db/d1-limits";

/**
 * In local and test environments, every D1 call of the request goes through {@link withD1Limits}: the limits D1
 * enforces in production (bound parameters, SQL length, value size) fail here too, so a test that would be a 500 in
 * production fails locally (docs/security.md#d1-limits). Deployed environments use the binding as it is: D1 itself
 * enforces them there. One wrapped bindings object per isolate, so per-isolate caches keyed by it stay warm.
 *
 * @example
 * ```ts
 * app.use(configGate(), d1Limits());
 * ```
 */
export function d1Limits(): MiddlewareHandler<AppEnv> {
	const wrapped = new WeakMap<object, Env>();
	return async function d1LimitsMiddleware(c, next) {
		if (isLocalEnvironment(c.get("config").environment) && c.env?.DB) {
			let env = wrapped.get(c.env);
			if (!env) {
				env = { ...c.env, DB: withD1Limits(c.env.DB) };
				wrapped.set(c.env, env);
			}
			c.env = env;
		}
		return next();
	};
}
