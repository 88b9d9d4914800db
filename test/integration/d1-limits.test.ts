import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { D1_LIMITS, withD1Limits } from "../../src/db/d1-limits";
import { encodeVector } from "../../src/lib/encoding";
import { MAX_FILTER_PARAMS, type MetadataFilter, MetadataFilterSchema } from "../../src/rag/filter";
import { freshTail, keywordSearch } from "../../src/rag/search-store";

const db = withD1Limits(env.DB);
const marks = (n: number) => Array.from({ length: n }, () => "?").join(", ");
const ones = (n: number) => Array.from({ length: n }, () => 1);
/** How a promise settles: its error message, or "ok". */
const outcome = (p: Promise<unknown>) =>
	p.then(
		() => "ok",
		(e: unknown) => (e instanceof Error ? e.message : String(e)),
	);

/**
 * A D1 binding that accepts everything: wrapped, whatever fails can only be the guard's own verdict, which the
 * tests below compare with what workerd's local D1 answers (it runs SQLite with D1's variable and SQL-length limits).
 */
const acceptAll = (): D1Database => {
	const statement = (): D1PreparedStatement =>
		({
			bind: () => statement(),
			first: async () => null,
			all: async () => ({ results: [], success: true, meta: {} }),
			run: async () => ({ results: [], success: true, meta: {} }),
			raw: async () => [],
		}) as unknown as D1PreparedStatement;
	return {
		prepare: () => statement(),
		batch: async () => [],
		exec: async () => ({ count: 0, duration: 0 }),
		withSession: () => ({ prepare: () => statement(), batch: async () => [], getBookmark: () => null }),
		dump: async () => new ArrayBuffer(0),
	} as unknown as D1Database;
};

