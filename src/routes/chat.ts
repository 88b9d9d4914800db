import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { recordUsage } from "../chat/accounting";
import { fallbackChain } from "../chat/config";
import { complete, type OpenedStream, openStream } from "../chat/service";
import { SSE_KEEPALIVE, sseEvent } from "../chat/sse";
import { estimatePromptTokens, estimateTextTokens } from "../chat/tokens";
import { AppError } from "../http/app-error";
import { createRouter, problem } from "../http/router";
import { securedBy } from "../http/security";
import { requireScope } from "../middleware/auth";
import type { TokenCostEstimator } from "../middleware/rate-limit";
import type { ChatMessage, ChatStreamEvent, FinishReason, Usage } from "../ports/chat-model";

/**
 * OpenAI-compatible chat (docs/chat.md): `POST /v1/chat/completions` (plain and SSE streaming), `GET /v1/models`,
 * and conversation memory (`conversation_id`, `GET`/`DELETE /v1/conversations/:id`). Scope `chat`.
 */
const TextPart = z.object({ type: z.literal("text"), text: z.string() });
const Message = z.object({
	role: z.enum(["system", "developer", "user", "assistant"]),
	content: z.union([z.string(), z.array(TextPart).min(1)]),
	name: z.string().max(64).optional(),
});

const ConversationId = z
	.string()
	.regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/, "1-128 characters: letters, digits, . _ : -");

export const ChatRequest = z
	.object({
		model: z
			.string()
			.min(1)
			.max(128)
			.optional()
			.openapi({ description: "A model id from GET /v1/models; default the deployment's" }),
		messages: z.array(Message).min(1).max(1_000),
		temperature: z.number().min(0).max(2).nullish(),
		top_p: z.number().gt(0).max(1).nullish(),
		max_tokens: z.number().int().min(1).nullish(),
		max_completion_tokens: z.number().int().min(1).nullish(),
		stop: z.union([z.string().min(1), z.array(z.string().min(1)).max(4)]).nullish(),
		n: z.literal(1).nullish().openapi({ description: "Only 1 is supported" }),
		stream: z.boolean().nullish(),
		stream_options: z.object({ include_usage: z.boolean().optional() }).nullish(),
		user: z.string().max(256).optional(),
		conversation_id: ConversationId.optional().openapi({
			description: "Extension: keep the history of this conversation (per tenant) and prepend it to `messages`",
		}),
	})
	.openapi("ChatCompletionRequest");
type ChatRequestBody = z.infer<typeof ChatRequest>;

const UsageSchema = z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() });
const ChatCompletion = z
	.object({
		id: z.string(),
		object: z.literal("chat.completion"),
		created: z.number().int(),
		model: z.string(),
		choices: z.array(
			z.object({
				index: z.number().int(),
				message: z.object({ role: z.literal("assistant"), content: z.string() }),
				finish_reason: z.enum(["stop", "length"]),
				logprobs: z.null(),
			}),
		),
		usage: UsageSchema,
	})
	.openapi("ChatCompletion");

const ModelList = z
	.object({
		object: z.literal("list"),
		data: z.array(
			z.object({ id: z.string(), object: z.literal("model"), created: z.number().int(), owned_by: z.string() }),
		),
	})
	.openapi("ModelList");

const ConversationSchema = z
	.object({
		id: z.string(),
		object: z.literal("conversation"),
		messages: z.array(
			z.object({ role: z.enum(["system", "user", "assistant"]), content: z.string(), created_at: z.string() }),
		),
	})
	.openapi("Conversation");

const errors = {
	401: problem("Missing or invalid credentials"),
	403: problem("The chat scope is required"),
};
const common = { tags: ["Chat"], security: securedBy("chat"), middleware: requireScope("chat") };

const completionsRoute = createRoute({
	...common,
	method: "post",
	path: "/v1/chat/completions",
	summary: "Create a chat completion (OpenAI-compatible)",
	description:
		'Plain JSON, or with `stream: true` server-sent events of `chat.completion.chunk` objects ending with `data: [DONE]` (usage chunk with `stream_options.include_usage`, `: keep-alive` comments while waiting, `data: {"error": …}` on a failure mid-stream). Unknown fields are ignored.',
	request: { body: { required: true, content: { "application/json": { schema: ChatRequest } } } },
	responses: {
		200: {
			description: "The completion (or its event stream)",
			content: { "application/json": { schema: ChatCompletion }, "text/event-stream": { schema: z.string() } },
		},
		...errors,
		400: problem("Rejected by the model provider (its 4xx passed through)"),
		404: problem("Unknown model"),
		422: problem("Invalid request"),
		502: problem("The model provider failed"),
		503: problem("No model could take the request now (Retry-After)"),
		504: problem("The model did not answer in time"),
	},
});

