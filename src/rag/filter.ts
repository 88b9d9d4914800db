/**
 * Metadata filters, in Vectorize's syntax (`{ "topic": "billing", "year": { "$gte": 2024 }, "tier": { "$in": ["a"] } }`),
 * validated once and applied three ways with the same meaning: passed to the vector index, compiled to SQL over a
 * document's JSON metadata for keyword search, and evaluated in code for the fresh tail. Fields are ANDed.
 *
 * @example
 * ```ts
 * const f = MetadataFilterSchema.parse({ topic: "billing", year: { $gte: 2024 } });
 * matches(f, { topic: "billing", year: 2025 }); // true
 * toSql(f, "d.metadata"); // { sql: "(json_type(d.metadata, '$.\"topic\"') = 'text' AND …", params: ["billing", 2024] }
 * ```
 *
 * @module
 */
import { z } from "zod";
import { utf8Length } from "../lib/encoding";
import { VECTORIZE_LIMITS } from "../ports/vector-index";

const Scalar = z.union([z.string().max(256), z.number(), z.boolean()]);
const Ops = z
	.strictObject({
		$eq: Scalar.optional(),
		$ne: Scalar.optional(),
		$lt: z.union([z.number(), z.string()]).optional(),
		$lte: z.union([z.number(), z.string()]).optional(),
		$gt: z.union([z.number(), z.string()]).optional(),
		$gte: z.union([z.number(), z.string()]).optional(),
		$in: z.array(Scalar).min(1).max(100).optional(),
		$nin: z.array(Scalar).min(1).max(100).optional(),
	})
	.refine((o) => Object.keys(o).length > 0, "needs an operator");

export const FIELD = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** Fields a filter may name (ANDed). */
export const MAX_FILTER_FIELDS = 10;
/** The operators, each at most once per field (the keys of `Ops`). */
const OPERATORS = ["$eq", "$ne", "$lt", "$lte", "$gt", "$gte", "$in", "$nin"] as const;
/**
 * The most parameters `toSql` ever binds: one per operator on each field, `$in`/`$nin` included (their lists travel
 * as one JSON array). Callers add their own (keyword search: 3, the fresh tail: 4), and D1 allows 100 per
 * statement (https://developers.cloudflare.com/d1/platform/limits/).
 */
export const MAX_FILTER_PARAMS = MAX_FILTER_FIELDS * OPERATORS.length;
/**
 * Vectorize refuses a filter whose compact JSON is 2048 bytes or more
 * (https://developers.cloudflare.com/vectorize/reference/metadata-filtering/); we refuse it up front in every
 * search mode, so the same filter means the same thing (here: a 422) whether or not the index is asked.
 */
export const MAX_FILTER_JSON_BYTES = VECTORIZE_LIMITS.filterJsonBytes;

export const MetadataFilterSchema = z
	.record(z.string().regex(FIELD, "metadata field names are 1-64 of A-Z a-z 0-9 _ . -"), z.union([Scalar, Ops]))
	.refine((f) => Object.keys(f).length <= MAX_FILTER_FIELDS, `at most ${MAX_FILTER_FIELDS} fields`)
	.refine(
		(f) => utf8Length(JSON.stringify(f)) < MAX_FILTER_JSON_BYTES,
		`a filter's compact JSON must be under ${MAX_FILTER_JSON_BYTES} bytes (UTF-8), Vectorize's limit`,
	);
export type MetadataFilter = z.infer<typeof MetadataFilterSchema>;
type Value = z.infer<typeof Scalar>;

function opsOf(condition: Value | z.infer<typeof Ops>): [string, unknown][] {
	return typeof condition === "object"
		? Object.entries(condition).filter(([, v]) => v !== undefined)
		: [["$eq", condition]];
}

/**
 * Strings in code point order, which is the byte order of their UTF-8 (SQLite's BINARY collation, so `$lt` means
 * the same in SQL). UTF-16 code-unit order (`<` on strings) differs once a character above U+FFFF (a surrogate
 * pair) meets one in U+E000–U+FFFF; shifting the units restores code point order (the ICU "fix-up" trick).
 */
function compareCodePoints(a: string, b: string): number {
	const n = Math.min(a.length, b.length);
	for (let i = 0; i < n; i++) {
		const x = a.charCodeAt(i);
		const y = b.charCodeAt(i);
		if (x !== y) {
			const fix = (u: number) => (u < 0xd800 ? u : u < 0xe000 ? u + 0x2000 : u - 0x800);
			return fix(x) - fix(y);
		}
	}
	return a.length - b.length;
}

