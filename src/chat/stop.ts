/**
 * Stop sequences for providers that ignore them (Workers AI): {@link StopScanner} receives the text as it streams
 * and releases only what can no longer be the start of a stop sequence, so a stop split across deltas is still
 * caught and never shown.
 *
 * @example
 * ```ts
 * const scan = new StopScanner(["\n\n"]);
 * scan.push("Hello\n"); // { emit: "Hello", stopped: false }
 * scan.push("\nBye");   // { emit: "", stopped: true }
 * ```
 *
 * @module
 */

/** Holds back the streamed text that could still begin a stop sequence, and cuts the text at the first stop. */
export class StopScanner {
	#held = "";
	#stopped = false;
	readonly #longest: number;

	constructor(private readonly stops: readonly string[]) {
		this.#longest = Math.max(0, ...stops.map((s) => s.length));
	}

	get stopped(): boolean {
		return this.#stopped;
	}

	push(text: string): { emit: string; stopped: boolean } {
		if (this.#stopped) return { emit: "", stopped: true };
		const all = this.#held + text;
		let cut = -1;
		for (const s of this.stops) {
			const at = s.length > 0 ? all.indexOf(s) : -1;
			if (at >= 0 && (cut < 0 || at < cut)) cut = at;
		}
		if (cut >= 0) {
			this.#stopped = true;
			this.#held = "";
			return { emit: all.slice(0, cut), stopped: true };
		}
		const keep = Math.min(all.length, Math.max(0, this.#longest - 1));
		this.#held = all.slice(all.length - keep);
		return { emit: all.slice(0, all.length - keep), stopped: false };
	}

	/** What is still held back when the text ends without a stop. */
	flush(): string {
		const rest = this.#stopped ? "" : this.#held;
		this.#held = "";
		return rest;
	}
}
