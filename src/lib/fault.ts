/**
 * Injected faults (local and test environments only; the configuration refuses them elsewhere): what can be made to
 * fail, how, and the one wrapper every call-based dependency gets — the ports (embedder, vector index, chat model),
 * the Durable Object stubs (`RateLimiter`, `SloCounter`, `Conversation`), the OTLP receiver's fetch, and D1
 * (src/db/d1-faults.ts, which fails with D1's own error). docs/resilience.md#fault-injection has the table.
 *
 * @example
 * ```ts
 * const limiter = withFaults(stub, "rate limiter", { rate: 0.3, latencyMs: 0 }); // 30 % of calls throw
 * ```
 *
 * @module
 */
import { sleep } from "./sleep";

/** The failing share of calls (0–1) and the pause before every call, ms (a long pause is a hang). */
export type Fault = { rate: number; latencyMs: number };

/** A model stream that dies mid-answer: the share of streams (0–1) failing after `afterTokens` content tokens. */
export type StreamFault = { rate: number; afterTokens: number };

/** Every dependency a fault can be injected into (the operator endpoint's names, snake_case there). */
export const FAULT_POINTS = [
	"chatModel",
	"embedder",
	"vectorIndex",
	"d1",
	"rateLimiter",
	"sloCounter",
	"conversation",
	"otlp",
] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

/** One fault per dependency, plus the mid-stream model failure. */
export type Faults = Record<FaultPoint, Fault> & { chatStream: StreamFault };

export const NO_FAULT: Fault = { rate: 0, latencyMs: 0 };
export const NO_STREAM_FAULT: StreamFault = { rate: 0, afterTokens: 0 };
/** No fault anywhere. */
export const NO_FAULTS: Faults = {
	...(Object.fromEntries(FAULT_POINTS.map((p) => [p, NO_FAULT])) as Record<FaultPoint, Fault>),
	chatStream: NO_STREAM_FAULT,
};

/** Whether a fault would change anything (a zero fault leaves the dependency unwrapped). */
export function isActive(fault: Fault): boolean {
	return fault.rate > 0 || fault.latencyMs > 0;
}

/** Whether any dependency has a fault. */
export function anyActive(faults: Faults): boolean {
	return FAULT_POINTS.some((p) => isActive(faults[p])) || faults.chatStream.rate > 0;
}

/** Before one call: waits `latencyMs`, then throws `failure()` with probability `rate`. */
export async function injectFault(fault: Fault, random: () => number, failure: () => Error): Promise<void> {
	if (fault.latencyMs > 0) await sleep(fault.latencyMs, new AbortController().signal);
	if (random() < fault.rate) throw failure();
}

/** The error an injected fault throws: recognisable in logs, and shaped like a dependency's own failure. */
export class InjectedFault extends Error {
	constructor(readonly dependency: string) {
		super(`injected fault: ${dependency} unavailable`);
		this.name = "InjectedFault";
	}
}

/**
 * `target` with every method call delayed by `fault.latencyMs` and failed with probability `fault.rate` (by
 * `failure`, default an {@link InjectedFault}) — as the real dependency fails when it is down: a rejected call the
 * caller already handles. Non-function properties (an embedder's `model`) pass through; so does everything when
 * the fault is inactive (the target itself is returned). Works on Durable Object stubs: their RPC methods are
 * properties like any other.
 */
export function withFaults<T extends object>(
	target: T,
	dependency: string,
	fault: Fault,
	random: () => number = Math.random,
	failure: () => Error = () => new InjectedFault(dependency),
): T {
	if (!isActive(fault)) return target;
	return new Proxy(target, {
		get(t, key) {
			const value = Reflect.get(t, key);
			if (typeof value !== "function") return value;
			return async (...args: unknown[]) => {
				await injectFault(fault, random, failure);
				return (value as (...a: unknown[]) => unknown).apply(t, args);
			};
		},
	});
}
