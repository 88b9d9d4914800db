/**
 * A circuit breaker that opens on a failure **rate**, not on a run of failures: the resilience4j / Envoy
 * outlier-detection model. A consecutive-failure breaker turns a partial outage into a total one (at 30 % failing,
 * five failures in a row come often enough to cut off the 70 % that works); a rate over a sliding window with a
 * minimum number of calls opens only when the provider is mostly failing.
 *
 * - **closed**: every outcome is recorded in a sliding window of `windowMs`, counted in buckets of `bucketMs`
 *   (a call belongs to the window while its bucket is one of the last ⌈`windowMs / bucketMs`⌉). When the window holds
 *   at least `minCalls` calls and at least `failureRate` of them failed, the breaker opens.
 * - **open**: calls are refused for `cooldownMs`; then it is half-open.
 * - **half-open**: up to `probes` calls go through (one at a time or together); the first failure opens it again
 *   for a full cooldown, `probes` successes close it with an empty window.
 *
 * Calls given up by their caller (client gone, deadline) are `release`d: they say nothing about the provider. A
 * call admitted before a transition (opened or closed since) does not count in the new state.
 *
 * @example
 * ```ts
 * const breaker = new CircuitBreaker({ failureRate: 0.5, minCalls: 20, windowMs: 30_000, bucketMs: 1_000, cooldownMs: 30_000, probes: 3 });
 * const permit = breaker.acquire();
 * if (!permit) throw new CircuitOpenError("openai", breaker.retryAfterMs());
 * try { const r = await call(); permit.success(); return r; } catch (e) { permit.failure(); throw e; }
 * ```
 *
 * @module
 */

export type BreakerOptions = {
	/** Share of failed calls in the window (0–1] that opens the breaker. */
	failureRate: number;
	/** Calls the window must hold before its failure rate counts. */
	minCalls: number;
	/** Length of the sliding window, ms. */
	windowMs: number;
	/** Width of the window's buckets, ms (default 1 000); the window is the last ⌈windowMs / bucketMs⌉ buckets. */
	bucketMs?: number;
	/** How long an open breaker refuses calls, ms. */
	cooldownMs: number;
	/** Successful half-open calls that close it again. */
	probes: number;
	/** What it guards (a provider), named in {@link CircuitOpenError}. */
	name?: string;
	now?: () => number;
};

export type BreakerState = "closed" | "open" | "half-open";

type Bucket = { index: number; calls: number; failures: number };

/** One admitted call's settlement: exactly one of these, once (later calls are ignored). */
export type Permit = { success(): void; failure(): void; release(): void };

export class CircuitBreaker {
	readonly #options: Required<Omit<BreakerOptions, "now" | "name">>;
	readonly name: string;
	readonly #now: () => number;
	/** Buckets of the closed state's window, oldest first; at most windowMs / bucketMs of them. */
	#buckets: Bucket[] = [];
	#openedAt: number | null = null;
	/** Half-open: calls let through and not yet settled, and successes so far. */
	#probesInFlight = 0;
	#probeSuccesses = 0;
	/** Bumped on every open and close, so outcomes of calls admitted before a transition are told apart. */
	#generation = 0;

	constructor(options: BreakerOptions) {
		const bucketMs = options.bucketMs ?? 1_000;
		if (!(options.failureRate > 0 && options.failureRate <= 1)) throw new RangeError("failureRate must be in (0, 1]");
		const { now, name, ...rest } = options;
		this.#options = { ...rest, bucketMs };
		this.#now = now ?? Date.now;
		this.name = name ?? "provider";
	}

	get state(): BreakerState {
		if (this.#openedAt === null) return "closed";
		return this.#now() - this.#openedAt >= this.#options.cooldownMs ? "half-open" : "open";
	}

	/** Calls and failures in the closed state's window now. */
	window(): { calls: number; failures: number } {
		this.#prune(this.#bucketIndex());
		let calls = 0;
		let failures = 0;
		for (const b of this.#buckets) {
			calls += b.calls;
			failures += b.failures;
		}
		return { calls, failures };
	}

	/** ms until an open breaker lets a probe through (0 when it is not open). */
	retryAfterMs(): number {
		if (this.#openedAt === null) return 0;
		return Math.max(0, this.#openedAt + this.#options.cooldownMs - this.#now());
	}

	/**
	 * A permit for one call now, or null when the breaker refuses it. In half-open, a permit is one of the probe
	 * slots. Settle every permit once: `success`, `failure`, or `release` when the caller gave up.
	 */
	acquire(): Permit | null {
		const state = this.state;
		if (state === "open") return null;
		const generation = this.#generation;
		if (state === "half-open") {
			if (this.#probesInFlight + this.#probeSuccesses >= this.#options.probes) return null;
			this.#probesInFlight++;
			return this.#permit(generation, true);
		}
		return this.#permit(generation, false);
	}

	#permit(generation: number, probe: boolean): Permit {
		let settled = false;
		const settle = (outcome: "success" | "failure" | "release") => {
			if (settled) return;
			settled = true;
			// An outcome from before the last transition (a call admitted while closed that ends after the breaker
			// opened) says nothing about the current state: it is dropped.
			if (generation !== this.#generation) return;
			if (probe) this.#settleProbe(outcome);
			else if (outcome !== "release") this.#settleClosed(outcome === "failure");
		};
		return {
			success: () => settle("success"),
			failure: () => settle("failure"),
			release: () => settle("release"),
		};
	}

	#settleProbe(outcome: "success" | "failure" | "release"): void {
		this.#probesInFlight = Math.max(0, this.#probesInFlight - 1);
		if (outcome === "failure") this.#transition(this.#now());
		else if (outcome === "success") {
			this.#probeSuccesses++;
			if (this.#probeSuccesses >= this.#options.probes) this.#transition(null);
		}
	}

	#settleClosed(failed: boolean): void {
		this.#record(failed);
		if (!failed) return;
		const { calls, failures } = this.window();
		if (calls >= this.#options.minCalls && failures >= this.#options.failureRate * calls) this.#transition(this.#now());
	}

	#bucketIndex(): number {
		return Math.floor(this.#now() / this.#options.bucketMs);
	}

	/** Drops buckets that left the window ending at bucket `current`. */
	#prune(current: number): void {
		const oldest = current - Math.ceil(this.#options.windowMs / this.#options.bucketMs) + 1;
		let drop = 0;
		while (drop < this.#buckets.length && (this.#buckets[drop] as Bucket).index < oldest) drop++;
		if (drop > 0) this.#buckets.splice(0, drop);
	}

	#record(failed: boolean): void {
		const index = this.#bucketIndex();
		this.#prune(index);
		let last = this.#buckets[this.#buckets.length - 1];
		if (!last || last.index !== index) {
			last = { index, calls: 0, failures: 0 };
			this.#buckets.push(last);
		}
		last.calls++;
		if (failed) last.failures++;
	}

	/** Opens (at `openedAt`) or closes the breaker: a new generation, no probes, an empty window. */
	#transition(openedAt: number | null): void {
		this.#openedAt = openedAt;
		this.#generation++;
		this.#probesInFlight = 0;
		this.#probeSuccesses = 0;
		this.#buckets = [];
	}
}

export class CircuitOpenError extends Error {
	constructor(
		readonly provider: string,
		/** ms until the breaker lets a probe through. */
		readonly retryAfterMs: number,
	) {
		super(`circuit open for ${provider}`);
		this.name = "CircuitOpenError";
	}
}
