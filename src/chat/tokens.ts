/**
 * Prompt token estimate used before a model call (for `tokens` rate-limit reservations) and by the local model's
 * usage: about 4 bytes of UTF-8 per token plus OpenAI's per-message overhead (4) and reply priming (3). Real
 * tokenizers differ by model; the reservation is refunded to the model's reported usage at commit, so the
 * estimate only has to be a reasonable upper-ish bound, not exact.
 *
 * @example
 * ```ts
 * estimatePromptTokens([{ role: "user", content: "Hello there" }]); // 3 + 4 + 3 = 10
 * ```
 *
 * @module
 */
import type { ChatMessage } from "../ports/chat-model";

/** Encodes to UTF-8, the bytes the estimate counts. */
const encoder = new TextEncoder();

export function estimateTextTokens(text: string): number {
	return Math.ceil(encoder.encode(text).length / 4);
}

export function estimatePromptTokens(messages: readonly ChatMessage[]): number {
	return messages.reduce((sum, m) => sum + 4 + estimateTextTokens(m.content), 3);
}
