import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { RequestRecord } from "../../src/slo/contract";
import { SLO_WINDOWS, sloFor } from "../../src/slo/spec";
import {
	countInMinute,
	coveredMinutes,
	lastExpiredMinute,
	MINUTE_MS,
	type MinuteBucket,
	type MinuteCounts,
	minuteOf,
	RETAIN_MINUTES,
	sumWindows,
} from "../../src/slo/windows";

const CHAT = "/v1/chat/completions"; // objectives 2 000 ms and 5 000 ms
const OTHER = "/v1/auth/me"; // the default objectives, 500 ms and 1 000 ms
const NOW = Date.UTC(2025, 0, 31, 12, 34, 56, 789);

const request = (over: Partial<RequestRecord> = {}): RequestRecord => ({
	route: CHAT,
	method: "POST",
	status: 200,
	version: "v1",
	durationMs: 100,
	atMs: NOW,
	...over,
});

/** Folds requests into minute buckets the way the object stores them: one per minute × route × version. */
function bucketsOf(requests: readonly RequestRecord[]): MinuteBucket[] {
	const byKey = new Map<string, MinuteBucket>();
	for (const r of requests) {
		const key = JSON.stringify([minuteOf(r.atMs), r.route, r.version]);
		const counts = countInMinute(byKey.get(key), r);
		byKey.set(key, { minute: minuteOf(r.atMs), route: r.route, version: r.version, ...counts });
	}
	return [...byKey.values()];
}

describe("minuteOf", () => {
	it("is the minute since the epoch a time falls in", () => {
		expect(minuteOf(0)).toBe(0);
		expect(minuteOf(MINUTE_MS - 1)).toBe(0);
		expect(minuteOf(MINUTE_MS)).toBe(1);
		expect(minuteOf(NOW)).toBe(Math.floor(NOW / 60_000));
	});
});

describe("countInMinute", () => {
	it("counts a request within a threshold as fast for that objective, the threshold itself included", () => {
		expect(countInMinute(undefined, request({ durationMs: 2_000 }))).toEqual({ total: 1, errors: 0, fast: [1, 1] });
		expect(countInMinute(undefined, request({ durationMs: 2_001 }))).toEqual({ total: 1, errors: 0, fast: [0, 1] });
		expect(countInMinute(undefined, request({ durationMs: 5_001 }))).toEqual({ total: 1, errors: 0, fast: [0, 0] });
		expect(countInMinute(undefined, request({ route: OTHER, durationMs: 501 }))).toEqual({
			total: 1,
			errors: 0,
			fast: [0, 1],
		});
	});

	it("counts 5xx as errors and never as fast; 4xx are the client's: not errors, and fast when quick", () => {
		for (const status of [500, 502, 503, 504]) {
			expect(countInMinute(undefined, request({ status, durationMs: 1 }))).toEqual({
				total: 1,
				errors: 1,
				fast: [0, 0],
			});
		}
		for (const status of [400, 404, 422, 429]) {
			expect(countInMinute(undefined, request({ status, durationMs: 1 }))).toEqual({
				total: 1,
				errors: 0,
				fast: [1, 1],
			});
		}
	});

	it("adds to the minute's counts without changing them", () => {
		const stored: MinuteCounts = { total: 4, errors: 1, fast: [2, 3] };
		expect(countInMinute(stored, request({ durationMs: 3_000 }))).toEqual({ total: 5, errors: 1, fast: [2, 4] });
		expect(stored).toEqual({ total: 4, errors: 1, fast: [2, 3] });
	});

	it("keeps fast counts of objectives a stored minute has and this version does not know", () => {
		// A newer version may count a third objective: its count must survive this version's writes.
		expect(countInMinute({ total: 1, errors: 0, fast: [1, 1, 1] }, request()).fast).toEqual([2, 2, 1]);
		// A minute written before an objective was appended gets the new one counted from here on.
		expect(countInMinute({ total: 1, errors: 0, fast: [1] }, request()).fast).toEqual([2, 1]);
	});
});

describe("coveredMinutes and retention", () => {
	it("covers the longest window, ending at the current minute", () => {
		const longest = Math.max(...SLO_WINDOWS.map((w) => w.minutes));
		expect(longest).toBe(30 * 1_440);
		expect(coveredMinutes(NOW)).toEqual({ after: minuteOf(NOW) - longest, through: minuteOf(NOW) });
	});

	it("keeps every minute the longest window reads, and an hour more", () => {
		const { after } = coveredMinutes(NOW);
		expect(lastExpiredMinute(NOW)).toBe(minuteOf(NOW) - RETAIN_MINUTES);
		expect(lastExpiredMinute(NOW)).toBe(after - 60);
	});
});

