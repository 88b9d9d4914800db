/**
 * OpenAI-compatible chat (docs/chat.md): `POST /v1/chat/completions` (plain and SSE streaming), `GET /v1/models`,
 * and conversation memory (`conversation_id`, `GET`/`DELETE /v1/conversations/:id`). Scope `chat`.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { usageBody } from "../chat/completion-stream";
import { chainFor, completionCap } from "../chat/config";
import { complete, openStream } from "../chat/service";
import { estimatePromptTokens } from "../chat/tokens";
import { AppError } from "../http/app-error";
import { withFaults } from "../lib/fault";
import { requireScope } from "../middleware/auth";
import type { TokenCostEstimator } from "../middleware/rate-limit";
import type { ChatMessage, Usage } from "../ports/chat-model";
import { chatDeps, settleModelCall, streamModelCall } from "./llm-call";
import { BODY_PROBLEMS, createRouter, problem } from "./router";
import { securedBy } from "./security";

/** A text part of a message's content, the only kind of part accepted. */
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
		...BODY_PROBLEMS,
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

/**
 * Who owns a conversation: the subject within its tenant (default), or the whole tenant with
 * CONVERSATION_SCOPE=tenant. The object's name and its owner row both carry it.
 */
function conversationOwner(c: Context<AppEnv>): string {
	const { tenant, subject } = c.get("principal");
	return c.get("config").chat.conversation.scope === "tenant" ? tenant : `${tenant}/${subject}`;
}

/**
 * One call to the conversation's object (with its injected faults, local and test only). The object failing —
 * overloaded, unreachable, reset — is a 503 the client may retry, never a 500: the conversation has not moved on.
 */
async function onConversation<T>(
	c: Context<AppEnv>,
	id: string,
	call: (stub: ReturnType<Env["CONVERSATIONS"]["get"]>) => Promise<T>,
): Promise<T> {
	const stub = c.env.CONVERSATIONS.get(c.env.CONVERSATIONS.idFromName(`${conversationOwner(c)}/${id}`));
	try {
		return await call(withFaults(stub, "conversation", c.get("config").faults.conversation));
	} catch (err) {
		c.get("log").error("conversation object failed", { conversation_id: id, error_message: String(err) });
		throw new AppError({
			status: 503,
			slug: "upstream-unavailable",
			detail: "Conversation memory is unavailable; retry shortly",
			headers: { "Retry-After": "1" },
			cause: err,
		});
	}
}

const ROUTE = "/v1/chat/completions";

/** After a call that produced an answer: remember the conversation. */
async function remember(
	c: Context<AppEnv>,
	usage: Usage,
	finished: { userMessages: ChatMessage[]; reply: string } | null,
	conversationId: string | undefined,
): Promise<void> {
	if (finished && conversationId && usage.promptTokens + usage.completionTokens > 0) {
		const { conversation } = c.get("config").chat;
		const kept = await onConversation(c, conversationId, (stub) =>
			stub.append(
				conversationOwner(c),
				[...finished.userMessages, { role: "assistant", content: finished.reply }],
				conversation,
			),
		);
		if (kept === null)
			c.get("log").error("conversation not remembered: another owner's", { conversation_id: conversationId });
	}
}

export const chat = createRouter()
	.openapi(completionsRoute, async (c) => {
		const body = c.req.valid("json");
		const config = c.get("config").chat;
		const modelId = body.model ?? config.defaultModel;
		const chain = chainFor(config.models, modelId);
		const maxTokens = completionCap(
			body.max_completion_tokens ?? body.max_tokens,
			config,
			body.max_completion_tokens ? "max_completion_tokens" : "max_tokens",
		);
		const userMessages = toMessages(body);
		let messages = userMessages;
		if (body.conversation_id) {
			const history = await onConversation(c, body.conversation_id, (stub) => stub.history(conversationOwner(c)));
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
		if (body.stream) {
			const deps = chatDeps(c);
			return streamModelCall(
				c,
				ROUTE,
				{
					id: `chatcmpl-${crypto.randomUUID().replaceAll("-", "")}`,
					requestedModel: modelId,
					open: (signal) => openStream(chain, params, { ...deps, signal }),
					promptTokens: estimatePromptTokens(messages),
					includeUsage: body.stream_options?.include_usage === true,
				},
				(o) => remember(c, o.usage, o.finished ? { userMessages, reply: o.reply } : null, body.conversation_id),
			) as unknown as never;
		}

		let outcome: Awaited<ReturnType<typeof complete>>;
		try {
			outcome = await complete(chain, params, chatDeps(c));
		} catch (err) {
			await settleModelCall(c, ROUTE, modelId, { promptTokens: 0, completionTokens: 0 });
			throw err;
		}
		const { model, result } = outcome;
		await settleModelCall(c, ROUTE, model, result.usage);
		await remember(c, result.usage, { userMessages, reply: result.content }, body.conversation_id);
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
		const history = await onConversation(c, id, (stub) => stub.history(conversationOwner(c)));
		if (history.length === 0) {
			throw new AppError({ status: 404, slug: "not-found", detail: `No conversation '${id}' for this caller` });
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
		if (!(await onConversation(c, id, (stub) => stub.forget(conversationOwner(c))))) {
			throw new AppError({ status: 404, slug: "not-found", detail: `No conversation '${id}' for this caller` });
		}
		return c.body(null, 204);
	});
