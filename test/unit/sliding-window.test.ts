import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decide, type LoggedEvent } from "../../src/rate-limit/sliding-window";

/**
 * Brute-force reference: counts by definition, and finds waits by stepping the clock 1 ms at a time. Slow and
 * obviously right, which is the point.
 */
function reference(events: LoggedEvent[], limit: number, windowMs: number, now: number, cost: number) {
	const usedAt = (t: number) => events.filter((e) => e.at > t - windowMs && e.at <= t).reduce((s, e) => s + e.cost, 0);
	const used = usedAt(now);
	const allowed = used + cost <= limit;
	let retryAfterMs = 0;
	if (!allowed) {
		retryAfterMs = Number.POSITIVE_INFINITY;
		if (cost <= limit) {
			for (let t = 1; t <= windowMs; t++) {
				if (usedAt(now + t) + cost <= limit) {
					retryAfterMs = t;
					break;
				}
			}
		}
	}
	// Quota comes back when the counted total first drops: for a denial that is the retry time; for an admission,
	// the first ms at which some counted event (this one included) has left the window.
	const counted = allowed && cost > 0 ? [...events, { at: now, cost }] : events;
	const total = (t: number) =>
		counted.filter((e) => e.at > t - windowMs && e.at <= now).reduce((s, e) => s + e.cost, 0);
	let resetMs = retryAfterMs;
	if (allowed) {
		resetMs = 0;
		if (total(now) > 0) {
			resetMs = 1;
			while (total(now + resetMs) === total(now)) resetMs++;
		}
	}
	return { allowed, used, remaining: Math.max(0, limit - used - (allowed ? cost : 0)), retryAfterMs, resetMs };
}

describe("decide (exact sliding window)", () => {
	it("admits up to the limit inside the window and frees capacity exactly when an event leaves", () => {
		const policy = { limit: 2, windowMs: 1000 };
		const log: LoggedEvent[] = [];
		const at = (now: number) => {
			const d = decide(log, policy, now, 1);
			if (d.allowed) log.push({ at: now, cost: 1 });
			return d;
		};
		expect(at(0).allowed).toBe(true);
		expect(at(500).allowed).toBe(true);
		const denied = at(999);
		expect(denied).toMatchObject({ allowed: false, used: 2, remaining: 0, retryAfterMs: 1 });
		// The event at 0 stops counting at 1000: the window is (now − 1000, now].
		expect(at(1000)).toMatchObject({ allowed: true, used: 1, remaining: 0 });
	});

	it("a cost above the limit is never admissible", () => {
		expect(decide([], { limit: 5, windowMs: 1000 }, 0, 6)).toMatchObject({ allowed: false, retryAfterMs: Infinity });
	});

	it("matches the brute-force reference on thousands of random traffic sequences", () => {
		fc.assert(
			fc.property(
				fc.integer({ min: 1, max: 12 }),
				fc.integer({ min: 1, max: 400 }),
				fc.array(fc.tuple(fc.integer({ min: 0, max: 250 }), fc.integer({ min: 0, max: 5 })), { maxLength: 40 }),
				(limit, windowMs, arrivals) => {
					const log: LoggedEvent[] = [];
					let now = 0;
					for (const [dt, cost] of arrivals) {
						now += dt;
						const got = decide(log, { limit, windowMs }, now, cost);
						const want = reference(log, limit, windowMs, now, cost);
						expect(got).toEqual(want);
						if (got.allowed && cost > 0) log.push({ at: now, cost });
					}
				},
			),
			{ numRuns: 3000 },
		);
	});
});
