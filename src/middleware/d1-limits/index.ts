/**
 * D1's production limits enforced on the local D1 binding, per request (src/db/d1-limits.ts), and the D1 faults a
 * drill injects (src/db/d1-faults.ts) — both in local and test environments only.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { isLocalEnvironment } from "../../config";
import { shareBindingsIdentity } from "../../config/bindings";
import { withD1Faults } from "../../db/d1-faults";
import { withD1Limits } from "../../db/d1-limits";
import type { ConfigVariables } from "../config-gate";

/**
 * In local and test environments, every D1 call of the request goes through {@link withD1Limits}: the limits D1
 * enforces in production (bound parameters, SQL length, value size) fail here too, so a test that would be a 500 in
 * production fails locally (docs/security.md#resource-consumption-api4-api6). Deployed environments use the binding as it is: D1 itself
 * enforces them there. `FAULT_D1_RATE`/`FAULT_D1_LATENCY_MS` make its executions fail or wait (docs/resilience.md).
 *
 * @example
 * ```ts
 * app.use(configGate(), d1Limits());
 * ```
 */
export function d1Limits(): MiddlewareHandler<{ Bindings: Env; Variables: ConfigVariables }> {
	return async function d1LimitsMiddleware(c, next) {
		const config = c.get("config");
		if (isLocalEnvironment(config.environment) && c.env?.DB) {
			// Wrapped per request: the bindings are this request's (the tracing instruments them per request). The copy
			// keeps the isolate's identity, so per-isolate caches keyed on it (config, readiness) still hit.
			const db = withD1Faults(withD1Limits(c.env.DB), config.faults.d1);
			c.env = shareBindingsIdentity({ ...c.env, DB: db }, c.env);
		}
		return next();
	};
}
