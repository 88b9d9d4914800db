/**
 * Rate limiting in the pipeline: decides the policies governing each request (src/rate-limit/limiter.ts), answers
 * 429 or 503 when it must, sets the RateLimit headers, and hands routes the request's token reservation.
 *
 * @module
 */
import type { Context, MiddlewareHandler } from "hono";
import { parseBasicCredentials } from "../../auth/basic";
import { AppError } from "../../http/app-error";
import { deferrer } from "../../http/background";
import { clientIp } from "../../http/client-ip";
import { mutableHeaders } from "../../http/mutable-headers";
import { routeOf, UNMATCHED_ROUTE } from "../../http/route-of";
import { isActive, withFaults } from "../../lib/fault";
import { rateLimitHeaders, seconds } from "../../rate-limit/headers";
import { type Admission, admit, type LimiterLookup, limiterLookup, TokenBudget } from "../../rate-limit/limiter";
import { NegativeCache } from "../../rate-limit/negative-cache";
import { limitKey, policiesFor } from "../../rate-limit/policies";
import { countRateLimit, deniedSubject, type RateLimitOutcome } from "../../rate-limit/stats";
import type { MetricsCollector } from "../../slo/collector";
import type { AuthVariables } from "../auth";
import type { ConfigVariables } from "../config-gate";
import type { RequestLogVariables } from "../request-log";

/** What {@link rateLimit} puts in the context. */
export type RateLimitVariables = {
	/** What the rate limiter decided for this request (logged); unset on routes no policy governs. */
	rateLimit: RateLimitOutcome;
	/** The request's token reservation, on routes with `tokens` policies: commit the actual usage. */
	tokenBudget: TokenBudget;
};

/** The context the rate limiter runs in (and token estimators read): after authentication, with metrics if recorded. */
export type RateLimitEnv = {
	Bindings: Env;
	Variables: RateLimitVariables &
		AuthVariables &
		ConfigVariables &
		RequestLogVariables & { metrics?: MetricsCollector }; // Set by the SLO recording middleware, which benchmarks may leave out.
};

/** Worst-case LLM tokens of a request (prompt estimate + max_tokens), for `tokens` policies; 0 if unknown. */
export type TokenCostEstimator = (c: Context<RateLimitEnv>) => number | Promise<number>;

export type RateLimitOptions = {
	/** Token estimators by route pattern (the chat route registers one); routes without one reserve nothing. */
	tokenCost?: Record<string, TokenCostEstimator>;
	/** Which object decides a key; default the `RATE_LIMITER` namespace. Tests inject failing ones. */
	lookup?: (env: Env) => LimiterLookup;
	/** The isolate's negative cache; default one per middleware instance, sized from config. */
	cache?: NegativeCache;
	now?: () => number;
};

/** The client id a token request presents: Basic user name, or `client_id` in a form or JSON body. */
async function presentedClientId(c: Context<RateLimitEnv>): Promise<string | undefined> {
	const basic = parseBasicCredentials(c.req.header("Authorization") ?? "");
	if (basic) return basic.clientId;
	const type = c.req.header("Content-Type") ?? "";
	// Hono caches the body text, so the route's validator reads the same bytes again without a second stream read.
	if (type.startsWith("application/x-www-form-urlencoded")) {
		return new URLSearchParams(await c.req.text()).get("client_id") ?? undefined;
	}
	if (type.startsWith("application/json")) {
		try {
			const body: unknown = JSON.parse(await c.req.text());
			const id = typeof body === "object" && body !== null ? (body as Record<string, unknown>).client_id : undefined;
			return typeof id === "string" ? id : undefined;
		} catch {
			return undefined;
		}
	}
	return undefined;
}

function tooManyRequests(admission: Extract<Admission, { outcome: "denied" }>, headers: Record<string, string>) {
	const names = [...new Set(admission.violated.map((s) => s.policy.name))];
	const neverFits = admission.violated.filter((s) => !Number.isFinite(s.resetMs));
	if (neverFits.length > 0) {
		const p = neverFits[0]?.policy;
		return new AppError({
			status: 429,
			slug: "quota-exceeded",
			detail: `This request needs more than policy '${p?.name}' allows in a whole window (${p?.limit} ${p?.unit} per ${p?.window_s} s); lower max_tokens`,
			headers,
			extensions: { "violated-policies": names },
		});
	}
	const retryAfter = Math.max(1, ...admission.violated.map((s) => seconds(s.resetMs, s.policy)));
	return new AppError({
		status: 429,
		slug: "quota-exceeded",
		detail: `Rate limit exceeded (${names.join(", ")}); retry in ${retryAfter} s`,
		headers: { ...headers, "Retry-After": String(retryAfter) },
		extensions: { "violated-policies": names },
	});
}

