/**
 * Any OpenAI-compatible upstream over `fetch` (OpenAI, AI Gateway's OpenAI endpoint, vLLM, Ollama…):
 * `POST {baseUrl}/chat/completions`, streaming with `stream_options.include_usage`. Failures are classified for
 * the resilience policy: 429 (with `Retry-After`) and 5xx are retryable, other 4xx pass through, network errors and
 * aborted attempts are retryable.
 *
 * @example
 * ```ts
 * const model = new OpenAICompatibleModel({ baseUrl: "https://api.openai.com/v1", apiKey, model: "gpt-4o-mini" });
 * ```
 *
 * @module
 */
import { z } from "zod";
import { sseData } from "../chat/sse";
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

/** A non-streaming completion, as far as this adapter reads it. */
const Completion = z.object({
	choices: z
		.array(
			z.object({
				message: z.object({ content: z.string().nullable().optional() }),
				finish_reason: z.string().nullable().optional(),
			}),
		)
		.min(1),
	usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number() }).nullable().optional(),
});

const Chunk = z.object({
	choices: z
		.array(
			z.object({
				delta: z.object({ content: z.string().nullable().optional() }).optional(),
				finish_reason: z.string().nullable().optional(),
			}),
		)
		.optional(),
	usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number() }).nullable().optional(),
	error: z.unknown().optional(),
});

export function parseRetryAfter(value: string | null, nowMs = Date.now()): number | undefined {
	if (!value) return undefined;
	if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
	const at = Date.parse(value);
	return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

const finish = (reason: string | null | undefined): FinishReason => (reason === "length" ? "length" : "stop");

export type OpenAIUpstreamOptions = {
	baseUrl: string;
	apiKey?: string | undefined;
	/** The upstream's model name. */
	model: string;
	fetch?: typeof fetch;
};

export class OpenAICompatibleModel implements ChatModel {
	readonly provider: string;
	readonly #fetch: typeof fetch;

	constructor(private readonly options: OpenAIUpstreamOptions) {
		const url = new URL(options.baseUrl);
		this.provider = `openai:${url.host}${url.pathname.replace(/\/+$/, "")}`;
		this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
	}

	async #post(params: ChatParams, stream: boolean): Promise<Response> {
		const body = {
			model: this.options.model,
			messages: params.messages,
			max_tokens: params.maxTokens,
			...(params.temperature !== undefined ? { temperature: params.temperature } : {}),
			...(params.topP !== undefined ? { top_p: params.topP } : {}),
			...(params.stop.length > 0 ? { stop: params.stop } : {}),
			...(params.user ? { user: params.user } : {}),
			stream,
			...(stream ? { stream_options: { include_usage: true } } : {}),
		};
		let res: Response;
		try {
			res = await this.#fetch(`${this.options.baseUrl.replace(/\/+$/, "")}/chat/completions`, {
				method: "POST",
				headers: {
					"Content-Type": "application/json",
					...(this.options.apiKey ? { Authorization: `Bearer ${this.options.apiKey}` } : {}),
				},
				body: JSON.stringify(body),
				signal: params.signal,
			});
		} catch (err) {
			if (params.signal.aborted)
				throw new ProviderError(`upstream call aborted: ${String(params.signal.reason)}`, "timeout", undefined);
			throw new ProviderError(`upstream unreachable: ${String(err)}`, "network", undefined);
		}
		if (res.ok) return res;
		const text = await res.text().catch(() => "");
		let message = text.slice(0, 500);
		let code: string | undefined;
		try {
			const parsed = JSON.parse(text) as {
				error?: { message?: unknown; code?: unknown; type?: unknown } | string;
				detail?: unknown;
			};
			const e = parsed.error;
			message =
				typeof e === "string" ? e : typeof e?.message === "string" ? e.message : String(parsed.detail ?? message);
			code = typeof e === "object" ? (safeCode(e?.code) ?? safeCode(e?.type)) : undefined;
		} catch {
			// not JSON: keep the text
		}
		const kind = res.status === 429 ? "rate-limited" : res.status >= 500 ? "server" : "client";
		throw new ProviderError(
			`upstream answered ${res.status}`,
			kind,
			res.status,
			parseRetryAfter(res.headers.get("Retry-After")),
			message,
			code,
		);
	}

	async complete(params: ChatParams): Promise<ChatResult> {
		const res = await this.#post(params, false);
		let json: unknown;
		try {
			json = await res.json();
		} catch (err) {
			if (params.signal.aborted) throw new ProviderError("upstream call aborted", "timeout", undefined);
			throw new ProviderError(`upstream sent invalid JSON: ${String(err)}`, "server", res.status);
		}
		const parsed = Completion.safeParse(json);
		if (!parsed.success) throw new ProviderError("upstream sent an unexpected completion shape", "server", res.status);
		const choice = parsed.data.choices[0];
		const content = choice?.message.content ?? "";
		return {
			content,
			finishReason: finish(choice?.finish_reason),
			usage: {
				promptTokens: parsed.data.usage?.prompt_tokens ?? estimatePromptTokens(params.messages),
				completionTokens: parsed.data.usage?.completion_tokens ?? estimateTextTokens(content),
			},
		};
	}

	async *stream(params: ChatParams): AsyncIterable<ChatStreamEvent> {
		const res = await this.#post(params, true);
		if (!res.body) throw new ProviderError("upstream stream has no body", "server", res.status);
		let reason: FinishReason | undefined;
		let usage: { promptTokens: number; completionTokens: number } | undefined;
		let text = "";
		try {
			for await (const data of sseData(res.body)) {
				if (data === "[DONE]") break;
				let json: unknown;
				try {
					json = JSON.parse(data);
				} catch {
					throw new ProviderError("upstream stream sent invalid JSON", "server", res.status);
				}
				const chunk = Chunk.safeParse(json);
				if (!chunk.success) throw new ProviderError("upstream stream sent an unexpected chunk", "server", res.status);
				if (chunk.data.error !== undefined)
					throw new ProviderError("upstream stream failed mid-way", "server", res.status);
				for (const choice of chunk.data.choices ?? []) {
					const content = choice.delta?.content;
					if (content) {
						text += content;
						yield { type: "delta", content };
					}
					if (choice.finish_reason) reason = finish(choice.finish_reason);
				}
				if (chunk.data.usage) {
					usage = {
						promptTokens: chunk.data.usage.prompt_tokens,
						completionTokens: chunk.data.usage.completion_tokens,
					};
				}
			}
		} catch (err) {
			if (err instanceof ProviderError) throw err;
			if (params.signal.aborted) throw new ProviderError("upstream stream aborted", "timeout", undefined);
			throw new ProviderError(`upstream stream broke: ${String(err)}`, "network", undefined);
		}
		if (reason === undefined)
			throw new ProviderError("upstream stream ended without a finish reason", "server", res.status);
		yield {
			type: "finish",
			finishReason: reason,
			usage: usage ?? {
				promptTokens: estimatePromptTokens(params.messages),
				completionTokens: estimateTextTokens(text),
			},
		};
	}
}
