/**
 * The validated configuration in every request's context, and 503 for every route but the probes while it is invalid.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { type Config, FALLBACK_CONFIG, loadConfig } from "../../config";
import { withRuntimeFaults } from "../../config/runtime-faults";
import { AppError } from "../../http/app-error";
import { NO_FAULTS } from "../../lib/fault";
import type { RequestLogVariables } from "../request-log";

/** What {@link configGate} puts in the context. */
export type ConfigVariables = {
	/** Valid configuration; routes behind the config gate can rely on it. */
	config: Config;
};

/** The operator's fault switchboard (src/routes/faults.ts), never subject to the faults it sets. */
const FAULT_CONTROL_PATH = "/v1/admin/faults";

/** Paths that must answer even with a broken configuration: liveness, and readiness which reports the problem. */
const ALWAYS_OPEN = new Set(["/healthz", "/readyz"]);

/**
 * Puts the validated configuration in the context. When the environment holds an invalid value, the isolate
 * stays up: `/healthz` and `/readyz` still answer (readiness reports the issues), every other route answers
 * 503 problem+json naming each offending variable.
 *
 * @example
 * ```ts
 * app.use(configGate());
 * app.get("/x", (c) => c.json({ limit: c.get("config").maxBodyBytes }));
 * ```
 */
export function configGate(): MiddlewareHandler<{ Bindings: Env; Variables: ConfigVariables & RequestLogVariables }> {
	return async function configGateMiddleware(c, next) {
		const loaded = loadConfig(c.env);
		if (loaded.ok) {
			// Faults set at run time by the operator endpoint (local and test only) over the configured ones — except
			// for that endpoint itself: an operator can always clear the faults, even a hung D1 or limiter.
			c.set(
				"config",
				c.req.path === FAULT_CONTROL_PATH ? { ...loaded.config, faults: NO_FAULTS } : withRuntimeFaults(loaded.config),
			);
			return next();
		}
		if (ALWAYS_OPEN.has(c.req.path)) {
			// The probes run on the defaults so the rest of the pipeline (body limit, timeout) still works.
			c.set("config", FALLBACK_CONFIG);
			return next();
		}
		c.get("log").error("invalid configuration", { issues: loaded.issues });
		throw new AppError({
			status: 503,
			slug: "misconfigured",
			detail: `The service is misconfigured: ${loaded.issues.map((i) => `${i.variable} (${i.message})`).join("; ")}`,
			errors: loaded.issues.map((i) => ({ path: i.variable, message: i.message })),
			headers: { "Retry-After": "30" },
		});
	};
}
