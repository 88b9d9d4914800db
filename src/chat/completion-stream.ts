/**
 * The one writer of streamed completions (chat completions and RAG answers), in OpenAI's wire format
 * (docs/chat.md#streaming): `chat.completion.chunk` events — a role chunk, content deltas, a finish chunk, a usage
 * chunk when asked — then `data: [DONE]`; `: keep-alive` comments while the model is quiet (before its first token
 * and between tokens); `data: {"error": …}` when the model fails mid-stream. It owns what every stream must do
 * the same way:
 *
 * - **Opening**: the model is opened (with retries and fallbacks) before answering, so failures up front are plain
 *   HTTP problems — unless opening takes longer than a keep-alive interval: then the stream starts and keeps the
 *   client company meanwhile.
 * - **Deadline**: the route's budget moves to the streaming budget; when it passes, the timeout middleware writes
 *   its in-stream timeout event ({@link sseTimeoutEvent}) and this writer stays silent.
 * - **Client abort**: a write that fails means the client left; the model call is aborted at once.
 * - **Settlement**: exactly once, however the stream ends, `settle` gets the model's reported usage — or, when the
 *   stream broke before the model reported any, the prompt estimate plus the tokens of what was sent — so token
 *   reservations are committed and usage accounted for every stream.
 *
 * @example
 * ```ts
 * return completionStream({ id, created, requestedModel: "local", open: (signal) => openStream(chain, params, { ...deps, signal }),
 *   promptTokens: estimatePromptTokens(messages), includeUsage: true, keepAliveMs: 15_000, streamMs: 300_000,
 *   deadline, log, background, settle: async (o) => budget.commit(o.usage.promptTokens + o.usage.completionTokens) });
 * ```
 *
 * @module
 */
import { AppError } from "../http/app-error";
import { type ChatStreamEvent, type FinishReason, ProviderError, type Usage } from "../ports/chat-model";
import type { Logger } from "../telemetry/logger";
import type { OpenedStream } from "./service";
import { SSE_KEEPALIVE, sseEvent } from "./sse";
import { estimateTextTokens } from "./tokens";

/** How a stream ended, as `settle` gets it: the model that served, the usage to charge and the reply sent. */
export type StreamOutcome = {
	/** The model that served (the requested one when none opened). */
	model: string;
	usage: Usage;
	/** The text sent to the client. */
	reply: string;
	/** Whether the model finished and `[DONE]` was sent. */
	finished: boolean;
	/** How the stream ended (see {@link StreamEnding}). */
	ending: StreamEnding;
};

/**
 * How a stream ended: `finished` (`[DONE]` sent), `client_gone` (the client left: its choice), or a failure after the
 * first byte the client saw as an in-stream error — `model_error` (the model failed or stopped mid-answer),
 * `timeout` (the streaming budget ran out), `internal` (our bug).
 */
export type StreamEnding = "finished" | "client_gone" | "model_error" | "timeout" | "internal";

/** The failure kind of a stream that ended badly (the SLO's bad events), or null for one that did not. */
export function streamFailure(ending: StreamEnding): "model_error" | "timeout" | "internal" | null {
	return ending === "finished" || ending === "client_gone" ? null : ending;
}

export type CompletionStreamInput = {
	/** The completion's id (`chatcmpl-…`, `rag-…`) and creation time (s since epoch), repeated in every chunk. */
	id: string;
	created: number;
	requestedModel: string;
	/** Opens the model's stream; `signal` aborts it (deadline or client gone). */
	open: (signal: AbortSignal) => Promise<OpenedStream>;
	/** Prompt token estimate, charged when the model never reports usage. */
	promptTokens: number;
	/** Send a usage chunk before `[DONE]` (OpenAI's `stream_options.include_usage`). */
	includeUsage: boolean;
	/** Events sent before the first chunk (RAG's citations). */
	prelude?: readonly unknown[];
	keepAliveMs: number;
	/** The streaming budget the route's deadline moves to, ms. */
	streamMs: number;
	/** The request's deadline: `expired` once its budget ran out; its signal also aborts when the client leaves. */
	deadline: { readonly signal: AbortSignal; readonly expired: boolean; extend(budgetMs: number): void };
	log: Logger;
	/** Runs the pump after the response is returned (ctx.waitUntil). */
	background: (work: Promise<unknown>) => void;
	/** Called once when the stream has ended, whatever ended it. */
	settle: (outcome: StreamOutcome) => Promise<void>;
};

