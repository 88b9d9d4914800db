// The limiters the rate-limit benchmark compares on recorded traces (docs/performance.md#rate-limiting).
// Each takes (limit, windowMs) and returns { admit(now, cost) → boolean }. Only `exact` is what the API runs
// (src/rate-limit/sliding-window.ts, in the RateLimiter Durable Object); the others model common alternatives.
import { prng } from "../../../load/corpus.js";
import { decide } from "../../../src/rate-limit/sliding-window.ts";

export type Arrival = { at: number; cost: number };
export type Limiter = { admit(now: number, cost: number): boolean };
export type LimiterFactory = (limit: number, windowMs: number) => Limiter;

/** Ours: the exact sliding-window log (admitted events only). */
export function exact(limit: number, windowMs: number): Limiter {
	let log: Arrival[] = [];
	return {
		admit(now, cost) {
			log = log.filter((e) => e.at > now - windowMs);
			const d = decide(log, { limit, windowMs }, now, cost);
			if (d.allowed && cost > 0) log.push({ at: now, cost });
			return d.allowed;
		},
	};
}

/** A fixed window (Envoy's global rate limit service, Cloudflare's rate-limiting binding periods). */
export function fixedWindow(limit: number, windowMs: number): Limiter {
	let start = Number.NEGATIVE_INFINITY;
	let count = 0;
	return {
		admit(now, cost) {
			const w = Math.floor(now / windowMs) * windowMs;
			if (w !== start) {
				start = w;
				count = 0;
			}
			if (count + cost > limit) return false;
			count += cost;
			return true;
		},
	};
}

/**
 * The two-window sliding counter estimate (Upstash's `slidingWindow`, Cloudflare's published rate-limiting
 * algorithm): the previous fixed window's count weighted by the share of it still inside the sliding window,
 * plus the current window's count. Only admitted requests are counted, as in Upstash.
 */
export function slidingCounter(limit: number, windowMs: number): Limiter {
	let current = Number.NEGATIVE_INFINITY;
	let currentCount = 0;
	let previousCount = 0;
	return {
		admit(now, cost) {
			const w = Math.floor(now / windowMs) * windowMs;
			if (w !== current) {
				previousCount = w - current === windowMs ? currentCount : 0;
				current = w;
				currentCount = 0;
			}
			const previousWeight = 1 - (now - w) / windowMs;
			const estimate = Math.floor(previousCount * previousWeight) + currentCount;
			if (estimate + cost > limit) return false;
			currentCount += cost;
			return true;
		},
	};
}

/**
 * Recorded traffic traces for a policy of `limit` per `windowMs` (arrival times in ms, sorted; cost 1):
 * steady Poisson at twice the limit, bursts over a quiet background, and bursts straddling fixed-window
 * boundaries (the classic double spend). Seeded (load/corpus.js's PRNG): every run replays the same traces.
 */
export function traces(
	limit: number,
	windowMs: number,
	seed = 42,
): Record<"steady" | "bursty" | "boundary", Arrival[]> {
	const rnd = prng(seed);
	const exp = (mean: number) => -Math.log(1 - rnd()) * mean;
	const horizon = windowMs * 10;
	const steady: number[] = [];
	for (let t = exp(windowMs / (2 * limit)); t < horizon; t += exp(windowMs / (2 * limit))) steady.push(Math.floor(t));
	const bursty: number[] = [];
	for (let t = exp(windowMs / (0.3 * limit)); t < horizon; t += exp(windowMs / (0.3 * limit)))
		bursty.push(Math.floor(t));
	for (let start = windowMs / 3; start < horizon; start += windowMs * 1.7) {
		for (let i = 0; i < limit * 1.5; i++) bursty.push(Math.floor(start + rnd() * windowMs * 0.2));
	}
	const boundary: number[] = [];
	for (let edge = windowMs; edge < horizon; edge += windowMs) {
		for (let i = 0; i < limit; i++) boundary.push(Math.floor(edge - 1 - rnd() * windowMs * 0.05));
		for (let i = 0; i < limit; i++) boundary.push(Math.floor(edge + rnd() * windowMs * 0.05));
	}
	const sort = (a: number[]) => a.sort((x, y) => x - y).map((at) => ({ at, cost: 1 }));
	return { steady: sort(steady), bursty: sort(bursty), boundary: sort(boundary) };
}

/**
 * Replays a trace through a limiter and judges every decision against the exact rule applied to that limiter's
 * own admitted history: an admission that makes the cost in (t − window, t] exceed the limit is an
 * over-admission; a denial the rule would have admitted is a wrong denial.
 */
export function judge(make: LimiterFactory, limit: number, windowMs: number, trace: readonly Arrival[]) {
	const limiter = make(limit, windowMs);
	const admitted: Arrival[] = [];
	let overAdmitted = 0;
	let wrongDenials = 0;
	let peak = 0;
	let head = 0;
	let inWindow = 0;
	for (const { at, cost } of trace) {
		while (head < admitted.length && (admitted[head]?.at ?? at) <= at - windowMs)
			inWindow -= admitted[head++]?.cost ?? 0;
		const fits = inWindow + cost <= limit;
		if (limiter.admit(at, cost)) {
			if (!fits) overAdmitted++;
			admitted.push({ at, cost });
			inWindow += cost;
			peak = Math.max(peak, inWindow);
		} else if (fits) {
			wrongDenials++;
		}
	}
	return { requests: trace.length, admitted: admitted.length, overAdmitted, wrongDenials, peak };
}
