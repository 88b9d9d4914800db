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
};

export type BreakerOptions = { failureThreshold: number; cooldownMs: number; now?: () => number };

/**
 * Closed → (threshold consecutive retryable failures) → open: calls are refused for `cooldownMs` → half-open: one
 * trial call; success closes it, failure opens it again.
 */
export class CircuitBreaker {
	#failures = 0;
	#openedAt: number | null = null;
	#trialInFlight = false;
	readonly #now: () => number;

	constructor(private readonly options: BreakerOptions) {
		this.#now = options.now ?? Date.now;
	}

	get state(): "closed" | "open" | "half-open" {
		if (this.#openedAt === null) return "closed";
		return this.#now() - this.#openedAt >= this.options.cooldownMs ? "half-open" : "open";
	}

	/** Whether a call may go ahead now (reserves the single half-open trial). */
	allow(): boolean {
		const state = this.state;
		if (state === "closed") return true;
		if (state === "open" || this.#trialInFlight) return false;
		this.#trialInFlight = true;
		return true;
	}

	success(): void {
		this.#failures = 0;
		this.#openedAt = null;
		this.#trialInFlight = false;
	}

	failure(): void {
		this.#trialInFlight = false;
		this.#failures++;
		if (this.#openedAt !== null || this.#failures >= this.options.failureThreshold) this.#openedAt = this.#now();
	}
}

const breakers = new Map<string, CircuitBreaker>();

/** The isolate's breaker of a provider (created with `options` on first use). */
export function breakerFor(provider: string, options: BreakerOptions): CircuitBreaker {
	let b = breakers.get(provider);
	if (!b) {
		b = new CircuitBreaker(options);
		breakers.set(provider, b);
	}
	return b;
}

export class CircuitOpenError extends Error {
	constructor(readonly provider: string) {
		super(`circuit open for ${provider}`);
		this.name = "CircuitOpenError";
	}
}

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
 * before any attempt ({@link CircuitOpenError}).
 */
export async function withRetries<T>(
	attempt: (signal: AbortSignal) => Promise<T>,
	policy: RetryPolicy,
	breaker: CircuitBreaker,
): Promise<T> {
	const wait = policy.sleep ?? sleep;
	for (let n = 0; ; n++) {
		if (!breaker.allow()) throw new CircuitOpenError("provider");
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
			breaker.success();
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
			if (policy.signal.aborted) throw error;
			if (!error.retryable) {
				// The request's fault, not the provider's: the breaker counts it as a working provider.
				breaker.success();
				throw error;
			}
			breaker.failure();
			if (n >= policy.maxRetries) throw error;
			const delay = backoffMs(n, error, policy);
			// A Retry-After beyond what the request can wait is not worth waiting for: fail over instead.
			if (delay > policy.maxDelayMs * 4) throw error;
			policy.onRetry?.(n + 1, error, delay);
			await wait(delay, policy.signal);
		}
	}
}
