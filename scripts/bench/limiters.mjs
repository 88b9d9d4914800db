// The limiters the rate-limit benchmark compares on recorded traces (docs/performance.md#rate-limiting).
// Each takes (limit, windowMs) and returns { admit(now, cost) → boolean }. Only `exact` is what the API runs
// (src/rate-limit/sliding-window.ts, in the RateLimiter Durable Object); the others model common alternatives.
import { decide } from "../../src/rate-limit/sliding-window.ts";

/** @typedef {{ at: number; cost: number }} Arrival */
/** @typedef {{ admit(now: number, cost: number): boolean }} Limiter */
/** @typedef {(limit: number, windowMs: number) => Limiter} LimiterFactory */

/** Ours: the exact sliding-window log (admitted events only). @type {LimiterFactory} */
export function exact(limit, windowMs) {
	/** @type {Arrival[]} */
	let log = [];
	return {
		admit(now, cost) {
			log = log.filter((e) => e.at > now - windowMs);
			const d = decide(log, { limit, windowMs }, now, cost);
			if (d.allowed && cost > 0) log.push({ at: now, cost });
			return d.allowed;
		},
	};
}

/** A fixed window (Envoy's global rate limit service, Cloudflare's rate-limiting binding periods). @type {LimiterFactory} */
export function fixedWindow(limit, windowMs) {
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
 * @type {LimiterFactory}
 */
export function slidingCounter(limit, windowMs) {
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

/** A small deterministic PRNG (mulberry32), so every run replays the same traces. @param {number} seed */
export function prng(seed) {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

/**
 * Recorded traffic traces for a policy of `limit` per `windowMs` (arrival times in ms, sorted; cost 1):
 * steady Poisson at twice the limit, bursts over a quiet background, and bursts straddling fixed-window
 * boundaries (the classic double spend).
 * @param {number} limit @param {number} windowMs
 */
export function traces(limit, windowMs, seed = 42) {
	const rnd = prng(seed);
	/** @param {number} mean */
	const exp = (mean) => -Math.log(1 - rnd()) * mean;
	const horizon = windowMs * 10;
	/** @type {number[]} */
	const steady = [];
	for (let t = exp(windowMs / (2 * limit)); t < horizon; t += exp(windowMs / (2 * limit))) steady.push(Math.floor(t));
	/** @type {number[]} */
	const bursty = [];
	for (let t = exp(windowMs / (0.3 * limit)); t < horizon; t += exp(windowMs / (0.3 * limit)))
		bursty.push(Math.floor(t));
	for (let start = windowMs / 3; start < horizon; start += windowMs * 1.7) {
		for (let i = 0; i < limit * 1.5; i++) bursty.push(Math.floor(start + rnd() * windowMs * 0.2));
	}
	/** @type {number[]} */
	const boundary = [];
	for (let edge = windowMs; edge < horizon; edge += windowMs) {
		for (let i = 0; i < limit; i++) boundary.push(Math.floor(edge - 1 - rnd() * windowMs * 0.05));
		for (let i = 0; i < limit; i++) boundary.push(Math.floor(edge + rnd() * windowMs * 0.05));
	}
	/** @param {number[]} a */
	const sort = (a) => a.sort((x, y) => x - y).map((at) => ({ at, cost: 1 }));
	return { steady: sort(steady), bursty: sort(bursty), boundary: sort(boundary) };
}

/**
 * Replays a trace through a limiter and judges every decision against the exact rule applied to that limiter's
 * own admitted history: an admission that makes the cost in (t − window, t] exceed the limit is an
 * over-admission; a denial the rule would have admitted is a wrong denial.
 * @param {LimiterFactory} make @param {number} limit @param {number} windowMs @param {Arrival[]} trace
 */
export function judge(make, limit, windowMs, trace) {
	const limiter = make(limit, windowMs);
	/** @type {Arrival[]} */
	const admitted = [];
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
