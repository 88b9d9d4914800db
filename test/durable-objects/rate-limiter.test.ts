import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RATE_LIMITER_SCHEMA, type RateLimiter } from "../../durable-objects/rate-limiter";
import { applySchema } from "../../durable-objects/sqlite-schema";
import { decide, type LoggedEvent } from "../../src/rate-limit/sliding-window";

describe("RateLimiter storage schema", () => {
	it("is migrated before the first call and answers ping with its version", async () => {
		const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName("schema-1"));
		expect(await stub.ping()).toEqual({ ok: true, schema_version: RATE_LIMITER_SCHEMA.length });
		await runInDurableObject(stub, (_instance: RateLimiter, state) => {
			const tables = state.storage.sql
				.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
				.toArray()
				.map((r) => r.name);
			expect(tables).toEqual(expect.arrayContaining(["_schema", "admitted"]));
			const version = state.storage.sql.exec<{ version: number }>("SELECT version FROM _schema").one().version;
			expect(version).toBe(RATE_LIMITER_SCHEMA.length);
		});
	});

	it("applySchema is idempotent and applies only missing steps", async () => {
		const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName("schema-2"));
		await runInDurableObject(stub, (_instance: RateLimiter, state) => {
			const sql = state.storage.sql;
			expect(applySchema(sql, RATE_LIMITER_SCHEMA)).toBe(RATE_LIMITER_SCHEMA.length);
			// A step 2 added by a later version runs once; re-running is a no-op.
			const next = [...RATE_LIMITER_SCHEMA, ["CREATE TABLE step_next (x INTEGER)"]];
			expect(applySchema(sql, next)).toBe(next.length);
			expect(applySchema(sql, next)).toBe(next.length);
			expect(sql.exec("SELECT count(*) AS n FROM sqlite_master WHERE name = 'step_next'").one().n).toBe(1);
		});
	});

	it("an object already at a newer version (N+1 wrote it) is left as it is for N to read", async () => {
		const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName("schema-3"));
		await runInDurableObject(stub, (_instance: RateLimiter, state) => {
			const sql = state.storage.sql;
			sql.exec("UPDATE _schema SET version = 7");
			expect(applySchema(sql, RATE_LIMITER_SCHEMA)).toBe(7);
			expect(sql.exec<{ version: number }>("SELECT version FROM _schema").one().version).toBe(7);
		});
	});
});

const stubOf = (name: string) => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(name));
const req = (policy: string, limit: number, cost = 1, windowMs = 60_000) => ({ policy, limit, windowMs, cost });
const tokens = (policy: string, limit: number, cost: number, windowMs = 3_600_000) => ({
	policy,
	limit,
	windowMs,
	cost,
	reserve: true,
});

async function rowCount(stub: DurableObjectStub<RateLimiter>, table = "admitted"): Promise<number> {
	return runInDurableObject(
		stub,
		(_i: RateLimiter, state) => state.storage.sql.exec<{ n: number }>(`SELECT count(*) AS n FROM ${table}`).one().n,
	);
}

