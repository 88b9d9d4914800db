/**
 * The `SloCounter` shards as the Worker sees them: one object per route pattern (`idFromName("slo:<route>")`) plus
 * the export-health shard, reached through the RPC contract (src/slo/contract.ts), and read all together by a scrape,
 * a push or `/v1/slo`.
 *
 * @example
 * ```ts
 * const { values, failed } = await readShards(env, shardNames(routes), (s) => s.snapshot(), log);
 * ```
 *
 * @module
 */
import { UNMATCHED_ROUTE } from "../http/route-of";
import { type Fault, NO_FAULT, withFaults } from "../lib/fault";
import type { Logger } from "../telemetry/logger";
import type { SloCounterRpc } from "./contract";
import { UNRECORDED_ROUTES } from "./spec";

/** The shard holding export health (OTLP push outcomes), beside the per-route shards. */
export const EXPORT_SHARD = "(export)";

/** The shard of `route` (a route pattern, {@link UNMATCHED_ROUTE} or {@link EXPORT_SHARD}). */
export function shardOf(env: Env, route: string): SloCounterRpc {
	return env.SLO_COUNTER.get(env.SLO_COUNTER.idFromName(`slo:${route}`));
}

/** Every shard a scrape or push reads: each route pattern of the app, unmatched requests, export health. */
export function shardNames(routes: readonly string[]): string[] {
	return [...new Set([...routes, UNMATCHED_ROUTE, EXPORT_SHARD])].filter((r) => !UNRECORDED_ROUTES.has(r));
}

/**
 * Reads every shard; a shard that cannot be read is counted, not fatal (its series are missing from this read).
 * `fault`: the injected `SloCounter` fault (local and test only).
 */
export async function readShards<T>(
	env: Env,
	names: readonly string[],
	read: (s: SloCounterRpc) => Promise<T>,
	log: Logger,
	fault: Fault = NO_FAULT,
): Promise<{ values: T[]; failed: number }> {
	const results = await Promise.allSettled(names.map((r) => read(withFaults(shardOf(env, r), "SLO counter", fault))));
	const values: T[] = [];
	let failed = 0;
	for (const r of results) {
		if (r.status === "fulfilled") values.push(r.value);
		else failed++;
	}
	if (failed > 0) log.warn("SLO shards unreadable", { failed });
	return { values, failed };
}
