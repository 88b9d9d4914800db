/**
 * Workers AI through the `AI` binding, normalised to clean chat events. Its quirks, handled here:
 * - native models answer `{ response, usage }` and stream `data: {"response":"…","p":"…"}` lines whose `response`
 *   may be empty or null, usage only in the last data line, then `data: [DONE]`; OpenAI-style models answer and
 *   stream `choices` instead — both shapes are accepted;
 * - no finish reason: `length` when the completion used all of `max_tokens`, else `stop`;
 * - `stop` is not supported by most models: applied here, on the stream, with a look-behind buffer;
 * - errors are thrown `Error`s whose message carries an internal code: capacity (3040) and rate limits are
 *   retryable, input validation (5006, "invalid") is the client's.
 * The binding is not available under `wrangler dev`; the contract suite runs this adapter against a stub that
 * reproduces these formats.
 *
 * @module
 */
import { z } from "zod";
import { sseData } from "../chat/sse";
import { StopScanner } from "../chat/stop";
import { estimatePromptTokens, estimateTextTokens } from "../chat/tokens";
import {
	type ChatModel,
	type ChatParams,
	type ChatResult,
	type ChatStreamEvent,
	type FinishReason,
	ProviderError,
	safeCode,
} from "../ports/chat-model";

/** The part of the `AI` binding the Workers AI adapters use. */
export type AiBinding = { run(model: string, inputs: Record<string, unknown>): Promise<unknown> };

const Usage = z.object({ prompt_tokens: z.number(), completion_tokens: z.number() });
const Native = z.object({ response: z.string().nullable().optional(), usage: Usage.optional() });
const OpenAIStyle = z.object({
	choices: z
		.array(
			z.object({
				message: z.object({ content: z.string().nullable().optional() }).optional(),
				delta: z.object({ content: z.string().nullable().optional() }).optional(),
				finish_reason: z.string().nullable().optional(),
			}),
		)
		.optional(),
	usage: Usage.nullable().optional(),
});

export function classifyAiError(err: unknown): ProviderError {
	const message = err instanceof Error ? err.message : String(err);
	if (/\b3040\b|capacity|rate.?limit|\b429\b|too many/i.test(message)) {
		return new ProviderError(`Workers AI: ${message}`, "rate-limited", 429);
	}
	if (/\b5006\b|\b400\b|invalid|validation|required propert/i.test(message)) {
		return new ProviderError(
			`Workers AI: ${message}`,
			"client",
			400,
			undefined,
			message,
			safeCode(/\b(\d{4})\b/.exec(message)?.[1]),
		);
	}
	return new ProviderError(`Workers AI: ${message}`, "server", 500);
}

export class WorkersAiModel implements ChatModel {
	readonly provider = "workers-ai";

	constructor(
		private readonly ai: AiBinding,
		private readonly model: string,
	) {}

	async #run(params: ChatParams, stream: boolean): Promise<unknown> {
		const inputs: Record<string, unknown> = {
			messages: params.messages,
			max_tokens: params.maxTokens,
			...(params.temperature !== undefined ? { temperature: params.temperature } : {}),
			...(params.topP !== undefined ? { top_p: params.topP } : {}),
			...(stream ? { stream: true } : {}),
		};
		params.signal.throwIfAborted();
		if (!this.ai)
			throw new ProviderError("Workers AI is not bound here (no AI binding; see docs/chat.md)", "server", 503);
		const aborted = new Promise<never>((_, reject) => {
			params.signal.addEventListener(
				"abort",
				() => reject(new ProviderError("Workers AI call aborted", "timeout", undefined)),
				{
					once: true,
				},
			);
		});
		try {
			return await Promise.race([this.ai.run(this.model, inputs), aborted]);
		} catch (err) {
			throw err instanceof ProviderError ? err : classifyAiError(err);
		}
	}

	#finish(completionTokens: number, params: ChatParams, stopped: boolean): FinishReason {
		return !stopped && completionTokens >= params.maxTokens ? "length" : "stop";
	}

	async complete(params: ChatParams): Promise<ChatResult> {
		const out = await this.#run(params, false);
		const native = Native.safeParse(out);
		const openai = OpenAIStyle.safeParse(out);
		let raw: string;
		let usage: z.infer<typeof Usage> | null | undefined;
		if (openai.success && openai.data.choices && openai.data.choices.length > 0) {
			raw = openai.data.choices[0]?.message?.content ?? "";
			usage = openai.data.usage;
		} else if (native.success) {
			raw = native.data.response ?? "";
			usage = native.data.usage;
		} else {
			throw new ProviderError("Workers AI returned an unexpected shape", "server", 500);
		}
		const scan = new StopScanner(params.stop);
		const first = scan.push(raw);
		const content = first.emit + scan.flush();
		const completionTokens = usage?.completion_tokens ?? estimateTextTokens(raw);
		return {
			content,
			finishReason: this.#finish(completionTokens, params, first.stopped),
			usage: {
				promptTokens: usage?.prompt_tokens ?? estimatePromptTokens(params.messages),
				completionTokens: first.stopped ? estimateTextTokens(content) : completionTokens,
			},
		};
	}

	async *stream(params: ChatParams): AsyncIterable<ChatStreamEvent> {
		const out = await this.#run(params, true);
		if (!(out instanceof ReadableStream)) throw new ProviderError("Workers AI did not return a stream", "server", 500);
		const scan = new StopScanner(params.stop);
		let usage: z.infer<typeof Usage> | undefined;
		let text = "";
		try {
			for await (const data of sseData(out as ReadableStream<Uint8Array>)) {
				if (data === "[DONE]") break;
				let json: unknown;
				try {
					json = JSON.parse(data);
				} catch {
					throw new ProviderError("Workers AI stream sent invalid JSON", "server", 500);
				}
				const openai = OpenAIStyle.safeParse(json);
				const native = Native.safeParse(json);
				let piece = "";
				if (openai.success && openai.data.choices && openai.data.choices.length > 0) {
					piece = openai.data.choices.map((c) => c.delta?.content ?? "").join("");
					if (openai.data.usage) usage = openai.data.usage;
				} else if (native.success) {
					piece = native.data.response ?? "";
					if (native.data.usage) usage = native.data.usage;
				} else if (openai.success && openai.data.usage) {
					usage = openai.data.usage;
				}
				if (piece && !scan.stopped) {
					const { emit, stopped } = scan.push(piece);
					if (emit) {
						text += emit;
						yield { type: "delta", content: emit };
					}
					if (stopped) break;
				}
			}
		} catch (err) {
			if (err instanceof ProviderError) throw err;
			if (params.signal.aborted) throw new ProviderError("Workers AI stream aborted", "timeout", undefined);
			throw new ProviderError(`Workers AI stream broke: ${String(err)}`, "network", undefined);
		}
		const rest = scan.flush();
		if (rest) {
			text += rest;
			yield { type: "delta", content: rest };
		}
		const completionTokens = scan.stopped
			? estimateTextTokens(text)
			: (usage?.completion_tokens ?? estimateTextTokens(text));
		yield {
			type: "finish",
			finishReason: this.#finish(completionTokens, params, scan.stopped),
			usage: { promptTokens: usage?.prompt_tokens ?? estimatePromptTokens(params.messages), completionTokens },
		};
	}
}
