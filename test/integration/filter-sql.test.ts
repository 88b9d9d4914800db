import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { localVectorIndex } from "../../src/adapters/local-vector-index";
import { D1_LIMITS, withD1Limits } from "../../src/db/d1-limits";
import {
	MAX_FILTER_FIELDS,
	MAX_FILTER_JSON_BYTES,
	MAX_FILTER_PARAMS,
	type MetadataFilter,
	MetadataFilterSchema,
	matches,
	toSql,
} from "../../src/rag/filter";
import { bearer, callWith, freshPrincipalToken } from "../helpers/workers/auth";
import { expectProblem } from "../helpers/workers/http";

/** The guarded binding: a statement over D1's production limits fails here as it would in production. */
const db = withD1Limits(env.DB);
const bytes = (v: unknown) => new TextEncoder().encode(JSON.stringify(v)).length;

// Field names (all valid, dots and dashes included); "absent" never appears in metadata.
const FIELDS = ["topic", "year", "tier", "flag", "n", "x.y", "a-b", "_k", "Z9", "score", "absent"];

/**
 * Values chosen to collide across types ("2" vs 2 vs 2.0, true vs 1, strings around U+FFFF), drawn mostly from a
 * small pool so that filters and metadata meet, and sometimes from anywhere (any code point, any finite double).
 */
const POOL = [
	"",
	"a",
	"b",
	"2",
	"1",
	"true",
	"é",
	"😀",
	"\uFFFD",
	"\uE000",
	"\u0000",
	0,
	1,
	2,
	2.5,
	-1,
	2024,
	-0,
	1e21,
	true,
	false,
];
const pooled = fc.constantFrom(...POOL);
const string = fc.oneof(
	{ weight: 1, arbitrary: fc.constantFrom(...POOL.filter((v) => typeof v === "string")) },
	{ weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 6 }) },
);
const number = fc.oneof(
	{ weight: 3, arbitrary: fc.constantFrom(...POOL.filter((v) => typeof v === "number"), 2 ** 53, -(2 ** 60), 0.1) },
	{ weight: 1, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }) },
);
const scalar = fc.oneof(
	{ weight: 6, arbitrary: fc.constantFrom("a", "2", 2, 1, true, "😀") },
	{ weight: 3, arbitrary: pooled },
	{ weight: 1, arbitrary: fc.oneof(string, number, fc.boolean()) },
);

/** Metadata as stored JSON text; integers sometimes written as reals ("2.0"), which must still equal 2. */
const metadataText = fc
	.tuple(
		fc.dictionary(
			fc.constantFrom(...FIELDS.slice(0, -1)),
			fc.oneof({ weight: 8, arbitrary: scalar }, { weight: 1, arbitrary: fc.constantFrom(null, [1], { a: 1 }) }),
			{ maxKeys: FIELDS.length - 1, noNullPrototype: true, size: "max" },
		),
		fc.boolean(),
	)
	.map(([m, realInts]) => {
		const entries = Object.entries(m).map(([k, v]) => {
			const json = JSON.stringify(v);
			const asReal = realInts && typeof v === "number" && Number.isInteger(v) && Math.abs(v) < 1e15;
			return `${JSON.stringify(k)}:${asReal ? `${json}.0` : json}`;
		});
		return `{${entries.join(",")}}`;
	});

const list = fc.oneof(
	fc.array(scalar, { minLength: 1, maxLength: 4 }),
	// fast-check 4 keeps arrays small unless told: "max" draws lengths over the whole 1-100.
	fc.array(scalar, { minLength: 1, maxLength: 100, size: "max" }),
	fc.array(scalar, { minLength: 100, maxLength: 100 }),
);
const rangeArg = fc.oneof(string, number);
const OPS = {
	$eq: scalar,
	$ne: scalar,
	$lt: rangeArg,
	$lte: rangeArg,
	$gt: rangeArg,
	$gte: rangeArg,
	$in: list,
	$nin: list,
};
// Mostly one operator per field and one or two fields, so that rows match often; sometimes all of it at once.
const ops = fc.oneof(
	{
		weight: 4,
		arbitrary: fc
			.constantFrom(...(Object.keys(OPS) as (keyof typeof OPS)[]))
			.chain((op) => OPS[op].map((arg) => ({ [op]: arg }))),
	},
	{
		weight: 1,
		arbitrary: fc.record(OPS, { requiredKeys: [], noNullPrototype: true }).filter((o) => Object.keys(o).length > 0),
	},
);
const condition = fc.oneof({ weight: 1, arbitrary: scalar }, { weight: 2, arbitrary: ops });
const filterArb = fc.oneof(
	{
		weight: 3,
		arbitrary: fc.dictionary(fc.constantFrom(...FIELDS), condition, { minKeys: 1, maxKeys: 2, noNullPrototype: true }),
	},
	{
		weight: 1,
		arbitrary: fc.dictionary(fc.constantFrom(...FIELDS), condition, {
			minKeys: 1,
			maxKeys: MAX_FILTER_FIELDS,
			noNullPrototype: true,
			size: "max",
		}),
	},
);

