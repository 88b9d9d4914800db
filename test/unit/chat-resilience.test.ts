import { describe, expect, it } from "vitest";
import { backoffMs, CircuitBreaker, CircuitOpenError, type RetryPolicy, withRetries } from "../../src/chat/resilience";
import { ProviderError } from "../../src/ports/chat-model";

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000) {
	let t = start;
	return {
		now: () => t,
		advance: (ms: number) => {
			t += ms;
		},
	};
}

/** A policy whose sleeps are recorded instead of waited. */
function recordingPolicy(overrides: Partial<RetryPolicy> = {}) {
	const sleeps: number[] = [];
	const retries: { attempt: number; kind: string; delay: number }[] = [];
	const policy: RetryPolicy = {
		maxRetries: 2,
		attemptTimeoutMs: 1_000,
		baseDelayMs: 100,
		maxDelayMs: 1_000,
		signal: new AbortController().signal,
		random: () => 0.5,
		sleep: async (ms) => {
			sleeps.push(ms);
		},
		onRetry: (attempt, error, delay) => retries.push({ attempt, kind: error.kind, delay }),
		...overrides,
	};
	return { policy, sleeps, retries };
}

const serverError = () => new ProviderError("boom", "server", 500);
const clientError = () => new ProviderError("bad request", "client", 400);

describe("CircuitBreaker", () => {
	it("opens after the threshold of consecutive failures, refuses during the cooldown, then lets one trial through", () => {
		const clock = manualClock();
		const breaker = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 30_000, now: clock.now });
		breaker.failure();
		breaker.failure();
		expect(breaker.state).toBe("closed");
		expect(breaker.allow()).toBe(true);
		breaker.failure();
		expect(breaker.state).toBe("open");
		expect(breaker.allow()).toBe(false);
		clock.advance(29_999);
		expect(breaker.allow()).toBe(false);
		clock.advance(1);
		expect(breaker.state).toBe("half-open");
		expect(breaker.allow()).toBe(true);
		// One trial at a time: a second caller is refused while the first is in flight.
		expect(breaker.allow()).toBe(false);
	});

	it("closes on a successful trial and reopens for a full cooldown on a failed one", () => {
		const clock = manualClock();
		const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 10_000, now: clock.now });
		breaker.failure();
		clock.advance(10_000);
		expect(breaker.allow()).toBe(true);
		breaker.failure();
		expect(breaker.state).toBe("open");
		clock.advance(9_999);
		expect(breaker.allow()).toBe(false);
		clock.advance(1);
		expect(breaker.allow()).toBe(true);
		breaker.success();
		expect(breaker.state).toBe("closed");
		expect(breaker.allow()).toBe(true);
	});

	it("counts consecutive failures only: a success in between starts the count again", () => {
		const breaker = new CircuitBreaker({ failureThreshold: 2, cooldownMs: 1_000, now: manualClock().now });
		breaker.failure();
		breaker.success();
		breaker.failure();
		expect(breaker.state).toBe("closed");
		breaker.failure();
		expect(breaker.state).toBe("open");
	});
});

describe("backoffMs", () => {
	const policy = recordingPolicy().policy;

	it("is full jitter: uniform in [0, min(max, base·2^attempt)]", () => {
		// base 100, max 1 000: caps 100, 200, 400, 800, 1 000, 1 000.
		const caps = [100, 200, 400, 800, 1_000, 1_000];
		caps.forEach((cap, attempt) => {
			expect(backoffMs(attempt, serverError(), { ...policy, random: () => 0 })).toBe(0);
			expect(backoffMs(attempt, serverError(), { ...policy, random: () => 0.5 })).toBe(cap / 2);
			expect(backoffMs(attempt, serverError(), { ...policy, random: () => 0.999_999 })).toBe(cap - 1);
		});
	});

	it("never retries before the upstream's Retry-After", () => {
		const limited = new ProviderError("slow down", "rate-limited", 429, 2_500);
		expect(backoffMs(0, limited, { ...policy, random: () => 0.5 })).toBe(2_500);
	});
});

