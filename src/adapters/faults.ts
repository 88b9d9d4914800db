/**
 * Fault injection around a port, for local and test environments only (the configuration refuses it elsewhere):
 * every method call of the wrapped adapter first waits `latencyMs`, then fails with probability `rate` as the real
 * dependency does when it is down (a thrown error the domain already handles: RAG's hybrid search degrades to
 * keyword search, an ingest answers 503). The composition root wraps the configured adapter when a fault is set
 * (docs/resilience.md#fault-injection).
 *
 * @example
 * ```ts
 * const embedder = withFaults(new LocalEmbedder(), "embedder", { rate: 1, latencyMs: 0 }); // always down
 * ```
 *
 * @module
 */
import { type Fault, injectFault, isActive } from "../lib/fault";

/** The error an injected fault throws: recognisable in logs, and shaped like a dependency's own failure. */
export class InjectedFault extends Error {
	constructor(readonly dependency: string) {
		super(`injected fault: ${dependency} unavailable`);
		this.name = "InjectedFault";
	}
}

/**
 * `port` with every method call delayed by `fault.latencyMs` and failed with probability `fault.rate`. Properties
 * (an embedder's `model`, `dimensions`) pass through unchanged.
 */
export function withFaults<T extends object>(
	port: T,
	dependency: string,
	fault: Fault,
	random: () => number = Math.random,
): T {
	if (!isActive(fault)) return port;
	return new Proxy(port, {
		get(target, key) {
			const value = Reflect.get(target, key);
			if (typeof value !== "function") return value;
			return async (...args: unknown[]) => {
				await injectFault(fault, random, () => new InjectedFault(dependency));
				return (value as (...a: unknown[]) => unknown).apply(target, args);
			};
		},
	});
}
