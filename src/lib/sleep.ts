/**
 * Waiting that gives up with its signal: backoff between retries, injected latency, pacing of a local stream.
 *
 * @example
 * ```ts
 * await sleep(250, request.signal); // rejects with the signal's reason if it aborts first
 * ```
 *
 * @module
 */

/** Resolves after `ms`, or rejects with `signal.reason` as soon as the signal aborts (at once if it already has). */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
	return new Promise((resolve, reject) => {
		if (signal.aborted) return reject(signal.reason);
		const timer = setTimeout(resolve, ms);
		signal.addEventListener(
			"abort",
			() => {
				clearTimeout(timer);
				reject(signal.reason);
			},
			{ once: true },
		);
	});
}
