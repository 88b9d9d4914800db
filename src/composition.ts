/**
 * The composition root's one decision: which adapter serves each port, from configuration and bindings. Domain
 * modules receive ports ({@link ChatModel}, {@link Embedder}, {@link VectorIndex}) and never construct adapters;
 * routes get them from the context (`c.get("ports")`, set by the ports middleware with {@link portsFor}).
 *
 * @example
 * ```ts
 * app.use(ports(portsFor));
 * const model = c.get("ports").chatModel(entry);
 * ```
 *
 * @module
 */
import { withChatModelFaults } from "./adapters/faults";
import { LocalEmbedder } from "./adapters/local-embedder";
import { LocalModel } from "./adapters/local-model";
import { localVectorIndex } from "./adapters/local-vector-index";
import { OpenAICompatibleModel } from "./adapters/openai-upstream";
import { vectorizeIndex } from "./adapters/vectorize";
import { type AiBinding, WorkersAiModel } from "./adapters/workers-ai";
import { WorkersAiEmbedder } from "./adapters/workers-ai-embedder";
import type { ModelEntry } from "./chat/config";
import type { ChatConfig, Config, RagConfig } from "./config";
import { withFaults } from "./lib/fault";
import type { Ports } from "./middleware/ports";
import type { ChatModel } from "./ports/chat-model";
import type { Embedder } from "./ports/embedder";
import type { VectorIndex } from "./ports/vector-index";

/**
 * The adapter serving a configured model. `fetch` overrides the OpenAI-compatible upstream's fetch (tests).
 * Workers AI's binding is typed per model by workers-types; the adapter needs only its untyped `run`.
 */
export function chatModelFor(env: Env, config: ChatConfig, fetcher?: typeof fetch): (entry: ModelEntry) => ChatModel {
	return (entry) => {
		switch (entry.provider) {
			case "local":
				return new LocalModel({ tokenDelayMs: config.localTokenDelayMs, faults: config.localFaults });
			case "workers-ai":
				return new WorkersAiModel(env.AI as unknown as AiBinding, entry.model);
			case "openai": {
				// The name of the secret holding the key is configuration; the value is a binding of this Worker.
				const key = entry.api_key_secret
					? (env as unknown as Record<string, unknown>)[entry.api_key_secret]
					: undefined;
				return new OpenAICompatibleModel({
					baseUrl: entry.base_url,
					apiKey: typeof key === "string" ? key : undefined,
					model: entry.model ?? entry.id,
					fetch: fetcher,
				});
			}
		}
	};
}

/** The configured embedder (`RAG_EMBEDDER`). */
export function embedderFor(env: Env, config: RagConfig): Embedder {
	return config.embedder === "workers-ai"
		? new WorkersAiEmbedder(env.AI as unknown as AiBinding | undefined)
		: new LocalEmbedder();
}

/** The configured vector index (`RAG_VECTOR_INDEX`): Vectorize, or the local Durable Object stand-in. */
export function vectorIndexFor(
	env: Env,
	config: RagConfig,
	embedder: Pick<Embedder, "dimensions" | "model">,
): VectorIndex {
	return config.vectorIndex === "vectorize"
		? // wrangler types name the binding with the legacy (V1) type; the binding is a V2 index (wrangler.toml).
			vectorizeIndex(env.VECTORIZE as unknown as Vectorize)
		: localVectorIndex(env.VECTOR_INDEX, config.indexName, {
				dimensions: embedder.dimensions,
				model: embedder.model,
				indexingDelayMs: config.indexingDelayMs,
			});
}

/**
 * Every port of a request, built on first use (a chat request never constructs the vector index), each wrapped in
 * its injected faults when the configuration (or the operator endpoint) sets any — local and test only.
 */
export function portsFor(env: Env, config: Config): Ports {
	const { faults } = config;
	let embedder: Embedder | undefined;
	let index: VectorIndex | undefined;
	const embedderOnce = () => {
		embedder ??= withFaults(embedderFor(env, config.rag), "embedder", faults.embedder);
		return embedder;
	};
	const model = chatModelFor(env, config.chat);
	return {
		chatModel: (entry) => withChatModelFaults(model(entry), faults.chatModel, faults.chatStream),
		embedder: embedderOnce,
		vectorIndex: () => {
			index ??= withFaults(vectorIndexFor(env, config.rag, embedderOnce()), "vector index", faults.vectorIndex);
			return index;
		},
	};
}
