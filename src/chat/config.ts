/**
 * Chat configuration: which models exist and which provider serves each (`CHAT_MODELS`, a JSON array), the
 * default model, and the price table (`CHAT_PRICES`). Validated in src/config/schema.ts with the other variables.
 *
 * @example
 * ```json
 * [{ "id": "llama-3.1-8b", "provider": "workers-ai", "model": "@cf/meta/llama-3.1-8b-instruct", "fallbacks": ["local"] },
 *  { "id": "gpt-4o-mini", "provider": "openai", "base_url": "https://api.openai.com/v1", "api_key_secret": "OPENAI_API_KEY" },
 *  { "id": "local", "provider": "local" }]
 * ```
 *
 * @module
 */
import { z } from "zod";
import { modelNotFound, validationFailed } from "../http/app-error";

/** A model id: what a request names in `model`, and what fallbacks refer to. */
const ModelId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$/, "must be a plain model id (≤ 128 chars)");

export const ModelEntrySchema = z.discriminatedUnion("provider", [
	z.strictObject({ id: ModelId, provider: z.literal("local"), fallbacks: z.array(ModelId).default([]) }),
	z.strictObject({
		id: ModelId,
		provider: z.literal("workers-ai"),
		/** The Workers AI model name, e.g. `@cf/meta/llama-3.1-8b-instruct`. */
		model: z.string().min(1),
		fallbacks: z.array(ModelId).default([]),
	}),
	z.strictObject({
		id: ModelId,
		provider: z.literal("openai"),
		/** Base URL of an OpenAI-compatible API (ending before `/chat/completions`), e.g. an AI Gateway URL. */
		base_url: z.url({ protocol: /^https?$/ }),
		/** The upstream's model name; default the id. */
		model: z.string().min(1).optional(),
		/** Name of the secret holding the upstream's API key (`wrangler secret put <name>`). */
		api_key_secret: z
			.string()
			.regex(/^[A-Z][A-Z0-9_]*$/)
			.optional(),
		fallbacks: z.array(ModelId).default([]),
	}),
]);
export type ModelEntry = z.infer<typeof ModelEntrySchema>;

export const ModelsSchema = z
	.array(ModelEntrySchema)
	.min(1)
	.max(64)
	.superRefine((models, ctx) => {
		const ids = new Set(models.map((m) => m.id));
		if (ids.size !== models.length) ctx.addIssue({ code: "custom", message: "model ids must be unique" });
		models.forEach((m, i) => {
			for (const f of m.fallbacks) {
				if (!ids.has(f))
					ctx.addIssue({ code: "custom", path: [i, "fallbacks"], message: `unknown fallback model '${f}'` });
				if (f === m.id)
					ctx.addIssue({ code: "custom", path: [i, "fallbacks"], message: "a model cannot fall back to itself" });
			}
		});
	});

/** USD per million tokens, per model id. */
export const PricesSchema = z.record(
	z.string(),
	z.strictObject({ prompt_per_mtok: z.number().min(0), completion_per_mtok: z.number().min(0) }),
);
export type Prices = z.infer<typeof PricesSchema>;

export const DEFAULT_MODELS: readonly ModelEntry[] = ModelsSchema.parse([{ id: "local", provider: "local" }]);

/** The ordered chain for a requested model: itself, then its fallbacks (each once). */
export function fallbackChain(models: readonly ModelEntry[], id: string): ModelEntry[] {
	const byId = new Map(models.map((m) => [m.id, m]));
	const first = byId.get(id);
	if (!first) return [];
	const chain = [first];
	for (const f of first.fallbacks) {
		const m = byId.get(f);
		if (m && !chain.includes(m)) chain.push(m);
	}
	return chain;
}

/**
 * The chain serving `id` (see {@link fallbackChain}); 404 `model-not-found` naming the model when it is not configured.
 * One rule for every route that calls a model.
 */
export function chainFor(models: readonly ModelEntry[], id: string): ModelEntry[] {
	const chain = fallbackChain(models, id);
	if (chain.length === 0) {
		throw modelNotFound(`The model '${id}' does not exist; GET /v1/models lists the models`);
	}
	return chain;
}

/**
 * A request's completion token cap: what it asked (`param` names the field), else the default; 422 above the limit.
 * One rule for every route that calls a model (CHAT_DEFAULT_MAX_TOKENS, CHAT_MAX_TOKENS_LIMIT).
 */
export function completionCap(
	requested: number | null | undefined,
	limits: { defaultMaxTokens: number; maxTokensLimit: number },
	param = "max_tokens",
): number {
	const maxTokens = requested ?? limits.defaultMaxTokens;
	if (maxTokens > limits.maxTokensLimit) {
		throw validationFailed(`max_tokens may be at most ${limits.maxTokensLimit}`, [
			{ path: param, message: `must be ≤ ${limits.maxTokensLimit}` },
		]);
	}
	return maxTokens;
}
