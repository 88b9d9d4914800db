import fc from "fast-check";
import { EXTREME_NUMBERS, HOSTILE_STRINGS } from "./hostile-values";

/**
 * Mutations of a schema-valid JSON value into a hostile JSON text: a field dropped, a value of the wrong type,
 * a huge string, deep nesting, an array of 10 000 elements, extreme number literals (`1e999`, `-0`,
 * 2^53 + 1), `__proto__` / `constructor` keys, duplicate keys, unknown fields. Literals `JSON.stringify`
 * cannot write are spliced into its output through placeholders.
 */
export type JsonPath = (string | number)[];
export type MutatedJson = { label: string; text: string };
type Mutation = (value: unknown, path: JsonPath) => MutatedJson;

const RAW = "@@FUZZ_RAW@@";
const KEY = "@@FUZZ_KEY@@";

/** Every node's path (the root's is `[]`), breadth first, at most `limit`. */
export function pathsOf(value: unknown, limit = 200): JsonPath[] {
	const out: JsonPath[] = [];
	const queue: [unknown, JsonPath][] = [[value, []]];
	while (queue.length > 0 && out.length < limit) {
		const [node, path] = queue.shift() as [unknown, JsonPath];
		out.push(path);
		if (Array.isArray(node)) {
			for (const [i, v] of node.entries()) queue.push([v, [...path, i]]);
		} else if (node && typeof node === "object") {
			for (const [k, v] of Object.entries(node)) queue.push([v, [...path, k]]);
		}
	}
	return out;
}

function getAt(root: unknown, path: JsonPath): unknown {
	return path.reduce<unknown>((node, k) => (node as Record<string | number, unknown> | null)?.[k], root);
}

/** A copy of `root` with the node at `path` replaced by `f(node)` (`f` returning `undefined` deletes it). */
function updateAt(root: unknown, path: JsonPath, f: (node: unknown) => unknown): unknown {
	if (path.length === 0) return f(root);
	const [head, ...rest] = path as [string | number, ...JsonPath];
	if (Array.isArray(root)) {
		const copy = [...root];
		const next = updateAt(copy[head as number], rest, f);
		if (next === undefined && rest.length === 0) copy.splice(head as number, 1);
		else copy[head as number] = next;
		return copy;
	}
	const copy: Record<string, unknown> = { ...(root as Record<string, unknown>) };
	const next = updateAt(copy[head as string], rest, f);
	if (next === undefined && rest.length === 0) delete copy[head as string];
	else copy[head as string] = next;
	return copy;
}

/** Serialises `value` with the node at `path` written as the raw JSON `literal`. */
function withRaw(value: unknown, path: JsonPath, literal: string): string {
	return JSON.stringify(updateAt(value, path, () => RAW)).replace(`"${RAW}"`, () => literal);
}

/** Serialises `value` with `"key": literal` added to the object at `path` (or the root, when that is none). */
function withRawMember(value: unknown, path: JsonPath, key: string, literal: string): string {
	const target = getAt(value, path);
	const at = target && typeof target === "object" && !Array.isArray(target) ? path : [];
	const base = getAt(value, at);
	if (!base || typeof base !== "object" || Array.isArray(base)) return JSON.stringify({ [key]: JSON.parse(literal) });
	const text = JSON.stringify(updateAt(value, at, (node) => ({ ...(node as object), [KEY]: RAW })));
	return text.replace(`"${KEY}":"${RAW}"`, () => `${JSON.stringify(key)}:${literal}`);
}

const WRONG_TYPED: readonly unknown[] = [0, -1, 1.5, "", "text", true, false, null, [], {}, [null], { a: 1 }, ["x"]];

function kind(v: unknown): string {
	return v === null ? "null" : Array.isArray(v) ? "array" : typeof v;
}

const drop: fc.Arbitrary<Mutation> = fc.nat().map((n) => (value: unknown, path: JsonPath) => {
	// A member of the node itself when it has members, else of its parent.
	const target = getAt(value, path);
	const owner = target && typeof target === "object" && Object.keys(target).length > 0 ? path : path.slice(0, -1);
	const node = getAt(value, owner);
	const keys = node && typeof node === "object" ? Object.keys(node) : [];
	if (keys.length === 0) return { label: "drop-field", text: "{}" };
	const key = keys[n % keys.length] as string;
	const at = [...owner, Array.isArray(node) ? Number(key) : key];
	return { label: "drop-field", text: JSON.stringify(updateAt(value, at, () => undefined) ?? {}) };
});

const wrongType: fc.Arbitrary<Mutation> = fc.nat().map((n) => (value: unknown, path: JsonPath) => {
	const current = kind(getAt(value, path));
	const options = WRONG_TYPED.filter((w) => kind(w) !== current);
	const replacement = options[n % options.length];
	return { label: `wrong-type:${kind(replacement)}`, text: JSON.stringify(updateAt(value, path, () => replacement)) };
});

