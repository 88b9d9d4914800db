/**
 * Rate-limit outcomes for the metrics export (`rate_limit_decisions_total{http_route, policy, outcome}`), counted
 * through the request's metrics collector into the `SloCounter` shards: admitted, denied (by an object or from the
 * negative cache), failed open, failed closed.
 *
 * @example
 * ```ts
 * countRateLimit("/v1/chat/completions", admission, c.get("metrics").count);
 * ```
 *
 * @module
 */
import type { Admission } from "./limiter";

/**
 * Who a denial is attributed to on the "top limited subjects" panel (`rate_limit_denied_subjects_total`): the
 * principal's `tenant/subject`, or for anonymous requests the client's network (IPv4 /24, IPv6 /48) — bounded
 * cardinality, and no full client address in the metrics.
 */
export function deniedSubject(principal: { tenant: string; subject: string } | undefined, ip: string): string {
	if (principal) return `${principal.tenant}/${principal.subject}`;
	const v4 = ip.match(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.\d{1,3}$/);
	if (v4) return `ip:${v4[1]}.${v4[2]}.${v4[3]}.0/24`;
	if (ip.includes(":")) {
		const groups = ip.split("::")[0]?.split(":").filter(Boolean).slice(0, 3) ?? [];
		return `ip:${[...groups, ...["0", "0", "0"].slice(groups.length)].join(":")}::/48`;
	}
	return "ip:unknown";
}

export type RateLimitOutcome = "allowed" | "denied" | "denied_cached" | "fail_open" | "fail_closed";

/** Counts one admission: a decision per policy it touched, and the denied subject when it was refused. */
export function countRateLimit(
	route: string,
	admission: Admission,
	count: (metric: string, labels: Record<string, string>) => void,
	subject = "unknown",
): void {
	const bump = (policy: string, outcome: RateLimitOutcome) =>
		count("rate_limit_decisions", { http_route: route, policy, outcome });
	switch (admission.outcome) {
		case "allowed":
			for (const s of admission.states) bump(s.policy.name, "allowed");
			for (const p of admission.failedOpen) bump(p.name, "fail_open");
			return;
		case "denied":
			for (const s of admission.violated) {
				bump(s.policy.name, admission.cached ? "denied_cached" : "denied");
				count("rate_limit_denied_subjects", { policy: s.policy.name, subject });
			}
			return;
		case "unavailable":
			for (const p of admission.failed) bump(p.name, "fail_closed");
			return;
	}
}
