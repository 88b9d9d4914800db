/**
 * An injected fault (local and test environments only): the share of calls that fail and a pause before each.
 * The port wrappers (src/adapters/faults.ts) and the D1 wrapper (src/db/d1-faults.ts) apply it the same way.
 *
 * @module
 */
import { sleep } from "./sleep";

/** The failing share of calls (0–1) and the pause before every call, ms. */
export type Fault = { rate: number; latencyMs: number };

/** Whether a fault would change anything (a zero fault leaves the dependency unwrapped). */
export function isActive(fault: Fault): boolean {
	return fault.rate > 0 || fault.latencyMs > 0;
}

/** Before one call: waits `latencyMs`, then throws `failure()` with probability `rate`. */
export async function injectFault(fault: Fault, random: () => number, failure: () => Error): Promise<void> {
	if (fault.latencyMs > 0) await sleep(fault.latencyMs, new AbortController().signal);
	if (random() < fault.rate) throw failure();
}
