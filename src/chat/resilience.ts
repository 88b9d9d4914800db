/**
 * Resilience around provider calls: a circuit breaker per provider (per isolate), retries with full-jitter
 * exponential backoff on retryable failures only (429 honouring `Retry-After`, 5xx, network, attempt timeout) —
 * never on 4xx — and a per-attempt timeout chained to the request's signal (client gone, route deadline).
 *
 * @example
 * ```ts
 * const result = await withRetries((signal) => model.complete({ ...params, signal }), policy, breakerFor("workers-ai"));
 * ```
 *
 * @module
 */
import { sleep } from "../lib/sleep";
import { ProviderError } from "../ports/chat-model";
import { type BreakerOptions, CircuitBreaker, CircuitOpenError } from "./breaker";

/** How {@link withRetries} retries: budget, timeouts, backoff, and hooks for tests and metrics. */
export type RetryPolicy = {
	/** Retries after the first attempt (so attempts = maxRetries + 1). */
	maxRetries: number;
	attemptTimeoutMs: number;
	baseDelayMs: number;
	maxDelayMs: number;
	/** The request's signal: aborting it stops everything at once. */
	signal: AbortSignal;
	random?: () => number;
	sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
	/** Called before each retry (for logs and metrics). */
	onRetry?: (attempt: number, error: ProviderError, delayMs: number) => void;
	/** The request's retries across its fallback chain; absent: only `maxRetries` per model bounds them. */
	budget?: RetryBudget;
	/** ms left before the route's deadline; a retry that cannot get `minAttemptMs` after its delay is not made. */
	remainingMs?: () => number;
	/** The least time worth giving a retry (default 250 ms). */
	minAttemptMs?: number;
};

const breakers = new Map<string, CircuitBreaker>();

/** The isolate's breaker of a provider (created with `options` on first use). */
export function breakerFor(provider: string, options: Omit<BreakerOptions, "name">): CircuitBreaker {
	let b = breakers.get(provider);
	if (!b) {
		b = new CircuitBreaker({ ...options, name: provider });
		breakers.set(provider, b);
	}
	return b;
}

/** A request's retries, shared by every model of its fallback chain: each retry spends one. */
export type RetryBudget = { left: number };

/** Full-jitter backoff: uniform in [0, min(max, base·2^attempt)], but never before the upstream's Retry-After. */
export function backoffMs(attempt: number, error: ProviderError, policy: RetryPolicy): number {
	const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
	const jittered = Math.floor((policy.random ?? Math.random)() * cap);
	return Math.max(jittered, error.retryAfterMs ?? 0);
}

/**
 * Runs `attempt` with a fresh per-attempt signal (aborted by the request's signal, and by the attempt timeout
 * until the attempt's promise settles) until it succeeds, fails with a non-retryable error, the retries
 * are used up, or the request's signal aborts. Each outcome is reported to `breaker`; an open breaker refuses
 * before any attempt ({@link CircuitOpenError}). A retry is made only while the request's retry budget lasts and its
 * deadline leaves time for it after the backoff.
 */
export async function withRetries<T>(
	attempt: (signal: AbortSignal) => Promise<T>,
	policy: RetryPolicy,
	breaker: CircuitBreaker,
): Promise<T> {
	const wait = policy.sleep ?? sleep;
	for (let n = 0; ; n++) {
		const permit = breaker.acquire();
		if (!permit) throw new CircuitOpenError(breaker.name, breaker.retryAfterMs());
		// The attempt's signal: the request's, plus a timer that only runs until the attempt resolves, so a stream
		// that started in time keeps going under the request's own deadline.
		const controller = new AbortController();
		const timer = setTimeout(
			() => controller.abort(new DOMException(`attempt exceeded ${policy.attemptTimeoutMs} ms`, "TimeoutError")),
			policy.attemptTimeoutMs,
		);
		const follow = () => controller.abort(policy.signal.reason);
		if (policy.signal.aborted) follow();
		else policy.signal.addEventListener("abort", follow, { once: true });
		const signal = controller.signal;
		try {
			const result = await attempt(signal);
			clearTimeout(timer);
			permit.success();
			return result;
		} catch (err) {
			clearTimeout(timer);
			policy.signal.removeEventListener("abort", follow);
			const error =
				err instanceof ProviderError
					? err
					: policy.signal.aborted
						? new ProviderError("aborted", "timeout", undefined)
						: signal.aborted
							? new ProviderError(`attempt exceeded ${policy.attemptTimeoutMs} ms`, "timeout", undefined)
							: new ProviderError(String(err), "server", undefined);
			if (policy.signal.aborted) {
				// Given up by the request (client gone, deadline): nothing learnt about the provider.
				permit.release();
				throw error;
			}
			if (!error.retryable) {
				// The request's fault, not the provider's: the breaker counts it as a working provider.
				permit.success();
				throw error;
			}
			permit.failure();
			if (n >= policy.maxRetries) throw error;
			if (policy.budget && policy.budget.left <= 0) throw error;
			const delay = backoffMs(n, error, policy);
			// A Retry-After beyond what the request can wait is not worth waiting for: fail over instead.
			if (delay > policy.maxDelayMs * 4) throw error;
			// Nor is a retry that the route's deadline would cut short.
			if (policy.remainingMs && policy.remainingMs() < delay + (policy.minAttemptMs ?? 250)) throw error;
			if (policy.budget) policy.budget.left--;
			policy.onRetry?.(n + 1, error, delay);
			await wait(delay, policy.signal);
		}
	}
}
