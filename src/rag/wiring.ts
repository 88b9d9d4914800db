/**
 * Composition of RAG for a request: the configured embedder and vector index (adapters behind their ports), and
 * the {@link RagDeps} the routes hand to the domain — the caller's tenant, the deadline's signal, the clock, and
 * the metrics hooks.
 *
 * @example
 * ```ts
 * const { hits } = await search(ragDeps(c), { query, mode: "hybrid", topK: 5 });
 * ```
 *
 * @module
 */
import type { Context } from "hono";
import { LocalEmbedder } from "../adapters/local-embedder";
import { localVectorIndex } from "../adapters/local-vector-index";
import { vectorizeIndex } from "../adapters/vectorize";
import type { AiBinding } from "../adapters/workers-ai";
import { WorkersAiEmbedder } from "../adapters/workers-ai-embedder";
import type { AppEnv } from "../app-env";
import type { RagConfig } from "../config";
import { deferrer } from "../http/background";
import type { Embedder } from "../ports/embedder";
import type { VectorIndex } from "../ports/vector-index";
import type { RagDeps } from "./deps";

/** The configured embedder (`RAG_EMBEDDER`). */
export function embedderFor(env: Env, config: RagConfig): Embedder {
	return config.embedder === "workers-ai"
		? new WorkersAiEmbedder(env.AI as unknown as AiBinding | undefined)
		: new LocalEmbedder();
}

/** The configured vector index (`RAG_VECTOR_INDEX`): Vectorize, or the local Durable Object stand-in. */
export function vectorIndexFor(env: Env, config: RagConfig, embedder: Embedder): VectorIndex {
	if (config.vectorIndex === "vectorize") return vectorizeIndex(env.VECTORIZE as unknown as Vectorize);
	return localVectorIndex(env.VECTOR_INDEX, config.indexName, {
		dimensions: embedder.dimensions,
		model: embedder.model,
		indexingDelayMs: config.indexingDelayMs,
	});
}

/** What the RAG routes need, for the caller's tenant. */
export function ragDeps(c: Context<AppEnv>): RagDeps {
	const config = c.get("config").rag;
	const embedder = embedderFor(c.env, config);
	const log = c.get("log");
	return {
		db: c.env.DB,
		index: vectorIndexFor(c.env, config, embedder),
		embedder,
		config,
		tenant: c.get("principal").tenant,
		log,
		// The Worker's clock: frozen during a request's CPU work, advancing with its I/O (workerd's timer rules).
		now: () => Date.now(),
		signal: c.get("deadline").signal,
		count: (operation, outcome) => c.get("metrics")?.count("rag_operations", { operation, outcome }),
		observeRetrieval: (mode, outcome, seconds) =>
			c.get("metrics")?.observe("rag_retrieval_duration_seconds", { mode, outcome }, seconds),
		defer: deferrer(c, "vector index cleanup failed"),
	};
}
