/**
 * Calls a model the resilient way (docs/chat.md#resilience): each model of the fallback chain in order, each with
 * retries on retryable failures behind its provider's circuit breaker. A non-retryable upstream answer (4xx)
 * stops at once and is passed through; when every model failed, the client gets 502 (upstream errors) or 503
 * (capacity: rate limits or open circuits).
 *
 * Streams are retried and failed over only until their first event: after that the client has seen output, and a
 * failure becomes an in-stream error.
 *
 * @module
 */
import type { ChatConfig } from "../config";
import { AppError } from "../http/app-error";
import {
	type ChatModel,
	type ChatParams,
	type ChatResult,
	type ChatStreamEvent,
	ProviderError,
	redactSecrets,
} from "../ports/chat-model";
import type { Logger } from "../telemetry/logger";
import { CircuitOpenError } from "./breaker";
import type { ModelEntry } from "./config";
import { breakerFor, type RetryBudget, type RetryPolicy, withRetries } from "./resilience";

export type ChatDeps = {
	/** The adapter serving a model of the chain (the composition root decides; tests pass fakes). */
	modelFor: (entry: ModelEntry) => ChatModel;
	config: ChatConfig;
	log: Logger;
	/** The request's signal (route deadline, client disconnect). */
	signal: AbortSignal;
	/** ms left before the route's deadline: retries that it would cut short are not made. */
	remainingMs?: () => number;
	/** Counts into the metrics export (llm_upstream_requests_total, llm_fallbacks_total); absent in some tests. */
	count?: (metric: string, labels: Record<string, string>) => void;
	/** How to sleep between retries (tests override it). */
	sleep?: RetryPolicy["sleep"];
};

function policy(deps: ChatDeps, modelId: string, budget: RetryBudget): RetryPolicy {
	return {
		...deps.config.retry,
		budget,
		signal: deps.signal,
		...(deps.remainingMs ? { remainingMs: deps.remainingMs } : {}),
		...(deps.sleep ? { sleep: deps.sleep } : {}),
		onRetry: (attempt, error, delayMs) =>
			deps.log.warn("model call retried", { model: modelId, attempt, delay_ms: delayMs, error_message: error.message }),
	};
}

/** The outcome label of one provider attempt (llm_upstream_requests_total). */
export function attemptOutcome(err: unknown): string {
	if (err instanceof CircuitOpenError) return "circuit_open";
	if (!(err instanceof ProviderError)) return "server_error";
	switch (err.kind) {
		case "rate-limited":
			return "rate_limited";
		case "server":
			return "server_error";
		case "network":
			return "network_error";
		case "timeout":
			return "timeout";
		case "client":
			return "client_error";
	}
}

/** Wraps one attempt so its outcome is counted per provider and model. */
function countedAttempt<T>(
	deps: ChatDeps,
	model: ChatModel,
	entry: ModelEntry,
	attempt: (signal: AbortSignal) => Promise<T>,
): (signal: AbortSignal) => Promise<T> {
	const labels = { provider: model.provider, model: entry.id };
	return async (signal) => {
		try {
			const result = await attempt(signal);
			deps.count?.("llm_upstream_requests", { ...labels, outcome: "ok" });
			return result;
		} catch (err) {
			// A request the client or its deadline gave up on says nothing about the provider.
			if (!deps.signal.aborted) deps.count?.("llm_upstream_requests", { ...labels, outcome: attemptOutcome(err) });
			throw err;
		}
	};
}

/** Counts a chain's failure of `entry` before any attempt (an open circuit refuses without calling). */
function countRefusal(deps: ChatDeps, model: ChatModel, entry: ModelEntry, err: unknown): void {
	if (err instanceof CircuitOpenError)
		deps.count?.("llm_upstream_requests", { provider: model.provider, model: entry.id, outcome: "circuit_open" });
}

/** Counts a completion served by a fallback rather than the requested model. */
function countFallback(deps: ChatDeps, chain: readonly ModelEntry[], served: ModelEntry): void {
	const requested = chain[0];
	if (requested && requested !== served)
		deps.count?.("llm_fallbacks", { requested_model: requested.id, served_model: served.id });
}