const modelsRoute = createRoute({
	...common,
	method: "get",
	path: "/v1/models",
	summary: "List the configured models",
	responses: { 200: { description: "Models", content: { "application/json": { schema: ModelList } } }, ...errors },
});

const Params = z.object({ id: ConversationId.openapi({ param: { name: "id", in: "path" } }) });
const getConversationRoute = createRoute({
	...common,
	method: "get",
	path: "/v1/conversations/{id}",
	summary: "A conversation's stored history",
	request: { params: Params },
	responses: {
		200: { description: "The history, oldest first", content: { "application/json": { schema: ConversationSchema } } },
		...errors,
		404: problem("No such conversation for this tenant"),
	},
});
const deleteConversationRoute = createRoute({
	...common,
	method: "delete",
	path: "/v1/conversations/{id}",
	summary: "Forget a conversation",
	request: { params: Params },
	responses: { 204: { description: "Forgotten" }, ...errors, 404: problem("No such conversation for this tenant") },
});

function text(content: z.infer<typeof Message>["content"]): string {
	return typeof content === "string" ? content : content.map((p) => p.text).join("");
}

function toMessages(body: ChatRequestBody): ChatMessage[] {
	return body.messages.map((m) => ({ role: m.role === "developer" ? "system" : m.role, content: text(m.content) }));
}

function maxTokensOf(body: ChatRequestBody, fallback: number): number {
	return body.max_completion_tokens ?? body.max_tokens ?? fallback;
}

/** The rate limiter's worst case for a chat request: prompt estimate + max tokens (docs/rate-limits.md). */
export const estimateChatTokens: TokenCostEstimator = async (c) => {
	const body = ChatRequest.safeParse(await c.req.json());
	if (!body.success) return 0;
	const config = c.get("config").chat;
	return estimatePromptTokens(toMessages(body.data)) + maxTokensOf(body.data, config.defaultMaxTokens);
};

function conversationStub(c: Context<AppEnv>, id: string) {
	const tenant = c.get("principal").tenant;
	return c.env.CONVERSATIONS.get(c.env.CONVERSATIONS.idFromName(`${tenant}/${id}`));
}

