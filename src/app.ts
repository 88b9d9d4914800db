/**
 * The API's assembly: the middleware pipeline in its order, the timeout budget of each route, and the resource
 * routers with the OpenAPI document. src/index.ts serves the app this builds.
 *
 * @module
 */
import { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "./app-env";
import { portsFor } from "./composition";
import { FALLBACK_CONFIG, loadConfig } from "./config";
import { handlerPaths } from "./http/route-of";
import { authenticate } from "./middleware/auth";
import { bodyLimit } from "./middleware/body-limit";
import { configGate } from "./middleware/config-gate";
import { cors } from "./middleware/cors";
import { d1Limits } from "./middleware/d1-limits";
import { errorHandler, notFoundHandler, validationHook } from "./middleware/errors";
import { ports } from "./middleware/ports";
import { type RateLimitOptions, rateLimit } from "./middleware/rate-limit";
import { requestId } from "./middleware/request-id";
import { requestLog } from "./middleware/request-log";
import { securityHeaders } from "./middleware/security-headers";
import { sloRecording } from "./middleware/slo-recording";
import { type BudgetResolver, timeout } from "./middleware/timeout";
import { workerVersion } from "./middleware/worker-version";
import { admin } from "./routes/admin";
import { auth } from "./routes/auth";
import { chat, estimateChatTokens } from "./routes/chat";
import { mountDocs } from "./routes/docs";
import { documents } from "./routes/documents";
import { faults } from "./routes/faults";
import { metricsRouter } from "./routes/metrics";
import { ops } from "./routes/ops";
import { estimateRagQueryTokens, rag } from "./routes/rag";
import { SECURITY_SCHEMES } from "./routes/security";
import { usage } from "./routes/usage";
import type { Recorder } from "./slo/recorder";

/** Which timeout budget a route pattern gets; unlisted routes get the default (30 s). */
export const ROUTE_TIMEOUT_CLASS: Record<string, "health" | "chat"> = {
	"/healthz": "health",
	"/readyz": "health",
	"/v1/chat/completions": "chat",
	"/v1/rag/query": "chat",
};

const routeBudgetMs: BudgetResolver = (route, env) => {
	const loaded = loadConfig(env);
	const t = (loaded.ok ? loaded.config : FALLBACK_CONFIG).timeouts;
	switch (ROUTE_TIMEOUT_CLASS[route]) {
		case "health":
			return t.healthMs;
		case "chat":
			return t.chatMs;
		default:
			return t.defaultMs;
	}
};

/** Options of {@link createPipeline}: the rate limiter's, and whether and how to record SLOs. */
export type PipelineOptions = {
	rateLimit?: RateLimitOptions;
	/** SLO recording: the recorder to use, or `false` to leave it out (benchmarks compare with and without). */
	slo?: { recorder?: Recorder } | false;
};

/**
 * The pipeline every route runs behind, in order (docs/architecture.md): request id → structured log + timing →
 * worker version → SLO recording (unless left out) → security headers → CORS → config gate → D1 limits (local) → ports
 * → body limit → timeout → authentication → rate limit → routes; one error path for all of it.
 * Exported separately so tests can exercise the pipeline with their own routes.
 *
 * @example
 * ```ts
 * const app = createPipeline();
 * app.get("/probe", (c) => c.text("ok"));
 * ```
 */
export function createPipeline(options: PipelineOptions = {}): OpenAPIHono<AppEnv> {
	const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
	// One `use` per middleware: each is typed with only the variables it sets and reads.
	app.use(requestId());
	app.use(requestLog());
	app.use(workerVersion());
	if (options.slo !== false) app.use(sloRecording(options.slo ?? {}));
	app.use(securityHeaders());
	app.use(cors());
	app.use(configGate());
	app.use(d1Limits());
	// After d1Limits: adapters see the bindings the request runs with (the limits wrapper, locally).
	app.use(ports(portsFor));
	app.use(bodyLimit());
	app.use(timeout(routeBudgetMs));
	app.use(authenticate());
	app.use(rateLimit(options.rateLimit));
	app.onError(errorHandler());
	app.notFound(notFoundHandler(() => app.routes));
	return app;
}

/** The whole API: pipeline, every resource router, then the OpenAPI document and reference page. */
export function createApp(options: Pick<PipelineOptions, "slo"> = {}): OpenAPIHono<AppEnv> {
	const app = createPipeline({
		...options,
		rateLimit: {
			// Every route in MODEL_ROUTES (src/rate-limit/policies.ts) registers its worst case for `tokens` policies.
			tokenCost: { "/v1/chat/completions": estimateChatTokens, "/v1/rag/query": estimateRagQueryTokens },
		},
	});
	app.route("/", ops);
	app.route("/", auth);
	app.route("/", chat);
	app.route("/", documents);
	app.route("/", rag);
	app.route(
		"/",
		metricsRouter(() => handlerPaths(app.routes)),
	);
	app.route("/", usage);
	app.route("/", admin);
	app.route("/", faults);
	for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) {
		app.openAPIRegistry.registerComponent("securitySchemes", name, scheme);
	}
	mountDocs(app);
	return app;
}
