import { describe, expect, it } from "vitest";
import { CircuitBreaker, CircuitOpenError } from "../../src/chat/breaker";
import { backoffMs, type RetryPolicy, withRetries } from "../../src/chat/resilience";
import { ProviderError } from "../../src/ports/chat-model";

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

/** A breaker that stays closed unless a test means to open it. */
const closedBreaker = () =>
	new CircuitBreaker({ failureRate: 1, minCalls: 1_000, windowMs: 10_000, cooldownMs: 1_000, probes: 1 });

const serverError = () => new ProviderError("boom", "server", 500);
const clientError = () => new ProviderError("bad request", "client", 400);

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
		const breaker = closedBreaker();
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
		const breaker = closedBreaker();
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
		const breaker = new CircuitBreaker({ failureRate: 1, minCalls: 1, windowMs: 10_000, cooldownMs: 1_000, probes: 1 });
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
		const breaker = new CircuitBreaker({
			failureRate: 1,
			minCalls: 1,
			windowMs: 10_000,
			cooldownMs: 60_000,
			probes: 1,
			name: "upstream",
		});
		breaker.acquire()?.failure();
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
		await expect(withRetries(async () => 1, policy, breaker)).rejects.toMatchObject({ provider: "upstream" });
		expect(calls).toBe(0);
	});

	it("fails over instead of waiting for a Retry-After far beyond the backoff cap", async () => {
		const { policy, sleeps } = recordingPolicy();
		const breaker = closedBreaker();
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
		const breaker = closedBreaker();
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
		const breaker = closedBreaker();
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

	it("spends the request's retry budget across calls, and stops when it is spent", async () => {
		const { policy } = recordingPolicy({ maxRetries: 5, budget: { left: 3 } });
		let calls = 0;
		const failing = async () => {
			calls++;
			throw serverError();
		};
		await expect(withRetries(failing, policy, closedBreaker())).rejects.toMatchObject({ kind: "server" });
		// 1 attempt + 3 retries, though maxRetries allowed 5.
		expect(calls).toBe(4);
		expect(policy.budget?.left).toBe(0);
		// The next model of the chain shares the budget: one attempt, no retry.
		await expect(withRetries(failing, policy, closedBreaker())).rejects.toMatchObject({ kind: "server" });
		expect(calls).toBe(5);
	});

	it("makes no retry that the route's deadline would cut short", async () => {
		let remaining = 1_000;
		const { policy, sleeps } = recordingPolicy({
			maxRetries: 5,
			remainingMs: () => remaining,
			minAttemptMs: 250,
			// Each wait uses up the time it waits.
			sleep: async (ms) => {
				sleeps.push(ms);
				remaining -= ms;
			},
		});
		let calls = 0;
		await expect(
			withRetries(
				async () => {
					calls++;
					remaining -= 200;
					throw serverError();
				},
				policy,
				closedBreaker(),
			),
		).rejects.toMatchObject({ kind: "server" });
		// 1 000 → attempt (800) → wait 50 (750) → attempt (550) → wait 100 (450) → attempt (250): a wait of 200 would
		// leave 50 < 250 ms, so no third retry.
		expect(sleeps).toEqual([50, 100]);
		expect(calls).toBe(3);
	});
});