/** The last event of every completed stream (OpenAI's wire format). */
const SSE_DONE = "data: [DONE]\n\n";

/** The headers of every event stream: not cached, not buffered by proxies (nginx honours `X-Accel-Buffering`). */
const SSE_HEADERS = {
	"Content-Type": "text/event-stream; charset=utf-8",
	"Cache-Control": "no-cache",
	"X-Accel-Buffering": "no",
} as const;

/** The SSE event sent when a stream outlives its deadline (written by the timeout middleware). */
export function sseTimeoutEvent(budgetMs: number): string {
	return sseEvent({
		error: { message: `Stream exceeded its ${budgetMs} ms deadline`, type: "timeout", code: "timeout" },
	});
}

/** The in-stream error event for a failure after the first byte: the problem's detail, never internal text. */
export function sseErrorEvent(err: unknown): string {
	const appError = err instanceof AppError ? err : null;
	return sseEvent({
		error: {
			message: appError?.detail ?? "The model failed mid-stream",
			type: appError?.slug ?? "bad-gateway",
			code: appError?.slug ?? "upstream_error",
		},
	});
}

export function usageBody(u: Usage) {
	return {
		prompt_tokens: u.promptTokens,
		completion_tokens: u.completionTokens,
		total_tokens: u.promptTokens + u.completionTokens,
	};
}

/**
 * A stream answered without a model (RAG's "nothing in your documents answers this"): the prelude events, one chunk
 * carrying the whole reply and its finish, then `[DONE]` — the same framing as a model's stream, all at once.
 *
 * @example
 * ```ts
 * return cannedStream({ id, created, prelude: [{ id, object: "rag.citations", citations: [] }], content: "I don't know." });
 * ```
 */
export function cannedStream(input: {
	id: string;
	/** s since epoch. */
	created: number;
	prelude?: readonly unknown[];
	content: string;
}): Response {
	const { id, created } = input;
	const reply = {
		id,
		object: "chat.completion.chunk",
		created,
		model: null,
		choices: [{ index: 0, delta: { role: "assistant", content: input.content }, finish_reason: "stop" }],
	};
	const events = [...(input.prelude ?? []), reply].map((e) => sseEvent(e)).join("");
	return new Response(events + SSE_DONE, { headers: SSE_HEADERS });
}

function chunk(id: string, created: number, model: string, delta: object, finish: FinishReason | null) {
	return {
		id,
		object: "chat.completion.chunk",
		created,
		model,
		choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
	};
}

/** Waits for the next stream event, writing a keep-alive comment every `everyMs` while none comes. */
async function nextWithKeepAlive(
	rest: AsyncIterator<ChatStreamEvent>,
	everyMs: number,
	keepAlive: () => Promise<void>,
): Promise<IteratorResult<ChatStreamEvent>> {
	const next = rest.next();
	for (;;) {
		let timer: ReturnType<typeof setTimeout> | undefined;
		const tick = new Promise<"tick">((r) => {
			timer = setTimeout(() => r("tick"), everyMs);
		});
		const winner = await Promise.race([next, tick]);
		clearTimeout(timer);
		if (winner !== "tick") return winner;
		await keepAlive();
	}
}

class ClientGone extends Error {}

