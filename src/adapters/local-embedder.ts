/**
 * The deterministic local embedder `npm start` and the tests use (no model weights, no network): feature hashing of
 * lower-cased word unigrams (weight 1) and bigrams (weight 0.5) into 768 signed buckets, sublinear term frequency,
 * L2-normalised. Texts sharing words get similar vectors, so vector search works offline in the way lexical
 * overlap suggests — it is not semantic, and the evaluation (docs/performance.md#rag-retrieval-quality) says how
 * it compares with keyword search. Same dimensions as `@cf/baai/bge-base-en-v1.5`, different model name, so an
 * index never mixes the two.
 *
 * @example
 * ```ts
 * const [a, b] = await new LocalEmbedder().embed(["edge workers", "workers at the edge"]);
 * ```
 *
 * @module
 */
import type { Embedder } from "../ports/embedder";

/** The model name recorded with the local embedder's vectors, so an index never mixes them with another model's. */
export const LOCAL_EMBEDDING_MODEL = "local-hash-768";

function hash(text: string, seed: number): number {
	let h = 0x811c9dc5 ^ seed;
	for (let i = 0; i < text.length; i++) {
		h ^= text.charCodeAt(i);
		h = Math.imul(h, 0x01000193) >>> 0;
	}
	return h >>> 0;
}

export function tokenize(text: string): string[] {
	return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

export class LocalEmbedder implements Embedder {
	readonly model = LOCAL_EMBEDDING_MODEL;
	readonly dimensions = 768;
	readonly maxBatch = 100;

	embedOne(text: string): number[] {
		const counts = new Map<string, number>();
		const words = tokenize(text);
		words.forEach((w, i) => {
			counts.set(w, (counts.get(w) ?? 0) + 1);
			const next = words[i + 1];
			if (next) counts.set(`${w} ${next}`, (counts.get(`${w} ${next}`) ?? 0) + 0.5);
		});
		const v = new Array<number>(this.dimensions).fill(0);
		for (const [feature, tf] of counts) {
			const h = hash(feature, 0);
			const sign = hash(feature, 0x9e3779b9) & 1 ? 1 : -1;
			v[h % this.dimensions] = (v[h % this.dimensions] ?? 0) + sign * (1 + Math.log(tf));
		}
		const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0));
		return norm > 0 ? v.map((x) => x / norm) : v;
	}

	async embed(texts: string[], signal?: AbortSignal): Promise<number[][]> {
		signal?.throwIfAborted();
		if (texts.length > this.maxBatch) throw new Error(`at most ${this.maxBatch} texts per call`);
		return texts.map((t) => this.embedOne(t));
	}
}