function background(c: Context<AppEnv>, p: Promise<unknown>): void {
	const quiet = p.catch((err: unknown) =>
		c.get("log").error("chat bookkeeping failed", { error_message: String(err) }),
	);
	try {
		c.executionCtx.waitUntil(quiet);
	} catch {
		void quiet;
	}
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

function usageBody(u: Usage) {
	return {
		prompt_tokens: u.promptTokens,
		completion_tokens: u.completionTokens,
		total_tokens: u.promptTokens + u.completionTokens,
	};
}

/** The request's counter for the metrics export, as the chat service takes it. */
export function metricsCount(c: Context<AppEnv>): (metric: string, labels: Record<string, string>) => void {
	return (metric, labels) => c.get("metrics")?.count(metric, labels);
}

/** Tokens and cost into the metrics export (llm_tokens_total, llm_cost_usd_total). */
export function countUsage(c: Context<AppEnv>, model: string, route: string, usage: Usage, cost: number): void {
	const metrics = c.get("metrics");
	if (!metrics) return;
	const tenant = c.get("principal").tenant;
	metrics.count("llm_tokens", { model, tenant, http_route: route, type: "prompt" }, usage.promptTokens);
	metrics.count("llm_tokens", { model, tenant, http_route: route, type: "completion" }, usage.completionTokens);
	metrics.count("llm_cost_usd", { model, tenant, http_route: route }, cost);
}

/** After a call: commit the token reservation, account the usage, remember the conversation. */
async function settle(
	c: Context<AppEnv>,
	model: string,
	usage: Usage,
	finished: { userMessages: ChatMessage[]; reply: string } | null,
	conversationId: string | undefined,
): Promise<void> {
	const config = c.get("config").chat;
	const principal = c.get("principal");
	await c.get("tokenBudget")?.commit(usage.promptTokens + usage.completionTokens);
	// A call that produced nothing (failed before any token) refunds its reservation and is not accounted.
	if (usage.promptTokens + usage.completionTokens === 0) return;
	const cost = recordUsage({ tenant: principal.tenant, model, route: "/v1/chat/completions" }, usage, config.prices);
	countUsage(c, model, "/v1/chat/completions", usage, cost);
	c.get("log").info("chat usage", {
		model,
		prompt_tokens: usage.promptTokens,
		completion_tokens: usage.completionTokens,
		cost_usd: cost,
	});
	if (finished && conversationId) {
		await conversationStub(c, conversationId).append(
			principal.tenant,
			[...finished.userMessages, { role: "assistant", content: finished.reply }],
			config.conversation,
		);
	}
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

async function streamCompletion(
	c: Context<AppEnv>,
	body: ChatRequestBody,
	chain: ReturnType<typeof fallbackChain>,
	params: {
		messages: ChatMessage[];
		maxTokens: number;
		temperature?: number;
		topP?: number;
		stop: string[];
		user?: string;
	},
	userMessages: ChatMessage[],
): Promise<Response> {
	const config = c.get("config");
	const deadline = c.get("deadline");
	deadline.extend(config.timeouts.streamMs);
	c.get("tokenBudget")?.detach();
	const clientGone = new AbortController();
	const signal = AbortSignal.any([deadline.signal, clientGone.signal]);
	const id = `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`;
	const created = Math.floor(Date.now() / 1000);
	const includeUsage = body.stream_options?.include_usage === true;
	const promptEstimate = estimatePromptTokens(params.messages);

	// Open (with retries and fallbacks) before answering, so failures up front are plain HTTP problems — unless it
	// takes longer than a keep-alive interval: then the stream starts and keeps the client company meanwhile.
	const opening = openStream(chain, params, {
		env: c.env,
		config: config.chat,
		log: c.get("log"),
		signal,
		count: metricsCount(c),
	});
	opening.catch(() => undefined);
	let graceTimer: ReturnType<typeof setTimeout> | undefined;
	const early = await Promise.race([
		opening.then((o) => ({ opened: o })),
		new Promise<null>((r) => {
			graceTimer = setTimeout(() => r(null), config.chat.keepAliveMs);
		}),
	])
		.catch((err: unknown) => {
			// Settle the reservation (nothing was generated), then answer with the problem.
			background(c, settle(c, chain[0]?.id ?? "unknown", { promptTokens: 0, completionTokens: 0 }, null, undefined));
			throw err;
		})
		.finally(() => clearTimeout(graceTimer));

	const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
	const writer = writable.getWriter();
	const encoder = new TextEncoder();
	const write = async (s: string) => {
		try {
			await writer.write(encoder.encode(s));
		} catch {
			clientGone.abort(new DOMException("client disconnected", "AbortError"));
			throw new Error("client disconnected");
		}
	};

	const pump = async () => {
		let model = chain[0]?.id ?? "unknown";
		let reply = "";
		let usage: Usage | undefined;
		let finished = false;
		try {
			let opened: OpenedStream;
			if (early) {
				opened = early.opened;
			} else {
				const waiting = setInterval(() => void write(SSE_KEEPALIVE).catch(() => undefined), config.chat.keepAliveMs);
				try {
					await write(SSE_KEEPALIVE);
					opened = await opening;
				} finally {
					clearInterval(waiting);
				}
			}
			model = opened.model;
			await write(sseEvent(chunk(id, created, model, { role: "assistant", content: "" }, null)));
			let event: ChatStreamEvent = opened.first;
			for (;;) {
				if (event.type === "delta") {
					reply += event.content;
					await write(sseEvent(chunk(id, created, model, { content: event.content }, null)));
				} else {
					usage = event.usage;
					await write(sseEvent(chunk(id, created, model, {}, event.finishReason)));
					if (includeUsage) {
						await write(
							sseEvent({
								id,
								object: "chat.completion.chunk",
								created,
								model,
								choices: [],
								usage: usageBody(event.usage),
							}),
						);
					}
					await write("data: [DONE]\n\n");
					finished = true;
					break;
				}
				const next = await nextWithKeepAlive(opened.rest, config.chat.keepAliveMs, () => write(SSE_KEEPALIVE));
				if (next.done) throw new Error("the model's stream ended without finishing");
				event = next.value;
			}
		} catch (err) {
			// The deadline writes its own in-stream timeout event; a gone client hears nothing more.
			if (!deadline.signal.aborted && !clientGone.signal.aborted) {
				const appError = err instanceof AppError ? err : null;
				const error = {
					message: appError?.detail ?? "The model failed mid-stream",
					type: appError?.slug ?? "bad-gateway",
					code: appError?.slug ?? "upstream_error",
				};
				c.get("log").error("chat stream failed", { error_message: String(err), model });
				await write(sseEvent({ error })).catch(() => undefined);
			}
		} finally {
			await writer.close().catch(() => undefined);
			const used = usage ?? { promptTokens: promptEstimate, completionTokens: estimateTextTokens(reply) };
			await settle(c, model, used, finished ? { userMessages, reply } : null, body.conversation_id);
		}
	};
	background(c, pump());
	return new Response(readable, {
		status: 200,
		headers: {
			"Content-Type": "text/event-stream; charset=utf-8",
			"Cache-Control": "no-cache",
			"X-Accel-Buffering": "no",
		},
	});
}

export const chat = createRouter()
	.openapi(completionsRoute, async (c) => {
		const body = c.req.valid("json");
		const config = c.get("config").chat;
		const modelId = body.model ?? config.defaultModel;
		const chain = fallbackChain(config.models, modelId);
		if (chain.length === 0) {
			throw new AppError({
				status: 404,
				slug: "model-not-found",
				detail: `The model '${modelId}' does not exist; GET /v1/models lists the models`,
				extensions: { param: "model" },
			});
		}
		const maxTokens = maxTokensOf(body, config.defaultMaxTokens);
		if (maxTokens > config.maxTokensLimit) {
			throw new AppError({
				status: 422,
				slug: "validation-failed",
				detail: `max_tokens may be at most ${config.maxTokensLimit}`,
				errors: [
					{
						path: body.max_completion_tokens ? "max_completion_tokens" : "max_tokens",
						message: `must be ≤ ${config.maxTokensLimit}`,
					},
				],
			});
		}
		const userMessages = toMessages(body);
		let messages = userMessages;
		if (body.conversation_id) {
			const history = await conversationStub(c, body.conversation_id).history(c.get("principal").tenant);
			messages = [...history.map((m) => ({ role: m.role, content: m.content })), ...userMessages];
		}
		const stop = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
		const params = {
			messages,
			maxTokens,
			...(body.temperature != null ? { temperature: body.temperature } : {}),
			...(body.top_p != null ? { topP: body.top_p } : {}),
			stop,
			...(body.user ? { user: body.user } : {}),
		};
		if (body.stream) return streamCompletion(c, body, chain, params, userMessages) as unknown as never;

		let outcome: Awaited<ReturnType<typeof complete>>;
		try {
			outcome = await complete(chain, params, {
				env: c.env,
				config,
				log: c.get("log"),
				signal: c.get("deadline").signal,
				count: metricsCount(c),
			});
		} catch (err) {
			await settle(c, modelId, { promptTokens: 0, completionTokens: 0 }, null, undefined);
			throw err;
		}
		const { model, result } = outcome;
		await settle(c, model, result.usage, { userMessages, reply: result.content }, body.conversation_id);
		return c.json(
			{
				id: `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`,
				object: "chat.completion" as const,
				created: Math.floor(Date.now() / 1000),
				model,
				choices: [
					{
						index: 0,
						message: { role: "assistant" as const, content: result.content },
						finish_reason: result.finishReason,
						logprobs: null,
					},
				],
				usage: usageBody(result.usage),
			},
			200,
		);
	})
	.openapi(modelsRoute, (c) => {
		const models = c.get("config").chat.models;
		return c.json(
			{
				object: "list" as const,
				data: models.map((m) => ({ id: m.id, object: "model" as const, created: 0, owned_by: m.provider })),
			},
			200,
		);
	})
	.openapi(getConversationRoute, async (c) => {
		const { id } = c.req.valid("param");
		const history = await conversationStub(c, id).history(c.get("principal").tenant);
		if (history.length === 0) {
			throw new AppError({ status: 404, slug: "not-found", detail: `No conversation '${id}' for this tenant` });
		}
		return c.json(
			{
				id,
				object: "conversation" as const,
				messages: history.map((m) => ({
					role: m.role,
					content: m.content,
					created_at: new Date(m.at_ms).toISOString(),
				})),
			},
			200,
		);
	})
	.openapi(deleteConversationRoute, async (c) => {
		const { id } = c.req.valid("param");
		if (!(await conversationStub(c, id).forget(c.get("principal").tenant))) {
			throw new AppError({ status: 404, slug: "not-found", detail: `No conversation '${id}' for this tenant` });
		}
		return c.body(null, 204);
	});
