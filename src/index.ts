/**
 * The Worker's entry point (`main` in wrangler.toml): the app's `fetch`, the cron's `scheduled` work, and the
 * Durable Object classes the runtime looks up among this module's exports; instrumented for tracing.
 *
 * @module
 */
import { instrument } from "@microlabs/otel-cf-workers";
import { createApp } from "./app";
import { loadConfig } from "./config";
import { withRuntimeFaults } from "./config/runtime-faults";
import { checkReadiness } from "./health/readiness";
import { keepAlive } from "./http/background";
import { handlerPaths } from "./http/route-of";
import { purgeExpiredIngests } from "./rag/store";
import { exportMetrics } from "./telemetry/export";
import { createLogger } from "./telemetry/logger";
import { traceConfig } from "./telemetry/tracing";
import { versionOf } from "./telemetry/version";

export { Conversation } from "../durable-objects/conversation";
export { RateLimiter } from "../durable-objects/rate-limiter";
export { SloCounter } from "../durable-objects/slo-counter";
export { UsageLedger } from "../durable-objects/usage-ledger";
export { LocalVectorIndex } from "../durable-objects/vector-index";

// Built once per isolate: route tables and the OpenAPI document are reused by every request.
const app = createApp();

const handler = {
	fetch: app.fetch,

	/**
	 * Cron (staging/production, every minute): a synthetic readiness self-check, logged as one line, so a
	 * deployment whose D1 migrations or Durable Objects are broken shows up in logs even without traffic; and the
	 * OTLP push of the SLO counters when `OTLP_ENDPOINT` is set; and the sweep of expired ingest idempotency records.
	 */
	async scheduled(controller, env, ctx) {
		const log = createLogger({ level: "info", base: { version: versionOf(env).id, cron: controller.cron } });
		const loaded = loadConfig(env);
		if (loaded.ok) {
			const routes = handlerPaths(app.routes);
			keepAlive(ctx, exportMetrics(env, withRuntimeFaults(loaded.config), routes, log), (err) =>
				log.error("metrics push crashed", { error_message: String(err) }),
			);
		}
		if (loaded.ok) {
			// Idempotency records past IDEMPOTENCY_TTL_S (each ingest purges its own tenant's; this sweeps the quiet ones).
			keepAlive(
				ctx,
				purgeExpiredIngests(env.DB, Date.now() - loaded.config.rag.idempotencyTtlMs).then(
					(n) => n > 0 && log.info("expired idempotency records purged", { records: n }),
				),
				(err) => log.error("idempotency purge failed", { error_message: String(err) }),
			);
		}
		const readiness = await checkReadiness(env, log);
		if (readiness.ready) log.info("self-check", { ready: true });
		else log.error("self-check", { ready: false, checks: readiness.checks });
	},
} satisfies ExportedHandler<Env>;

// Traced (docs/metrics.md#tracing): requests, Durable Object calls and outgoing fetches, exported as OTLP.
export default instrument(handler, traceConfig);
