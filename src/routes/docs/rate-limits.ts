/**
 * The configured rate limits, written into the OpenAPI document as the 429 (and 503) responses of the operations they
 * govern.
 *
 * @module
 */
import { type Policy, policiesFor } from "../../rate-limit/policies";

type Operation = { responses?: Record<string, unknown>; description?: string };

const METHODS = ["get", "head", "post", "put", "patch", "delete"];

const header = (description: string) => ({ description, schema: { type: "string" } });

/**
 * Documents the configured rate limits in the OpenAPI document: every operation some policy governs gets a 429
 * response (with `Retry-After`, `RateLimit`, `RateLimit-Policy`) naming its policies, and a 503 when one of them
 * fails closed. Returns a new document; routes are matched as the middleware matches them
 * (`/v1/documents/{id}` ↔ `/v1/documents/:id`).
 */
export function withRateLimits<D extends { paths?: unknown }>(doc: D, policies: readonly Policy[]): D {
	const paths: Record<string, Record<string, unknown> | undefined> = {};
	const source = (doc.paths ?? {}) as Record<string, Record<string, unknown> | undefined>;
	for (const [path, item] of Object.entries(source)) {
		const route = path.replace(/\{([^}]+)\}/g, ":$1");
		const next: Record<string, unknown> = { ...item };
		for (const method of METHODS) {
			const op = item?.[method] as Operation | undefined;
			if (!op) continue;
			const governing = policiesFor(policies, method.toUpperCase(), route);
			if (governing.length === 0) continue;
			const list = governing.map((p) => `${p.name} (${p.limit} ${p.unit} per ${p.window_s} s per ${p.key})`).join(", ");
			const responses: Record<string, unknown> = { ...op.responses };
			responses["429"] = {
				description: `Rate limited: ${list}. A problem+json of type quota-exceeded naming violated-policies.`,
				headers: {
					"Retry-After": header("Seconds to wait; never earlier than the RateLimit t"),
					RateLimit: header('The policy closest to exhaustion, e.g. "chat";r=0;t=41'),
					"RateLimit-Policy": header("Every policy of the route (draft-ietf-httpapi-ratelimit-headers-10)"),
				},
				content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
			};
			if (governing.some((p) => p.fail === "closed") && !responses["503"]) {
				responses["503"] = {
					description: "The rate limiter did not answer and a policy fails closed (limiter-unavailable)",
					content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
				};
			}
			next[method] = { ...op, responses };
		}
		paths[path] = next;
	}
	return { ...doc, paths };
}
