/**
 * The local offline model `npm start` and the tests use: no network, no weights. Deterministic — the same
 * messages and sampling parameters always give the same reply — streams word by word (one token per word),
 * honours `max_tokens` (finish `length`) and `stop` (finish `stop`, the stop sequence not included), and reports
 * usage (prompt tokens estimated as in src/chat/tokens.ts, completion tokens = words emitted). Its replies say
 * they come from the local model, so nobody mistakes them for a real one.
 *
 * Fault injection (`faults`, from `LOCAL_MODEL_FAULT_RATE` / `LOCAL_MODEL_EXTRA_LATENCY_MS`) makes it behave like a
 * flaky or slow upstream for alert drills and canary rehearsals: a call fails with probability `rate` as a 503 from
 * the provider would (retryable, so the route's retries and breaker see it), and every call waits `extraLatencyMs`
 * before its answer or first token. With retries, the route's error ratio is about `rate^(retries + 1)`.
 *
 * @example
 * ```ts
 * const model = new LocalModel({ tokenDelayMs: 0 });
 * const r = await model.complete({ messages: [{ role: "user", content: "hi" }], maxTokens: 8, stop: [], signal });
 * // r.content starts with "[local model]"; r.usage.completionTokens <= 8
 * ```
 *
 * @module
 */
import { estimatePromptTokens } from "../chat/tokens";
import { sleep } from "../lib/sleep";
import {
	type ChatModel,
	type ChatParams,
	type ChatResult,
	type ChatStreamEvent,
	type FinishReason,
	ProviderError,
} from "../ports/chat-model";

/** The local model's vocabulary: its words are picked by a PRNG seeded from the messages and sampling parameters. */
const WORDS = (
	"edge worker durable object request stream token window limit answer context retrieval vector index tenant " +
	"latency budget signal model reply local offline deterministic cache shard region version canary metric " +
	"trace span quota policy route header result chunk citation document search query prompt system user"
).split(" ");

function hash(text: string): number {
	let h = 0x811c9dc5;
	for (let i = 0; i < text.length; i++) {
		h ^= text.charCodeAt(i);
		h = Math.imul(h, 0x01000193) >>> 0;
	}
	return h;
}

function prng(seed: number): () => number {
	let a = seed >>> 0;
	return () => {
		a = (a + 0x6d2b79f5) >>> 0;
		let t = a;
		t = Math.imul(t ^ (t >>> 15), t | 1);
		t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
		return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
	};
}

/**
 * A grounded prompt (numbered sources, as /v1/rag/query sends) gets an extractive answer instead: the first
 * sentence of up to three sources, each cited with its number — what a grounded model should do, deterministically.
 */
function groundedReply(prompt: string): string[] | null {
	const sources = [...prompt.matchAll(/^\[(\d+)\][^\n]*\n([^\n]+)/gm)].slice(0, 3);
	if (sources.length === 0 || !/\nQuestion: /.test(prompt)) return null;
	const words = ["[local", "model]", "From", "your", "documents:"];
	for (const [, n, text] of sources) {
		const sentence = (text ?? "").match(/^.*?[.!?](\s|$)/)?.[0]?.trim() ?? (text ?? "").slice(0, 200);
		words.push(...sentence.split(/\s+/).filter(Boolean), `[${n}]`);
	}
	return words;
}

/** The reply's tokens (words with their separating space), before `max_tokens` and `stop` apply. */
function replyTokens(params: ChatParams): string[] {
	const lastUser = [...params.messages].reverse().find((m) => m.role === "user")?.content ?? "";
	const grounded = groundedReply(lastUser);
	if (grounded) return grounded.map((w, i) => (i === 0 ? w : ` ${w}`));
	const rnd = prng(hash(JSON.stringify([params.messages, params.temperature ?? null, params.topP ?? null])));
	const echo = lastUser.trim().split(/\s+/).filter(Boolean).slice(0, 8);
	const words = ["[local", "model]", ...(echo.length > 0 ? ["You", "said:", ...echo, "—"] : [])];
	const extra = 12 + Math.floor(rnd() * 24);
	for (let i = 0; i < extra; i++) words.push(WORDS[Math.floor(rnd() * WORDS.length)] ?? "token");
	return words.map((w, i) => (i === 0 ? w : ` ${w}`));
}

/** Applies `max_tokens` and `stop` to the token list: what is emitted and why it ended. */
function shape(tokens: string[], params: ChatParams): { emitted: string[]; finishReason: FinishReason } {
	const full = tokens.join("");
	let cut = full.length;
	for (const s of params.stop) {
		const at = s.length > 0 ? full.indexOf(s) : -1;
		if (at >= 0 && at < cut) cut = at;
	}
	const emitted: string[] = [];
	let length = 0;
	for (const t of tokens) {
		if (emitted.length >= params.maxTokens) return { emitted, finishReason: "length" };
		if (length + t.length > cut) {
			const part = t.slice(0, cut - length);
			if (part.length > 0) emitted.push(part);
			return { emitted, finishReason: "stop" };
		}
		emitted.push(t);
		length += t.length;
	}
	return { emitted, finishReason: "stop" };
}

export type LocalFaults = { rate: number; extraLatencyMs: number };

export class LocalModel implements ChatModel {
	readonly provider = "local";

	constructor(private readonly options: { tokenDelayMs: number; faults?: LocalFaults; random?: () => number }) {}

	/** The injected faults of one call: the extra latency, then maybe a 503. */
	async #injectFaults(signal: AbortSignal): Promise<void> {
		const faults = this.options.faults;
		if (!faults) return;
		if (faults.extraLatencyMs > 0) await sleep(faults.extraLatencyMs, signal);
		if (faults.rate > 0 && (this.options.random ?? Math.random)() < faults.rate)
			throw new ProviderError("local model: injected fault (LOCAL_MODEL_FAULT_RATE)", "server", 503);
	}

	async complete(params: ChatParams): Promise<ChatResult> {
		params.signal.throwIfAborted();
		await this.#injectFaults(params.signal);
		const { emitted, finishReason } = shape(replyTokens(params), params);
		return {
			content: emitted.join(""),
			finishReason,
			usage: { promptTokens: estimatePromptTokens(params.messages), completionTokens: emitted.length },
		};
	}

	async *stream(params: ChatParams): AsyncIterable<ChatStreamEvent> {
		params.signal.throwIfAborted();
		await this.#injectFaults(params.signal);
		const { emitted, finishReason } = shape(replyTokens(params), params);
		for (const content of emitted) {
			params.signal.throwIfAborted();
			if (this.options.tokenDelayMs > 0) await sleep(this.options.tokenDelayMs, params.signal);
			yield { type: "delta", content };
		}
		yield {
			type: "finish",
			finishReason,
			usage: { promptTokens: estimatePromptTokens(params.messages), completionTokens: emitted.length },
		};
	}
}
