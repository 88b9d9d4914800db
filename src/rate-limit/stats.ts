import type { Admission } from "./limiter";

/**
 * Per-isolate counts of rate-limit outcomes by route and policy — admitted, denied (by an object or from the
 * negative cache), failed open, failed closed — for the metrics export. Cumulative for the life of the isolate.
 *
 * @example
 * ```ts
 * recordRateLimit("/v1/chat/completions", admission);
 * rateLimitStats(); // [{ route: "/v1/chat/completions", policy: "chat", outcome: "allowed", count: 1 }]
 * ```
 */
export type RateLimitOutcome = "allowed" | "denied" | "denied_cached" | "fail_open" | "fail_closed";

const counts = new Map<string, number>();

function bump(route: string, policy: string, outcome: RateLimitOutcome): void {
	const id = JSON.stringify([route, policy, outcome]);
	counts.set(id, (counts.get(id) ?? 0) + 1);
}

export function recordRateLimit(route: string, admission: Admission): void {
	switch (admission.outcome) {
		case "allowed":
			for (const s of admission.states) bump(route, s.policy.name, "allowed");
			for (const p of admission.failedOpen) bump(route, p.name, "fail_open");
			return;
		case "denied":
			for (const s of admission.violated) bump(route, s.policy.name, admission.cached ? "denied_cached" : "denied");
			return;
		case "unavailable":
			for (const p of admission.failed) bump(route, p.name, "fail_closed");
			return;
	}
}

export function rateLimitStats(): { route: string; policy: string; outcome: RateLimitOutcome; count: number }[] {
	return [...counts].map(([id, count]) => {
		const [route, policy, outcome] = JSON.parse(id) as [string, string, RateLimitOutcome];
		return { route, policy, outcome, count };
	});
}
