import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CONVERSATION_SCHEMA } from "../../durable-objects/conversation";
import { RATE_LIMITER_SCHEMA } from "../../durable-objects/rate-limiter";
import { type Batch, SLO_COUNTER_SCHEMA, SloCounter } from "../../durable-objects/slo-counter";
import { applySchema, type SchemaStep } from "../../durable-objects/sqlite-schema";
import { VECTOR_INDEX_SCHEMA } from "../../durable-objects/vector-index";
import { SLO_COUNTER_SCHEMA as PREVIOUS_SCHEMA, SloCounter as PreviousSloCounter } from "./previous/slo-counter";

// During a canary, version N and N−1 of the Worker run side by side, and Durable Objects are shared: an object may be
// served by either code, in any order (docs/canary.md#version-safe-durable-objects). The previous release's code is
// test/durable-objects/previous/ (scripts/canary/previous-objects.ts); both run here on the *same* SQLite storage.

const MINUTE = 60_000;
const now = Date.now();
const request = (version: string, status: number, durationMs: number, atMs = now) => ({
	route: "/v1/chat/completions",
	method: "POST",
	status,
	version,
	durationMs,
	atMs,
});

/** A fresh object's storage, wiped so the chosen code is the first to see it. */
async function withBareStorage(name: string, fn: (state: DurableObjectState) => Promise<void>) {
	const stub = env.SLO_COUNTER.get(env.SLO_COUNTER.idFromName(name));
	await runInDurableObject(stub, async (_instance: SloCounter, state) => {
		await state.storage.deleteAll();
		await fn(state);
	});
}

/**
 * Constructs a Durable Object class on `state` and waits for its constructor's `blockConcurrencyWhile` (the schema
 * gate), as the runtime would before delivering the first call: a second `blockConcurrencyWhile` runs after the first.
 */
async function construct<T>(
	Class: new (ctx: DurableObjectState, env: Env) => T,
	state: DurableObjectState,
): Promise<T> {
	const instance = new Class(state, env);
	await state.blockConcurrencyWhile(async () => {});
	return instance;
}

const schemaVersion = (state: DurableObjectState) =>
	state.storage.sql.exec<{ version: number }>("SELECT version FROM _schema").one().version;

describe("SloCounter: N−1 and N on the same storage", () => {
	it("the previous release really is older (the snapshot is not a copy of the current code)", () => {
		expect(PREVIOUS_SCHEMA.length).toBeLessThan(SLO_COUNTER_SCHEMA.length);
	});

	it("N reads what N−1 wrote, upgrades it additively, and keeps counting per caller-given version", async () => {
		await withBareStorage("compat-forward", async (state) => {
			const previous = await construct(PreviousSloCounter, state);
			expect(schemaVersion(state)).toBe(PREVIOUS_SCHEMA.length);
			const old: Batch = {
				id: "b-old",
				requests: [request("v-old", 200, 120), request("v-old", 502, 30), request("v-old", 200, 3_000)],
				counters: [{ metric: "llm_tokens", labels: { model: "local", type: "prompt" }, value: 12 }],
			};
			expect(await previous.apply(old)).toBe(true);

			const current = await construct(SloCounter, state);
			expect(schemaVersion(state)).toBe(SLO_COUNTER_SCHEMA.length);
			// N−1's rows are N's rows: same windows, same series, same counters.
			const windows = await current.windows(now);
			const five = windows.find((w) => w.version === "v-old")?.windows.find((w) => w.window === "5m");
			expect(five).toMatchObject({ total: 3, errors: 1, fast: [1, 2] });
			const snap = await current.snapshot();
			expect(snap.series.filter((s) => s.version === "v-old").reduce((n, s) => n + s.count, 0)).toBe(3);
			expect(snap.counters).toEqual([{ metric: "llm_tokens", labels: { model: "local", type: "prompt" }, value: 12 }]);
			// A batch id N−1 applied stays applied for N (a retried flush across versions never double counts).
			expect(await current.apply(old)).toBe(false);
			// N's own batch, with the field N−1 does not know.
			expect(
				await current.apply({
					id: "b-new",
					requests: [request("v-new", 200, 80)],
					counters: [],
					observations: [{ metric: "rag_retrieval_duration_seconds", labels: { mode: "hybrid" }, seconds: 0.05 }],
				}),
			).toBe(true);
			// The version is the caller's, never the object's own environment's.
			const versions = (await current.windows(now)).map((w) => w.version).sort();
			expect(versions).toEqual(["v-new", "v-old"]);
		});
	});

	it("N−1 keeps working on storage N already upgraded (the canary rolled back, or N−1 still serves the other share)", async () => {
		await withBareStorage("compat-reverse", async (state) => {
			const current = await construct(SloCounter, state);
			expect(
				await current.apply({
					id: "b-new",
					requests: [request("v-new", 200, 90), request("v-new", 503, 10)],
					counters: [{ metric: "rag_operations", labels: { operation: "embed", outcome: "ok" }, value: 2 }],
					observations: [{ metric: "rag_retrieval_duration_seconds", labels: { mode: "vector" }, seconds: 0.2 }],
				}),
			).toBe(true);
			expect(schemaVersion(state)).toBe(SLO_COUNTER_SCHEMA.length);

			const previous = await construct(PreviousSloCounter, state);
			// The gate leaves a newer schema as it is.
			expect(schemaVersion(state)).toBe(SLO_COUNTER_SCHEMA.length);
			// N−1 receives N's batches too (an isolate of N flushing to an object N−1 serves): the unknown field is ignored.
			const fromNew = {
				id: "b-new-2",
				requests: [request("v-new", 200, 100)],
				counters: [],
				observations: [{ metric: "rag_retrieval_duration_seconds", labels: { mode: "vector" }, seconds: 0.1 }],
			} as Batch;
			expect(await previous.apply(fromNew)).toBe(true);
			expect(await previous.apply({ id: "b-old", requests: [request("v-old", 200, 40)], counters: [] })).toBe(true);
			expect(await previous.apply({ id: "b-new", requests: [request("v-new", 200, 1)], counters: [] })).toBe(false);
			const windows = await previous.windows(now);
			const five = (v: string) => windows.find((w) => w.version === v)?.windows.find((w) => w.window === "5m");
			expect(five("v-new")).toMatchObject({ total: 3, errors: 1 });
			expect(five("v-old")).toMatchObject({ total: 1, errors: 0 });
			const snap = await previous.snapshot();
			expect(snap.counters).toEqual([
				{ metric: "rag_operations", labels: { operation: "embed", outcome: "ok" }, value: 2 },
			]);

			// And back to N: everything both wrote, N's histogram intact.
			const again = await construct(SloCounter, state);
			const all = await again.snapshot();
			expect(all.series.reduce((n, s) => n + s.count, 0)).toBe(4);
			expect(all.histograms?.map((h) => h.count).reduce((a, b) => a + b, 0)).toBe(1);
			// Minutes of both versions still window correctly an hour on.
			const later = await again.windows(now + 61 * MINUTE);
			expect(later.find((w) => w.version === "v-new")?.windows.find((w) => w.window === "5m")?.total).toBe(0);
			expect(later.find((w) => w.version === "v-new")?.windows.find((w) => w.window === "2h")?.total).toBe(3);
		});
	});
});

