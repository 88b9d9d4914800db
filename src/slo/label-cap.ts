/**
 * Bounded label cardinality for the metrics the `SloCounter` exports (docs/metrics.md#cardinality). Every label
 * takes its values from a bounded set — route patterns, configured model ids, policy names, statuses, versions,
 * outcomes — except two that come from callers: `tenant` and `subject`. Those keep their own value for the first
 * {@link LABEL_VALUE_CAP} distinct values per metric and shard; later ones are counted under {@link OVERFLOW_VALUE},
 * so a million tenants make at most `cap + 1` series of a metric, never a million (OpenTelemetry's cardinality
 * limit does the same with an overflow attribute). Per-tenant figures that must be exact for everyone come from the
 * tenant's usage ledger (`GET /v1/usage`), not from the metrics.
 *
 * @example
 * ```ts
 * const cap = new LabelCap((metric, label) => new Set(known(metric, label)));
 * cap.apply("llm_tokens", { tenant: "t-101", model: "local" }); // { tenant: "(other)", model: "local" } once 100 are known
 * ```
 *
 * @module
 */
/** Per capped label: the distinct values a metric keeps per shard before counting the rest as {@link OVERFLOW_VALUE}. */
export const LABEL_VALUE_CAP: Readonly<Record<string, number>> = { tenant: 100, subject: 100 };

/** The value a capped label reports once its metric has seen the cap's worth of distinct values. */
export const OVERFLOW_VALUE = "(other)";

/** One shard's cap: the values each metric's capped labels already have, loaded from storage once, then tracked. */
export class LabelCap {
	readonly #known = new Map<string, Set<string>>();

	/** `load` lists the values a metric's label already has in storage (read once per metric and label). */
	constructor(
		private readonly load: (metric: string, label: string) => Set<string>,
		private readonly caps: Readonly<Record<string, number>> = LABEL_VALUE_CAP,
	) {}

	/** The labels to count under: capped labels beyond their cap become {@link OVERFLOW_VALUE}. */
	apply(metric: string, labels: Record<string, string>): Record<string, string> {
		let out = labels;
		for (const [label, cap] of Object.entries(this.caps)) {
			const value = labels[label];
			if (value === undefined || value === OVERFLOW_VALUE) continue;
			const key = `${metric}\u0000${label}`;
			let known = this.#known.get(key);
			if (!known) {
				known = this.load(metric, label);
				this.#known.set(key, known);
			}
			if (known.has(value)) continue;
			if (known.size < cap) {
				known.add(value);
				continue;
			}
			out = { ...out, [label]: OVERFLOW_VALUE };
		}
		return out;
	}
}
