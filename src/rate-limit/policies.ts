/**
 * Rate-limit policies: configuration (`RATE_LIMIT_POLICIES`, a JSON array validated here), which policies govern
 * a request, and which limit key each one charges.
 *
 * A policy names the routes it governs as route patterns (`/v1/documents/:id`), optionally with a method
 * (`POST /v1/documents`), or `"*"`. A route is governed by every policy that names it; a route no policy names
 * is governed by the `"*"` policies (the seeds' `default`). Health, docs and version routes are never limited.
 *
 * @example
 * ```ts
 * const policies = PoliciesSchema.parse([
 *   { name: "chat", routes: ["POST /v1/chat/completions"], key: "subject", limit: 30, window_s: 60 },
 *   { name: "default", routes: ["*"], key: "subject", limit: 60, window_s: 60 },
 * ]);
 * policiesFor(policies, "POST", "/v1/chat/completions"); // [chat]
 * policiesFor(policies, "GET", "/v1/auth/me"); // [default]
 * ```
 *
 * @module
 */
import { z } from "zod";
import type { Principal } from "../auth/principal";

/**
 * The routes that call a model and so spend LLM tokens: the only routes a `tokens` policy may name (a `tokens`
 * policy elsewhere would reserve nothing and is refused as a configuration error, src/config/index.ts).
 */
export const MODEL_ROUTES: ReadonlySet<string> = new Set(["/v1/chat/completions", "/v1/rag/query"]);

/** Routes no policy may govern: probes, docs, version and the metrics scrape must answer however busy a caller is. */
export const NEVER_LIMITED = new Set(["/healthz", "/readyz", "/version", "/docs", "/openapi.json", "/metrics"]);

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;

const RouteSelector = z.union([
	z.literal("*"),
	z
		.string()
		.regex(
			new RegExp(`^(?:(?:${METHODS.join("|")}) )?/\\S*$`),
			"must be '*', a route pattern like '/v1/documents/:id', or a method and pattern like 'POST /v1/documents'",
		)
		.refine((s) => !NEVER_LIMITED.has(s.replace(/^[A-Z]+ /, "")), "names a route that is never rate limited"),
]);

export const PolicySchema = z.strictObject({
	/** Shown in the RateLimit headers and 429 bodies; a Structured Fields string, so plain characters only. */
	name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, "must be 1-63 of a-z 0-9 . _ - (starting alphanumeric)"),
	routes: z.array(RouteSelector).min(1),
	/**
	 * What is counted together: the authenticated `subject` (within its tenant), the whole `tenant`, the client
	 * `ip` (`CF-Connecting-IP`), or `client_ip` — the OAuth client id a token request presents plus its IP. Without
	 * a principal (public routes), `subject` and `tenant` fall back to the IP.
	 */
	key: z.enum(["subject", "tenant", "ip", "client_ip"]),
	limit: z.number().int().min(1).max(1_000_000_000),
	/** Window in seconds: 1 s .. 31 days. */
	window_s: z
		.number()
		.int()
		.min(1)
		.max(31 * 86_400),
	/** `requests` counts 1 per request; `tokens` reserves LLM tokens before the model call (docs/rate-limits.md). */
	unit: z.enum(["requests", "tokens"]).default("requests"),
	/** When the limiter cannot answer in time: `open` admits, `closed` answers 503. */
	fail: z.enum(["open", "closed"]).default("open"),
});
export type Policy = z.infer<typeof PolicySchema>;

export const PoliciesSchema = z
	.array(PolicySchema)
	.max(32)
	.superRefine((policies, ctx) => {
		const seen = new Set<string>();
		policies.forEach((p, i) => {
			if (seen.has(p.name)) ctx.addIssue({ code: "custom", path: [i, "name"], message: `duplicate name '${p.name}'` });
			seen.add(p.name);
		});
	});

/** The defaults, in the spirit of the seeds; `RATE_LIMIT_POLICIES` replaces them as a whole. */
export const DEFAULT_POLICIES: readonly Policy[] = PoliciesSchema.parse([
	{ name: "chat", routes: ["POST /v1/chat/completions"], key: "subject", limit: 30, window_s: 60 },
	{
		// One LLM token budget per subject across every route that calls a model.
		name: "llm-tokens",
		routes: ["POST /v1/chat/completions", "POST /v1/rag/query"],
		key: "subject",
		limit: 200_000,
		window_s: 3_600,
		unit: "tokens",
		fail: "closed",
	},
	{ name: "rag-query", routes: ["POST /v1/rag/query", "POST /v1/rag/search"], key: "subject", limit: 60, window_s: 60 },
	{ name: "ingest", routes: ["POST /v1/documents"], key: "subject", limit: 20, window_s: 60 },
	{ name: "token", routes: ["POST /v1/auth/token"], key: "client_ip", limit: 10, window_s: 60 },
	{ name: "default", routes: ["*"], key: "subject", limit: 60, window_s: 60 },
]);

function selects(selector: string, method: string, route: string): boolean {
	const space = selector.indexOf(" ");
	if (space < 0) return selector === route;
	const m = selector.slice(0, space);
	return selector.slice(space + 1) === route && (m === method || (m === "GET" && method === "HEAD"));
}

/** The policies governing a request to `route` (the matched pattern) with `method`: named ones, else the `*` ones. */
export function policiesFor(policies: readonly Policy[], method: string, route: string): Policy[] {
	if (NEVER_LIMITED.has(route)) return [];
	const named = policies.filter((p) => p.routes.some((s) => s !== "*" && selects(s, method, route)));
	return named.length > 0 ? named : policies.filter((p) => p.routes.includes("*"));
}

export type KeyInputs = { principal: Principal | undefined; ip: string; clientId: string | undefined };

/**
 * The limit key a policy charges for this request; it names the `RateLimiter` object (`idFromName`), so all the
 * policies of one key are decided atomically in one call. Parts are URI-encoded so no two keys collide.
 */
export function limitKey(kind: Policy["key"], inputs: KeyInputs): string {
	const e = encodeURIComponent;
	const ip = `ip:${e(inputs.ip)}`;
	switch (kind) {
		case "subject":
			return inputs.principal ? `sub:${e(inputs.principal.tenant)}/${e(inputs.principal.subject)}` : ip;
		case "tenant":
			return inputs.principal ? `tenant:${e(inputs.principal.tenant)}` : ip;
		case "client_ip":
			return `client:${e(inputs.clientId ?? "(none)")}|${ip}`;
		case "ip":
			return ip;
	}
}
