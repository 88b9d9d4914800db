/**
 * Exact sliding-window log.
 *
 * A request of cost `c` is admitted at time `now` iff the summed cost of admitted events in the half-open window
 * `(now − window, now]` plus `c` is at most `limit`. Only admitted events are logged, so the log holds at most
 * `limit` cost units per policy however much traffic is denied: memory is bounded by the limit, not by traffic.
 *
 * Precision: exact (no approximation at window boundaries, unlike fixed windows or the two-counter sliding
 * estimate). Cost: O(k) per decision over the k logged events of the window, k ≤ limit.
 *
 * Times are integer ms; every function takes `now` so callers inject the clock.
 *
 * @example
 * ```ts
 * const d = decide([{ at: 1_000, cost: 1 }], { limit: 2, windowMs: 60_000 }, 2_000, 1);
 * // { allowed: true, used: 1, remaining: 0, retryAfterMs: 0, resetMs: 59_000 }
 * // resetMs: the event at 1 000 leaves the window at 61 000, and a unit of quota comes back
 * ```
 *
 * @module
 */

/** An admitted event: when it was logged (ms) and its cost. */
export type LoggedEvent = { at: number; cost: number };
export type WindowPolicy = { limit: number; windowMs: number };

export type Decision = {
	allowed: boolean;
	/** Cost already admitted in the window, before this request. */
	used: number;
	/** Cost still admissible after this decision (this request included when allowed). */
	remaining: number;
	/** When denied: ms until enough of the oldest events leave the window for this cost to fit; else 0. */
	retryAfterMs: number;
	/**
	 * ms until quota comes back, exactly: when allowed, until the oldest counted event (this one included) leaves
	 * the window, so `remaining` grows (0 when nothing is counted); when denied, `retryAfterMs`.
	 */
	resetMs: number;
};

/** Whether an event logged at `at` still counts at `now`: the window is `(now − windowMs, now]`. */
export function inWindow(at: number, now: number, windowMs: number): boolean {
	return at > now - windowMs && at <= now;
}

/** What a decision needs to know of the window when it admits: the counted cost and the oldest counted event. */
export type WindowSummary = { used: number; oldestAt: number | null };

/**
 * Decides one request against one policy. `events` may include expired ones (they are ignored) and need not be
 * sorted. A cost above the limit can never be admitted: `retryAfterMs` is then `Infinity`.
 */
export function decide(events: readonly LoggedEvent[], policy: WindowPolicy, now: number, cost: number): Decision {
	const live = events.filter((e) => inWindow(e.at, now, policy.windowMs)).sort((a, b) => a.at - b.at);
	const used = live.reduce((sum, e) => sum + e.cost, 0);
	return decideWith({ used, oldestAt: live[0]?.at ?? null }, () => live, policy, now, cost);
}

/**
 * The same decision from a summary of the window (an SQL aggregate), reading the events themselves only to
 * compute the wait of a denial: `liveOldestFirst` returns the events of the window, oldest first.
 */
export function decideWith(
	summary: WindowSummary,
	liveOldestFirst: () => readonly LoggedEvent[],
	policy: WindowPolicy,
	now: number,
	cost: number,
): Decision {
	const { limit, windowMs } = policy;
	const { used } = summary;
	const allowed = used + cost <= limit;
	if (allowed) {
		const oldest = summary.oldestAt ?? (cost > 0 ? now : null);
		const resetMs = oldest === null ? 0 : oldest + windowMs - now;
		return { allowed, used, remaining: limit - used - cost, retryAfterMs: 0, resetMs };
	}
	let retryAfterMs = Number.POSITIVE_INFINITY;
	if (cost <= limit) {
		// Events leave the window oldest first; the one whose departure makes room decides the wait. An event at
		// `at` stops counting at `at + windowMs` (the window is open on the left).
		let freed = 0;
		for (const e of liveOldestFirst()) {
			freed += e.cost;
			if (used - freed + cost <= limit) {
				retryAfterMs = e.at + windowMs - now;
				break;
			}
		}
	}
	return { allowed, used, remaining: Math.max(0, limit - used), retryAfterMs, resetMs: retryAfterMs };
}
