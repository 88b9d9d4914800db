/**
 * Retrieval and grounded answers (docs/rag.md): `POST /v1/rag/search`, `POST /v1/rag/query` (plain or streamed),
 * and the OpenAI-compatible `POST /v1/embeddings`. Scope `rag:read`.
 *
 * @example
 * ```ts
 * const res = await fetch("/v1/rag/query", { method: "POST", headers, body: JSON.stringify({ query: "How do I roll back?" }) });
 * // { object: "rag.answer", answer: "… [1]", grounded: true, citations: [{ n: 1, document_id, chunk_id, … }] }
 * ```
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { cannedStream, usageBody } from "../chat/completion-stream";
import { chainFor, completionCap } from "../chat/config";
import { complete, openStream } from "../chat/service";
import { estimatePromptTokens, estimateTextTokens } from "../chat/tokens";
import { AppError, modelNotFound, validationFailed } from "../http/app-error";
import { base64, encodeVector } from "../lib/encoding";
import { requireScope } from "../middleware/auth";
import type { TokenCostEstimator } from "../middleware/rate-limit";
import { embedAll } from "../ports/embedder";
import { decodeBookmark } from "../rag/bookmark";
import { MetadataFilterSchema } from "../rag/filter";
import { GROUNDING_PROMPT, groundedMessages, relevant, snippet } from "../rag/prompt";
import { type SearchHit, search } from "../rag/retrieval";
import { chatDeps, settleModelCall, streamModelCall } from "./llm-call";
import { ragDeps } from "./rag-deps";
import { orProblem } from "./rag-problems";
import { BODY_PROBLEMS, createRouter, problem } from "./router";
import { securedBy } from "./security";

const SearchRequest = z
	.object({
		query: z.string().min(1).max(4_000),
		mode: z.enum(["hybrid", "vector", "keyword"]).default("hybrid"),
		top_k: z.number().int().min(1).default(5),
		filter: MetadataFilterSchema.optional().openapi({
			description: "Vectorize-style metadata filter on document metadata",
		}),
		bookmark: z
			.string()
			.max(200)
			.optional()
			.openapi({ description: "From an ingest: read that write at once (read-your-writes)" }),
	})
	.openapi("SearchRequest");

const Hit = z
	.object({
		chunk_id: z.string(),
		document_id: z.string(),
		title: z.string().nullable(),
		position: z.number().int(),
		heading: z.string(),
		text: z.string(),
		metadata: z.record(z.string(), z.unknown()),
		score: z.number(),
		scores: z.object({ vector: z.number().nullable(), keyword: z.number().nullable(), rrf: z.number().nullable() }),
		fresh: z.boolean().openapi({ description: "Came from the fresh tail (not yet in the vector index)" }),
	})
	.openapi("SearchHit");

const QueryRequest = SearchRequest.extend({
	model: z.string().min(1).max(128).optional(),
	max_tokens: z
		.number()
		.int()
		.min(1)
		.optional()
		.openapi({ description: "Completion token cap, as in chat (at most CHAT_MAX_TOKENS_LIMIT)" }),
	temperature: z.number().min(0).max(2).optional(),
	stream: z.boolean().optional(),
}).openapi("RagQueryRequest");

const Citation = z.object({
	n: z.number().int(),
	document_id: z.string(),
	chunk_id: z.string(),
	title: z.string().nullable(),
	score: z.number(),
	snippet: z.string(),
});
const Answer = z
	.object({
		id: z.string(),
		object: z.literal("rag.answer"),
		model: z.string().nullable(),
		answer: z.string(),
		grounded: z.boolean(),
		citations: z.array(Citation),
		usage: z.object({ prompt_tokens: z.number(), completion_tokens: z.number(), total_tokens: z.number() }),
	})
	.openapi("RagAnswer");

const EmbeddingsRequest = z
	.object({
		input: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
		model: z.string().max(128).optional(),
		encoding_format: z.enum(["float", "base64"]).default("float"),
		dimensions: z.number().int().optional(),
		user: z.string().max(256).optional(),
	})
	.openapi("EmbeddingsRequest");

const read = { tags: ["RAG"], security: securedBy("rag:read"), middleware: requireScope("rag:read") };
const auth = { 401: problem("Missing or invalid credentials"), 403: problem("The rag:read scope is required") };
/** Answering calls a model: it needs `chat` as well as `rag:read` (docs/security.md#llm-spend). */
const answer = {
	tags: ["RAG"],
	security: securedBy("rag:read", "chat"),
	middleware: requireScope("rag:read", "chat"),
};

