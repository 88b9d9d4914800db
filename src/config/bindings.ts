/**
 * A stable identity for the Worker's bindings object, the key of every per-isolate cache of what is derived from
 * `env` (configuration, readiness, the D1 limits wrapper).
 *
 * @module
 */
const IDENTITY = Symbol.for("edge-ai-api.bindings-identity");

/**
 * A key for per-isolate caches of the bindings object. Workers hands every request of an isolate the same `env`, but
 * the tracing instrumentation (@microlabs/otel-cf-workers) gives each request a new Proxy of it, so `env` itself is
 * a different object on every request and a cache keyed on it never hits. The key is an object stored on the
 * bindings object (through any proxy: a property definition reaches its target), so every proxy of one `env` yields
 * the same key; a copy (`{ ...env, X: "1" }`, as tests make) is a new bindings object with a key of its own.
 *
 * @example
 * ```ts
 * const cache = new WeakMap<object, Result>();
 * cache.set(bindingsIdentity(c.env), result); // hits on the next request of this isolate too
 * ```
 */
export function bindingsIdentity(env: object): object {
	const existing: unknown = (env as Record<symbol, unknown>)[IDENTITY];
	if (typeof existing === "object" && existing !== null) return existing;
	const key = Object.freeze({});
	try {
		// Configurable: the bindings object may itself be a proxy, and a non-configurable property on a proxy's target
		// breaks the invariants of any proxy around it.
		Object.defineProperty(env, IDENTITY, { value: key, enumerable: false, configurable: true });
	} catch {
		return env; // a frozen bindings object: its own identity is stable enough
	}
	return key;
}

/** Makes `copy` share `original`'s identity (a wrapper that replaces a binding is the same isolate's bindings). */
export function shareBindingsIdentity<T extends object>(copy: T, original: object): T {
	Object.defineProperty(copy, IDENTITY, { value: bindingsIdentity(original), enumerable: false, configurable: true });
	return copy;
}