/** The client-facing error once every model of the chain has failed. */
function exhausted(errors: { model: string; error: unknown }[]): AppError {
	const last = errors[errors.length - 1]?.error;
	const capacity = errors.every(
		(e) => e.error instanceof CircuitOpenError || (e.error instanceof ProviderError && e.error.kind === "rate-limited"),
	);
	// The soonest any model may take a call again: an open circuit's cooldown, an upstream's Retry-After; else 5 s.
	const waits = errors.flatMap((e) =>
		e.error instanceof CircuitOpenError
			? [e.error.retryAfterMs]
			: e.error instanceof ProviderError && e.error.retryAfterMs
				? [e.error.retryAfterMs]
				: [],
	);
	const retryAfter = waits.length > 0 ? Math.max(1, Math.ceil(Math.min(...waits) / 1000)) : 5;
	const tried = errors.map((e) => e.model).join(", ");
	if (capacity) {
		return new AppError({
			status: 503,
			slug: "upstream-unavailable",
			detail: `No model could take the request now (tried ${tried}); retry later`,
			headers: { "Retry-After": String(retryAfter) },
		});
	}
	if (last instanceof ProviderError && last.kind === "timeout") {
		return new AppError({ status: 504, slug: "timeout", detail: `The model did not answer in time (tried ${tried})` });
	}
	return new AppError({ status: 502, slug: "bad-gateway", detail: `The model provider failed (tried ${tried})` });
}

/**
 * A provider's 4xx, passed through with its status and its error code when that is a plain identifier — never its
 * message, which may echo request details or a fragment of our API key (the log gets it, redacted).
 */
function passThrough(error: ProviderError, model: string, log: Logger): AppError {
	const status = error.status && error.status >= 400 && error.status < 500 ? error.status : 400;
	log.warn("model provider rejected the request", {
		model,
		upstream_status: error.status,
		upstream_code: error.upstreamCode,
		upstream_message: redactSecrets(error.upstreamMessage ?? error.message).slice(0, 500),
	});
	return new AppError({
		status: status as 400,
		slug: "upstream-rejected",
		detail: `The model provider rejected the request (${model})${error.upstreamCode ? `: ${error.upstreamCode}` : ""}`,
		extensions: { upstream_status: status, ...(error.upstreamCode ? { upstream_code: error.upstreamCode } : {}) },
	});
}

/**
 * The first model of `chain` that serves `call`: each model with retries behind its provider's breaker; a
 * non-retryable upstream answer stops at once (passed through); when every model failed, the exhausted error.
 */
async function firstServing<T>(
	chain: readonly ModelEntry[],
	deps: ChatDeps,
	call: (model: ChatModel, entry: ModelEntry, signal: AbortSignal) => Promise<T>,
): Promise<T> {
	const errors: { model: string; error: unknown }[] = [];
	// One budget of retries for the whole chain: a request never retries more than CHAT_RETRY_BUDGET times.
	const budget: RetryBudget = { left: deps.config.retry.budget };
	for (const entry of chain) {
		const model = deps.modelFor(entry);
		try {
			const served = await withRetries(
				countedAttempt(deps, model, entry, (signal) => call(model, entry, signal)),
				policy(deps, entry.id, budget),
				breakerFor(model.provider, deps.config.breaker),
			);
			countFallback(deps, chain, entry);
			return served;
		} catch (err) {
			if (deps.signal.aborted) throw err;
			countRefusal(deps, model, entry, err);
			if (err instanceof ProviderError && !err.retryable) throw passThrough(err, entry.id, deps.log);
			deps.log.warn("model failed; trying the next", { model: entry.id, error_message: String(err) });
			errors.push({ model: entry.id, error: err });
		}
	}
	throw exhausted(errors);
}

/** A non-streamed completion from the first model of `chain` that can give one. */
export function complete(
	chain: readonly ModelEntry[],
	params: Omit<ChatParams, "signal">,
	deps: ChatDeps,
): Promise<{ model: string; result: ChatResult }> {
	return firstServing(chain, deps, async (model, entry, signal) => ({
		model: entry.id,
		result: await model.complete({ ...params, signal }),
	}));
}

export type OpenedStream = {
	model: string;
	first: ChatStreamEvent;
	rest: AsyncIterator<ChatStreamEvent>;
	/** Aborts the upstream stream (client gone). */
	abort: (reason?: unknown) => void;
};

/** A stream from the first model of `chain` that produces a first event. */
export function openStream(
	chain: readonly ModelEntry[],
	params: Omit<ChatParams, "signal">,
	deps: ChatDeps,
): Promise<OpenedStream> {
	return firstServing(chain, deps, async (model, entry, signal) => {
		const iterator = model.stream({ ...params, signal })[Symbol.asyncIterator]();
		const first = await iterator.next();
		if (first.done) throw new ProviderError("stream ended before any event", "server", undefined);
		return { model: entry.id, first: first.value, rest: iterator, abort: () => void iterator.return?.() };
	});
}
