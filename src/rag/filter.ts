import { z } from "zod";

/**
 * Metadata filters, in Vectorize's syntax (`{ "topic": "billing", "year": { "$gte": 2024 }, "tier": { "$in": ["a"] } }`),
 * validated once and applied three ways with the same meaning: passed to the vector index, compiled to SQL over a
 * document's JSON metadata for keyword search, and evaluated in code for the fresh tail. Fields are ANDed.
 *
 * @example
 * ```ts
 * const f = MetadataFilterSchema.parse({ topic: "billing", year: { $gte: 2024 } });
 * matches(f, { topic: "billing", year: 2025 }); // true
 * toSql(f, "d.metadata"); // { sql: "json_extract(d.metadata, '$.\"topic\"') = ? AND …", params: ["billing", 2024] }
 * ```
 */
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

export const MetadataFilterSchema = z
	.record(z.string().regex(FIELD, "metadata field names are 1-64 of A-Z a-z 0-9 _ . -"), z.union([Scalar, Ops]))
	.refine((f) => Object.keys(f).length <= 10, "at most 10 fields");
export type MetadataFilter = z.infer<typeof MetadataFilterSchema>;
type Value = z.infer<typeof Scalar>;

function opsOf(condition: Value | z.infer<typeof Ops>): [string, unknown][] {
	return typeof condition === "object"
		? Object.entries(condition).filter(([, v]) => v !== undefined)
		: [["$eq", condition]];
}

const cmp = (a: unknown, b: unknown) =>
	typeof a === typeof b && (typeof a === "number" || typeof a === "string")
		? a < (b as typeof a)
			? -1
			: a > (b as typeof a)
				? 1
				: 0
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

/** A condition on one JSON value with SQLite's JSON typing, so `true` never equals `1` and `"2"` never equals `2`. */
function sqlValue(column: string, field: string, value: unknown, params: (string | number)[]): string {
	const e = `json_extract(${column}, '$."${field}"')`;
	const t = `json_type(${column}, '$."${field}"')`;
	if (typeof value === "boolean") return `${t} = '${value ? "true" : "false"}'`;
	params.push(value as string | number);
	return typeof value === "number" ? `(${t} IN ('integer', 'real') AND ${e} = ?)` : `(${t} = 'text' AND ${e} = ?)`;
}

/** SQL for a JSON metadata column; field names are validated, values bound. */
export function toSql(
	filter: MetadataFilter | undefined,
	column: string,
): { sql: string; params: (string | number)[] } {
	const parts: string[] = [];
	const params: (string | number)[] = [];
	for (const [field, condition] of Object.entries(filter ?? {})) {
		const e = `json_extract(${column}, '$."${field}"')`;
		const t = `json_type(${column}, '$."${field}"')`;
		for (const [op, arg] of opsOf(condition)) {
			switch (op) {
				case "$eq":
					parts.push(sqlValue(column, field, arg, params));
					break;
				case "$ne":
					parts.push(`NOT coalesce(${sqlValue(column, field, arg, params)}, 0)`);
					break;
				case "$in":
					parts.push(`(${(arg as unknown[]).map((v) => sqlValue(column, field, v, params)).join(" OR ")})`);
					break;
				case "$nin":
					parts.push(
						`NOT coalesce((${(arg as unknown[]).map((v) => sqlValue(column, field, v, params)).join(" OR ")}), 0)`,
					);
					break;
				default: {
					const sqlOp = { $lt: "<", $lte: "<=", $gt: ">", $gte: ">=" }[op as "$lt"];
					const types = typeof arg === "number" ? "'integer', 'real'" : "'text'";
					params.push(arg as string | number);
					parts.push(`(${t} IN (${types}) AND ${e} ${sqlOp} ?)`);
				}
			}
		}
	}
	return { sql: parts.length > 0 ? parts.join(" AND ") : "1", params };
}
