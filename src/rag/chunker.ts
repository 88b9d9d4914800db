/**
 * Splits a document (text or markdown) into chunks for retrieval: headings open sections, blank lines separate
 * paragraphs, and paragraphs are packed into chunks of at most `maxChars`; a paragraph longer than that is split at
 * sentence ends, then at words. Consecutive chunks of a section share `overlapChars` of context (whole words from
 * the end of the previous chunk). Each chunk keeps its heading path, so a chunk about "Rollback" still says it
 * belongs to "Deploy guide > Rollback".
 *
 * @example
 * ```ts
 * chunk("# Guide\n\nFirst paragraph.\n\n## Rollback\n\nSecond.", { maxChars: 1000, overlapChars: 100 });
 * // [{ position: 0, heading: "Guide", text: "First paragraph." }, { position: 1, heading: "Guide > Rollback", text: "Second." }]
 * ```
 */
export type Chunk = { position: number; heading: string; text: string };
export type ChunkOptions = { maxChars: number; overlapChars: number };

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

export function chunk(text: string, options: ChunkOptions): Chunk[] {
	const { maxChars, overlapChars } = options;
	const sections: { heading: string; paragraphs: string[] }[] = [];
	const path: string[] = [];
	let current = { heading: "", paragraphs: [] as string[] };
	sections.push(current);
	for (const block of text.replace(/\r\n/g, "\n").split(/\n\s*\n/)) {
		const lines = block.split("\n");
		let para: string[] = [];
		for (const line of lines) {
			const h = /^(#{1,6})\s+(.*)$/.exec(line.trim());
			if (h?.[1] && h[2] !== undefined) {
				if (para.length > 0) current.paragraphs.push(para.join(" ").trim());
				para = [];
				path.length = Math.min(path.length, h[1].length - 1);
				path[h[1].length - 1] = h[2].trim();
				current = { heading: path.filter(Boolean).join(" > "), paragraphs: [] };
				sections.push(current);
			} else if (line.trim()) {
				para.push(line.trim());
			}
		}
		if (para.length > 0) current.paragraphs.push(para.join(" ").trim());
	}
	const chunks: Chunk[] = [];
	for (const section of sections) {
		const pieces = section.paragraphs.flatMap((p) => splitLong(p, maxChars));
		let buffer = "";
		let previous = "";
		const flush = () => {
			if (!buffer) return;
			const overlap = previous ? tail(previous, overlapChars) : "";
			const text =
				overlap && overlap.length + buffer.length + 1 <= maxChars + overlapChars ? `${overlap} ${buffer}` : buffer;
			chunks.push({ position: chunks.length, heading: section.heading, text });
			previous = buffer;
			buffer = "";
		};
		for (const piece of pieces) {
			if (buffer && buffer.length + piece.length + 2 > maxChars) flush();
			buffer = buffer ? `${buffer}\n\n${piece}` : piece;
		}
		flush();
	}
	return chunks;
}
