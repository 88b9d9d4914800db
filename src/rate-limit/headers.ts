/**
 * Rate-limit response headers: IETF `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-10,
 * Structured Fields lists) plus the legacy `X-RateLimit-Limit` / `-Remaining` / `-Reset` the seeds' clients read.
 *
 * `RateLimit` and the legacy trio describe the policy closest to exhaustion (least remaining share of its quota;
 * on a tie the one that waits longest); on a 429, the violated policy with the longest wait, so `Retry-After`
 * is never earlier than its `t`. Seconds are rounded up: waiting `t` is always enough.
 *
 * @example
 * ```ts
 * policyField([chat, chatTokens]); // "chat";q=30;w=60, "llm-tokens";q=200000;qu="tokens";w=3600
 * ```
 *
 * @module
 */
import type { PolicyState } from "./limiter";
import type { Policy } from "./policies";

/** `RateLimit-Policy`: every policy governing the route. Names are plain (validated), so no escaping is needed. */
export function policyField(policies: readonly Policy[]): string {
	return policies
		.map((p) => `"${p.name}";q=${p.limit}${p.unit === "tokens" ? ';qu="tokens"' : ""};w=${p.window_s}`)
		.join(", ");
}

/** Seconds for a `t` / `Retry-After`, rounded up; a wait that can never end reports the whole window. */
export function seconds(ms: number, policy: Policy): number {
	return Number.isFinite(ms) ? Math.max(0, Math.ceil(ms / 1000)) : policy.window_s;
}

/** The state the `RateLimit` field reports. */
export function closestToExhaustion(states: readonly PolicyState[]): PolicyState | undefined {
	let best: PolicyState | undefined;
	for (const s of states) {
		if (!best) {
			best = s;
			continue;
		}
		const share = (x: PolicyState) => (x.allowed ? x.remaining / x.policy.limit : -1);
		if (share(s) < share(best) || (share(s) === share(best) && s.resetMs > best.resetMs)) best = s;
	}
	return best;
}

/** All rate-limit headers for a response; `RateLimit` and the legacy trio only when some policy was decided. */
export function rateLimitHeaders(policies: readonly Policy[], states: readonly PolicyState[]): Record<string, string> {
	const headers: Record<string, string> = {};
	if (policies.length > 0) headers["RateLimit-Policy"] = policyField(policies);
	const reported = closestToExhaustion(states);
	if (reported) {
		const r = reported.allowed ? reported.remaining : 0;
		const t = seconds(reported.resetMs, reported.policy);
		headers.RateLimit = `"${reported.policy.name}";r=${r};t=${t}`;
		headers["X-RateLimit-Limit"] = String(reported.policy.limit);
		headers["X-RateLimit-Remaining"] = String(r);
		headers["X-RateLimit-Reset"] = String(t);
	}
	return headers;
}
