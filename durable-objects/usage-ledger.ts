/**
 * The `UsageLedger` Durable Object: each tenant's exact LLM usage, summed per hour in SQLite
 * ({@link USAGE_LEDGER_SCHEMA}). The RPC contract it implements is src/usage/contract.ts, and bucketing for queries
 * src/usage/buckets.ts.
 *
 * @module
 */
import { DurableObject } from "cloudflare:workers";
import { DAY_MS, fillBuckets, type GroupedRow, HOUR_MS } from "../src/usage/buckets";
import type { UsageBucket, UsageLedgerRpc, UsageQuery, UsageRecord } from "../src/usage/contract";
import { applySchema, type SchemaStep } from "./sqlite-schema";

/**
 * Storage schema of `UsageLedger` (docs/storage-schema.md): hourly sums per model × route × subject, the record ids
 * applied in the last day (idempotency), the owning tenant and the retention.
 */
export const USAGE_LEDGER_SCHEMA: readonly SchemaStep[] = [
	[
		`CREATE TABLE IF NOT EXISTS usage (
			hour_ms INTEGER NOT NULL, model TEXT NOT NULL, route TEXT NOT NULL, subject TEXT NOT NULL,
			requests INTEGER NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cost_usd REAL NOT NULL,
			PRIMARY KEY (hour_ms, model, route, subject)
		)`,
		"CREATE TABLE IF NOT EXISTS applied (id TEXT PRIMARY KEY, at_ms INTEGER NOT NULL)",
		`CREATE TABLE IF NOT EXISTS owner (
			id INTEGER PRIMARY KEY CHECK (id = 1), tenant TEXT NOT NULL, retention_days INTEGER NOT NULL
		)`,
	],
];

/** Record ids are remembered this long: a retry arrives within seconds, never a day later. */
const APPLIED_RETENTION_MS = DAY_MS;

/**
 * One object per tenant (`idFromName("usage:<tenant>")`): the exact LLM usage of that tenant, written once per model
 * call by the Worker (in the background, retried with the same record id) and read by `GET /v1/usage`. The owner
 * row pins the tenant, so a mis-addressed call can neither write into nor read another tenant's ledger. An hourly
 * alarm drops rows older than the retention (USAGE_RETENTION_DAYS) and applied ids older than a day.
 *
 * @example
 * ```ts
 * const ledger = env.USAGE_LEDGER.get(env.USAGE_LEDGER.idFromName("usage:demo"));
 * await ledger.record("demo", [record], 400);
 * ```
 */
export class UsageLedger extends DurableObject<Env> implements UsageLedgerRpc {
	constructor(ctx: DurableObjectState, env: Env) {
		super(ctx, env);
		void ctx.blockConcurrencyWhile(async () => {
			applySchema(ctx.storage.sql, USAGE_LEDGER_SCHEMA);
		});
	}

	#owns(tenant: string, claim: { retentionDays: number } | null): boolean {
		const sql = this.ctx.storage.sql;
		const row = sql.exec<{ tenant: string }>("SELECT tenant FROM owner WHERE id = 1").toArray()[0];
		if (row) {
			if (row.tenant !== tenant) return false;
			if (claim) sql.exec("UPDATE owner SET retention_days = ? WHERE id = 1", claim.retentionDays);
			return true;
		}
		if (!claim) return false;
		sql.exec("INSERT INTO owner (id, tenant, retention_days) VALUES (1, ?, ?)", tenant, claim.retentionDays);
		return true;
	}

	async record(tenant: string, records: UsageRecord[], retentionDays: number): Promise<number | null> {
		if (!this.#owns(tenant, { retentionDays })) return null;
		const sql = this.ctx.storage.sql;
		const now = Date.now();
		let applied = 0;
		for (const r of records) {
			if (sql.exec("SELECT 1 FROM applied WHERE id = ?", r.id).toArray().length > 0) continue;
			sql.exec("INSERT INTO applied (id, at_ms) VALUES (?, ?)", r.id, now);
			sql.exec(
				`INSERT INTO usage (hour_ms, model, route, subject, requests, input_tokens, output_tokens, cost_usd)
				VALUES (?, ?, ?, ?, 1, ?, ?, ?)
				ON CONFLICT (hour_ms, model, route, subject) DO UPDATE SET requests = requests + 1,
					input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens,
					cost_usd = cost_usd + excluded.cost_usd`,
				Math.floor(r.atMs / HOUR_MS) * HOUR_MS,
				r.model,
				r.route,
				r.subject,
				r.inputTokens,
				r.outputTokens,
				r.costUsd,
			);
			applied++;
		}
		if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(now + HOUR_MS);
		return applied;
	}

	async query(tenant: string, q: UsageQuery): Promise<UsageBucket[]> {
		if (!this.#owns(tenant, null)) return fillBuckets(q, [], q.groupBy);
		const col = (name: "model" | "route" | "subject") => (q.groupBy.includes(name) ? name : "NULL");
		const models = q.models && q.models.length > 0 ? JSON.stringify(q.models) : null;
		const rows = this.ctx.storage.sql
			.exec<GroupedRow>(
				`SELECT CAST((hour_ms - ?1) / ?2 AS INTEGER) AS bucket, ${col("model")} AS model, ${col("route")} AS route,
					${col("subject")} AS subject, sum(requests) AS requests, sum(input_tokens) AS input_tokens,
					sum(output_tokens) AS output_tokens, sum(cost_usd) AS cost_usd
				-- Bound numbers arrive as REAL: the cast makes the bucket index an integer (hours are ≥ the start).
				FROM usage WHERE hour_ms >= ?1 AND hour_ms < ?3
					AND (?4 IS NULL OR model IN (SELECT value FROM json_each(?4)))
				GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`,
				q.startMs,
				q.bucketMs,
				q.endMs,
				models,
			)
			.toArray();
		return fillBuckets(q, rows, q.groupBy);
	}

	/**
	 * Hourly housekeeping: usage past the retention, record ids past a day. A ledger with nothing left sleeps (no
	 * alarm) until its next record: a tenant that stopped calling models costs nothing.
	 */
	override async alarm(): Promise<void> {
		const sql = this.ctx.storage.sql;
		const now = Date.now();
		const owner = sql.exec<{ retention_days: number }>("SELECT retention_days FROM owner WHERE id = 1").toArray()[0];
		if (owner) sql.exec("DELETE FROM usage WHERE hour_ms < ?", now - owner.retention_days * DAY_MS);
		sql.exec("DELETE FROM applied WHERE at_ms < ?", now - APPLIED_RETENTION_MS);
		const left = sql
			.exec<{ n: number }>("SELECT (SELECT count(*) FROM usage) + (SELECT count(*) FROM applied) AS n")
			.one().n;
		if (left > 0) await this.ctx.storage.setAlarm(now + HOUR_MS);
	}
}