/** -1, 0 or 1 for two numbers or two strings; null for anything else (a type mismatch fails every range operator). */
const cmp = (a: unknown, b: unknown): number | null =>
	typeof a === "number" && typeof b === "number"
		? a < b
			? -1
			: a > b
				? 1
				: 0
		: typeof a === "string" && typeof b === "string"
			? Math.sign(compareCodePoints(a, b))
			: null;

/** Whether metadata satisfies the filter (missing fields fail every operator but `$ne` and `$nin`). */
export function matches(filter: MetadataFilter | undefined, metadata: Record<string, unknown>): boolean {
	if (!filter) return true;
	return Object.entries(filter).every(([field, condition]) => {
		const v = metadata[field];
		return opsOf(condition).every(([op, arg]) => {
			switch (op) {
				case "$eq":
					return v === arg;
				case "$ne":
					return v !== arg;
				case "$in":
					return (arg as unknown[]).includes(v);
				case "$nin":
					return !(arg as unknown[]).includes(v);
				case "$lt":
					return (cmp(v, arg) ?? 1) < 0;
				case "$lte":
					return (cmp(v, arg) ?? 1) <= 0;
				case "$gt":
					return (cmp(v, arg) ?? -1) > 0;
				case "$gte":
					return (cmp(v, arg) ?? -1) >= 0;
				default:
					return false;
			}
		});
	});
}

const RANGE_SQL: Record<string, string> = { $lt: "<", $lte: "<=", $gt: ">", $gte: ">=" };

/**
 * SQL for a JSON metadata column, with `matches()`'s meaning under SQLite's JSON typing: `true` never equals `1`,
 * `"2"` never equals `2`, `2` equals `2.0`, and a missing field (`json_type` NULL) fails every operator but `$ne`
 * and `$nin`. Field names are validated (FIELD) and inlined; values are bound: at most one parameter per operator,
 * `$in`/`$nin` included — their list is bound as one JSON array and read with `json_each(?)` — so a filter binds
 * at most MAX_FILTER_PARAMS whatever its lists hold (D1 allows 100 per statement).
 */
export function toSql(
	filter: MetadataFilter | undefined,
	column: string,
): { sql: string; params: (string | number)[] } {
	const parts: string[] = [];
	const params: (string | number)[] = [];
	for (const [field, condition] of Object.entries(filter ?? {})) {
		const e = `json_extract(${column}, '$."${field}"')`;
		const t = `json_type(${column}, '$."${field}"')`;
		/** Equality with one scalar: booleans by JSON type alone (no parameter), numbers and strings typed and bound. */
		const equals = (value: unknown): string => {
			if (typeof value === "boolean") return `${t} = '${value ? "true" : "false"}'`;
			params.push(value as string | number);
			return typeof value === "number" ? `(${t} IN ('integer', 'real') AND ${e} = ?)` : `(${t} = 'text' AND ${e} = ?)`;
		};
		/**
		 * Whether the field equals a member of the list: json_each gives each member's JSON type ('text', 'integer',
		 * 'real', 'true', 'false'), so types must agree (integer and real being one class) before values are compared.
		 */
		const inList = (list: unknown): string => {
			params.push(JSON.stringify(list));
			return `EXISTS (SELECT 1 FROM json_each(?) AS m WHERE (m.type = ${t} OR (m.type IN ('integer', 'real') AND ${t} IN ('integer', 'real'))) AND m.value = ${e})`;
		};
		for (const [op, arg] of opsOf(condition)) {
			switch (op) {
				case "$eq":
					parts.push(equals(arg));
					break;
				case "$ne":
					// A missing field makes the equality NULL: NOT NULL is NULL, so coalesce it to "not equal".
					parts.push(`NOT coalesce(${equals(arg)}, 0)`);
					break;
				case "$in":
					parts.push(inList(arg));
					break;
				case "$nin":
					// EXISTS is never NULL, so a missing field is simply "not in the list".
					parts.push(`NOT ${inList(arg)}`);
					break;
				case "$lt":
				case "$lte":
				case "$gt":
				case "$gte": {
					const types = typeof arg === "number" ? "'integer', 'real'" : "'text'";
					params.push(arg as string | number);
					parts.push(`(${t} IN (${types}) AND ${e} ${RANGE_SQL[op]} ?)`);
					break;
				}
				default:
					// An operator the schema does not know matches nothing, as in matches().
					parts.push("0");
			}
		}
	}
	// Holds by construction for validated filters; a filter that skipped the schema (more fields) fails here, not in D1.
	if (params.length > MAX_FILTER_PARAMS) {
		throw new Error(`a metadata filter compiled to ${params.length} SQL parameters; at most ${MAX_FILTER_PARAMS}`);
	}
	return { sql: parts.length > 0 ? parts.join(" AND ") : "1", params };
}