describe("RateLimiter.consume", () => {
	it("admits exactly the limit, then says exactly how long to wait", async () => {
		const stub = stubOf("consume-1");
		const results = [];
		for (let i = 0; i < 4; i++) results.push(await stub.consume([req("p", 3)], { nowMs: 1_000 + i }));
		expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
		// The oldest event (at 1 000) leaves the window at 61 000: 59 997 ms after the denied call at 1 003.
		expect(results[3]?.decisions[0]).toMatchObject({ used: 3, remaining: 0, retryAfterMs: 59_997, resetMs: 59_997 });
		expect(results[3]?.event).toBeNull();
		expect((await stub.consume([req("p", 3)], { nowMs: 61_000 })).allowed).toBe(true);
	});

	it("logs only admitted events: denied traffic does not grow the log", async () => {
		const stub = stubOf("consume-bounded");
		for (let i = 0; i < 200; i++) await stub.consume([req("p", 5)], { nowMs: 10 + i });
		expect(await rowCount(stub)).toBe(5);
	});

	it("is atomic across policies: a deny on one charges none", async () => {
		const stub = stubOf("consume-2");
		await stub.consume([req("small", 1)], { nowMs: 0 });
		const denied = await stub.consume([req("big", 10), req("small", 1)], { nowMs: 1 });
		expect(denied.allowed).toBe(false);
		expect(denied.decisions.map((d) => d.allowed)).toEqual([true, false]);
		const peek = await stub.consume([req("big", 10, 0)], { nowMs: 2 });
		expect(peek.decisions[0]?.used).toBe(0);
	});

	it("dry runs log nothing", async () => {
		const stub = stubOf("consume-3");
		for (let i = 0; i < 5; i++)
			expect((await stub.consume([req("p", 1)], { nowMs: i, dryRun: true })).allowed).toBe(true);
		expect(await rowCount(stub)).toBe(0);
	});

	it("keeps its log across eviction and an aborted object: nothing extra is admitted", async () => {
		const id = env.RATE_LIMITER.idFromName("consume-4");
		await env.RATE_LIMITER.get(id).consume([req("p", 2, 2)], { nowMs: 10 });
		// Eviction drops the in-memory object; the next call constructs a new one over the same storage.
		await evictDurableObject(env.RATE_LIMITER.get(id));
		const after = await env.RATE_LIMITER.get(id).consume([req("p", 2)], { nowMs: 20 });
		expect(after).toMatchObject({ allowed: false, decisions: [{ used: 2 }] });
		// An abort (as on a crash or a code update) resets the object mid-window; the log is still there.
		await expect(
			runInDurableObject(env.RATE_LIMITER.get(id), (_i: RateLimiter, state) => state.abort("simulated crash")),
		).rejects.toThrow();
		const afterAbort = await env.RATE_LIMITER.get(id).consume([req("p", 2)], { nowMs: 30 });
		expect(afterAbort).toMatchObject({ allowed: false, decisions: [{ used: 2 }] });
	});

	it("N concurrent calls on one object admit exactly the limit", async () => {
		const stub = stubOf("consume-concurrent");
		const results = await Promise.all(Array.from({ length: 60 }, () => stub.consume([req("p", 17)])));
		expect(results.filter((r) => r.allowed)).toHaveLength(17);
	});

	it("cancel takes back every charge of an event", async () => {
		const stub = stubOf("consume-cancel");
		const r = await stub.consume([req("a", 1), req("b", 5)], { nowMs: 0 });
		expect(await stub.cancel(r.event ?? "")).toBe(true);
		expect(await stub.cancel(r.event ?? "")).toBe(false);
		const after = await stub.consume([req("a", 1), req("b", 5)], { nowMs: 1 });
		expect(after.decisions.map((d) => d.used)).toEqual([0, 0]);
	});
});

