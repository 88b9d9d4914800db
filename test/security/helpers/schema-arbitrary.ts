import fc from "fast-check";
import type { Schema } from "./openapi-operations";

/**
 * JSON Schema → fast-check arbitrary of values that satisfy it: object / array / string / number / integer /
 * boolean / null, enum, const, anyOf, oneOf, allOf (merged), `nullable` and type lists, min/max constraints,
 * `pattern`, `additionalProperties`. Values stay small and plausible (text from `words`, numbers near their
 * bounds) so that most reach the handler; hostile values are the mutators' job (mutate-json.ts).
 */
export type SchemaArbitraryOptions = {
	/** Words that valid text is mostly made of (so searches find the seeded documents). */
	words: readonly string[];
	/** Existing values (ids, model names) a string sometimes is, when its schema admits them. */
	known?: readonly string[];
	/** Nesting beyond which arrays are as short and objects as sparse as the schema allows. */
	maxDepth?: number;
};

const KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,15}$/;

/** Schema of `allOf` parts merged into one (object parts: properties and `required` combined). */
export function mergeAllOf(schema: Schema): Schema {
	if (!schema.allOf) return schema;
	const { allOf, ...rest } = schema;
	const merged: Schema = { ...rest, properties: { ...rest.properties }, required: [...(rest.required ?? [])] };
	for (const part of allOf.map(mergeAllOf)) {
		const { properties, required, ...other } = part;
		Object.assign(merged, other);
		Object.assign(merged.properties ?? {}, properties);
		merged.required = [...new Set([...(merged.required ?? []), ...(required ?? [])])];
	}
	return merged;
}

/** The types a schema admits (`type` list, `nullable`, or inferred from its keywords). */
export function typesOf(schema: Schema): string[] {
	const declared = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
	const inferred =
		declared.length > 0
			? declared
			: schema.properties || schema.additionalProperties !== undefined
				? ["object"]
				: schema.items
					? ["array"]
					: [];
	return schema.nullable && !inferred.includes("null") ? [...inferred, "null"] : inferred;
}

function text(options: SchemaArbitraryOptions, minLength: number, maxLength: number): fc.Arbitrary<string> {
	const cap = Math.min(maxLength, minLength + 60);
	const sentence = fc.array(fc.constantFrom(...options.words), { minLength: 1, maxLength: 8 }).map((w) => w.join(" "));
	const raw = fc.oneof(
		{ weight: 6, arbitrary: sentence },
		{ weight: 2, arbitrary: fc.string({ maxLength: cap }) },
		{ weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: cap }) },
		{ weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: cap }) },
	);
	return raw.map((s) => {
		let out = s;
		while (out.length < minLength) out += out.length === 0 ? "a" : ` ${out}`;
		return out.slice(0, maxLength);
	});
}

function integer(schema: Schema): fc.Arbitrary<number> {
	const lo =
		typeof schema.exclusiveMinimum === "number"
			? Math.floor(schema.exclusiveMinimum) + 1
			: schema.minimum !== undefined
				? Math.ceil(schema.minimum + (schema.exclusiveMinimum === true ? 1e-9 : 0))
				: undefined;
	const hi =
		typeof schema.exclusiveMaximum === "number"
			? Math.ceil(schema.exclusiveMaximum) - 1
			: schema.maximum !== undefined
				? Math.floor(schema.maximum - (schema.exclusiveMaximum === true ? 1e-9 : 0))
				: undefined;
	if (lo !== undefined && hi !== undefined) return fc.integer({ min: lo, max: hi });
	if (lo !== undefined) {
		return fc.oneof(
			{ weight: 6, arbitrary: fc.integer({ min: lo, max: lo + 64 }) },
			{ weight: 1, arbitrary: fc.integer({ min: lo, max: Number.MAX_SAFE_INTEGER }) },
		);
	}
	if (hi !== undefined) {
		return fc.oneof(
			{ weight: 6, arbitrary: fc.integer({ min: hi - 64, max: hi }) },
			{ weight: 1, arbitrary: fc.integer({ min: Number.MIN_SAFE_INTEGER, max: hi }) },
		);
	}
	return fc.oneof(
		{ weight: 6, arbitrary: fc.integer({ min: -1000, max: 1000 }) },
		{ weight: 1, arbitrary: fc.maxSafeInteger() },
	);
}

function number(schema: Schema): fc.Arbitrary<number> {
	const min = typeof schema.exclusiveMinimum === "number" ? schema.exclusiveMinimum : schema.minimum;
	const max = typeof schema.exclusiveMaximum === "number" ? schema.exclusiveMaximum : schema.maximum;
	const minExcluded = typeof schema.exclusiveMinimum === "number" || schema.exclusiveMinimum === true;
	const maxExcluded = typeof schema.exclusiveMaximum === "number" || schema.exclusiveMaximum === true;
	const double = fc.double({
		noNaN: true,
		noDefaultInfinity: true,
		...(min !== undefined ? { min, minExcluded } : {}),
		...(max !== undefined ? { max, maxExcluded } : {}),
	});
	if (min !== undefined || max !== undefined) return double;
	return fc.oneof({ weight: 3, arbitrary: fc.integer({ min: -1000, max: 1000 }) }, { weight: 1, arbitrary: double });
}