describe("withD1Limits refuses what production D1 refuses, in D1's words", () => {
	it("more than 100 host parameters: 'too many SQL variables at offset <byte>', as D1 answers", async () => {
		const sql = `SELECT 1 IN (${marks(101)}) AS hit`;
		const expected = "D1_ERROR: too many SQL variables at offset 313: SQLITE_ERROR";
		await expect(
			db
				.prepare(sql)
				.bind(...ones(101))
				.all(),
		).rejects.toThrow(expected);
		// The same text as the binding itself answers (workerd's local D1 enforces this limit too).
		expect(
			await outcome(
				env.DB.prepare(sql)
					.bind(...ones(101))
					.all(),
			),
		).toBe(expected);
		const cause = await db
			.prepare(sql)
			.bind(...ones(101))
			.first()
			.catch((e: Error) => e.cause);
		expect(cause).toEqual(new Error("too many SQL variables at offset 313: SQLITE_ERROR"));
		// 100 is allowed.
		expect(
			await db
				.prepare(`SELECT 1 IN (${marks(100)}) AS hit`)
				.bind(...ones(100))
				.first("hit"),
		).toBe(1);
	});

	it("counts parameters as SQLite does (numbered, named, repeated; not in strings or comments) — same verdict as D1", async () => {
		const cases = [
			`SELECT ?100, ?`, // ? after ?100 is number 101
			`SELECT ?0`,
			`SELECT ?101`,
			`SELECT ${Array.from({ length: 101 }, (_, i) => `:p${i}`).join(", ")}`,
			`SELECT 1 IN (${Array.from({ length: 150 }, (_, i) => `@p${i % 50}`).join(", ")})`, // 50 names, reused
			`SELECT 'ééé', 1 IN (${marks(101)})`, // the offset is in UTF-8 bytes
			`SELECT '${"?".repeat(200)}', "?" AS "c?", 1 AS a$b /* ${"?".repeat(200)} */ -- ${"?".repeat(200)}\n, ?`,
			`SELECT 1 IN (${marks(101)})`, // refused when prepared, bound or not
		];
		for (const sql of cases) {
			const guard = await outcome(withD1Limits(acceptAll()).prepare(sql).all());
			const d1 = await outcome(env.DB.prepare(sql).all());
			if (/SQL variables|variable number/.test(d1)) expect(guard, sql).toBe(d1);
			else expect(guard, sql).toBe("ok");
		}
	});

	it("agrees with D1 on random mixes of parameters, strings, quoted names and comments (property)", async () => {
		const item = fc.oneof(
			fc.constant("?"),
			fc.integer({ min: 0, max: 130 }).map((n) => `?${n}`),
			fc.tuple(fc.constantFrom(":", "@", "$"), fc.integer({ min: 0, max: 120 })).map(([p, n]) => `${p}v${n}`),
			fc.constantFrom("'?'", "'it''s ?'", "/* ? */ 1", "-- ?\n 2", "x'3f'", "1e3", '"?"'),
		);
		await fc.assert(
			fc.asyncProperty(fc.array(item, { minLength: 1, maxLength: 160, size: "max" }), async (items) => {
				const sql = `SELECT 1 WHERE 1 IN (${items.join(", ")})`;
				const guard = await outcome(withD1Limits(acceptAll()).prepare(sql).all());
				const d1 = await outcome(env.DB.prepare(sql).all());
				if (/SQL variables|variable number/.test(d1)) expect(guard).toBe(d1);
				else expect(guard).toBe("ok");
			}),
			{ numRuns: 150 },
		);
	});

	it("SQL over 100 000 bytes: 'statement too long', as D1 answers; exactly 100 000 passes", async () => {
		const sql = (bytes: number) => `SELECT '${"x".repeat(bytes - 14)}' AS s`;
		expect(sql(100_000).length).toBe(D1_LIMITS.sqlBytes);
		expect(((await db.prepare(sql(100_000)).first<{ s: string }>()) ?? { s: "" }).s).toHaveLength(99_986);
		const expected = "D1_ERROR: statement too long: SQLITE_TOOBIG";
		await expect(db.prepare(sql(100_001)).all()).rejects.toThrow(expected);
		expect(await outcome(env.DB.prepare(sql(100_001)).all())).toBe(expected);
		// Bytes, not characters: 50 001 'é' are 100 002 bytes.
		expect(
			await outcome(
				withD1Limits(acceptAll())
					.prepare(`SELECT '${"é".repeat(50_001)}'`)
					.run(),
			),
		).toBe(expected);
		expect(
			await outcome(
				withD1Limits(acceptAll())
					.prepare(`--${"é".repeat(49_999)}`)
					.run(),
			),
		).toBe("ok");
	});

	it("a bound string or BLOB over 2 000 000 bytes: 'string or blob too big' (local D1 accepts up to its own, larger limit)", async () => {
		const expected = "D1_ERROR: string or blob too big: SQLITE_TOOBIG";
		expect(await db.prepare("SELECT length(?) AS n").bind("x".repeat(2_000_000)).first("n")).toBe(2_000_000);
		await expect(db.prepare("SELECT length(?) AS n").bind("x".repeat(2_000_001)).first()).rejects.toThrow(expected);
		await expect(db.prepare("SELECT length(?) AS n").bind("é".repeat(1_000_001)).first()).rejects.toThrow(expected);
		await expect(db.prepare("SELECT length(?) AS n").bind(new Uint8Array(2_000_001)).first()).rejects.toThrow(expected);
		expect(await db.prepare("SELECT length(?) AS n").bind(new Uint8Array(2_000_000)).first("n")).toBe(2_000_000);
	});

	it("more than 100 values bound to fewer variables: D1's count mismatch", async () => {
		const expected = "D1_ERROR: Wrong number of parameter bindings for SQL query.";
		await expect(
			db
				.prepare("SELECT ? AS a")
				.bind(...ones(101))
				.all(),
		).rejects.toThrow(expected);
		expect(
			await outcome(
				env.DB.prepare("SELECT ? AS a")
					.bind(...ones(101))
					.all(),
			),
		).toBe(expected);
	});

	it("fails when executed, as D1 does, with a stack that points at the statement that broke the limit", async () => {
		const statement = db.prepare(`SELECT 1 IN (${marks(101)})`);
		const bound = statement.bind(...ones(101)); // neither prepare nor bind throws
		const error = await bound.run().catch((e: Error) => e);
		expect(error).toBeInstanceOf(Error);
		expect((error as Error).stack).toContain("d1-limits.test.ts");
		for (const run of [() => bound.first(), () => bound.all(), () => bound.raw(), () => bound.first("x")]) {
			await expect(run()).rejects.toThrow("too many SQL variables");
		}
	});
});