async function selected(rows: string[], filter: MetadataFilter): Promise<number[]> {
	await env.DB.exec("DELETE FROM filter_probe");
	await env.DB.batch(
		rows.map((m, i) => env.DB.prepare("INSERT INTO filter_probe (id, metadata) VALUES (?, ?)").bind(i, m)),
	);
	const where = toSql(filter, "metadata");
	const { results } = await db
		.prepare(`SELECT id FROM filter_probe WHERE ${where.sql} ORDER BY id`)
		.bind(...where.params)
		.all<{ id: number }>();
	return results.map((r) => r.id);
}

describe("metadata filters in SQL mean what matches() means", () => {
	it("selects exactly the rows matches() accepts, for any filter, in D1 under its production limits (property)", async () => {
		await env.DB.exec("CREATE TABLE IF NOT EXISTS filter_probe (id INTEGER PRIMARY KEY, metadata TEXT NOT NULL)");
		const seen = { longestList: 0, longListRuns: 0, refusedBySize: 0, accepted: 0, someSelected: 0, someRejected: 0 };
		await fc.assert(
			fc.asyncProperty(fc.array(metadataText, { minLength: 4, maxLength: 16 }), filterArb, async (rows, raw) => {
				const parsed = MetadataFilterSchema.safeParse(raw);
				if (parsed.success) seen.accepted++;
				else {
					// Structurally valid by construction: only the size rule may refuse it, and only when it is large.
					expect(parsed.error.issues.map((i) => i.message)).toEqual([expect.stringContaining("2048 bytes")]);
					expect(bytes(raw)).toBeGreaterThanOrEqual(MAX_FILTER_JSON_BYTES);
					seen.refusedBySize++;
				}
				// Compiled either way: toSql must keep its meaning (and its bound) for long lists too.
				const filter = (parsed.success ? parsed.data : raw) as MetadataFilter;
				const where = toSql(filter, "metadata");
				expect(where.params.length).toBeLessThanOrEqual(MAX_FILTER_PARAMS);
				const lists = Object.values(filter).flatMap((c) => (typeof c === "object" ? [c.$in ?? [], c.$nin ?? []] : []));
				const longest = Math.max(0, ...lists.map((l) => l.length));
				seen.longestList = Math.max(seen.longestList, longest);
				if (longest >= 50) seen.longListRuns++;
				const expected = rows.flatMap((m, i) => (matches(filter, JSON.parse(m) as Record<string, unknown>) ? [i] : []));
				expect(await selected(rows, filter)).toEqual(expected);
				if (expected.length > 0) seen.someSelected++;
				if (expected.length < rows.length) seen.someRejected++;
			}),
			{ numRuns: 300 },
		);
		// The generator reached what the test claims: 100-value lists, filters on both sides of the size rule, and
		// filters that select some rows and reject others (a property that only ever compared [] with [] proves nothing).
		expect(seen.longestList).toBe(100);
		expect(seen.longListRuns).toBeGreaterThan(30);
		expect(seen.accepted).toBeGreaterThan(30);
		expect(seen.someSelected).toBeGreaterThan(30);
		expect(seen.someRejected).toBeGreaterThan(30);
	});

	it("keeps JSON types apart and numbers numeric (examples of the property)", async () => {
		await env.DB.exec("CREATE TABLE IF NOT EXISTS filter_probe (id INTEGER PRIMARY KEY, metadata TEXT NOT NULL)");
		const rows = ['{"v":2}', '{"v":2.0}', '{"v":"2"}', '{"v":true}', '{"v":1}', "{}", '{"v":null}', '{"v":"😀"}'];
		const cases: [MetadataFilter, number[]][] = [
			[{ v: { $in: [2] } }, [0, 1]],
			[{ v: { $in: ["2", true] } }, [2, 3]],
			[{ v: { $nin: [2, true] } }, [2, 4, 5, 6, 7]],
			[{ v: { $in: [1] } }, [4]],
			[{ v: { $ne: 2 } }, [2, 3, 4, 5, 6, 7]],
			[{ v: { $gte: 2 } }, [0, 1]],
			// Code point order, as SQLite compares UTF-8: U+1F600 sorts after U+FFFD.
			[{ v: { $gt: "\uFFFD" } }, [7]],
		];
		for (const [filter, ids] of cases) {
			expect(
				rows.flatMap((m, i) => (matches(filter, JSON.parse(m)) ? [i] : [])),
				JSON.stringify(filter),
			).toEqual(ids);
			expect(await selected(rows, filter), JSON.stringify(filter)).toEqual(ids);
		}
	});
});

