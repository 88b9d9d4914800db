import { runInDurableObject } from "cloudflare:test";
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