function string(schema: Schema, options: SchemaArbitraryOptions): fc.Arbitrary<string> {
	const minLength = schema.minLength ?? 0;
	const maxLength = schema.maxLength ?? 4096;
	const pattern = schema.pattern ? new RegExp(schema.pattern) : undefined;
	const generated = pattern
		? fc.stringMatching(pattern).filter((s) => s.length >= minLength && s.length <= maxLength)
		: text(options, minLength, maxLength);
	const known = (options.known ?? []).filter(
		(k) => k.length >= minLength && k.length <= maxLength && (!pattern || pattern.test(k)),
	);
	// The longest string allowed (patterns aside): limits are where off-by-one and storage errors live.
	const longest =
		schema.maxLength !== undefined && !pattern
			? fc
					.constantFrom(...options.words)
					.map((w) => `${w} `.repeat(Math.ceil(maxLength / (w.length + 1))).slice(0, maxLength))
			: undefined;
	return fc.oneof(
		{ weight: 6, arbitrary: generated },
		...(known.length > 0 ? [{ weight: 3, arbitrary: fc.constantFrom(...known) }] : []),
		...(longest ? [{ weight: 1, arbitrary: longest }] : []),
	);
}

function object(schema: Schema, options: SchemaArbitraryOptions, depth: number): fc.Arbitrary<Record<string, unknown>> {
	const properties = schema.properties ?? {};
	const required = new Set(schema.required ?? []);
	// Optional properties are left out more often than not: each one is another chance to be refused.
	const entries = Object.entries(properties).map(([k, s]) => {
		const value = valueArbitrary(s, options, depth + 1).map((v) => [k, v] as const);
		return required.has(k)
			? value
			: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 2, arbitrary: value });
	});
	const known = fc
		.tuple(...entries)
		.map((pairs) => Object.fromEntries(pairs.filter((p): p is readonly [string, unknown] => p !== undefined)));
	const extra = schema.additionalProperties;
	if (extra === false) return known;
	// Extra keys: values of the `additionalProperties` schema, or anything where any extra is allowed (and ignored).
	const extraValue =
		typeof extra === "object" ? valueArbitrary(extra, options, depth + 1) : fc.jsonValue({ maxDepth: 1 });
	const maxKeys = depth >= (options.maxDepth ?? 6) ? 0 : Object.keys(properties).length === 0 ? 4 : 2;
	const key = fc.stringMatching(KEY).filter((k) => !(k in properties) && k !== "__proto__");
	const extras =
		maxKeys > 0 && Object.keys(properties).length === 0
			? fc.oneof(
					{ weight: 8, arbitrary: fc.dictionary(key, extraValue, { maxKeys }) },
					// A map near and past typical key limits (the schema gives none).
					{ weight: 1, arbitrary: fc.dictionary(key, extraValue, { minKeys: 18, maxKeys: 24 }) },
				)
			: fc.dictionary(key, extraValue, { maxKeys });
	const wantsExtras = Object.keys(properties).length === 0 || typeof extra === "object";
	return fc
		.tuple(
			known,
			wantsExtras ? extras : fc.oneof({ weight: 4, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: extras }),
		)
		.map(([k, e]) => ({ ...e, ...k }));
}

function ofType(type: string, schema: Schema, options: SchemaArbitraryOptions, depth: number): fc.Arbitrary<unknown> {
	switch (type) {
		case "null":
			return fc.constant(null);
		case "boolean":
			return fc.boolean();
		case "integer":
			return integer(schema);
		case "number":
			return number(schema);
		case "string":
			return string(schema, options);
		case "array": {
			const minLength = schema.minItems ?? 0;
			const room = depth >= (options.maxDepth ?? 6) ? 0 : 4;
			const maxLength = Math.min(schema.maxItems ?? minLength + room, minLength + room);
			const items = valueArbitrary(schema.items ?? {}, options, depth + 1);
			const usual = fc.array(items, { minLength, maxLength });
			// Sometimes exactly as many items as allowed (up to 1 000).
			const full =
				schema.maxItems !== undefined && schema.maxItems > maxLength && schema.maxItems <= 1_000 && depth < 3
					? fc.array(items, { minLength: schema.maxItems, maxLength: schema.maxItems })
					: undefined;
			return full ? fc.oneof({ weight: 8, arbitrary: usual }, { weight: 1, arbitrary: full }) : usual;
		}
		case "object":
			return object(schema, options, depth);
		default:
			return fc.jsonValue({ maxDepth: 2 });
	}
}

/** Values valid against `schema` (assumed dereferenced). */
export function valueArbitrary(schema: Schema, options: SchemaArbitraryOptions, depth = 0): fc.Arbitrary<unknown> {
	if (schema.const !== undefined) return fc.constant(schema.const);
	if (schema.enum && schema.enum.length > 0) return fc.constantFrom(...schema.enum);
	const alternatives = schema.anyOf ?? schema.oneOf;
	if (alternatives && alternatives.length > 0) {
		const { anyOf: _a, oneOf: _o, ...rest } = schema;
		return fc.oneof(...alternatives.map((alt) => valueArbitrary({ ...rest, ...alt }, options, depth)));
	}
	if (schema.allOf) return valueArbitrary(mergeAllOf(schema), options, depth);
	const types = typesOf(schema);
	if (types.length === 0) return fc.jsonValue({ maxDepth: 2 });
	if (types.length === 1) return ofType(types[0] as string, schema, options, depth);
	// A nullable field is mostly its real type.
	return fc.oneof(
		...types.map((t) => ({ weight: t === "null" ? 1 : 3, arbitrary: ofType(t, schema, options, depth) })),
	);
}
