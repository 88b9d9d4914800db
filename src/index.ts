import { createApp } from "./app";
import { checkReadiness } from "./health/readiness";
import { createLogger } from "./telemetry/logger";
import { versionOf } from "./telemetry/version";

export { Conversation } from "../durable-objects/conversation";
export { RateLimiter } from "../durable-objects/rate-limiter";
export { SloCounter } from "../durable-objects/slo-counter";
export { LocalVectorIndex } from "../durable-objects/vector-index";

// Built once per isolate: route tables and the OpenAPI document are reused by every request.
const app = createApp();

export default {
	fetch: app.fetch,

	/**
	 * Cron (staging/production, every minute): a synthetic readiness self-check, logged as one line, so a
	 * deployment whose D1 migrations or Durable Objects are broken shows up in logs even without traffic.
	 */
	async scheduled(controller, env) {
		const log = createLogger({ level: "info", base: { version: versionOf(env).id, cron: controller.cron } });
		const readiness = await checkReadiness(env);
		if (readiness.ready) log.info("self-check", { ready: true });
		else log.error("self-check", { ready: false, checks: readiness.checks });
	},
} satisfies ExportedHandler<Env>;