/** Opens the model and answers with its event stream (see the module comment). Throws when opening fails early. */
export async function completionStream(input: CompletionStreamInput): Promise<Response> {
	const { id, created, deadline, keepAliveMs } = input;
	deadline.extend(input.streamMs);
	const clientGone = new AbortController();
	const signal = AbortSignal.any([deadline.signal, clientGone.signal]);
	let settled = false;
	const settle = async (outcome: StreamOutcome) => {
		if (settled) return;
		settled = true;
		await input.settle(outcome);
	};

	const opening = input.open(signal);
	opening.catch(() => undefined);
	let graceTimer: ReturnType<typeof setTimeout> | undefined;
	const early = await Promise.race([
		opening.then((opened) => ({ opened })),
		new Promise<null>((r) => {
			graceTimer = setTimeout(() => r(null), keepAliveMs);
		}),
	])
		.catch((err: unknown) => {
			// Nothing was generated: settle (refunds the reservation), then answer with the problem.
			const nothing = { model: input.requestedModel, usage: { promptTokens: 0, completionTokens: 0 } };
			input.background(settle({ ...nothing, reply: "", finished: false, ending: "model_error" }));
			throw err;
		})
		.finally(() => clearTimeout(graceTimer));

	const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
	const writer = writable.getWriter();
	const encoder = new TextEncoder();
	let opened: OpenedStream | undefined;
	const write = async (s: string) => {
		try {
			await writer.write(encoder.encode(s));
		} catch {
			// The client went away: stop the model now rather than when its answer is complete.
			clientGone.abort(new DOMException("client disconnected", "AbortError"));
			opened?.abort(clientGone.signal.reason);
			throw new ClientGone("client disconnected");
		}
	};

	const pump = async () => {
		let model = input.requestedModel;
		let reply = "";
		let usage: Usage | undefined;
		let finished = false;
		let ending: StreamEnding = "finished";
		try {
			if (early) {
				opened = early.opened;
			} else {
				const waiting = setInterval(() => void write(SSE_KEEPALIVE).catch(() => undefined), keepAliveMs);
				try {
					await write(SSE_KEEPALIVE);
					opened = await opening;
				} finally {
					clearInterval(waiting);
				}
			}
			model = opened.model;
			for (const payload of input.prelude ?? []) await write(sseEvent(payload));
			await write(sseEvent(chunk(id, created, model, { role: "assistant", content: "" }, null)));
			let event: ChatStreamEvent = opened.first;
			for (;;) {
				if (event.type === "delta") {
					reply += event.content;
					await write(sseEvent(chunk(id, created, model, { content: event.content }, null)));
				} else {
					usage = event.usage;
					await write(sseEvent(chunk(id, created, model, {}, event.finishReason)));
					if (input.includeUsage) {
						await write(
							sseEvent({ id, object: "chat.completion.chunk", created, model, choices: [], usage: usageBody(usage) }),
						);
					}
					await write(SSE_DONE);
					finished = true;
					break;
				}
				const next = await nextWithKeepAlive(opened.rest, keepAliveMs, () => write(SSE_KEEPALIVE));
				if (next.done) throw new ProviderError("the model's stream ended without finishing", "server", undefined);
				event = next.value;
			}
		} catch (err) {
			ending = deadline.expired
				? "timeout"
				: clientGone.signal.aborted || deadline.signal.aborted
					? "client_gone"
					: err instanceof ProviderError || err instanceof AppError
						? "model_error"
						: "internal";
			// The deadline's own event comes from the timeout middleware; a gone client hears nothing more.
			if (!deadline.signal.aborted && !clientGone.signal.aborted) {
				input.log.error("completion stream failed", { error_message: String(err), model });
				await write(sseErrorEvent(err)).catch(() => undefined);
			}
			opened?.abort(err);
		} finally {
			await writer.close().catch(() => undefined);
			const used = usage ?? {
				promptTokens: opened ? input.promptTokens : 0,
				completionTokens: estimateTextTokens(reply),
			};
			await settle({ model, usage: used, reply, finished, ending });
		}
	};
	input.background(pump());
	return new Response(readable, {
		status: 200,
		headers: SSE_HEADERS,
	});
}
