import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { RATE_LIMITER_SCHEMA, type RateLimiter } from "../../durable-objects/rate-limiter";
import { applySchema } from "../../durable-objects/sqlite-schema";

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
			expect(applySchema(sql, RATE_LIMITER_SCHEMA)).toBe(1);
			// A step 2 added by a later version runs once; re-running is a no-op.
			const v2 = [...RATE_LIMITER_SCHEMA, ["CREATE TABLE step_two (x INTEGER)"]];
			expect(applySchema(sql, v2)).toBe(2);
			expect(applySchema(sql, v2)).toBe(2);
			expect(sql.exec("SELECT count(*) AS n FROM sqlite_master WHERE name = 'step_two'").one().n).toBe(1);
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

describe("RateLimiter.consume", () => {
	const policy = (name: string, limit: number) => ({ policy: name, limit, windowMs: 60_000 });

	it("admits exactly the limit, then says how long to wait", async () => {
		const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName("consume-1"));
		const results = [];
		for (let i = 0; i < 4; i++) results.push(await stub.consume([policy("p", 3)], 1, { nowMs: 1_000 + i }));
		expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
		expect(results[3]?.decisions[0]).toMatchObject({ used: 3, remaining: 0, retryAfterMs: 60_000 - 3 });
	});

	it("is atomic across policies: a deny on one charges none", async () => {
		const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName("consume-2"));
		await stub.consume([policy("small", 1)], 1, { nowMs: 0 });
		const denied = await stub.consume([policy("big", 10), policy("small", 1)], 1, { nowMs: 1 });
		expect(denied.allowed).toBe(false);
		const peek = await stub.consume([policy("big", 10)], 0, { nowMs: 2 });
		expect(peek.decisions[0]?.used).toBe(0);
	});

	it("dry runs log nothing", async () => {
		const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName("consume-3"));
		for (let i = 0; i < 5; i++)
			expect((await stub.consume([policy("p", 1)], 1, { nowMs: i, dryRun: true })).allowed).toBe(true);
	});

	it("keeps its log across a restart of the object", async () => {
		const id = env.RATE_LIMITER.idFromName("consume-4");
		await env.RATE_LIMITER.get(id).consume([policy("p", 2)], 2, { nowMs: 10 });
		// Eviction drops the in-memory object; the next call constructs a new one over the same storage.
		await evictDurableObject(env.RATE_LIMITER.get(id));
		const after = await env.RATE_LIMITER.get(id).consume([policy("p", 2)], 1, { nowMs: 20 });
		expect(after.allowed).toBe(false);
		expect(after.decisions[0]?.used).toBe(2);
	});
});