describe("withRetries", () => {
	it("retries retryable failures up to maxRetries, then gives the last error", async () => {
		const { policy, sleeps, retries } = recordingPolicy();
		const breaker = new CircuitBreaker({ failureThreshold: 100, cooldownMs: 1_000 });
		let calls = 0;
		const run = withRetries(
			async () => {
				calls++;
				throw serverError();
			},
			policy,
			breaker,
		);
		await expect(run).rejects.toMatchObject({ kind: "server" });
		expect(calls).toBe(3);
		// random 0.5 → half of each cap: 50, 100.
		expect(sleeps).toEqual([50, 100]);
		expect(retries).toEqual([
			{ attempt: 1, kind: "server", delay: 50 },
			{ attempt: 2, kind: "server", delay: 100 },
		]);
	});

	it("returns the first success and closes the breaker", async () => {
		const { policy } = recordingPolicy();
		const breaker = new CircuitBreaker({ failureThreshold: 100, cooldownMs: 1_000 });
		let calls = 0;
		const result = await withRetries(
			async () => {
				calls++;
				if (calls < 2) throw new ProviderError("reset", "network", undefined);
				return "answer";
			},
			policy,
			breaker,
		);
		expect(result).toBe("answer");
		expect(calls).toBe(2);
		expect(breaker.state).toBe("closed");
	});

	it("never retries a client error (4xx), and does not hold it against the provider", async () => {
		const { policy, sleeps } = recordingPolicy();
		const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 1_000 });
		let calls = 0;
		await expect(
			withRetries(
				async () => {
					calls++;
					throw clientError();
				},
				policy,
				breaker,
			),
		).rejects.toMatchObject({ kind: "client", status: 400 });
		expect(calls).toBe(1);
		expect(sleeps).toEqual([]);
		expect(breaker.state).toBe("closed");
	});

	it("refuses at once with CircuitOpenError while the breaker is open", async () => {
		const { policy } = recordingPolicy();
		const breaker = new CircuitBreaker({ failureThreshold: 1, cooldownMs: 60_000 });
		breaker.failure();
		let calls = 0;
		await expect(
			withRetries(
				async () => {
					calls++;
					return 1;
				},
				policy,
				breaker,
			),
		).rejects.toBeInstanceOf(CircuitOpenError);
		expect(calls).toBe(0);
	});

	it("fails over instead of waiting for a Retry-After far beyond the backoff cap", async () => {
		const { policy, sleeps } = recordingPolicy();
		const breaker = new CircuitBreaker({ failureThreshold: 100, cooldownMs: 1_000 });
		let calls = 0;
		await expect(
			withRetries(
				async () => {
					calls++;
					// 4 × maxDelayMs (1 000) is the longest wait worth it; 10 s is not.
					throw new ProviderError("slow down", "rate-limited", 429, 10_000);
				},
				policy,
				breaker,
			),
		).rejects.toMatchObject({ kind: "rate-limited" });
		expect(calls).toBe(1);
		expect(sleeps).toEqual([]);
	});

	it("aborts an attempt that exceeds attemptTimeoutMs and counts it as a retryable timeout", async () => {
		const { policy } = recordingPolicy({ attemptTimeoutMs: 20, maxRetries: 1 });
		const breaker = new CircuitBreaker({ failureThreshold: 100, cooldownMs: 1_000 });
		const seen: string[] = [];
		await expect(
			withRetries(
				(signal) =>
					new Promise((_, reject) => {
						signal.addEventListener("abort", () => {
							seen.push((signal.reason as DOMException).name);
							reject(signal.reason);
						});
					}),
				policy,
				breaker,
			),
		).rejects.toMatchObject({ kind: "timeout" });
		expect(seen).toEqual(["TimeoutError", "TimeoutError"]);
	});

	it("stops everything when the request's signal aborts, without another attempt", async () => {
		const request = new AbortController();
		const { policy } = recordingPolicy({ signal: request.signal, maxRetries: 5 });
		const breaker = new CircuitBreaker({ failureThreshold: 100, cooldownMs: 1_000 });
		let calls = 0;
		await expect(
			withRetries(
				async () => {
					calls++;
					request.abort(new Error("client went away"));
					throw serverError();
				},
				policy,
				breaker,
			),
		).rejects.toMatchObject({ kind: "server" });
		expect(calls).toBe(1);
	});
});
