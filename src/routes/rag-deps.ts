/**
 * The RAG domain's dependencies for a request: the ports the composition root chose (embedder, vector index), the
 * caller's tenant, the deadline's signal, the clock, the metrics hooks and background work. The domain takes
 * these as one {@link RagDeps} and never reads the Hono context.
 *
 * @example
 * ```ts
 * const { hits } = await search(ragDeps(c), { query, mode: "hybrid", topK: 5 });
 * ```
 *
 * @module
 */
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { deferrer } from "../http/background";
import type { RagDeps } from "../rag/deps";

/** What the RAG routes hand the domain, for the caller's tenant. */
export function ragDeps(c: Context<AppEnv>): RagDeps {
	const ports = c.get("ports");
	const metrics = c.get("metrics");
	return {
		db: c.env.DB,
		index: ports.vectorIndex(),
		embedder: ports.embedder(),
		config: c.get("config").rag,
		tenant: c.get("principal").tenant,
		log: c.get("log"),
		// The Worker's clock: frozen during a request's CPU work, advancing with its I/O (workerd's timer rules).
		now: () => Date.now(),
		signal: c.get("deadline").signal,
		count: (operation, outcome) => metrics?.count("rag_operations", { operation, outcome }),
		observeRetrieval: (mode, outcome, seconds) =>
			metrics?.observe("rag_retrieval_duration_seconds", { mode, outcome }, seconds),
		defer: deferrer(c, "vector index cleanup failed"),
	};
}
