/**
 * Fault injection around the chat model port, for local and test environments only (the configuration refuses it
 * elsewhere; docs/resilience.md#fault-injection). Whatever provider serves a model, the wrapper makes its calls fail
 * the way a real provider's do, so retries, fallbacks and the circuit breaker see nothing special:
 *
 * - `call`: each call (`complete`, or opening a `stream`) first waits `latencyMs`, then fails with probability
 *   `rate` as an upstream 503 (a retryable {@link ProviderError});
 * - `stream`: with probability `rate`, a stream dies after `afterTokens` content deltas with a provider error —
 *   mid-answer, after the client got its first bytes. A non-streamed completion fails the same way (it has no
 *   partial answer to show: the attempt fails and is retried like any other).
 *
 * @example
 * ```ts
 * const model = withChatModelFaults(new LocalModel({ tokenDelayMs: 10 }), { rate: 0.3, latencyMs: 0 }, { rate: 0, afterTokens: 0 });
 * ```
 *
 * @module
 */
import { type Fault, injectFault, isActive, type StreamFault } from "../lib/fault";
import {
	type ChatModel,
	type ChatParams,
	type ChatResult,
	type ChatStreamEvent,
	ProviderError,
} from "../ports/chat-model";

const injected = (what: string) => () => new ProviderError(`injected fault: ${what}`, "server", 503);

/** `model` with injected call and mid-stream faults; `model` itself when neither is active. */
export function withChatModelFaults(
	model: ChatModel,
	call: Fault,
	stream: StreamFault,
	random: () => number = Math.random,
): ChatModel {
	if (!isActive(call) && stream.rate <= 0) return model;
	const callFails = injected(`${model.provider} unavailable`);
	const streamDies = injected(`${model.provider} failed mid-stream`);
	return {
		provider: model.provider,
		async complete(params: ChatParams): Promise<ChatResult> {
			await injectFault(call, random, callFails);
			if (stream.rate > 0 && random() < stream.rate) throw streamDies();
			return model.complete(params);
		},
		async *stream(params: ChatParams): AsyncIterable<ChatStreamEvent> {
			await injectFault(call, random, callFails);
			const dies = stream.rate > 0 && random() < stream.rate;
			let deltas = 0;
			for await (const event of model.stream(params)) {
				if (dies && event.type === "delta" && deltas >= stream.afterTokens) throw streamDies();
				if (dies && event.type === "finish") throw streamDies();
				if (event.type === "delta") deltas++;
				yield event;
			}
		},
	};
}
