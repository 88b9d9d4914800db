/**
 * Rate limiting's negative cache: denials remembered per isolate, so further requests of a blocked key are refused
 * without a Durable Object call.
 *
 * @module
 */

/**
 * Per-isolate cache of limit keys known to be blocked: a policy of a key that denied a cost `c` until `T` denies
 * any cost ≥ `c` until `T` too (admitted events only ever leave the window), so those requests are answered
 * without a Durable Object call. Denials with open token reservations are not cached: a refund may free capacity
 * before `T`. Bounded: least recently used entries go first.
 *
 * @example
 * ```ts
 * const cache = new NegativeCache(10_000);
 * cache.block("sub:demo/demo", "chat", 1, 61_000);
 * cache.blockedUntil("sub:demo/demo", "chat", 1, 30_000); // 61_000
 * ```
 */
export class NegativeCache {
	readonly #entries = new Map<string, { untilMs: number; cost: number }>();

	constructor(readonly capacity: number) {}

	/** Records that `policy` of `key` denies `cost` (and more) until `untilMs`. */
	block(key: string, policy: string, cost: number, untilMs: number): void {
		if (this.capacity <= 0 || !Number.isFinite(untilMs)) return;
		const id = `${key}\u0000${policy}`;
		this.#entries.delete(id);
		this.#entries.set(id, { untilMs, cost });
		while (this.#entries.size > this.capacity) {
			const oldest = this.#entries.keys().next().value;
			if (oldest === undefined) break;
			this.#entries.delete(oldest);
		}
	}

	/** When `cost` for `policy` of `key` is known to be denied at `nowMs`: until when; else null. */
	blockedUntil(key: string, policy: string, cost: number, nowMs: number): number | null {
		const id = `${key}\u0000${policy}`;
		const entry = this.#entries.get(id);
		if (!entry) return null;
		if (entry.untilMs <= nowMs) {
			this.#entries.delete(id);
			return null;
		}
		if (cost < entry.cost) return null;
		this.#entries.delete(id);
		this.#entries.set(id, entry);
		return entry.untilMs;
	}

	get size(): number {
		return this.#entries.size;
	}

	clear(): void {
		this.#entries.clear();
	}
}
