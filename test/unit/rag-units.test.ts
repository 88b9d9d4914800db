import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LocalEmbedder } from "../../src/adapters/local-embedder";
import { embedAll, WorkersAiEmbedder } from "../../src/adapters/workers-ai-embedder";
import { chunk } from "../../src/rag/chunker";
import { type MetadataFilter, MetadataFilterSchema, matches, toSql } from "../../src/rag/filter";
import { cosine, ftsQuery } from "../../src/rag/store";

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

describe("local embedder", () => {
	it("is deterministic, unit length, 768-dimensional, and closer for texts sharing words", async () => {
		const e = new LocalEmbedder();
		const [a, b, c, a2] = await e.embed([
			"roll back the canary",
			"how to roll back a canary release",
			"invoice refund policy",
			"roll back the canary",
		]);
		expect(a).toHaveLength(768);
		expect(a).toEqual(a2);
		expect(Math.hypot(...(a ?? []))).toBeCloseTo(1, 6);
		expect(cosine(a ?? [], b ?? [])).toBeGreaterThan(cosine(a ?? [], c ?? []));
	});
});

describe("keyword query building", () => {
	it("quotes every word so users cannot inject FTS operators", () => {
		expect(ftsQuery('ERR-4471 OR "x" NEAR(a b) *')).toBe('"err" OR "4471" OR "x" OR "near" OR "b"');
		expect(ftsQuery("  ... ")).toBeNull();
	});
});

describe("metadata filters", () => {
	it("mean the same in SQL (over D1 JSON) and in code (property, against real D1)", async () => {
		await env.DB.exec("CREATE TABLE IF NOT EXISTS filter_probe (id INTEGER PRIMARY KEY, metadata TEXT NOT NULL)");
		const value = fc.oneof(fc.constantFrom("a", "b", "c"), fc.integer({ min: 0, max: 5 }), fc.boolean());
		const meta = fc.dictionary(fc.constantFrom("topic", "year", "flag"), value, { maxKeys: 3 });
		const op = fc.oneof(
			value,
			fc.record({ $eq: value }),
			fc.record({ $ne: value }),
			fc.record({ $in: fc.array(value, { minLength: 1, maxLength: 3 }) }),
			fc.record({ $nin: fc.array(value, { minLength: 1, maxLength: 3 }) }),
			fc.record({ $gte: fc.integer({ min: 0, max: 5 }) }),
			fc.record({ $lt: fc.constantFrom("a", "b", "c") }),
		);
		const filter = fc.dictionary(fc.constantFrom("topic", "year", "flag"), op, { minKeys: 1, maxKeys: 2 });
		await fc.assert(
			fc.asyncProperty(fc.array(meta, { minLength: 1, maxLength: 8 }), filter, async (rows, f) => {
				const parsed = MetadataFilterSchema.parse(f) as MetadataFilter;
				await env.DB.exec("DELETE FROM filter_probe");
				await env.DB.batch(
					rows.map((m, i) =>
						env.DB.prepare("INSERT INTO filter_probe (id, metadata) VALUES (?, ?)").bind(i, JSON.stringify(m)),
					),
				);
				const where = toSql(parsed, "metadata");
				const { results } = await env.DB.prepare(`SELECT id FROM filter_probe WHERE ${where.sql} ORDER BY id`)
					.bind(...where.params)
					.all<{ id: number }>();
				const expected = rows.flatMap((m, i) => (matches(parsed, m) ? [i] : []));
				expect(results.map((r) => r.id)).toEqual(expected);
			}),
			{ numRuns: 150 },
		);
	});
});

describe("Workers AI embedder (against a stub of the binding's format)", () => {
	it("embeds in batches of at most 100, checks the shape, and fails clearly without a binding", async () => {
		const calls: number[] = [];
		const ai = {
			run: async (_model: string, inputs: Record<string, unknown>) => {
				const text = inputs.text as string[];
				calls.push(text.length);
				return {
					shape: [text.length, 768],
					data: text.map((t) => Array.from({ length: 768 }, (_, i) => (i === t.length % 768 ? 1 : 0))),
				};
			},
		};
		const embedder = new WorkersAiEmbedder(ai);
		expect(embedder.model).toBe("@cf/baai/bge-base-en-v1.5");
		const vectors = await embedAll(
			embedder,
			Array.from({ length: 250 }, (_, i) => "x".repeat(i + 1)),
		);
		expect(calls).toEqual([100, 100, 50]);
		expect(vectors).toHaveLength(250);
		expect(vectors[4]?.[5]).toBe(1);
		const wrong = new WorkersAiEmbedder({ run: async () => ({ shape: [1, 3], data: [[1, 2, 3]] }) });
		await expect(wrong.embed(["a"])).rejects.toThrow(/dimensions/);
		await expect(new WorkersAiEmbedder(undefined).embed(["a"])).rejects.toThrow(/not bound/);
	});
});
