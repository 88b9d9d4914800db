/**
 * The `RateLimiter` Durable Object: the storage shell of rate limiting, one exact sliding-window log per limit key in
 * SQLite ({@link RATE_LIMITER_SCHEMA}). The decision itself is the pure core of src/rate-limit/sliding-window.ts; the
 * RPC contract it implements is src/rate-limit/contract.ts, and the Worker side is src/rate-limit/limiter.ts.
 *
 * @module
 */
import { DurableObject } from "cloudflare:workers";
import {
	type Charge,
	type CommitResult,
	type ConsumeOptions,
	type ConsumeResult,
	DEFAULT_LEASE_MS,
	type Pong,
	type RateLimiterRpc,
} from "../src/rate-limit/contract";
import { decideWith } from "../src/rate-limit/sliding-window";
import { applySchema, type SchemaStep } from "./sqlite-schema";

/**
 * Storage schema of `RateLimiter` (docs/storage-schema.md), append-only (N and N−1 share objects during a
 * gradual deployment):
 * 1. the log of admitted events per policy;
 * 2. each row's window (so an alarm can prune without knowing the policies), the event it belongs to, whether it
 *    is a token reservation, and the open reservations with their leases.
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
	[
		"ALTER TABLE admitted ADD COLUMN window_ms INTEGER NOT NULL DEFAULT 0",
		"ALTER TABLE admitted ADD COLUMN event TEXT",
		"ALTER TABLE admitted ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0",
		"CREATE INDEX IF NOT EXISTS admitted_event ON admitted (event)",
		`CREATE TABLE IF NOT EXISTS reservations (
			event TEXT PRIMARY KEY,
			lease_until_ms INTEGER NOT NULL,
			cost INTEGER NOT NULL
		)`,
	],
];

/**
 * One object per limit key (`idFromName`), holding an exact sliding-window log per policy in SQLite, so an evicted
 * or restarted object admits nothing extra. Decisions over several policies are atomic: every policy admits and
 * all are charged, or none is (a Durable Object runs one call at a time, and the writes of one call commit
 * together).
 *
 * Token budgets: charges marked `reserve` are held at their worst-case cost until {@link RateLimiter.commit}
 * charges the actual usage and refunds the rest; an uncommitted reservation is refunded when its lease ends.
 * Correctness never waits for an alarm (every call first refunds expired leases and prunes what left the window);
 * the alarm only tidies up objects that went quiet, and deletes the storage of an object with nothing left.
 *
 * @example
 * ```ts
 * const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName("sub:demo/demo"));
 * const r = await stub.consume([
 *   { policy: "chat", limit: 30, windowMs: 60_000, cost: 1 },
 *   { policy: "llm-tokens", limit: 200_000, windowMs: 3_600_000, cost: 4_096, reserve: true },
 * ]);
 * if (r.allowed && r.event) await stub.commit(r.event, 1_234); // refunds 2 862 tokens
 * ```
 */
