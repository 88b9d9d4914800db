import type { Principal } from "./auth/principal";
import type { Config } from "./config";
import type { MetricsCollector } from "./middleware/slo-recording";
import type { Deadline } from "./middleware/timeout/deadline";
import type { TokenBudget } from "./rate-limit/limiter";
import type { RateLimitOutcome } from "./rate-limit/stats";
import type { Logger } from "./telemetry/logger";

/** Hono's environment for this app: the Worker's bindings plus what the pipeline puts in the context. */
export type AppEnv = {
	Bindings: Env;
	Variables: {
		/** Echoed as `X-Request-ID` and used as every problem's `instance`. */
		requestId: string;
		/** Version of this Worker (version metadata id; `dev` locally). */
		versionId: string;
		/** Valid configuration; routes behind the config gate can rely on it. */
		config: Config;
		/** Request-scoped structured logger (carries request id and version). */
		log: Logger;
		/** The route's time budget; pass `deadline.signal` to upstream calls so a 504 aborts them. */
		deadline: Deadline;
		/** The authenticated caller; set by the auth middleware on every non-public route. */
		principal: Principal;
		/** What the rate limiter decided for this request (logged); unset on routes no policy governs. */
		rateLimit: RateLimitOutcome;
		/** Counts things for the metrics export (docs/metrics.md). */
		metrics: MetricsCollector;
		/** The request's token reservation, on routes with `tokens` policies: commit the actual usage. */
		tokenBudget: TokenBudget;
	};
};
