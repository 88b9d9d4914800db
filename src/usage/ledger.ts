/**
 * The Worker side of a tenant's usage ledger (durable-objects/usage-ledger.ts): the object of a tenant, and a
 * background write of one call's usage, retried with the same record id (the object applies an id once, so a retry
 * after a lost answer never double counts).
 *
 * @example
 * ```ts
 * c.executionCtx.waitUntil(writeUsage(env, "demo", record, 400, log));
 * ```
 *
 * @module
 */
import type { Logger } from "../telemetry/logger";
import type { UsageLedgerRpc, UsageRecord } from "./contract";

/** The `UsageLedger` object of `tenant`. */
export function ledgerOf(env: Env, tenant: string): UsageLedgerRpc {
	return env.USAGE_LEDGER.get(env.USAGE_LEDGER.idFromName(`usage:${tenant}`));
}

/** Attempts of one write, and the pause before each retry (ms). */
const RETRY_DELAYS_MS = [100, 400, 1_600];

/** Writes one call's usage to the tenant's ledger, retried with the same record id; failures are logged. */
export async function writeUsage(
	env: Env,
	tenant: string,
	record: UsageRecord,
	retentionDays: number,
	log: Logger,
	sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
): Promise<void> {
	for (let attempt = 0; ; attempt++) {
		try {
			const applied = await ledgerOf(env, tenant).record(tenant, [record], retentionDays);
			if (applied === null)
				log.error("usage not recorded: the ledger belongs to another tenant", { record_id: record.id });
			return;
		} catch (err) {
			const delay = RETRY_DELAYS_MS[attempt];
			if (delay === undefined) {
				log.error("usage not recorded", { record_id: record.id, error_message: String(err) });
				return;
			}
			await sleep(delay);
		}
	}
}
