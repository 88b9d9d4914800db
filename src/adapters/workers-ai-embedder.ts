/**
 * Workers AI embeddings: `@cf/baai/bge-base-en-v1.5` (768 dimensions; the model takes at most 100 texts per call,
 * so callers batch). The binding answers `{ shape: [n, 768], data: number[][] }`; anything else is an error.
 * Not available under `wrangler dev`; tested against a stub of that format. Batching beyond one call is the
 * port's (`embedAll` in src/ports/embedder.ts).
 *
 * @example
 * ```ts
 * const [v] = await new WorkersAiEmbedder(env.AI).embed(["What is an edge worker?"]); // 768 numbers
 * ```
 *
 * @module
 */
import { z } from "zod";
import type { Embedder } from "../ports/embedder";
import type { AiBinding } from "./workers-ai";

export const WORKERS_AI_EMBEDDING_MODEL = "@cf/baai/bge-base-en-v1.5";

const Output = z.object({ shape: z.array(z.number()), data: z.array(z.array(z.number())) });

export class WorkersAiEmbedder implements Embedder {
	readonly model = WORKERS_AI_EMBEDDING_MODEL;
	readonly dimensions = 768;
	readonly maxBatch = 100;

	constructor(private readonly ai: AiBinding | undefined) {}

	async embed(texts: string[], signal?: AbortSignal): Promise<number[][]> {
		signal?.throwIfAborted();
		if (!this.ai) throw new Error("Workers AI is not bound here (no AI binding)");
		if (texts.length > this.maxBatch) throw new Error(`at most ${this.maxBatch} texts per call`);
		const parsed = Output.safeParse(await this.ai.run(this.model, { text: texts }));
		if (!parsed.success || parsed.data.data.length !== texts.length) {
			throw new Error("Workers AI returned an unexpected embedding shape");
		}
		for (const v of parsed.data.data) {
			if (v.length !== this.dimensions) throw new Error(`expected ${this.dimensions} dimensions, got ${v.length}`);
		}
		return parsed.data.data;
	}
}
