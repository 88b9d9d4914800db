/**
 * Fault injection into D1, for local and test environments only (the configuration refuses `FAULT_D1_*`
 * elsewhere): every execution — a statement's `first`/`all`/`run`/`raw`, a `batch`, an `exec` — first waits
 * `latencyMs`, then fails with probability `rate` with the message D1 gives when its network connection drops, so
 * the service handles it as it would the real failure (docs/resilience.md#fault-injection).
 *
 * @example
 * ```ts
 * const db = withD1Faults(env.DB, { rate: 0.3, latencyMs: 50 });
 * await db.prepare("SELECT 1").first(); // 50 ms later; rejects 30 % of the time
 * ```
 *
 * @module
 */
import { type Fault, injectFault, isActive } from "../lib/fault";

/** What an injected D1 failure says: D1's own transient error, marked as injected. */
export const INJECTED_D1_ERROR = "D1_ERROR: Network connection lost. (injected fault)";

const EXECUTE = new Set<PropertyKey>(["first", "all", "run", "raw"]);

/**
 * Transient D1 failures (Cloudflare's D1 documentation lists these as safe to retry): the database could not
 * answer, which is a 503 for the client, not a bug of ours.
 */
export function isTransientD1Error(err: unknown): boolean {
	const message = err instanceof Error ? err.message : "";
	return /D1_ERROR: .*(Network connection lost|overloaded|storage caused object to be reset|transient issue)|D1 DB is overloaded/i.test(
		message,
	);
}

/** `db` with every execution delayed by `fault.latencyMs` and failed with probability `fault.rate`. */
export function withD1Faults(db: D1Database, fault: Fault, random: () => number = Math.random): D1Database {
	if (!isActive(fault)) return db;
	const inject = () => injectFault(fault, random, () => new Error(INJECTED_D1_ERROR));
	// A Proxy over the real statement, so the real `batch()` still reads its SQL and parameters.
	const statement = (s: D1PreparedStatement): D1PreparedStatement =>
		new Proxy(s, {
			get(target, prop) {
				if (prop === "bind") return (...values: unknown[]) => statement(target.bind(...values));
				const value: unknown = Reflect.get(target, prop, target);
				if (typeof value !== "function") return value;
				if (!EXECUTE.has(prop)) return value.bind(target);
				return async (...args: unknown[]) => {
					await inject();
					return (value as (...a: unknown[]) => unknown).apply(target, args);
				};
			},
		});
	return new Proxy(db, {
		get(target, prop) {
			if (prop === "prepare") return (sql: string) => statement(target.prepare(sql));
			const value: unknown = Reflect.get(target, prop, target);
			if (typeof value !== "function") return value;
			if (prop !== "batch" && prop !== "exec") return value.bind(target);
			return async (...args: unknown[]) => {
				await inject();
				return (value as (...a: unknown[]) => unknown).apply(target, args);
			};
		},
	});
}
