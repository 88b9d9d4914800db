import type { RouteWindows, Snapshot } from "../../durable-objects/slo-counter";
import { UNMATCHED_ROUTE } from "../http/route-of";
import type { Logger } from "../telemetry/logger";
import { UNRECORDED_ROUTES } from "./spec";

/** The shard holding export health (OTLP push outcomes), beside the per-route shards. */
export const EXPORT_SHARD = "(export)";

export type Shard = {
	snapshot(): Promise<Snapshot>;
	windows(nowMs?: number): Promise<RouteWindows[]>;
	apply(batch: import("../../durable-objects/slo-counter").Batch): Promise<boolean>;
	setGauge(metric: string, labels: Record<string, string>, value: number): Promise<void>;
};

export function shardOf(env: Env, route: string): Shard {
	return env.SLO_COUNTER.get(env.SLO_COUNTER.idFromName(`slo:${route}`)) as unknown as Shard;
}

/** Every shard a scrape or push reads: each route pattern of the app, unmatched requests, export health. */
export function shardNames(routes: readonly string[]): string[] {
	return [...new Set([...routes, UNMATCHED_ROUTE, EXPORT_SHARD])].filter((r) => !UNRECORDED_ROUTES.has(r));
}

/** Reads every shard; a shard that cannot be read is counted, not fatal (its series are missing from this read). */
export async function readShards<T>(
	env: Env,
	names: readonly string[],
	read: (s: Shard) => Promise<T>,
	log: Logger,
): Promise<{ values: T[]; failed: number }> {
	const results = await Promise.allSettled(names.map((r) => read(shardOf(env, r))));
	const values: T[] = [];
	let failed = 0;
	for (const r of results) {
		if (r.status === "fulfilled") values.push(r.value);
		else failed++;
	}
	if (failed > 0) log.warn("SLO shards unreadable", { failed });
	return { values, failed };
}
