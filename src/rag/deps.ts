/**
 * What RAG's operations run with (docs/rag.md), for one tenant: D1 (the source of truth), the vector index and the
 * embedder (ports), the configuration, a clock, and the hooks that count and time what they do. Built per request
 * by src/routes/rag-deps.ts; tests build their own.
 *
 * @example
 * ```ts
 * const deps: RagDeps = { db: env.DB, index, embedder, config, tenant: "t-1", log, now: () => 0, defer: () => {} };
 * ```
 *
 * @module
 */
import type { RagConfig } from "../config";
import type { Embedder } from "../ports/embedder";
import type { VectorIndex } from "../ports/vector-index";
import type { Logger } from "../telemetry/logger";

/** The retrieval modes (src/rag/retrieval.ts). */
export type SearchMode = "hybrid" | "vector" | "keyword";

export type RagDeps = {
	db: D1Database;
	index: VectorIndex;
	embedder: Embedder;
	config: RagConfig;
	tenant: string;
	log: Logger;
	/** The clock: ms since the epoch. Stamps rows and bookmarks, and times retrieval. */
	now: () => number;
	signal?: AbortSignal;
	/** Runs cleanup after the response (vectors a failed or replacing write left behind). */
	defer: (p: Promise<unknown>) => void;
	/** Counts embedder and vector index calls by outcome (rag_operations_total). */
	count?: (operation: string, outcome: "ok" | "error") => void;
	/** Observes retrieval time by mode and outcome (rag_retrieval_duration_seconds), in seconds. */
	observeRetrieval?: (mode: SearchMode, outcome: "ok" | "degraded" | "error", seconds: number) => void;
};

/** Runs an embedder or index call, counting its outcome. */
export async function counted<T>(deps: RagDeps, operation: string, call: () => Promise<T>): Promise<T> {
	try {
		const result = await call();
		deps.count?.(operation, "ok");
		return result;
	} catch (err) {
		deps.count?.(operation, "error");
		throw err;
	}
}
