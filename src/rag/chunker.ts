/**
 * Splits a document (text or markdown) into chunks for retrieval: headings open sections, blank lines separate
 * paragraphs, and paragraphs are packed into chunks of at most `maxChars`; a paragraph longer than that is split at
 * sentence ends, then at words. Consecutive chunks of a section share `overlapChars` of context (whole words from
 * the end of the previous chunk). Each chunk keeps its heading path, so a chunk about "Rollback" still says it
 * belongs to "Deploy guide > Rollback".
 *
 * Storage stays proportional to the text (docs/rag.md#storage-bounds): a heading path is capped at `headingChars`
 * (its end is kept: the innermost heading says most), and a section shorter than `minChars` never makes a chunk of
 * its own — it continues into the next section's chunk, that section's heading kept inline — so a document of many
 * tiny sections cannot turn each few bytes into a chunk with its own embedding. Every chunk but a document's last
 * is either at least `minChars` long or followed by one longer than `maxChars − minChars`, so a document of `n`
 * characters makes at most `2·⌈n / (minChars − 2)⌉ + 1` chunks (test/unit/chunker-bounds.test.ts).
 *
 * @example
 * ```ts
 * chunk("# Guide\n\nFirst paragraph.\n\n## Rollback\n\nSecond.", { maxChars: 1000, overlapChars: 100 });
 * // [{ position: 0, heading: "Guide", text: "First paragraph." }, { position: 1, heading: "Guide > Rollback", text: "Second." }]
 * ```
 *
 * @module
 */

/** One chunk of a document: its position, its heading path and its text. */
export type Chunk = { position: number; heading: string; text: string };
export type ChunkOptions = {
	maxChars: number;
	overlapChars: number;
	/** A section shorter than this continues into the next one's chunk (default 0: every section stands alone). */
	minChars?: number;
	/** Longest heading path kept, characters (default: unbounded). */
	headingChars?: number;
};

/** A heading path of at most `max` characters: its end is kept, the cut marked with "…". */
export function capHeading(path: string, max: number): string {
	if (path.length <= max) return path;
	return max <= 1 ? path.slice(-max) : `…${path.slice(path.length - (max - 1))}`;
}

function splitLong(paragraph: string, maxChars: number): string[] {
	if (paragraph.length <= maxChars) return [paragraph];
	const sentences = paragraph.match(/[^.!?]+(?:[.!?]+["')\]]*\s*|$)/g) ?? [paragraph];
	const out: string[] = [];
	let current = "";
	for (const s of sentences) {
		if (s.length > maxChars) {
			if (current) out.push(current.trim());
			current = "";
			let line = "";
			for (const word of s.split(/\s+/)) {
				if (line && line.length + word.length + 1 > maxChars) {
					out.push(line);
					line = "";
				}
				line = line ? `${line} ${word}` : word.slice(0, maxChars);
			}
			if (line) current = `${line} `;
		} else if (current.length + s.length > maxChars) {
			out.push(current.trim());
			current = s;
		} else {
			current += s;
		}
	}
	if (current.trim()) out.push(current.trim());
	return out.filter(Boolean);
}

function tail(text: string, chars: number): string {
	if (chars <= 0 || text.length <= chars) return chars <= 0 ? "" : text;
	const cut = text.slice(text.length - chars);
	const space = cut.indexOf(" ");
	return space >= 0 ? cut.slice(space + 1) : cut;
}

/** Splits `text` into chunks (see the module comment). */
export function chunk(text: string, options: ChunkOptions): Chunk[] {
	const { maxChars, overlapChars } = options;
	const minChars = Math.min(options.minChars ?? 0, maxChars);
	const headingChars = options.headingChars ?? Number.POSITIVE_INFINITY;
	type Section = { heading: string; title: string; paragraphs: string[] };
	const sections: Section[] = [];
	const path: string[] = [];
	let current: Section = { heading: "", title: "", paragraphs: [] };
	sections.push(current);
	for (const block of text.replace(/\r\n/g, "\n").split(/\n\s*\n/)) {
		const lines = block.split("\n");
		let para: string[] = [];
		for (const line of lines) {
			const h = /^(#{1,6})\s+(.*)$/.exec(line.trim());
			if (h?.[1] && h[2] !== undefined) {
				if (para.length > 0) current.paragraphs.push(para.join(" ").trim());
				para = [];
				const title = capHeading(h[2].trim(), headingChars);
				path.length = Math.min(path.length, h[1].length - 1);
				path[h[1].length - 1] = title;
				current = { heading: capHeading(path.filter(Boolean).join(" > "), headingChars), title, paragraphs: [] };
				sections.push(current);
			} else if (line.trim()) {
				para.push(line.trim());
			}
		}
		if (para.length > 0) current.paragraphs.push(para.join(" ").trim());
	}

	const chunks: Chunk[] = [];
	let buffer = "";
	let heading = "";
	let previous = "";
	const flush = () => {
		if (!buffer) return;
		const overlap = previous ? tail(previous, overlapChars) : "";
		const body =
			overlap && overlap.length + buffer.length + 1 <= maxChars + overlapChars ? `${overlap} ${buffer}` : buffer;
		chunks.push({ position: chunks.length, heading, text: body });
		previous = buffer;
		buffer = "";
	};
	const add = (piece: string, sectionHeading: string) => {
		if (buffer && buffer.length + piece.length + 2 > maxChars) flush();
		if (!buffer) heading = sectionHeading;
		buffer = buffer ? `${buffer}\n\n${piece}` : piece;
	};
	for (const section of sections) {
		const pieces = section.paragraphs.flatMap((p) => splitLong(p, maxChars));
		// A heading without text of its own lives on in the heading paths of the sections under it.
		if (pieces.length === 0) continue;
		if (buffer.length >= minChars) {
			flush();
			previous = ""; // overlap stays within a section
		} else if (buffer && section.title) {
			// Too short to stand alone: this section continues the chunk, its heading kept as a line of the text.
			add(capHeading(section.title, maxChars), section.heading);
		}
		for (const piece of pieces) add(piece, section.heading);
	}
	flush();
	return chunks;
}