describe("a filter's bound on SQL parameters", () => {
	/** Every operator on every field, lists at their maximum of 100 values. */
	const worst = Object.fromEntries(
		Array.from({ length: MAX_FILTER_FIELDS }, (_, f) => [
			`field_${f}`,
			{
				$eq: "a",
				$ne: 1,
				$lt: 9,
				$lte: "z",
				$gt: 0,
				$gte: "a",
				$in: Array.from({ length: 100 }, (_, i) => `v${i}`),
				$nin: Array.from({ length: 100 }, (_, i) => i),
			},
		]),
	) as MetadataFilter;

	it("10 fields × 8 operators with 100-value lists compile to 80 parameters — and the schema refuses the filter anyway", async () => {
		expect(MAX_FILTER_PARAMS).toBe(80);
		const where = toSql(worst, "d.metadata");
		expect(where.params).toHaveLength(MAX_FILTER_PARAMS);
		// With the store's own parameters (3 for keyword search, 4 for the fresh tail) it stays under D1's 100.
		expect(where.params.length + 4).toBeLessThanOrEqual(D1_LIMITS.variables);
		const refused = MetadataFilterSchema.safeParse(worst);
		expect(refused.success).toBe(false);
		expect(refused.error?.issues.map((i) => i.message)).toEqual([
			`a filter's compact JSON must be under 2048 bytes (UTF-8), Vectorize's limit`,
		]);
		// It even runs, in D1 under its production limits (SQL well under 100 000 bytes).
		await env.DB.exec("CREATE TABLE IF NOT EXISTS filter_probe (id INTEGER PRIMARY KEY, metadata TEXT NOT NULL)");
		expect(await selected(['{"field_0":"a"}'], worst)).toEqual([]);
	});

	it("refuses at compile time a filter that skipped the schema and would bind more", () => {
		const tooMany = Object.fromEntries(
			Array.from({ length: 11 }, (_, f) => [
				`f${f}`,
				{ $eq: 1, $ne: 2, $lt: 3, $lte: 4, $gt: 5, $gte: 6, $in: [1], $nin: [2] },
			]),
		) as MetadataFilter;
		expect(() => toSql(tooMany, "metadata")).toThrow("a metadata filter compiled to 88 SQL parameters; at most 80");
	});
});

describe("Vectorize's 2048-byte filter limit", () => {
	/** A filter whose compact JSON is exactly `size` bytes, its strings made of `char` (1 or 2 UTF-8 bytes). */
	function filterOfBytes(size: number, char: "x" | "é"): MetadataFilter {
		const width = new TextEncoder().encode(char).length;
		const of = (values: string[]) => ({ topic: { $in: values } });
		const values: string[] = [];
		while (bytes(of([...values, char.repeat(200), ""])) <= size) values.push(char.repeat(200));
		const rest = size - bytes(of([...values, ""]));
		values.push("a".repeat(rest % width) + char.repeat(Math.floor(rest / width)));
		expect(bytes(of(values))).toBe(size);
		return of(values);
	}

	it("the schema accepts 2047 bytes and refuses 2048, counting UTF-8 bytes, not characters", () => {
		expect(MetadataFilterSchema.safeParse(filterOfBytes(2047, "x")).success).toBe(true);
		expect(MetadataFilterSchema.safeParse(filterOfBytes(2048, "x")).success).toBe(false);
		const accented = filterOfBytes(2048, "é");
		expect(JSON.stringify(accented).length).toBeLessThan(2048);
		const refused = MetadataFilterSchema.safeParse(accented);
		expect(refused.error?.issues[0]?.message).toMatch(/2048 bytes.*Vectorize/);
		expect(MetadataFilterSchema.safeParse(filterOfBytes(2047, "é")).success).toBe(true);
	});

	it("the local vector index refuses it like Vectorize, as a VECTOR_QUERY_ERROR", async () => {
		const index = localVectorIndex(env.VECTOR_INDEX, `filter-limit-${Date.now()}`, {
			model: "test-4d",
			dimensions: 4,
			indexingDelayMs: 0,
		});
		await index.upsert([{ id: "a", values: [1, 0, 0, 0], metadata: { topic: "x".repeat(200) } }]);
		const ok = await index.query([1, 0, 0, 0], { filter: filterOfBytes(2047, "x") as VectorizeVectorMetadataFilter });
		expect(ok.matches.map((m) => m.id)).toEqual(["a"]);
		await expect(
			index.query([1, 0, 0, 0], { filter: filterOfBytes(2048, "x") as VectorizeVectorMetadataFilter }),
		).rejects.toThrow("VECTOR_QUERY_ERROR: a filter's compact JSON must be under 2048 bytes (got 2048)");
	});

	it("every search mode (and the grounded query) answers 422 for it, before any index or database is asked", async () => {
		const auth = bearer(await freshPrincipalToken(`filter-limit-${Date.now()}`, "filter-limit", ["rag:read", "chat"]));
		const post = (path: string, body: object) =>
			callWith({}, path, {
				method: "POST",
				headers: { ...auth, "Content-Type": "application/json" },
				body: JSON.stringify(body),
			});
		const filter = filterOfBytes(2048, "x");
		for (const mode of ["hybrid", "vector", "keyword"]) {
			const problem = await expectProblem(
				await post("/v1/rag/search", { query: "x", mode, filter }),
				422,
				"validation-failed",
			);
			expect(JSON.stringify(problem.errors), mode).toContain("2048 bytes");
		}
		await expectProblem(await post("/v1/rag/query", { query: "x", filter }), 422, "validation-failed");
	});
});
