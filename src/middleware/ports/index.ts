/**
 * Puts the request's ports in the context: the adapters the composition root chose for this configuration and
 * these bindings (src/composition.ts). Routes hand them to the domain; neither routes nor domain construct an
 * adapter, so swapping one (a fake in a test, another provider) changes one place.
 *
 * @example
 * ```ts
 * app.use(configGate(), ports(portsFor));
 * const { hits } = await search({ ...deps, index: c.get("ports").vectorIndex() }, request);
 * ```
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import type { ModelEntry } from "../../chat/config";
import type { Config } from "../../config";
import type { ChatModel } from "../../ports/chat-model";
import type { Embedder } from "../../ports/embedder";
import type { VectorIndex } from "../../ports/vector-index";
import type { ConfigVariables } from "../config-gate";

/** The adapters serving a request's ports, built on first use. */
export type Ports = {
	/** The adapter serving a configured model (one per entry of a fallback chain). */
	chatModel(entry: ModelEntry): ChatModel;
	/** The configured embedder (`RAG_EMBEDDER`). */
	embedder(): Embedder;
	/** The configured vector index (`RAG_VECTOR_INDEX`), for the configured embedder. */
	vectorIndex(): VectorIndex;
};

/** What {@link ports} puts in the context. */
export type PortsVariables = { ports: Ports };

/** Chooses the adapters for a configuration and the Worker's bindings (the composition root's `portsFor`). */
export type PortsFactory = (env: Env, config: Config) => Ports;

export function ports(
	build: PortsFactory,
): MiddlewareHandler<{ Bindings: Env; Variables: PortsVariables & ConfigVariables }> {
	return async function portsMiddleware(c, next) {
		c.set("ports", build(c.env, c.get("config")));
		await next();
	};
}