describe("withD1Limits passes everything else through", () => {
	it("prepare/bind/first/all/run/raw, batch and exec give what the binding gives", async () => {
		await env.DB.exec("CREATE TABLE IF NOT EXISTS d1_limits_probe (id INTEGER PRIMARY KEY, name TEXT, data BLOB)");
		await env.DB.exec("DELETE FROM d1_limits_probe");
		const insert = "INSERT INTO d1_limits_probe (id, name, data) VALUES (?, ?, ?)";
		const written = await db
			.prepare(insert)
			.bind(1, "one", new Uint8Array([1, 2, 3]))
			.run();
		expect(written.success).toBe(true);
		expect(written.meta.changes).toBe(1);
		const batch = await db.batch([
			db.prepare(insert).bind(2, "two", null),
			db.prepare(insert).bind(3, "three", null),
			db.prepare("SELECT count(*) AS n FROM d1_limits_probe"),
		]);
		expect(batch).toHaveLength(3);
		expect(batch[2]?.results).toEqual([{ n: 3 }]);
		// The wrapped statements are accepted by the real batch too.
		const real = await env.DB.batch([db.prepare("SELECT name FROM d1_limits_probe WHERE id = ?").bind(2)]);
		expect(real[0]?.results).toEqual([{ name: "two" }]);

		const select = "SELECT id, name, data FROM d1_limits_probe ORDER BY id";
		expect(await db.prepare(select).all()).toMatchObject({
			success: true,
			results: (await env.DB.prepare(select).all()).results,
		});
		expect(await db.prepare(select).first()).toEqual(await env.DB.prepare(select).first());
		expect(await db.prepare(select).first("name")).toBe("one");
		expect(await db.prepare(select).raw()).toEqual(await env.DB.prepare(select).raw());
		expect(await db.prepare(select).raw({ columnNames: true })).toEqual(
			await env.DB.prepare(select).raw({ columnNames: true }),
		);
		// Re-binding replaces the values, as the binding does.
		expect(await db.prepare("SELECT ? AS v").bind(1).bind(2).first("v")).toBe(2);
		// The binding's own errors are untouched.
		expect(await outcome(db.prepare("SELECT * FROM no_such_table").all())).toBe(
			await outcome(env.DB.prepare("SELECT * FROM no_such_table").all()),
		);

		const exec = await db.exec(
			"INSERT INTO d1_limits_probe (id, name) VALUES (4, 'four');\nDELETE FROM d1_limits_probe WHERE id = 4;",
		);
		expect(exec.count).toBe(2);
	});

	it("a batch with one statement over the limits fails whole, before anything runs", async () => {
		await env.DB.exec("CREATE TABLE IF NOT EXISTS d1_limits_probe (id INTEGER PRIMARY KEY, name TEXT, data BLOB)");
		await env.DB.exec("DELETE FROM d1_limits_probe");
		await expect(
			db.batch([
				db.prepare("INSERT INTO d1_limits_probe (id, name) VALUES (?, ?)").bind(10, "ten"),
				db.prepare(`SELECT 1 IN (${marks(101)})`).bind(...ones(101)),
			]),
		).rejects.toThrow("D1_ERROR: too many SQL variables at offset 313: SQLITE_ERROR");
		expect(await env.DB.prepare("SELECT count(*) AS n FROM d1_limits_probe").first("n")).toBe(0);
	});

	it("exec refuses a line over the limits as D1 reports it ('line 1'), and passes good SQL", async () => {
		const long = `SELECT '${"x".repeat(100_001)}';`;
		const expected = `D1_EXEC_ERROR: Error in line 1: SELECT 1;: statement too long: SQLITE_TOOBIG`;
		await expect(db.exec(`SELECT 1;\n${long}`)).rejects.toThrow(expected);
		expect(await outcome(env.DB.exec(`SELECT 1;\n${long}`))).toBe(expected);
		expect((await db.exec("SELECT 1;\nSELECT 2;")).count).toBe(2);
	});

	it("sessions are guarded too; their bookmarks and dump pass through", async () => {
		const session = db.withSession("first-primary");
		expect(await session.prepare("SELECT 7 AS v").first("v")).toBe(7);
		expect(session.getBookmark()).toEqual(expect.any(String));
		expect((await session.batch([session.prepare("SELECT 8 AS v")]))[0]?.results).toEqual([{ v: 8 }]);
		await expect(
			session
				.prepare(`SELECT 1 IN (${marks(101)})`)
				.bind(...ones(101))
				.all(),
		).rejects.toThrow("too many SQL variables");
		expect(await outcome(db.dump())).toBe(await outcome(env.DB.dump()));
	});
});

