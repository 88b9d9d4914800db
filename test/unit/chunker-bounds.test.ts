import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { capHeading, chunk } from "../../src/rag/chunker";
import { chunkStoredBytes, documentStoredBytes } from "../../src/rag/ingest";

/**
 * What one document stores is bounded by what was sent (docs/rag.md#storage-bounds), whatever its shape: many tiny
 * sections, enormous headings, deep nesting. Property-based, at the sizes the generators state.
 */
const section = fc.record({
	level: fc.integer({ min: 1, max: 6 }),
	heading: fc.oneof(fc.stringMatching(/^[a-z ]{1,20}$/), fc.constant("H".repeat(3_000))),
	words: fc.array(fc.stringMatching(/^[a-z]{1,10}$/), { minLength: 0, maxLength: 120, size: "max" }),
});
// size "max": fast-check 4 otherwise keeps arrays near 10 elements whatever maxLength says.
const documentArb = fc.array(section, { minLength: 1, maxLength: 300, size: "max" });

function render(sections: { level: number; heading: string; words: string[] }[]): string {
	return sections.map((s) => `${"#".repeat(s.level)} ${s.heading}\n\n${s.words.join(" ")}`).join("\n\n");
}

describe("chunk bounds", () => {
	it("caps every heading path and makes at most 2·⌈n / (minChars − 2)⌉ + 1 chunks of an n-character text, losing no word", () => {
		fc.assert(
			fc.property(
				documentArb,
				fc.integer({ min: 200, max: 1_000 }),
				fc.integer({ min: 16, max: 256 }),
				(sections, maxChars, headingChars) => {
					const minChars = Math.floor(maxChars / 4);
					const text = render(sections);
					const chunks = chunk(text, { maxChars, overlapChars: 40, minChars, headingChars });
					for (const c of chunks) {
						expect(c.heading.length).toBeLessThanOrEqual(headingChars);
						expect(c.text.length).toBeLessThanOrEqual(maxChars + 40 + 1);
					}
					// A chunk under minChars is followed by one over maxChars − minChars − 2 (≥ minChars − 2).
					expect(chunks.length).toBeLessThanOrEqual(2 * Math.ceil(text.length / (minChars - 2)) + 1);
					const tokens = new Set(chunks.flatMap((c) => c.text.split(/\s+/)));
					const lost = sections.flatMap((x) => x.words).filter((w) => !tokens.has(w));
					expect(lost).toEqual([]);
				},
			),
			{ numRuns: 40 },
		);
	});

	it("stores at most 2× the text plus a fixed, capped cost per chunk", () => {
		let largest = 0;
		const dimensions = 768;
		const metadataBytes = 2_048;
		const headingChars = 256;
		fc.assert(
			fc.property(documentArb, (sections) => {
				const text = render(sections);
				const maxChars = 1_000;
				const minChars = 200;
				const chunks = chunk(text, { maxChars, overlapChars: 150, minChars, headingChars });
				const stored =
					documentStoredBytes("d", { text, title: "t" }) +
					chunks.reduce(
						(s, c) => s + chunkStoredBytes({ id: "c_".padEnd(42, "0"), ...c }, dimensions, metadataBytes),
						0,
					);
				const textBytes = new TextEncoder().encode(text).length;
				largest = Math.max(largest, sections.length);
				// Per chunk: heading (capped, ASCII here), two embeddings, ids, hash, the vector's metadata (capped).
				const perChunk = headingChars + 2 * 4 * dimensions + 2 * 42 + 64 + metadataBytes;
				expect(stored).toBeLessThanOrEqual(2 * textBytes + chunks.length * perChunk + 1_024);
				// …and the number of chunks is proportional to the text, not to the number of sections.
				expect(chunks.length).toBeLessThanOrEqual(2 * Math.ceil(text.length / (minChars - 2)) + 1);
			}),
			{ numRuns: 40 },
		);
		// The generator reached the sizes it states (not fast-check's small default).
		expect(largest).toBeGreaterThan(150);
	});

	it("keeps the innermost end of a long heading path", () => {
		expect(capHeading("Guide > Deploy > Rollback", 100)).toBe("Guide > Deploy > Rollback");
		expect(capHeading("Guide > Deploy > Rollback", 12)).toBe("… > Rollback");
		expect(capHeading("x".repeat(10), 1)).toBe("x");
	});

	it("a short section continues into the next one's chunk, its heading kept as a line", () => {
		const chunks = chunk("# Guide\n\nShort intro.\n\n## Deploy\n\nDeploy with wrangler.", {
			maxChars: 1_000,
			overlapChars: 0,
			minChars: 100,
		});
		expect(chunks).toEqual([
			{ position: 0, heading: "Guide", text: "Short intro.\n\nDeploy\n\nDeploy with wrangler." },
		]);
		// minChars 0 (the old behaviour): every section stands alone.
		expect(
			chunk("# Guide\n\nShort intro.\n\n## Deploy\n\nDeploy with wrangler.", { maxChars: 1_000, overlapChars: 0 }),
		).toHaveLength(2);
	});
});
