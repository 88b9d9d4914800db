/**
 * D1's production limits (https://developers.cloudflare.com/d1/platform/limits/) that a client can check from the SQL
 * text and the bound values alone. A limit D1 enforces on the server but a local database does not (or not at
 * the same size) lets a test pass that production fails with a 500.
 *
 * Checked, because each is one linear pass over what the caller already holds:
 * - `sqlBytes`: a statement's SQL in UTF-8 bytes (SQLite's SQLITE_LIMIT_SQL_LENGTH; a longer one fails);
 * - `variables`: host parameters per statement (SQLITE_LIMIT_VARIABLE_NUMBER), counted as SQLite counts them in
 *   the SQL — the highest `?`, `?NNN`, `:name`, `@name`, `$name` number — plus more than this many values bound;
 * - `valueBytes`: one bound string (UTF-8) or BLOB (SQLITE_LIMIT_LENGTH; the table-row size under the same limit
 *   needs the stored row, which only the server has).
 *
 * Not checked: arguments per SQL function (32) and the LIKE/GLOB pattern length (50 bytes) need a SQL parser to tell
 * a function call from a column list or to find which value is a pattern; columns per table, query duration and
 * database size need the server; queries per invocation (1000, 50 on Free) needs the invocation, which a wrapped
 * binding outlives.
 *
 * The local D1 of this repository's wrangler (workerd) already refuses the variable count and the SQL length, with
 * the same messages (test/integration/d1-limits.test.ts compares them), but not the value size; the wrapper makes
 * all three hold whatever the local runtime's version, and fails where the limit was broken (see the stack).
 *
 * @module
 */

/** The limits {@link withD1Limits} checks: SQL bytes and host parameters per statement, bytes per bound value. */
export const D1_LIMITS = {
	sqlBytes: 100_000,
	variables: 100,
	valueBytes: 2_000_000,
} as const;

const encoder = new TextEncoder();

/** Whether a string's UTF-8 exceeds `limit` bytes; UTF-16 length ≤ UTF-8 bytes ≤ 3 × length, so most need no encoding. */
function utf8Exceeds(s: string, limit: number): boolean {
	return s.length > limit || (s.length * 3 > limit && encoder.encode(s).length > limit);
}

/** A letter, digit, `_`, `$` or any non-ASCII unit: what SQLite's tokenizer (tokenize.c, IdChar) keeps in a word. */
function isIdChar(c: number): boolean {
	return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 36 || c >= 0x80;
}

/** Index just past the quoted token opening at `start` (a doubled quote stays inside), or the end. */
function closeQuote(sql: string, start: number, quote: string): number {
	let i = start + 1;
	for (;;) {
		const end = sql.indexOf(quote, i);
		if (end < 0) return sql.length;
		if (sql[end + 1] !== quote) return end + 1;
		i = end + 2;
	}
}

/**
 * The first host parameter SQLite would refuse, as it numbers them while parsing (expr.c,
 * sqlite3ExprAssignVarNumber): `?` takes the next number, `?NNN` takes NNN (1 to the limit), a name takes the next
 * number the first time it appears. Strings, quoted identifiers and comments are skipped, as the tokenizer does.
 * Returns the UTF-16 index of the token and SQLite's message, or null.
 */
function refusedVariable(sql: string, limit: number): { index: number; message: string } | null {
	let count = 0;
	const names = new Set<string>();
	let i = 0;
	while (i < sql.length) {
		const c = sql.charCodeAt(i);
		const ch = sql[i] ?? "";
		if (ch === "'" || ch === '"' || ch === "`") {
			i = closeQuote(sql, i, ch);
		} else if (ch === "[") {
			const end = sql.indexOf("]", i + 1);
			i = end < 0 ? sql.length : end + 1;
		} else if (ch === "-" && sql[i + 1] === "-") {
			const end = sql.indexOf("\n", i + 2);
			i = end < 0 ? sql.length : end + 1;
		} else if (ch === "/" && sql[i + 1] === "*") {
			const end = sql.indexOf("*/", i + 2);
			i = end < 0 ? sql.length : end + 2;
		} else if (ch === "?") {
			let j = i + 1;
			while (j < sql.length && sql.charCodeAt(j) >= 48 && sql.charCodeAt(j) <= 57) j++;
			if (j > i + 1) {
				const n = Number(sql.slice(i + 1, j));
				if (n < 1 || n > limit) return { index: i, message: `variable number must be between ?1 and ?${limit}` };
				count = Math.max(count, n);
			} else if (++count > limit) {
				return { index: i, message: "too many SQL variables" };
			}
			i = j;
		} else if (ch === ":" || ch === "@" || ch === "$") {
			let j = i + 1;
			while (j < sql.length && isIdChar(sql.charCodeAt(j))) j++;
			const name = sql.slice(i, j);
			if (j > i + 1 && !names.has(name)) {
				names.add(name);
				if (++count > limit) return { index: i, message: "too many SQL variables" };
			}
			i = Math.max(j, i + 1);
		} else if (isIdChar(c)) {
			// A whole word, so a `$` inside an identifier (`a$b`) is not taken for a parameter.
			while (i < sql.length && isIdChar(sql.charCodeAt(i))) i++;
		} else {
			i++;
		}
	}
	return null;
}

/**
 * What SQLite answers when preparing `sql` against D1's limits, in D1's words ("<sqlite message>[ at offset
 * <UTF-8 byte>]: <result code>", as workerd's local D1 answers for the same limits), or null.
 */
