import { DurableObject } from "cloudflare:workers";
import { type Decision, decide } from "../src/rate-limit/sliding-window";
import { applySchema, type SchemaStep } from "./sqlite-schema";

/**
 * Storage schema of `RateLimiter` (docs/storage-schema.md). Version 1: the log of admitted events per policy.
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

/** One policy of a decision: its name (scopes the log inside this object), limit and window. */
export type PolicyRequest = { policy: string; limit: number; windowMs: number };
export type ConsumeResult = { allowed: boolean; decisions: (Decision & { policy: string })[] };

/**
 * One object per limit key (`idFromName`), holding an exact sliding-window log per policy in SQLite, so an evicted
 * or restarted object admits nothing extra. Decisions over several policies are atomic: every policy admits and
 * all are charged, or none is (a Durable Object runs one call at a time, and the writes of one call commit
 * together).
 *
 * @example
 * ```ts
 * const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName("auth-failures:ip:203.0.113.9"));
 * const { allowed } = await stub.consume([{ policy: "failures", limit: 10, windowMs: 300_000 }], 1);
 * ```
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

	/**
	 * Decides `cost` against every policy at `nowMs` (default: the object's clock) and, when all admit, logs it
	 * under each. With `dryRun` nothing is logged: the answer says whether `cost` would be admitted now. Expired
	 * events of the named policies are pruned on the way.
	 */
	async consume(
		policies: PolicyRequest[],
		cost: number,
		options: { nowMs?: number; dryRun?: boolean } = {},
	): Promise<ConsumeResult> {
		const nowMs = options.nowMs ?? Date.now();
		const sql = this.ctx.storage.sql;
		const decisions = policies.map((p) => {
			sql.exec("DELETE FROM admitted WHERE policy = ? AND at_ms <= ?", p.policy, nowMs - p.windowMs);
			const events = sql
				.exec<{ at_ms: number; cost: number }>("SELECT at_ms, cost FROM admitted WHERE policy = ?", p.policy)
				.toArray()
				.map((r) => ({ at: r.at_ms, cost: r.cost }));
			return { policy: p.policy, ...decide(events, p, nowMs, cost) };
		});
		const allowed = decisions.every((d) => d.allowed);
		if (allowed && cost > 0 && !options.dryRun) {
			for (const p of policies) {
				sql.exec("INSERT INTO admitted (policy, at_ms, cost) VALUES (?, ?, ?)", p.policy, nowMs, cost);
			}
		}
		return { allowed, decisions };
	}
}
