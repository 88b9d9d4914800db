import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type MetadataFilter, MetadataFilterSchema, matches, toSql } from "../../src/rag/filter";

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
