/**
 * The grounded answer's prompt (docs/rag.md#answers): which hits are worth answering from, the numbered sources
 * and the question, and the instruction to cite every statement as [n] and to admit when the sources do not say.
 * Citations shown to the caller carry a {@link snippet} of each source.
 *
 * @example
 * ```ts
 * const hits = relevant(found.hits, config.rag.minVectorScore);
 * const messages = groundedMessages("How do I roll back?", hits); // [system, user]
 * ```
 *
 * @module
 */
import type { SearchHit } from "./retrieval";

/** Whether retrieval found anything worth answering from: keyword matches, and vector matches scoring at least the floor. */
export function relevant(hits: SearchHit[], minVectorScore: number): SearchHit[] {
	return hits.filter((h) => h.scores.keyword !== null || (h.scores.vector ?? -1) >= minVectorScore);
}

/** The system prompt of a grounded answer. */
export const GROUNDING_PROMPT =
	"Answer the question using only the numbered sources. Cite every statement with its source number in square brackets, like [1]. If the sources do not contain the answer, say that you do not know.";

/** The grounded prompt: numbered sources and the question; the model must cite with [n] and admit ignorance. */
export function groundedMessages(question: string, hits: SearchHit[]) {
	const sources = hits
		.map(
			(h, i) =>
				`[${i + 1}] ${h.title ? `${h.title}${h.heading && h.heading !== h.title ? ` — ${h.heading}` : ""}` : h.heading}\n${h.text}`,
		)
		.join("\n\n");
	return [
		{ role: "system" as const, content: GROUNDING_PROMPT },
		{ role: "user" as const, content: `Sources:\n\n${sources}\n\nQuestion: ${question}` },
	];
}

/** The start of a source's text for a citation: at most `max` characters, cut at a word boundary, with "…". */
export function snippet(text: string, max = 240): string {
	return text.length <= max
		? text
		: `${text.slice(0, text.lastIndexOf(" ", max) > 0 ? text.lastIndexOf(" ", max) : max)}…`;
}
