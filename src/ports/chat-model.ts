/**
 * The `ChatModel` port: what the chat route needs of any model provider (Workers AI, an OpenAI-compatible
 * upstream, the local offline model). Adapters normalise their provider's formats to these types; the route
 * turns them into OpenAI's wire format. Every adapter passes the same contract suite
 * (test/integration/chat-contract.test.ts).
 *
 * @example
 * ```ts
 * for await (const event of model.stream({ messages, maxTokens: 64, stop: [], signal })) {
 *   if (event.type === "delta") write(event.content);
 *   else finish(event.finishReason, event.usage);
 * }
 * ```
 *
 * @module
 */

/** The roles a chat message can have. */
export type ChatRole = "system" | "user" | "assistant";
export type ChatMessage = { role: ChatRole; content: string };

export type ChatParams = {
	messages: ChatMessage[];
	/** Completion token cap (OpenAI's `max_tokens` / `max_completion_tokens`). */
	maxTokens: number;
	temperature?: number | undefined;
	topP?: number | undefined;
	/** Up to 4 stop sequences; the output ends before the first one. */
	stop: string[];
	user?: string | undefined;
	/** Aborts the upstream call (client gone, deadline passed). */
	signal: AbortSignal;
};

export type Usage = { promptTokens: number; completionTokens: number };
export type FinishReason = "stop" | "length";

export type ChatResult = { content: string; finishReason: FinishReason; usage: Usage };

export type ChatStreamEvent =
	| { type: "delta"; content: string }
	| { type: "finish"; finishReason: FinishReason; usage: Usage };

export interface ChatModel {
	/** The provider's name for logs, metrics and the breaker (`local`, `workers-ai`, `openai:<host>`). */
	readonly provider: string;
	complete(params: ChatParams): Promise<ChatResult>;
	/** Yields deltas, then exactly one `finish`. Throws a {@link ProviderError} before or during the stream. */
	stream(params: ChatParams): AsyncIterable<ChatStreamEvent>;
}

/**
 * A provider failure, classified for the resilience policy: `retryable` failures (429, 5xx, network, timeout)
 * may be retried and count against the circuit breaker; others (4xx) pass through to the client.
 */
export class ProviderError extends Error {
	constructor(
		message: string,
		readonly kind: "rate-limited" | "server" | "network" | "timeout" | "client",
		readonly status: number | undefined,
		/** From the upstream's `Retry-After`, ms. */
		readonly retryAfterMs?: number,
		/**
		 * The upstream's error message, for the log only (redacted there): providers echo request details, API key
		 * fragments among them, so it never reaches a client.
		 */
		readonly upstreamMessage?: string,
		/** A machine-readable code of the provider's (e.g. `context_length_exceeded`), shown to clients: see {@link safeCode}. */
		readonly upstreamCode?: string,
	) {
		super(message);
		this.name = "ProviderError";
	}

	get retryable(): boolean {
		return this.kind !== "client";
	}
}

/** A provider's error code, only if it is a plain identifier (`context_length_exceeded`, `5006`): never free text. */
export function safeCode(raw: unknown): string | undefined {
	return typeof raw === "string" && /^[A-Za-z0-9_.-]{1,64}$/.test(raw) ? raw : undefined;
}

/**
 * Replaces what looks like a credential (`sk-…`, `eak_…`, `Bearer …`, long base64/hex runs) in a provider's message
 * before it is logged.
 */
export function redactSecrets(text: string): string {
	return text
		.replace(/\b(Bearer|Basic)\s+[A-Za-z0-9+/=._~-]+/gi, "$1 [redacted]")
		.replace(/\b(sk|eak|rk|pk)[-_][A-Za-z0-9_*-]{6,}/g, "$1-[redacted]")
		.replace(/[A-Za-z0-9+/_-]{32,}={0,2}/g, "[redacted]");
}
