import { DurableObject } from "cloudflare:workers";
import { applySchema, type SchemaStep } from "./sqlite-schema";

/**
 * Storage schema of `RateLimiter` (docs/storage-schema.md). Version 1: the log of admitted events, the table the
 * exact sliding-window algorithm works on.
 */
export const RATE_LIMITER_SCHEMA: readonly SchemaStep[] = [
	[
		`CREATE TABLE IF NOT EXISTS admitted (
			seq INTEGER PRIMARY KEY AUTOINCREMENT,
			policy TEXT NOT NULL,
			at_ms INTEGER NOT NULL,
			cost INTEGER NOT NULL CHECK (cost > 0)
		)`,
		"CREATE INDEX IF NOT EXISTS admitted_policy_at ON admitted (policy, at_ms)",
	],
];

export type Pong = { ok: true; schema_version: number };

/**
 * One object per rate-limit key (`idFromName`). The foundation gives it its versioned SQLite schema and the
 * readiness `ping`; the exact sliding-window decisions are built on this storage by the rate-limiting work.
 */
export class RateLimiter extends DurableObject<Env> {
	#schemaVersion = 0;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		void ctx.blockConcurrencyWhile(async () => {
			this.#schemaVersion = applySchema(ctx.storage.sql, RATE_LIMITER_SCHEMA);
		});
	}

	/** Readiness probe: proves the namespace routes to a live object whose storage is migrated. */
	async ping(): Promise<Pong> {
		return { ok: true, schema_version: this.#schemaVersion };
	}
}
