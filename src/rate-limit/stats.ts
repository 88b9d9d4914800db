import type { Admission } from "./limiter";

/**
 * Rate-limit outcomes for the metrics export (`rate_limit_decisions_total{http_route, policy, outcome}`), counted
 * through the request's metrics collector into the `SloCounter` shards: admitted, denied (by an object or from the
 * negative cache), failed open, failed closed.
 *
 * @example
 * ```ts
 * countRateLimit("/v1/chat/completions", admission, c.get("metrics").count);
 * ```
 */
export type RateLimitOutcome = "allowed" | "denied" | "denied_cached" | "fail_open" | "fail_closed";

export function countRateLimit(
	route: string,
	admission: Admission,
	count: (metric: string, labels: Record<string, string>) => void,
): void {
	const bump = (policy: string, outcome: RateLimitOutcome) =>
		count("rate_limit_decisions", { http_route: route, policy, outcome });
	switch (admission.outcome) {
		case "allowed":
			for (const s of admission.states) bump(s.policy.name, "allowed");
			for (const p of admission.failedOpen) bump(p.name, "fail_open");
			return;
		case "denied":
			for (const s of admission.violated) bump(s.policy.name, admission.cached ? "denied_cached" : "denied");
			return;
		case "unavailable":
			for (const p of admission.failed) bump(p.name, "fail_closed");
			return;
	}
}