describe("the RAG store's production queries run through the guard", () => {
	/** The largest filter the schema accepts: 10 fields × 8 operators, lists padded to just under 2048 bytes. */
	function largestFilter(): MetadataFilter {
		const fields = Object.fromEntries(
			"abcdefghij".split("").map((f) => [
				f,
				{
					$eq: 1,
					$ne: 2,
					$lt: 9,
					$lte: 9,
					$gt: 0,
					$gte: 0,
					$in: [1] as (string | number)[],
					$nin: [2] as (string | number)[],
				},
			]),
		);
		const size = () => new TextEncoder().encode(JSON.stringify(fields)).length;
		// Numbers into the $in lists while a padding string still fits, then one string ($nin) to exactly 2047 bytes.
		for (let i = 0; size() < 2047 - 30; i++) fields["abcdefghij"[i % 10] as string]?.$in.push(100 + i);
		fields.a?.$nin.push("x".repeat(2047 - size() - 3));
		return MetadataFilterSchema.parse(fields);
	}

	it("keywordSearch and freshTail with the largest allowed filter: no D1 limit broken, and they still match", async () => {
		const filter = largestFilter();
		expect(new TextEncoder().encode(JSON.stringify(filter)).length).toBe(2047);
		const tenant = `d1-limits-${Date.now()}`;
		const now = Date.now();
		const metadata = Object.fromEntries("abcdefghij".split("").map((f) => [f, 1]));
		await env.DB.batch([
			env.DB.prepare(
				"INSERT INTO documents (tenant, id, title, metadata, content_hash, chars, chunk_count, embedding_model, created_at, updated_at) VALUES (?, ?, ?, ?, 'h', 10, 1, 'm', ?, ?)",
			).bind(tenant, "doc", "Doc", JSON.stringify(metadata), now, now),
			env.DB.prepare(
				"INSERT INTO chunks (id, tenant, document_id, position, heading, text, content_hash, embedding, created_at) VALUES (?, ?, 'doc', 0, '', ?, 'h', ?, ?)",
			).bind(`${tenant}-c0`, tenant, "canary rollback runbook", encodeVector([1, 0, 0, 0]), now),
		]);
		const hits = await keywordSearch(db, tenant, "canary rollback", 5, filter);
		expect(hits.map((h) => h.id)).toEqual([`${tenant}-c0`]);
		const tail = await freshTail(db, tenant, now - 1, Number.MAX_SAFE_INTEGER, filter, 2_000);
		expect(tail.map((t) => t.id)).toEqual([`${tenant}-c0`]);
		// The filter still decides: one field off and nothing matches.
		const off = MetadataFilterSchema.parse({ ...filter, a: { $in: [2, 3] } });
		expect(await keywordSearch(db, tenant, "canary rollback", 5, off)).toEqual([]);
		expect(await freshTail(db, tenant, now - 1, Number.MAX_SAFE_INTEGER, off, 2_000)).toEqual([]);
		expect(MAX_FILTER_PARAMS + 4).toBeLessThanOrEqual(D1_LIMITS.variables);
	});
});