function prepareFailure(sql: string): string | null {
	if (utf8Exceeds(sql, D1_LIMITS.sqlBytes)) return "statement too long: SQLITE_TOOBIG";
	const refused = refusedVariable(sql, D1_LIMITS.variables);
	if (!refused) return null;
	const offset = encoder.encode(sql.slice(0, refused.index)).length;
	return `${refused.message} at offset ${offset}: SQLITE_ERROR`;
}

/** What binding `values` answers, or null. Runs after prepareFailure, so the SQL holds at most 100 variables. */
function bindFailure(values: readonly unknown[]): string | null {
	// More values than the SQL's (≤ 100) variables: D1 refuses the count mismatch (workerd's sqlite.c++).
	if (values.length > D1_LIMITS.variables) return "Wrong number of parameter bindings for SQL query.";
	const tooBig = (v: unknown) =>
		typeof v === "string"
			? utf8Exceeds(v, D1_LIMITS.valueBytes)
			: (v instanceof ArrayBuffer || ArrayBuffer.isView(v) ? v.byteLength : Array.isArray(v) ? v.length : 0) >
				D1_LIMITS.valueBytes;
	if (values.some(tooBig)) return "string or blob too big: SQLITE_TOOBIG";
	return null;
}

/** The binding's error for a failed statement: `D1_ERROR: <message>` with the bare message as its cause. */
const d1Error = (message: string) => new Error(`D1_ERROR: ${message}`, { cause: new Error(message) });

/** Statements that will fail, with their error (created where the limit was broken, so its stack points there). */
const failures = new WeakMap<object, Error>();
const EXECUTE = new Set<PropertyKey>(["first", "all", "run", "raw"]);

/**
 * The statement as a Proxy over the real one, not a look-alike: the real `batch()` reads the statement's own fields
 * (its SQL and parameters), which a Proxy forwards. A failing statement rejects when executed, as D1 does.
 */
function guardStatement(statement: D1PreparedStatement, failure: Error | null): D1PreparedStatement {
	const guarded = new Proxy(statement, {
		get(target, prop) {
			if (prop === "bind") {
				return (...values: unknown[]) => {
					const bound = target.bind(...values);
					const message = failure ? null : bindFailure(values);
					return guardStatement(bound, failure ?? (message === null ? null : d1Error(message)));
				};
			}
			if (failure && EXECUTE.has(prop)) return () => Promise.reject(failure);
			const value: unknown = Reflect.get(target, prop, target);
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
	if (failure) failures.set(guarded, failure);
	return guarded;
}

type Queryable = Pick<D1Database, "prepare" | "batch">;

/** prepare and batch guarded, everything else the target's own (dump, getBookmark, future methods). */
function guardQueryable<T extends Queryable>(
	target: T,
	extra: (prop: PropertyKey) => ((...args: never[]) => unknown) | undefined,
): T {
	return new Proxy(target, {
		get(t, prop) {
			if (prop === "prepare") {
				return (sql: string) => {
					const message = prepareFailure(sql);
					return guardStatement(t.prepare(sql), message === null ? null : d1Error(message));
				};
			}
			if (prop === "batch") {
				return (statements: D1PreparedStatement[]) => {
					// A batch is one transaction: one failing statement fails it whole, before anything runs.
					const failure = statements.map((s) => failures.get(s)).find((f) => f !== undefined);
					return failure ? Promise.reject(failure) : t.batch(statements);
				};
			}
			const own = extra(prop);
			if (own) return own;
			const value: unknown = Reflect.get(t, prop, t);
			return typeof value === "function" ? value.bind(t) : value;
		},
	});
}

/**
 * Wraps a D1 binding so that statements breaking D1's production limits (D1_LIMITS) fail locally as they would in
 * production: with D1's error message, when executed (`first`/`all`/`run`/`raw` reject; `batch` rejects whole;
 * `exec` rejects naming the line). Everything else passes through untouched, statements included (the real
 * `batch` accepts them), and so do sessions (`withSession`) and `dump`. For local and test environments: in
 * production D1 itself enforces these limits, and the wrapper would only add a scan of each statement.
 *
 * @example
 * ```ts
 * const db = withD1Limits(env.DB);
 * await db.prepare(`SELECT * FROM t WHERE id IN (${ids.map(() => "?").join(", ")})`).bind(...ids).all();
 * // with 101 ids: rejects "D1_ERROR: too many SQL variables at offset 329: SQLITE_ERROR", as D1 would
 * ```
 */
export function withD1Limits(db: D1Database): D1Database {
	return guardQueryable(db, (prop) => {
		if (prop === "exec") {
			return (sql: string) => {
				// exec runs one statement per line (workerd's d1-api.ts); D1 reports a failure as "line 1" with the
				// first line, whichever line failed (as local D1 answers), and so do we.
				const lines = sql.trim().split("\n");
				const message = lines.map(prepareFailure).find((m) => m !== null);
				if (message == null) return db.exec(sql);
				const detail = `Error in line 1: ${lines[0]}: ${message}`;
				return Promise.reject(new Error(`D1_EXEC_ERROR: ${detail}`, { cause: new Error(detail) }));
			};
		}
		if (prop === "withSession" && typeof db.withSession === "function") {
			return (constraintOrBookmark?: string) => guardQueryable(db.withSession(constraintOrBookmark), () => undefined);
		}
		return undefined;
	});
}
