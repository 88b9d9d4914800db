/**
 * What every route that calls a model shares (chat completions, RAG answers): the model call's dependencies from
 * the request, and the settlement of a call — commit the token reservation, account tokens and cost in the
 * metrics, write the tenant's usage ledger (`GET /v1/usage`), log one line. One place, so every model call is
 * governed and accounted the same way (docs/security.md#llm-spend).
 *
 * @example
 * ```ts
 * const { model, result } = await complete(chain, params, chatDeps(c));
 * await settleModelCall(c, "/v1/chat/completions", model, result.usage);
 * ```
 *
 * @module
 */
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { costOf } from "../chat/accounting";
import {
	type CompletionStreamInput,
	completionStream,
	type StreamOutcome,
	streamFailure,
} from "../chat/completion-stream";
import type { ChatDeps } from "../chat/service";
import { background, deferrer } from "../http/background";
import type { Usage } from "../ports/chat-model";
import type { StreamFailure } from "../slo/collector";
import { writeUsage } from "../usage/ledger";

/** The chat service's dependencies, from the request: model adapters, configuration, log, deadline, metrics. */
export function chatDeps(c: Context<AppEnv>): ChatDeps {
	return {
		modelFor: c.get("ports").chatModel,
		config: c.get("config").chat,
		log: c.get("log"),
		signal: c.get("deadline").signal,
		remainingMs: () => c.get("deadline").remainingMs(),
		count: metricsCount(c),
	};
}

/**
 * A streamed model call of this request: the token reservation stays open past the response (detached) and is
 * settled, with the usage, when the stream ends — `onSettled` then does the route's own bookkeeping.
 */
export async function streamModelCall(
	c: Context<AppEnv>,
	route: string,
	input: Pick<CompletionStreamInput, "id" | "requestedModel" | "open" | "promptTokens" | "includeUsage" | "prelude">,
	onSettled?: (outcome: StreamOutcome) => Promise<void>,
): Promise<Response> {
	const config = c.get("config");
	c.get("tokenBudget")?.detach();
	let ended: (failure: StreamFailure | null) => void = () => undefined;
	const ending = new Promise<StreamFailure | null>((resolve) => {
		ended = resolve;
	});
	const response = await completionStream({
		...input,
		created: Math.floor(Date.now() / 1000),
		keepAliveMs: config.chat.keepAliveMs,
		streamMs: config.timeouts.streamMs,
		deadline: c.get("deadline"),
		log: c.get("log"),
		background: deferrer(c, "model call bookkeeping failed", "error"),
		settle: async (outcome) => {
			// The SLO hears how the stream ended first: the bookkeeping below must not hold up or lose that record.
			ended(streamFailure(outcome.ending));
			await settleModelCall(c, route, outcome.model, outcome.usage);
			await onSettled?.(outcome);
		},
	});
	// Only a stream that became the response is recorded at its end; a failure to open it was answered as a problem.
	c.get("metrics")?.streamed(ending);
	return response;
}

/** The request's counter for the metrics export, as the chat service takes it. */
export function metricsCount(c: Context<AppEnv>): (metric: string, labels: Record<string, string>) => void {
	return (metric, labels) => c.get("metrics")?.count(metric, labels);
}

/**
 * Settles one model call: commits the reservation to the tokens used (0 refunds it), and — when the call used
 * any — accounts them (llm_tokens_total, llm_cost_usd_total), records them in the tenant's ledger and logs them.
 * Returns the call's cost in USD.
 */
export async function settleModelCall(c: Context<AppEnv>, route: string, model: string, usage: Usage): Promise<number> {
	const config = c.get("config");
	const principal = c.get("principal");
	await c.get("tokenBudget")?.commit(usage.promptTokens + usage.completionTokens);
	// A call that produced nothing (failed before any token) refunds its reservation and is not accounted.
	if (usage.promptTokens + usage.completionTokens === 0) return 0;
	const cost = costOf(model, usage, config.chat.prices);
	const metrics = c.get("metrics");
	if (metrics) {
		metrics.count(
			"llm_tokens",
			{ model, tenant: principal.tenant, http_route: route, type: "prompt" },
			usage.promptTokens,
		);
		metrics.count(
			"llm_tokens",
			{ model, tenant: principal.tenant, http_route: route, type: "completion" },
			usage.completionTokens,
		);
		metrics.count("llm_cost_usd", { model, tenant: principal.tenant, http_route: route }, cost);
	}
	const record = {
		id: `${c.get("requestId")}:${crypto.randomUUID()}`,
		atMs: Date.now(),
		subject: principal.subject,
		model,
		route,
		inputTokens: usage.promptTokens,
		outputTokens: usage.completionTokens,
		costUsd: cost,
	};
	background(
		c,
		writeUsage(c.env, principal.tenant, record, config.usage.retentionDays, c.get("log")),
		"usage ledger write failed",
		"error",
	);
	c.get("log").info("model usage", {
		model,
		route,
		prompt_tokens: usage.promptTokens,
		completion_tokens: usage.completionTokens,
		cost_usd: cost,
	});
	return cost;
}