describe("sumWindows", () => {
	it("sums each window's minutes, the current one included, by route and version in order of appearance", () => {
		const got = sumWindows(
			bucketsOf([
				request({ version: "v2", atMs: NOW }),
				request({ atMs: NOW - 4 * MINUTE_MS, status: 503 }),
				// 5 minutes back is the first minute outside "5m" and inside "30m".
				request({ atMs: NOW - 5 * MINUTE_MS, durationMs: 4_000 }),
				request({ route: OTHER, atMs: NOW - 59 * MINUTE_MS }),
			]),
			NOW,
		);
		expect(got.map((g) => [g.route, g.version])).toEqual([
			[CHAT, "v2"],
			[CHAT, "v1"],
			[OTHER, "v1"],
		]);
		const window = (i: number, name: string) => got[i]?.windows.find((w) => w.window === name);
		expect(window(1, "5m")).toEqual({ window: "5m", minutes: 5, total: 1, errors: 1, fast: [0, 0] });
		expect(window(1, "30m")).toEqual({ window: "30m", minutes: 30, total: 2, errors: 1, fast: [0, 1] });
		expect(window(2, "30m")).toMatchObject({ total: 0, errors: 0, fast: [0, 0] });
		expect(window(2, "1h")).toMatchObject({ total: 1, errors: 0, fast: [1, 1] });
		expect(got[0]?.windows.map((w) => w.window)).toEqual(SLO_WINDOWS.map((w) => w.name));
	});

	it("ignores minutes after the current one and before the longest window", () => {
		const outside = [request({ atMs: NOW + MINUTE_MS }), request({ atMs: NOW - 30 * 1_440 * MINUTE_MS })];
		expect(sumWindows(bucketsOf(outside), NOW)).toEqual([]);
		const got = sumWindows(bucketsOf([...outside, request({ atMs: NOW - (30 * 1_440 - 1) * MINUTE_MS })]), NOW);
		expect(got.map((g) => g.windows.map((w) => w.total))).toEqual([[0, 0, 0, 0, 0, 0, 0, 1]]);
	});

	it("matches counts taken directly from the requests, for every window (random traffic, window edges)", () => {
		fc.assert(
			fc.property(
				fc.array(
					fc.record({
						agoMs: fc.oneof(
							fc.integer({ min: 0, max: 3 * 3_600_000 }),
							fc.integer({ min: 0, max: 31 * 86_400_000 }),
							fc.constantFrom(0, 59_999, 60_000, 299_999, 300_000, 43_200 * MINUTE_MS - 1, 43_200 * MINUTE_MS),
						),
						route: fc.constantFrom(CHAT, OTHER),
						version: fc.constantFrom("v1", "v2"),
						status: fc.constantFrom(200, 200, 404, 429, 500, 504),
						durationMs: fc.oneof(fc.integer({ min: 0, max: 6_000 }), fc.constantFrom(500, 501, 2_000, 2_001, 5_000)),
					}),
					{ maxLength: 80 },
				),
				fc.integer({ min: 0, max: MINUTE_MS - 1 }),
				(arrivals, offset) => {
					const now = NOW - offset;
					const requests = arrivals.map((a) =>
						request({
							route: a.route,
							version: a.version,
							status: a.status,
							durationMs: a.durationMs,
							atMs: now - a.agoMs,
						}),
					);
					const got = sumWindows(bucketsOf(requests), now);
					const current = Math.floor(now / 60_000);
					for (const g of got) {
						for (const w of g.windows) {
							const inside = requests.filter((r) => {
								const m = Math.floor(r.atMs / 60_000);
								return r.route === g.route && r.version === g.version && m > current - w.minutes && m <= current;
							});
							const good = inside.filter((r) => r.status < 500);
							expect(w.total).toBe(inside.length);
							expect(w.errors).toBe(inside.length - good.length);
							expect(w.fast).toEqual(
								sloFor(g.route).latency.map((l) => good.filter((r) => r.durationMs <= l.thresholdMs).length),
							);
						}
					}
					// A route × version appears when it has requests in the longest window, once.
					const longest = Math.max(...SLO_WINDOWS.map((w) => w.minutes));
					const counted = requests.filter((r) => Math.floor(r.atMs / 60_000) > current - longest);
					expect(got.map((g) => `${g.route} ${g.version}`).sort()).toEqual(
						[...new Set(counted.map((r) => `${r.route} ${r.version}`))].sort(),
					);
				},
			),
			{ numRuns: 300 },
		);
	});
});
