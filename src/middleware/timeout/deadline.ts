/**
 * A request's time budget as an object ({@link Deadline}): the timeout middleware arms it, handlers and streams read
 * and extend it.
 *
 * @module
 */

/**
 * A request's time budget. The timeout middleware owns the timer; handlers read `signal` (pass it to every
 * upstream `fetch` or model call so a 504 aborts the work) and streaming handlers call `extend` once they know
 * they stream (chat with `stream: true` moves from the 60 s to the 300 s budget).
 */
export class Deadline {
	readonly #controller = new AbortController();
	readonly #started: number;
	readonly #now: () => number;
	#budgetMs: number;
	#onChange: (() => void) | undefined;

	constructor(budgetMs: number, now: () => number = Date.now) {
		this.#budgetMs = budgetMs;
		this.#now = now;
		this.#started = now();
	}

	/** Aborted when the budget runs out (reason: a `TimeoutError` DOMException) or the client goes away. */
	get signal(): AbortSignal {
		return this.#controller.signal;
	}

	/** Total budget in ms, counted from the start of the request. */
	get budgetMs(): number {
		return this.#budgetMs;
	}

	/** ms left before the deadline (never negative). */
	remainingMs(): number {
		return Math.max(0, this.#started + this.#budgetMs - this.#now());
	}

	/** Sets a new total budget (ms from the request's start), e.g. the streaming timeout. */
	extend(budgetMs: number): void {
		this.#budgetMs = budgetMs;
		this.#onChange?.();
	}

	/** @internal the timeout middleware re-arms its timer when the budget changes. */
	onChange(listener: () => void): void {
		this.#onChange = listener;
	}

	/** Whether the budget ran out (as opposed to the client leaving: {@link abandon}). */
	get expired(): boolean {
		const reason: unknown = this.#controller.signal.reason;
		return reason instanceof DOMException && reason.name === "TimeoutError";
	}

	/** @internal the client went away: aborts the upstream work with an `AbortError` (not a timeout). */
	abandon(): void {
		if (!this.#controller.signal.aborted) {
			this.#controller.abort(new DOMException("client disconnected", "AbortError"));
		}
	}

	/** @internal aborts the upstream work. */
	expire(): void {
		if (!this.#controller.signal.aborted) {
			this.#controller.abort(new DOMException(`Deadline of ${this.#budgetMs} ms exceeded`, "TimeoutError"));
		}
	}
}