export class RateLimiter extends DurableObject<Env> implements RateLimiterRpc {
	#schemaVersion = 0;
	/** When the alarm is set for, as far as this instance knows (null: none). */
	#alarmAt: number | null = null;

	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		void ctx.blockConcurrencyWhile(async () => {
			this.#schemaVersion = applySchema(ctx.storage.sql, RATE_LIMITER_SCHEMA);
			this.#alarmAt = await ctx.storage.getAlarm();
		});
	}

	/** Readiness probe: proves the namespace routes to a live object whose storage is migrated. */
	async ping(): Promise<Pong> {
		this.#ensureSchema();
		return { ok: true, schema_version: this.#schemaVersion };
	}

	/**
	 * Decides every charge at `nowMs` and, when all admit, logs each under its policy as one event. With `dryRun`
	 * nothing is logged: the answer says whether the charges would be admitted now.
	 */
	async consume(charges: Charge[], options: ConsumeOptions = {}): Promise<ConsumeResult> {
		this.#ensureSchema();
		const nowMs = options.nowMs ?? Date.now();
		const sql = this.ctx.storage.sql;
		this.#refundExpiredLeases(nowMs);
		const decisions = charges.map((ch) => {
			sql.exec("DELETE FROM admitted WHERE policy = ? AND at_ms <= ?", ch.policy, nowMs - ch.windowMs);
			// One indexed aggregate per policy; the rows themselves are read only to compute a denial's wait.
			const window = sql
				.exec<{ used: number; reserved: number; oldest: number | null }>(
					`SELECT coalesce(sum(cost), 0) AS used, coalesce(sum(CASE WHEN reserved = 1 THEN cost END), 0) AS reserved,
						min(at_ms) AS oldest
					FROM admitted WHERE policy = ? AND at_ms > ? AND at_ms <= ?`,
					ch.policy,
					nowMs - ch.windowMs,
					nowMs,
				)
				.one();
			const live = () =>
				sql
					.exec<{ at_ms: number; cost: number }>(
						"SELECT at_ms, cost FROM admitted WHERE policy = ? AND at_ms > ? AND at_ms <= ? ORDER BY at_ms, seq",
						ch.policy,
						nowMs - ch.windowMs,
						nowMs,
					)
					.toArray()
					.map((r) => ({ at: r.at_ms, cost: r.cost }));
			const decision = decideWith({ used: window.used, oldestAt: window.oldest }, live, ch, nowMs, ch.cost);
			return { policy: ch.policy, reserved: window.reserved, ...decision };
		});
		const allowed = decisions.every((d) => d.allowed);
		const charged = charges.filter((ch) => ch.cost > 0);
		if (!allowed || options.dryRun || charged.length === 0) return { allowed, event: null, decisions };

		const event = crypto.randomUUID();
		let reservedCost = 0;
		for (const ch of charged) {
			sql.exec(
				"INSERT INTO admitted (policy, at_ms, cost, window_ms, event, reserved) VALUES (?, ?, ?, ?, ?, ?)",
				ch.policy,
				nowMs,
				ch.cost,
				ch.windowMs,
				event,
				ch.reserve ? 1 : 0,
			);
			if (ch.reserve) reservedCost = Math.max(reservedCost, ch.cost);
		}
		let wakeAt = nowMs + Math.max(...charged.map((ch) => ch.windowMs));
		if (reservedCost > 0) {
			const leaseUntil = nowMs + (options.leaseMs ?? DEFAULT_LEASE_MS);
			sql.exec(
				"INSERT INTO reservations (event, lease_until_ms, cost) VALUES (?, ?, ?)",
				event,
				leaseUntil,
				reservedCost,
			);
			wakeAt = Math.min(wakeAt, leaseUntil);
		}
		// The alarm runs on the real clock: with an injected one (tests, benchmarks) it would prune by the wrong time.
		if (options.nowMs === undefined) await this.#wakeBy(wakeAt);
		return { allowed, event, decisions };
	}

	/**
	 * Settles a reservation: charges `actual` (the usage the model reported) to each reserved policy of `event` in
	 * place of the worst case, refunding the difference; `actual` above the reservation is charged in full
	 * (over-use), so later requests wait for it to leave the window. `actual` 0 refunds everything reserved.
	 * Idempotent: a second commit, or one after the lease expired, changes nothing and says so.
	 */
	async commit(event: string, actual: number): Promise<CommitResult> {
		this.#ensureSchema();
		const sql = this.ctx.storage.sql;
		const charged = Math.max(0, Math.ceil(actual));
		const reservation = sql.exec<{ cost: number }>("SELECT cost FROM reservations WHERE event = ?", event).toArray()[0];
		if (!reservation) return { committed: false, reserved: 0, charged: 0, refunded: 0 };
		if (charged === 0) {
			sql.exec("DELETE FROM admitted WHERE event = ? AND reserved = 1", event);
		} else {
			sql.exec("UPDATE admitted SET cost = ?, reserved = 0 WHERE event = ? AND reserved = 1", charged, event);
		}
		sql.exec("DELETE FROM reservations WHERE event = ?", event);
		return { committed: true, reserved: reservation.cost, charged, refunded: reservation.cost - charged };
	}

	/**
	 * Takes back every charge of `event` (requests and reservations alike): the compensation step when a decision
	 * spanning several objects was denied by another object. Returns whether anything was removed.
	 */
	async cancel(event: string): Promise<boolean> {
		this.#ensureSchema();
		const sql = this.ctx.storage.sql;
		const removed = sql.exec("DELETE FROM admitted WHERE event = ?", event).rowsWritten;
		sql.exec("DELETE FROM reservations WHERE event = ?", event);
		return removed > 0;
	}

	/** Refunds expired leases and prunes what left its window; deletes the storage once nothing is left. */
	override async alarm(): Promise<void> {
		this.#ensureSchema();
		this.#alarmAt = null;
		const nowMs = Date.now();
		const sql = this.ctx.storage.sql;
		this.#refundExpiredLeases(nowMs);
		sql.exec("DELETE FROM admitted WHERE window_ms > 0 AND at_ms + window_ms <= ?", nowMs);
		const lastExpiry = sql
			.exec<{ at: number | null }>("SELECT max(at_ms + window_ms) AS at FROM admitted WHERE window_ms > 0")
			.one().at;
		const nextLease = sql.exec<{ at: number | null }>("SELECT min(lease_until_ms) AS at FROM reservations").one().at;
		const unpruned = sql.exec<{ n: number }>("SELECT count(*) AS n FROM admitted WHERE window_ms = 0").one().n;
		const next = Math.min(lastExpiry ?? Number.POSITIVE_INFINITY, nextLease ?? Number.POSITIVE_INFINITY);
		if (Number.isFinite(next)) {
			await this.#wakeBy(next);
		} else if (unpruned === 0) {
			// Nothing counts any more: drop the object's storage entirely (recreated on the next call).
			await this.ctx.storage.deleteAll();
			this.#schemaVersion = 0;
		}
	}

	/** Applies the schema again after `deleteAll` emptied the storage. */
	#ensureSchema(): void {
		if (this.#schemaVersion === 0) this.#schemaVersion = applySchema(this.ctx.storage.sql, RATE_LIMITER_SCHEMA);
	}

	#refundExpiredLeases(nowMs: number): void {
		const sql = this.ctx.storage.sql;
		const expired = sql
			.exec<{ event: string }>("SELECT event FROM reservations WHERE lease_until_ms <= ?", nowMs)
			.toArray();
		for (const { event } of expired) {
			sql.exec("DELETE FROM admitted WHERE event = ? AND reserved = 1", event);
			sql.exec("DELETE FROM reservations WHERE event = ?", event);
		}
	}

	/** Makes sure the alarm fires no later than `at` (one storage write only when it must move earlier). */
	async #wakeBy(at: number): Promise<void> {
		if (this.#alarmAt !== null && this.#alarmAt <= at) return;
		this.#alarmAt = at;
		await this.ctx.storage.setAlarm(at);
	}
}
