/**
 * The expiring, bounded cache that authentication keeps per isolate for D1's answers about clients and keys.
 *
 * @module
 */

/**
 * A per-isolate cache whose entries expire after a fixed time: how long an isolate may act on a client's or a
 * key's state (revocation included) before reading D1 again. Bounded in size; the oldest entry goes first.
 */
export class TtlCache<V> {
	readonly #entries = new Map<string, { value: V; until: number }>();

	constructor(
		private readonly maxEntries: number,
		private readonly now: () => number = Date.now,
	) {}

	get(key: string): V | undefined {
		const hit = this.#entries.get(key);
		if (!hit) return undefined;
		if (hit.until <= this.now()) {
			this.#entries.delete(key);
			return undefined;
		}
		return hit.value;
	}

	set(key: string, value: V, ttlMs: number): void {
		if (ttlMs <= 0) return;
		this.#entries.delete(key);
		if (this.#entries.size >= this.maxEntries) {
			const oldest = this.#entries.keys().next();
			if (!oldest.done) this.#entries.delete(oldest.value);
		}
		this.#entries.set(key, { value, until: this.now() + ttlMs });
	}

	delete(key: string): void {
		this.#entries.delete(key);
	}

	clear(): void {
		this.#entries.clear();
	}
}
