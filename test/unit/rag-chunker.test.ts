import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chunk } from "../../src/rag/chunker";

describe("chunker", () => {
	it("keeps heading paths, packs paragraphs up to the size, and overlaps within a section", () => {
		const text = `# Guide\n\nIntro paragraph.\n\n## Deploy\n\n${"alpha beta gamma. ".repeat(20)}\n\n${"delta epsilon. ".repeat(20)}\n\n### Rollback\n\nRoll back fast.`;
		const chunks = chunk(text, { maxChars: 400, overlapChars: 40 });
		expect(chunks[0]).toMatchObject({ position: 0, heading: "Guide", text: "Intro paragraph." });
		const deploy = chunks.filter((c) => c.heading === "Guide > Deploy");
		expect(deploy.length).toBeGreaterThanOrEqual(2);
		expect(deploy.every((c) => c.text.length <= 400 + 40 + 1)).toBe(true);
		expect(deploy[1]?.text.startsWith("gamma.") || deploy[1]?.text.includes("delta")).toBe(true);
		expect(chunks.at(-1)).toMatchObject({ heading: "Guide > Deploy > Rollback", text: "Roll back fast." });
		expect(chunks.map((c) => c.position)).toEqual(chunks.map((_, i) => i));
	});

	it("never loses text: every word of the input is in some chunk, and no chunk exceeds its bound", () => {
		fc.assert(
			fc.property(
				fc.array(fc.stringMatching(/^[a-z]{1,12}$/), { minLength: 1, maxLength: 400 }),
				fc.integer({ min: 50, max: 500 }),
				(words, maxChars) => {
					const text = words.map((w, i) => (i % 37 === 36 ? `${w}.\n\n` : `${w} `)).join("");
					const chunks = chunk(text, { maxChars, overlapChars: 20 });
					const all = chunks.map((c) => c.text).join(" ");
					for (const w of words) expect(all).toContain(w);
					for (const c of chunks) expect(c.text.length).toBeLessThanOrEqual(maxChars + 20 + 1);
				},
			),
			{ numRuns: 200 },
		);
	});
});