const searchRoute = createRoute({
	...read,
	method: "post",
	path: "/v1/rag/search",
	summary: "Retrieve chunks (hybrid, vector or keyword)",
	request: { body: { required: true, content: { "application/json": { schema: SearchRequest } } } },
	responses: {
		...BODY_PROBLEMS,
		200: {
			description: "Hits, best first",
			content: { "application/json": { schema: z.object({ object: z.literal("list"), data: z.array(Hit) }) } },
		},
		...auth,
		422: problem("Invalid request"),
	},
});

const queryRoute = createRoute({
	...answer,
	method: "post",
	path: "/v1/rag/query",
	summary: "Answer a question from your documents, with citations",
	description:
		'Retrieves (hybrid by default), then answers through the chat models using only the retrieved chunks, citing them inline as [n]. Needs scopes `rag:read` and `chat`; governed like a chat completion (`max_tokens` cap, `tokens` rate-limit policies). With `stream: true`: server-sent events — first `{"object":"rag.citations",…}`, then `chat.completion.chunk`s (role, content, finish, usage), then `data: [DONE]`.',
	request: { body: { required: true, content: { "application/json": { schema: QueryRequest } } } },
	responses: {
		...BODY_PROBLEMS,
		200: {
			description: "The answer",
			content: { "application/json": { schema: Answer }, "text/event-stream": { schema: z.string() } },
		},
		401: problem("Missing or invalid credentials"),
		403: problem("The rag:read and chat scopes are required"),
		404: problem("Unknown model"),
		422: problem("Invalid request"),
		429: problem("A rate limit or token budget is exhausted"),
		502: problem("The model provider failed"),
		503: problem("No model could take the request now (Retry-After)"),
	},
});

const embeddingsRoute = createRoute({
	...read,
	method: "post",
	path: "/v1/embeddings",
	summary: "Create embeddings (OpenAI-compatible)",
	request: { body: { required: true, content: { "application/json": { schema: EmbeddingsRequest } } } },
	responses: {
		...BODY_PROBLEMS,
		200: {
			description: "Embeddings",
			content: {
				"application/json": {
					schema: z.object({
						object: z.literal("list"),
						data: z.array(
							z.object({
								object: z.literal("embedding"),
								index: z.number().int(),
								embedding: z.union([z.array(z.number()), z.string()]),
							}),
						),
						model: z.string(),
						usage: z.object({ prompt_tokens: z.number(), total_tokens: z.number() }),
					}),
				},
			},
		},
		...auth,
		404: problem("Not this deployment's embedding model"),
		413: problem("Too many inputs"),
		422: problem("Invalid request"),
	},
});

function topK(c: Context<AppEnv>, requested: number): number {
	const max = c.get("config").rag.limits.topK;
	if (requested > max) {
		throw validationFailed(`top_k may be at most ${max}`, [{ path: "top_k", message: `must be ≤ ${max}` }]);
	}
	return requested;
}

/** Longest title a document may have (characters; src/routes/documents.ts). */
const TITLE_CHARS = 512;

/**
 * The rate limiter's worst case for an answer, before retrieval has run: the grounding prompt, the question, and
 * `top_k` sources each as long as a chunk can be (text with its overlap, heading path, title), plus `max_tokens`.
 * Sources are counted at one token per 4 characters, as for chat; the commit charges what the model reports.
 */
export const estimateRagQueryTokens: TokenCostEstimator = async (c) => {
	const body = QueryRequest.safeParse(await c.req.json());
	if (!body.success) return 0;
	const { chat, rag } = c.get("config");
	const sourceChars = rag.chunk.maxChars + rag.chunk.overlapChars + rag.chunk.headingChars + TITLE_CHARS + 16;
	const topK = Math.min(body.data.top_k, rag.limits.topK);
	return (
		estimatePromptTokens([
			{ role: "system", content: GROUNDING_PROMPT },
			{ role: "user", content: body.data.query },
		]) +
		topK * Math.ceil(sourceChars / 4) +
		Math.min(body.data.max_tokens ?? chat.defaultMaxTokens, chat.maxTokensLimit)
	);
};

/** The search a request asks for: `top_k` checked against the limit, the bookmark decoded (a RagError if bad). */
function searchRequest(c: Context<AppEnv>, body: z.infer<typeof SearchRequest>) {
	return {
		query: body.query,
		mode: body.mode,
		topK: topK(c, body.top_k),
		filter: body.filter,
		bookmark: body.bookmark ? decodeBookmark(body.bookmark) : undefined,
	};
}

const DONT_KNOW = "I don't know: nothing in your documents answers this question.";

