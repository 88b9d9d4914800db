import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { localVectorIndex } from "../../src/adapters/local-vector-index";
import { vectorizeIndex } from "../../src/adapters/vectorize";
import type { VectorIndex } from "../../src/ports/vector-index";
import { vectorizeStub } from "../helpers/workers/vectorize-stub";

/**
 * One contract for both VectorIndex adapters: the local Durable Object index and the Vectorize binding (here its
 * documented behaviour, reproduced by a stub). Dimension 4 keeps vectors readable.
 */
let n = 0;
type Make = (delayMs?: number) => VectorIndex;
const adapters: [string, Make][] = [
	[
		"local Durable Object",
		(delayMs = 0) =>
			localVectorIndex(env.VECTOR_INDEX, `contract-${Date.now()}-${n++}`, {
				model: "test-4d",
				dimensions: 4,
				indexingDelayMs: delayMs,
			}),
	],
	["Vectorize (stub of the binding)", (delayMs = 0) => vectorizeIndex(vectorizeStub(4, delayMs))],
];

const V = (id: string, values: number[], extra: Partial<VectorizeVector> = {}): VectorizeVector => ({
	id,
	values,
	...extra,
});
const ids = (r: VectorizeMatches) => r.matches.map((m) => m.id);

describe.each(adapters)("VectorIndex contract: %s", (_name, make) => {
	it("ranks by cosine similarity and reports scores", async () => {
		const index = make();
		await index.upsert([V("x", [1, 0, 0, 0]), V("xy", [1, 1, 0, 0]), V("y", [0, 1, 0, 0]), V("neg", [-1, 0, 0, 0])]);
		const r = await index.query([1, 0, 0, 0], { topK: 4 });
		expect(ids(r)).toEqual(["x", "xy", "y", "neg"]);
		expect(r.count).toBe(4);
		expect(r.matches[0]?.score).toBeCloseTo(1, 6);
		expect(r.matches[1]?.score).toBeCloseTo(Math.SQRT1_2, 6);
		expect(r.matches[3]?.score).toBeCloseTo(-1, 6);
		expect(r.matches[0]?.values).toBeUndefined();
		expect(r.matches[0]?.metadata).toBeUndefined();
	});

	it("defaults topK to 5 and caps it (100; 20 with values or all metadata)", async () => {
		const index = make();
		await index.upsert(Array.from({ length: 8 }, (_, i) => V(`v${i}`, [1, i, 0, 0])));
		expect((await index.query([1, 0, 0, 0])).matches).toHaveLength(5);
		await expect(index.query([1, 0, 0, 0], { topK: 101 })).rejects.toThrow();
		await expect(index.query([1, 0, 0, 0], { topK: 21, returnValues: true })).rejects.toThrow();
		await expect(index.query([1, 0, 0, 0], { topK: 21, returnMetadata: "all" })).rejects.toThrow();
		expect((await index.query([1, 0, 0, 0], { topK: 100 })).matches).toHaveLength(8);
		expect((await index.query([1, 0, 0, 0], { topK: 20, returnValues: true })).matches[0]?.values).toHaveLength(4);
	});

	it("isolates namespaces", async () => {
		const index = make();
		await index.upsert([V("a1", [1, 0, 0, 0], { namespace: "a" }), V("b1", [1, 0, 0, 0], { namespace: "b" })]);
		const a = await index.query([1, 0, 0, 0], { namespace: "a" });
		expect(ids(a)).toEqual(["a1"]);
		expect(a.matches[0]?.namespace).toBe("a");
		expect(ids(await index.query([1, 0, 0, 0], { namespace: "c" }))).toEqual([]);
	});

	it("returns metadata by level: none, indexed (strings cut to 64 bytes), all", async () => {
		const index = make();
		const long = "x".repeat(100);
		await index.upsert([V("m", [1, 0, 0, 0], { metadata: { topic: "ops", long, year: 2026 } })]);
		expect((await index.query([1, 0, 0, 0], { returnMetadata: "none" })).matches[0]?.metadata).toBeUndefined();
		const indexed = (await index.query([1, 0, 0, 0], { returnMetadata: "indexed" })).matches[0]?.metadata as Record<
			string,
			unknown
		>;
		expect(indexed.topic).toBe("ops");
		expect(String(indexed.long).length).toBe(64);
		expect((await index.query([1, 0, 0, 0], { returnMetadata: "all" })).matches[0]?.metadata).toEqual({
			topic: "ops",
			long,
			year: 2026,
		});
		expect((await index.query([1, 0, 0, 0], { returnMetadata: true })).matches[0]?.metadata).toEqual({
			topic: "ops",
			long,
			year: 2026,
		});
	});

	it("filters on metadata with every operator, fields ANDed", async () => {
		const index = make();
		await index.upsert([
			V("a", [1, 0, 0, 0], { metadata: { topic: "ops", year: 2024, tier: "gold" } }),
			V("b", [1, 0.1, 0, 0], { metadata: { topic: "ops", year: 2026, tier: "free" } }),
			V("c", [1, 0.2, 0, 0], { metadata: { topic: "billing", year: 2025 } }),
		]);
		const q = async (filter: VectorizeVectorMetadataFilter) =>
			ids(await index.query([1, 0, 0, 0], { topK: 10, filter })).sort();
		expect(await q({ topic: "ops" })).toEqual(["a", "b"]);
		expect(await q({ topic: { $eq: "billing" } })).toEqual(["c"]);
		expect(await q({ topic: { $ne: "ops" } })).toEqual(["c"]);
		expect(await q({ year: { $gte: 2025 } })).toEqual(["b", "c"]);
		expect(await q({ year: { $gt: 2025 } })).toEqual(["b"]);
		expect(await q({ year: { $lt: 2025 } })).toEqual(["a"]);
		expect(await q({ year: { $lte: 2025 } })).toEqual(["a", "c"]);
		expect(await q({ tier: { $in: ["gold", "silver"] } })).toEqual(["a"]);
		expect(await q({ tier: { $nin: ["gold"] } })).toEqual(["b", "c"]);
		expect(await q({ topic: "ops", year: { $gte: 2025 } })).toEqual(["b"]);
	});

	it("refuses a filter of 2048 bytes or more of compact JSON (Vectorize's limit)", async () => {
		const index = make();
		await index.upsert([V("a", [1, 0, 0, 0], { metadata: { topic: "ops" } })]);
		const values = (n: number) => Array.from({ length: n }, (_, i) => `value-${String(i).padStart(4, "0")}`);
		// {"topic":{"$in":[…]}}: 19 bytes of frame + 13 per value (quotes and comma) − 1.
		const under = { topic: { $in: values(155) } };
		expect(new TextEncoder().encode(JSON.stringify(under)).length).toBeLessThan(2048);
		expect(ids(await index.query([1, 0, 0, 0], { topK: 10, filter: under }))).toEqual([]);
		const over = { topic: { $in: values(160) } };
		expect(new TextEncoder().encode(JSON.stringify(over)).length).toBeGreaterThanOrEqual(2048);
		await expect(index.query([1, 0, 0, 0], { topK: 10, filter: over })).rejects.toThrow(/VECTOR_QUERY_ERROR.*2048/);
	});

	it("insert keeps an existing id, upsert replaces it; getByIds and deleteByIds", async () => {
		const index = make();
		await index.insert([V("k", [1, 0, 0, 0], { metadata: { v: 1 } })]);
		await index.insert([V("k", [0, 1, 0, 0], { metadata: { v: 2 } })]);
		expect((await index.getByIds(["k"]))[0]?.metadata).toEqual({ v: 1 });
		await index.upsert([V("k", [0, 1, 0, 0], { metadata: { v: 3 } })]);
		const [k] = await index.getByIds(["k", "missing"]);
		expect(k?.metadata).toEqual({ v: 3 });
		expect(Array.from(k?.values ?? [])).toEqual([0, 1, 0, 0]);
		expect(await index.getByIds(["missing"])).toEqual([]);
		await index.deleteByIds(["k"]);
		expect(await index.getByIds(["k"])).toEqual([]);
		expect((await index.describe()).vectorCount).toBe(0);
	});

	it("applies writes asynchronously: invisible before processing, describe() says how far it got", async () => {
		const index = make(150);
		const { mutationId } = await index.upsert([V("late", [1, 0, 0, 0])]);
		expect(typeof mutationId).toBe("string");
		expect(ids(await index.query([1, 0, 0, 0]))).toEqual([]);
		const before = await index.describe();
		expect(String(before.processedUpToMutation)).not.toBe(mutationId);
		await expect
			.poll(async () => ids(await index.query([1, 0, 0, 0])), { timeout: 3_000, interval: 50 })
			.toEqual(["late"]);
		const after = await index.describe();
		expect(String(after.processedUpToMutation)).toBe(mutationId);
		expect(after.vectorCount).toBe(1);
		expect(after.dimensions).toBe(4);
	});

	it("refuses vectors and queries of other dimensions, and invalid ids", async () => {
		const index = make();
		await index.upsert([V("ok", [1, 0, 0, 0])]);
		await expect(index.upsert([V("bad", [1, 0, 0])])).rejects.toThrow(/DIMENSION/);
		await expect(index.query([1, 0, 0])).rejects.toThrow(/DIMENSION/);
		await expect(index.upsert([V("i".repeat(65), [1, 0, 0, 0])])).rejects.toThrow(/ID/);
	});
});

describe("local index: model guard", () => {
	it("refuses writes declaring another embedding model", async () => {
		const name = `guard-${Date.now()}`;
		await localVectorIndex(env.VECTOR_INDEX, name, { model: "model-a", dimensions: 4, indexingDelayMs: 0 }).upsert([
			V("a", [1, 0, 0, 0]),
		]);
		const other = localVectorIndex(env.VECTOR_INDEX, name, { model: "model-b", dimensions: 4, indexingDelayMs: 0 });
		await expect(other.upsert([V("b", [1, 0, 0, 0])])).rejects.toThrow(/MODEL_MISMATCH/);
	});
});