/**
 * Exact sliding-window rate limiting (docs/rate-limits.md), after authentication: decides every policy governing
 * the route atomically in the `RateLimiter` objects, answers 429 (problem+json, `Retry-After`) or 503 (a `closed`
 * policy whose limiter is unreachable), sets the RateLimit headers on every limited response, and hands routes
 * with `tokens` policies a {@link TokenBudget} (`c.get("tokenBudget")`) to commit the actual usage.
 *
 * @example
 * ```ts
 * app.use(authenticate(), rateLimit({ tokenCost: { "/v1/chat/completions": estimateChatTokens } }));
 * ```
 */
export function rateLimit(options: RateLimitOptions = {}): MiddlewareHandler<RateLimitEnv> {
	const now = options.now ?? Date.now;
	let cache = options.cache;
	return async function rateLimitMiddleware(c, next) {
		if (c.req.method === "OPTIONS") return next();
		const route = routeOf(c);
		if (route === UNMATCHED_ROUTE) return next();
		const config = c.get("config").rateLimit;
		const policies = policiesFor(config.policies, c.req.method, route);
		if (policies.length === 0) return next();

		cache ??= new NegativeCache(config.negativeCacheSize);
		const log = c.get("log");
		const defer = deferrer(c, "rate limiter cleanup failed");
		const inputs = {
			principal: c.get("principal"),
			ip: clientIp(c.req.raw),
			clientId: policies.some((p) => p.key === "client_ip") ? await presentedClientId(c) : undefined,
		};
		let tokenCost = 0;
		const estimator = options.tokenCost?.[route];
		if (estimator && policies.some((p) => p.unit === "tokens")) {
			try {
				tokenCost = Math.max(0, Math.ceil(await estimator(c)));
			} catch {
				// A body the estimator cannot read is the handler's 4xx to give; nothing is reserved for it.
				tokenCost = 0;
			}
		}
		const objects = (options.lookup ?? ((env: Env) => limiterLookup(env.RATE_LIMITER)))(c.env);
		// Injected limiter faults (local and test only): each object call may fail or hang, as a real outage would.
		const fault = c.get("config").faults.rateLimiter;
		const lookup: LimiterLookup = isActive(fault) ? (key) => withFaults(objects(key), "rate limiter", fault) : objects;
		const admission = await admit(
			{ policies, keyOf: (p) => limitKey(p.key, inputs), tokenCost },
			{ lookup, cache, timeoutMs: config.timeoutMs, leaseMs: config.leaseMs, now, defer, log },
		);
		const headers = rateLimitHeaders(policies, admission.states);
		const metrics = c.get("metrics");
		if (metrics)
			countRateLimit(route, admission, (m, l) => metrics.count(m, l), deniedSubject(inputs.principal, inputs.ip));

		if (admission.outcome === "denied") {
			c.set("rateLimit", admission.cached ? "denied_cached" : "denied");
			throw tooManyRequests(admission, headers);
		}
		if (admission.outcome === "unavailable") {
			c.set("rateLimit", "fail_closed");
			throw new AppError({
				status: 503,
				slug: "limiter-unavailable",
				detail: `The rate limiter for ${admission.failed.map((p) => `'${p.name}'`).join(", ")} is unavailable and that policy fails closed; retry shortly`,
				headers: { ...headers, "Retry-After": "1" },
				extensions: { "unavailable-policies": admission.failed.map((p) => p.name) },
			});
		}
		c.set("rateLimit", admission.failedOpen.length > 0 ? "fail_open" : "allowed");
		const budget =
			admission.reservations.length > 0 ? new TokenBudget(tokenCost, admission.reservations, lookup, log) : undefined;
		if (budget) c.set("tokenBudget", budget);
		try {
			await next();
		} finally {
			// A reservation the route neither committed nor kept for a stream is released now, not at lease expiry.
			if (budget && !budget.settled && !budget.detached) defer(budget.commit(0));
		}
		const out = mutableHeaders(c);
		for (const [name, value] of Object.entries(headers)) out.set(name, value);
	};
}
