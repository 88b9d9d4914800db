import type { Prices } from "./config";

/**
 * Token accounting: prompt and completion tokens and cost of every model call, per tenant × model × route,
 * cumulative per isolate — the one place the metrics export reads them from. Cost comes from the price table
 * (`CHAT_PRICES`, USD per million tokens); unpriced models cost 0.
 *
 * @example
 * ```ts
 * const cost = recordUsage({ tenant: "demo", model: "local", route: "/v1/chat/completions" }, usage, prices);
 * usageStats(); // [{ tenant: "demo", model: "local", route: "…", requests: 1, prompt_tokens: 12, … }]
 * ```
 */
export type UsageKey = { tenant: string; model: string; route: string };
export type UsageTotals = {
	requests: number;
	prompt_tokens: number;
	completion_tokens: number;
	cost_usd: number;
};

const totals = new Map<string, UsageTotals>();

export function costOf(
	model: string,
	usage: { promptTokens: number; completionTokens: number },
	prices: Prices,
): number {
	const p = prices[model];
	if (!p) return 0;
	return (usage.promptTokens * p.prompt_per_mtok + usage.completionTokens * p.completion_per_mtok) / 1_000_000;
}

/** Adds one call's usage; returns its cost in USD. */
export function recordUsage(
	key: UsageKey,
	usage: { promptTokens: number; completionTokens: number },
	prices: Prices,
): number {
	const id = JSON.stringify([key.tenant, key.model, key.route]);
	const t = totals.get(id) ?? { requests: 0, prompt_tokens: 0, completion_tokens: 0, cost_usd: 0 };
	const cost = costOf(key.model, usage, prices);
	t.requests++;
	t.prompt_tokens += usage.promptTokens;
	t.completion_tokens += usage.completionTokens;
	t.cost_usd += cost;
	totals.set(id, t);
	return cost;
}

export function usageStats(): (UsageKey & UsageTotals)[] {
	return [...totals].map(([id, t]) => {
		const [tenant, model, route] = JSON.parse(id) as [string, string, string];
		return { tenant, model, route, ...t };
	});
}