describe("RateLimiter token reservations", () => {
	it("reserves the worst case, then commit charges the actual usage and refunds the rest", async () => {
		const stub = stubOf("tokens-commit");
		const r = await stub.consume([req("chat", 10), tokens("tok", 1_000, 800)], { nowMs: 0 });
		expect(r).toMatchObject({ allowed: true, decisions: [{ remaining: 9 }, { remaining: 200 }] });
		// While reserved, the worst case counts.
		const meanwhile = await stub.consume([tokens("tok", 1_000, 300)], { nowMs: 1, dryRun: true });
		expect(meanwhile).toMatchObject({ allowed: false, decisions: [{ used: 800, reserved: 800 }] });
		expect(await stub.commit(r.event ?? "", 120)).toEqual({
			committed: true,
			reserved: 800,
			charged: 120,
			refunded: 680,
		});
		const after = await stub.consume([tokens("tok", 1_000, 0)], { nowMs: 2 });
		expect(after.decisions[0]).toMatchObject({ used: 120, reserved: 0, remaining: 880 });
		// The request charge is untouched by the commit.
		expect((await stub.consume([req("chat", 10, 0)], { nowMs: 3 })).decisions[0]?.used).toBe(1);
		// Settling twice changes nothing.
		expect((await stub.commit(r.event ?? "", 999)).committed).toBe(false);
	});

	it("over-use is charged in full and blocks until it leaves the window", async () => {
		const stub = stubOf("tokens-overuse");
		const r = await stub.consume([tokens("tok", 1_000, 500, 10_000)], { nowMs: 0 });
		await stub.commit(r.event ?? "", 1_400);
		const next = await stub.consume([tokens("tok", 1_000, 0, 10_000)], { nowMs: 5 });
		expect(next).toMatchObject({ allowed: false, decisions: [{ used: 1_400, remaining: 0, retryAfterMs: 9_995 }] });
		expect((await stub.consume([tokens("tok", 1_000, 10, 10_000)], { nowMs: 10_000 })).allowed).toBe(true);
	});

	it("a reservation not committed within its lease is refunded (a crashed request)", async () => {
		const stub = stubOf("tokens-lease");
		const r = await stub.consume([tokens("tok", 1_000, 900)], { nowMs: 0, leaseMs: 5_000 });
		expect((await stub.consume([tokens("tok", 1_000, 200)], { nowMs: 4_999 })).allowed).toBe(false);
		const later = await stub.consume([tokens("tok", 1_000, 200)], { nowMs: 5_000 });
		expect(later).toMatchObject({ allowed: true, decisions: [{ used: 0 }] });
		expect((await stub.commit(r.event ?? "", 900)).committed).toBe(false);
	});

	it("concurrent streams each hold their worst case until they commit", async () => {
		const stub = stubOf("tokens-streams");
		const a = await stub.consume([tokens("tok", 1_000, 400)], { nowMs: 0 });
		const b = await stub.consume([tokens("tok", 1_000, 400)], { nowMs: 1 });
		expect((await stub.consume([tokens("tok", 1_000, 400)], { nowMs: 2 })).allowed).toBe(false);
		await Promise.all([stub.commit(a.event ?? "", 50), stub.commit(b.event ?? "", 70)]);
		const c = await stub.consume([tokens("tok", 1_000, 400)], { nowMs: 3 });
		expect(c).toMatchObject({ allowed: true, decisions: [{ used: 120, remaining: 480 }] });
	});

	it("the alarm refunds expired leases, prunes the log and finally deletes the storage", async () => {
		const stub = stubOf("tokens-alarm");
		// Real clock: the alarm is only scheduled for calls without an injected one.
		await stub.consume([req("p", 5, 1, 50), tokens("tok", 1_000, 300, 50)], { leaseMs: 20 });
		expect(await rowCount(stub, "reservations")).toBe(1);
		const tablesLeft = () =>
			runInDurableObject(stub, (_i: RateLimiter, state) =>
				state.storage.sql
					.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
					.toArray(),
			);
		// The alarm fires by itself (lease end at +20 ms, last expiry at +50 ms); running it early is a no-op.
		let tables = await tablesLeft();
		for (let i = 0; i < 100 && tables.length > 0; i++) {
			await new Promise((r) => setTimeout(r, 20));
			await runDurableObjectAlarm(stub);
			tables = await tablesLeft();
		}
		expect(tables).toEqual([]);
		// The next call recreates the schema and works as before.
		expect(await stub.ping()).toEqual({ ok: true, schema_version: RATE_LIMITER_SCHEMA.length });
		expect((await stub.consume([req("p", 5)])).allowed).toBe(true);
	});
});

describe("RateLimiter agrees with the pure algorithm", () => {
	it("on random arrival/cost sequences across window boundaries (SQL path vs decide())", async () => {
		let run = 0;
		await fc.assert(
			fc.asyncProperty(
				fc.integer({ min: 1, max: 10 }),
				fc.integer({ min: 1, max: 300 }),
				fc.array(fc.tuple(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 4 })), { maxLength: 30 }),
				async (limit, windowMs, arrivals) => {
					const stub = stubOf(`agree-${run++}`);
					const log: LoggedEvent[] = [];
					let now = 1_000;
					for (const [dt, cost] of arrivals) {
						now += dt;
						const got = await stub.consume([{ policy: "p", limit, windowMs, cost }], { nowMs: now });
						const want = decide(log, { limit, windowMs }, now, cost);
						const { policy: _p, reserved: _r, ...decision } = got.decisions[0] ?? { policy: "", reserved: 0 };
						expect(decision).toEqual(want);
						if (want.allowed && cost > 0) log.push({ at: now, cost });
					}
				},
			),
			{ numRuns: 150 },
		);
	});
});
