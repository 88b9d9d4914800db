import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CONVERSATION_SCHEMA, Conversation } from "../../durable-objects/conversation";
import { RATE_LIMITER_SCHEMA } from "../../durable-objects/rate-limiter";
import { SLO_COUNTER_SCHEMA, SloCounter } from "../../durable-objects/slo-counter";
import { applySchema, type SchemaStep } from "../../durable-objects/sqlite-schema";
import { VECTOR_INDEX_SCHEMA } from "../../durable-objects/vector-index";
import type { Batch } from "../../src/slo/contract";
import * as currentSpec from "../../src/slo/spec";
import {
	CONVERSATION_SCHEMA as PREVIOUS_CONVERSATION_SCHEMA,
	Conversation as PreviousConversation,
} from "./previous/durable-objects/conversation";
import {
	SLO_COUNTER_SCHEMA as PREVIOUS_SCHEMA,
	SloCounter as PreviousSloCounter,
} from "./previous/durable-objects/slo-counter";
import * as previousSpec from "./previous/src/slo/spec";

// During a canary, version N and N−1 of the Worker run side by side, and Durable Objects are shared: an object may be
// served by either code, in any order (docs/canary.md#version-safe-durable-objects). The previous release's code is
// test/durable-objects/previous/ (scripts/canary/previous-objects.ts: the objects and every module they import, the
// SLO spec included, as N−1 had them); both run here on the *same* SQLite storage.

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
async function withBareStorage(
	name: string,
	fn: (state: DurableObjectState) => Promise<void>,
	binding: "SLO_COUNTER" | "CONVERSATIONS" = "SLO_COUNTER",
) {
	const run = async (_instance: unknown, state: DurableObjectState) => {
		await state.storage.deleteAll();
		await fn(state);
	};
	if (binding === "CONVERSATIONS")
		await runInDurableObject(env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(name)), run);
	else await runInDurableObject(env.SLO_COUNTER.get(env.SLO_COUNTER.idFromName(name)), run);
}

/** The earlier schema's steps, unchanged, at the start of the later one: steps are append-only. */
function expectPrefix(previous: readonly SchemaStep[], current: readonly SchemaStep[]) {
	expect(previous.length).toBeLessThanOrEqual(current.length);
	// An old step edited in place would never run on objects already past it: N and a fresh object would differ.
	expect(current.slice(0, previous.length)).toEqual(previous);
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
	it("the previous schema's steps are the current schema's first steps, unchanged (no step edited in place)", () => {
		// Equal lengths are fine: a release without a schema change refreshes the snapshot to the same steps.
		expectPrefix(PREVIOUS_SCHEMA, SLO_COUNTER_SCHEMA);
	});

	it("stored counts keep their meaning: N−1's histogram buckets and each route's objectives are N's", () => {
		// Series store one count per bucket index (LATENCY_BUCKETS_S, then +Inf) and minutes one fast count per
		// objective index: a bound inserted, removed or moved, or an objective's threshold changed, would make N read
		// N−1's counts under the wrong bound. Changing them needs a storage migration (docs/storage-schema.md).
		expect(currentSpec.LATENCY_BUCKETS_S).toEqual(previousSpec.LATENCY_BUCKETS_S);
		const routes = new Set([...Object.keys(previousSpec.ROUTE_SLOS), ...Object.keys(currentSpec.ROUTE_SLOS), "/other"]);
		for (const route of routes) {
			const before = previousSpec.sloFor(route).latency;
			// Objectives may be appended (old minutes have no count for them), never changed or reordered.
			expect(currentSpec.sloFor(route).latency.slice(0, before.length), route).toEqual(before);
		}
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

describe("Conversation: N−1 and N on the same storage", () => {
	const caps = { maxMessages: 50, maxTokens: 10_000 };

	it("the previous schema's steps are the current schema's first steps, unchanged", () => {
		expectPrefix(PREVIOUS_CONVERSATION_SCHEMA, CONVERSATION_SCHEMA);
	});

	it("a conversation continues across versions in both orders, and stays its tenant's", async () => {
		await withBareStorage(
			"compat-conversation",
			async (state) => {
				const previous = await construct(PreviousConversation, state);
				expect(schemaVersion(state)).toBe(PREVIOUS_CONVERSATION_SCHEMA.length);
				expect(
					await previous.append(
						"t1",
						[
							{ role: "system", content: "be brief" },
							{ role: "user", content: "hello from N−1" },
						],
						caps,
					),
				).toBe(2);

				const current = await construct(Conversation, state);
				expect(schemaVersion(state)).toBe(CONVERSATION_SCHEMA.length);
				expect((await current.history("t1")).map((m) => m.content)).toEqual(["be brief", "hello from N−1"]);
				expect(await current.history("t2")).toEqual([]);
				expect(await current.append("t1", [{ role: "assistant", content: "answer from N" }], caps)).toBe(3);

				// Back to N−1 (a rollback): it reads N's message, in order, and the owner N kept.
				const again = await construct(PreviousConversation, state);
				expect(schemaVersion(state)).toBe(CONVERSATION_SCHEMA.length);
				const history = await again.history("t1");
				expect(history.map((m) => [m.role, m.content])).toEqual([
					["system", "be brief"],
					["user", "hello from N−1"],
					["assistant", "answer from N"],
				]);
				await expect(again.append("t2", [{ role: "user", content: "not mine" }], caps)).rejects.toThrow(
					/another tenant/,
				);
				// Caps trim what either version wrote, oldest non-system first.
				expect(await again.append("t1", [{ role: "user", content: "more" }], { ...caps, maxMessages: 3 })).toBe(3);
				expect((await current.history("t1")).map((m) => m.content)).toEqual(["be brief", "answer from N", "more"]);
			},
			"CONVERSATIONS",
		);
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