function citationsOf(hits: SearchHit[]) {
	return hits.map((h, i) => ({
		n: i + 1,
		document_id: h.document_id,
		chunk_id: h.chunk_id,
		title: h.title,
		score: h.score,
		snippet: snippet(h.text),
	}));
}

const ROUTE = "/v1/rag/query";

export const rag = createRouter()
	.openapi(searchRoute, async (c) => {
		const body = c.req.valid("json");
		const deps = ragDeps(c);
		const { hits } = await orProblem(() => search(deps, searchRequest(c, body)));
		return c.json({ object: "list" as const, data: hits }, 200);
	})
	.openapi(queryRoute, async (c) => {
		const body = c.req.valid("json");
		const config = c.get("config");
		const modelId = body.model ?? config.chat.defaultModel;
		const chain = chainFor(config.chat.models, modelId);
		const maxTokens = completionCap(body.max_tokens, config.chat);
		const deps = ragDeps(c);
		const found = await orProblem(() => search(deps, searchRequest(c, body)));
		const hits = relevant(found.hits, config.rag.minVectorScore);
		const id = `rag-${crypto.randomUUID().replaceAll("-", "")}`;
		const citations = citationsOf(hits);

		if (hits.length === 0) {
			// Nothing relevant: say so without asking a model to make something up.
			if (!body.stream) {
				return c.json(
					{
						id,
						object: "rag.answer" as const,
						model: null,
						answer: DONT_KNOW,
						grounded: false,
						citations: [],
						usage: usageBody({ promptTokens: 0, completionTokens: 0 }),
					},
					200,
				);
			}
			return cannedStream({
				id,
				created: Math.floor(deps.now() / 1000),
				prelude: [{ id, object: "rag.citations", citations: [] }],
				content: DONT_KNOW,
			}) as unknown as never;
		}

		const messages = groundedMessages(body.query, hits);
		const params = {
			messages,
			maxTokens,
			...(body.temperature !== undefined ? { temperature: body.temperature } : {}),
			stop: [],
		};
		const modelDeps = chatDeps(c);
		if (!body.stream) {
			let outcome: Awaited<ReturnType<typeof complete>>;
			try {
				outcome = await complete(chain, params, modelDeps);
			} catch (err) {
				await settleModelCall(c, ROUTE, modelId, { promptTokens: 0, completionTokens: 0 });
				throw err;
			}
			const { model, result } = outcome;
			await settleModelCall(c, ROUTE, model, result.usage);
			return c.json(
				{
					id,
					object: "rag.answer" as const,
					model,
					answer: result.content,
					grounded: true,
					citations,
					usage: usageBody(result.usage),
				},
				200,
			);
		}
		return streamModelCall(c, ROUTE, {
			id,
			requestedModel: modelId,
			open: (signal) => openStream(chain, params, { ...modelDeps, signal }),
			promptTokens: estimatePromptTokens(messages),
			includeUsage: true,
			prelude: [{ id, object: "rag.citations", citations }],
		}) as unknown as never;
	})
	.openapi(embeddingsRoute, async (c) => {
		const body = c.req.valid("json");
		const config = c.get("config").rag;
		const embedder = c.get("ports").embedder();
		const inputs = typeof body.input === "string" ? [body.input] : body.input;
		if (inputs.length > config.limits.embeddingInputs) {
			throw new AppError({
				status: 413,
				slug: "content-too-large",
				detail: `At most ${config.limits.embeddingInputs} inputs per request`,
				extensions: { max_inputs: config.limits.embeddingInputs },
			});
		}
		if (body.model && body.model !== embedder.model) {
			throw modelNotFound(`This deployment embeds with '${embedder.model}', not '${body.model}'`);
		}
		if (body.dimensions !== undefined && body.dimensions !== embedder.dimensions) {
			throw validationFailed(`dimensions must be ${embedder.dimensions} for ${embedder.model}`, [
				{ path: "dimensions", message: `must be ${embedder.dimensions}` },
			]);
		}
		const vectors = await embedAll(embedder, inputs, c.get("deadline").signal);
		const tokens = inputs.reduce((s, t) => s + estimateTextTokens(t), 0);
		// `base64`: the Float32 values' bytes, as OpenAI's API sends them.
		const encode = (v: number[]) => (body.encoding_format === "float" ? v : base64(encodeVector(v)));
		return c.json(
			{
				object: "list" as const,
				data: vectors.map((v, index) => ({ object: "embedding" as const, index, embedding: encode(v) })),
				model: embedder.model,
				usage: { prompt_tokens: tokens, total_tokens: tokens },
			},
			200,
		);
	});
