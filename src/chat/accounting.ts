/**
 * The price of a model call: prompt and completion tokens at the model's prices (`CHAT_PRICES`, USD per million
 * tokens); an unpriced model costs 0. The settlement of every model call (src/routes/llm-call.ts) prices it here
 * once, for the metrics export and the tenant's usage ledger alike.
 *
 * @example
 * ```ts
 * costOf("gpt-4o-mini", { promptTokens: 1_000, completionTokens: 200 }, prices); // 0.00027 at 0.15 / 0.6 per Mtok
 * ```
 *
 * @module
 */
import type { Prices } from "./config";

/** The cost in USD of one call's usage. */
export function costOf(
	model: string,
	usage: { promptTokens: number; completionTokens: number },
	prices: Prices,
): number {
	const p = prices[model];
	if (!p) return 0;
	return (usage.promptTokens * p.prompt_per_mtok + usage.completionTokens * p.completion_per_mtok) / 1_000_000;
}