const hugeString: fc.Arbitrary<Mutation> = fc
	.constantFrom(
		{ label: "huge-string:10k", make: () => "A".repeat(10_000) },
		{ label: "huge-string:200k", make: () => "lorem ipsum ".repeat(17_000) },
		{ label: "huge-string:unicode", make: () => "😀ß\u202e".repeat(5_000) },
		{ label: "huge-string:nul", make: () => "\u0000".repeat(10_000) },
		{ label: "huge-string:over-limit", make: () => "x".repeat(1_100_000) },
	)
	.map(({ label, make }) => (value: unknown, path: JsonPath) => ({
		label,
		text: JSON.stringify(updateAt(value, path, make)),
	}));

const hugeArray: fc.Arbitrary<Mutation> = fc
	.constantFrom(10_000, 1_000, 100_001)
	.map((n) => (value: unknown, path: JsonPath) => {
		const current = getAt(value, path);
		const sample = Array.isArray(current) ? current[0] : current;
		const element = n > 10_000 || JSON.stringify(sample ?? 0).length > 64 ? 0 : (sample ?? 0);
		return {
			label: `huge-array:${n}`,
			text: withRaw(value, path, `[${Array.from({ length: n }, () => JSON.stringify(element)).join(",")}]`),
		};
	});

const deepNesting: fc.Arbitrary<Mutation> = fc
	.constantFrom(
		{ label: "deep-array:1000", literal: () => `${"[".repeat(1_000)}${"]".repeat(1_000)}` },
		{ label: "deep-array:50000", literal: () => `${"[".repeat(50_000)}${"]".repeat(50_000)}` },
		{ label: "deep-object:5000", literal: () => `${'{"a":'.repeat(5_000)}null${"}".repeat(5_000)}` },
	)
	.map(({ label, literal }) => (value: unknown, path: JsonPath) => ({ label, text: withRaw(value, path, literal()) }));

const extremeNumber: fc.Arbitrary<Mutation> = fc
	.oneof(
		fc.constantFrom(...EXTREME_NUMBERS),
		fc.constantFrom('"NaN"', '"Infinity"', '"-Infinity"', '"-0"', '"1e308"', '"0x1F"'),
	)
	.map((literal) => (value: unknown, path: JsonPath) => ({
		label: `number:${literal}`,
		text: withRaw(value, path, literal),
	}));

const hostileString: fc.Arbitrary<Mutation> = fc
	.constantFrom(...HOSTILE_STRINGS)
	.map((s) => (value: unknown, path: JsonPath) => ({
		label: "hostile-string",
		text: JSON.stringify(updateAt(value, path, () => s)),
	}));

const PROTO_PAYLOAD = JSON.stringify({ polluted: true, admin: true, scopes: ["admin"], tenant: "platform" });
const protoKey: fc.Arbitrary<Mutation> = fc
	.constantFrom("__proto__", "constructor", "prototype", "toString", "hasOwnProperty", "valueOf")
	.map((key) => (value: unknown, path: JsonPath) => ({
		label: `proto-key:${key}`,
		text: withRawMember(value, path, key, key === "constructor" ? `{"prototype":${PROTO_PAYLOAD}}` : PROTO_PAYLOAD),
	}));

const duplicateKey: fc.Arbitrary<Mutation> = fc.nat().map((n) => (value: unknown, path: JsonPath) => {
	const target = getAt(value, path);
	const at = target && typeof target === "object" && !Array.isArray(target) ? path : [];
	const node = getAt(value, at);
	const keys = node && typeof node === "object" && !Array.isArray(node) ? Object.keys(node) : [];
	const key = keys.length > 0 ? (keys[n % keys.length] as string) : "duplicate";
	const replacement = WRONG_TYPED[n % WRONG_TYPED.length];
	return { label: "duplicate-key", text: withRawMember(value, at, key, JSON.stringify(replacement)) };
});

const unknownField: fc.Arbitrary<Mutation> = fc
	.tuple(fc.string({ unit: "binary", minLength: 1, maxLength: 20 }), fc.jsonValue({ maxDepth: 2 }))
	.map(([key, extra]) => (value: unknown, path: JsonPath) => ({
		label: "unknown-field",
		text: withRawMember(value, path, key, JSON.stringify(extra)),
	}));

const replaceRoot: fc.Arbitrary<Mutation> = fc
	.constantFrom("[]", "null", '"body"', "0", "true", "{}", "[{}]")
	.map((literal) => (value: unknown) => ({
		label: `root:${literal}`,
		text: literal === "[{}]" ? `[${JSON.stringify(value)}]` : literal,
	}));

/** One mutation of `valid` values, at one of their nodes. */
export function mutatedJson(valid: fc.Arbitrary<unknown>): fc.Arbitrary<MutatedJson> {
	const mutation = fc.oneof(
		{ weight: 3, arbitrary: drop },
		{ weight: 3, arbitrary: wrongType },
		{ weight: 2, arbitrary: hugeString },
		{ weight: 2, arbitrary: hugeArray },
		{ weight: 1, arbitrary: deepNesting },
		{ weight: 2, arbitrary: extremeNumber },
		{ weight: 2, arbitrary: hostileString },
		{ weight: 2, arbitrary: protoKey },
		{ weight: 1, arbitrary: duplicateKey },
		{ weight: 1, arbitrary: unknownField },
		{ weight: 1, arbitrary: replaceRoot },
	);
	return valid.chain((value) => {
		const paths = pathsOf(value);
		return fc.tuple(fc.constantFrom(...paths), mutation).map(([path, m]) => m(value, path));
	});
}
