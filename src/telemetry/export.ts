/**
 * The push of the SLO counters to an OTLP endpoint, run by the cron (src/index.ts).
 *
 * @module
 */
import type { Config } from "../config";
import { type Fault, InjectedFault, injectFault, isActive, withFaults } from "../lib/fault";
import { EXPORT_SHARD, readShards, shardNames, shardOf } from "../slo/shards";
import type { Logger } from "./logger";
import { pushMetrics } from "./otlp";
import { versionOf } from "./version";

/**
 * The cron's metrics push (docs/metrics.md#push): reads every shard and pushes one OTLP request with their
 * cumulative numbers, then records the outcome in the export-health shard. Does nothing without `OTLP_ENDPOINT`.
 *
 * @example
 * ```ts
 * ctx.waitUntil(exportMetrics(env, config, app.routes.map((r) => r.path), log));
 * ```
 */
export async function exportMetrics(
	env: Env,
	config: Config,
	routes: readonly string[],
	log: Logger,
	options: { fetch?: typeof fetch; sleep?: (ms: number) => Promise<void>; nowMs?: number } = {},
): Promise<boolean | null> {
	const otlp = config.otlp;
	if (!otlp.endpoint) return null;
	const { values } = await readShards(env, shardNames(routes), (s) => s.snapshot(), log, config.faults.sloCounter);
	const ok = await pushMetrics(values, {
		endpoint: otlp.endpoint,
		headers: otlp.headers,
		serviceName: otlp.serviceName,
		serviceVersion: versionOf(env).id,
		log,
		fetch: withOtlpFaults(options.fetch ?? ((input, init) => fetch(input, init)), config.faults.otlp),
		...(options.sleep ? { sleep: options.sleep } : {}),
		...(options.nowMs !== undefined ? { nowMs: options.nowMs } : {}),
	});
	const health = withFaults(shardOf(env, EXPORT_SHARD), "SLO counter", config.faults.sloCounter);
	await health.apply({
		id: crypto.randomUUID(),
		requests: [],
		counters: [{ metric: "otlp_exports", labels: { outcome: ok ? "ok" : "error" }, value: 1 }],
	});
	if (ok) await health.setGauge("otlp_last_success_timestamp_seconds", {}, (options.nowMs ?? Date.now()) / 1000);
	if (ok) log.info("metrics pushed", { endpoint: new URL(otlp.endpoint).host });
	else log.error("metrics push failed", { endpoint: new URL(otlp.endpoint).host });
	return ok;
}

/**
 * The OTLP receiver with its injected fault (local and test only): each push attempt waits `latencyMs`, then fails
 * with probability `rate` like an unreachable receiver — the push's own retries and timeout apply as for a real one.
 */
function withOtlpFaults(doFetch: typeof fetch, fault: Fault, random: () => number = Math.random): typeof fetch {
	if (!isActive(fault)) return doFetch;
	return async (input, init) => {
		await injectFault(fault, random, () => new InjectedFault("OTLP receiver"));
		return doFetch(input, init);
	};
}