const SCHEMAS: Record<string, readonly SchemaStep[]> = {
	RateLimiter: RATE_LIMITER_SCHEMA,
	Conversation: CONVERSATION_SCHEMA,
	LocalVectorIndex: VECTOR_INDEX_SCHEMA,
	SloCounter: SLO_COUNTER_SCHEMA,
};

describe("every Durable Object schema stays readable by the previous version", () => {
	// Additive only: new tables and indexes (IF NOT EXISTS), new columns that old rows can fill (nullable or DEFAULT).
	// A DROP, a RENAME or a NOT NULL column without a default would break N−1 mid-canary.
	const additive =
		/^\s*(CREATE (UNIQUE )?INDEX IF NOT EXISTS|CREATE TABLE IF NOT EXISTS|CREATE VIRTUAL TABLE IF NOT EXISTS|CREATE TRIGGER IF NOT EXISTS|ALTER TABLE \S+ ADD COLUMN)\b/i;
	for (const [name, steps] of Object.entries(SCHEMAS)) {
		it(`${name}: every step is additive`, () => {
			for (const statement of steps.flat()) {
				expect(statement, statement).toMatch(additive);
				expect(statement).not.toMatch(/\bDROP\b|\bRENAME\b/i);
				if (/ADD COLUMN/i.test(statement) && /NOT NULL/i.test(statement)) expect(statement).toMatch(/DEFAULT/i);
			}
		});

		it(`${name}: upgrading from any earlier version gives the schema a fresh object has`, async () => {
			const tables = (state: DurableObjectState) =>
				state.storage.sql
					.exec<{ name: string; sql: string | null }>(
						"SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' ORDER BY name",
					)
					.toArray()
					.map((r) => `${r.name}: ${(r.sql ?? "").replace(/\s+/g, " ")}`);
			let fresh: string[] = [];
			await withBareStorage(`upgrade-${name}-fresh`, async (state) => {
				expect(applySchema(state.storage.sql, steps)).toBe(steps.length);
				fresh = tables(state);
			});
			for (let k = 1; k < steps.length; k++) {
				await withBareStorage(`upgrade-${name}-${k}`, async (state) => {
					expect(applySchema(state.storage.sql, steps.slice(0, k))).toBe(k);
					expect(applySchema(state.storage.sql, steps)).toBe(steps.length);
					expect(tables(state)).toEqual(fresh);
				});
			}
		});
	}
});
