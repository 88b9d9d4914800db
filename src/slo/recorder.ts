/**
 * Off-the-hot-path recording into the `SloCounter` shards. Each isolate buffers what its requests produced (request
 * records, counter increments, histogram observations) per shard and flushes shortly after (`delayMs`), inside `ctx.waitUntil`, so the
 * response never waits and requests that overlap in one isolate share one Durable Object call per shard. A flush
 * sends each shard one batch with a fresh id and retries that same batch on failure: the shard applies a batch id
 * once, so a retry never double counts.
 *
 * Loss bound: what an isolate buffered but had not yet flushed is lost if the isolate dies in between — at most
 * `delayMs` of that isolate's traffic, and only on a crash (waitUntil keeps a healthy isolate alive until the flush
 * ends). A flush that fails all its retries is dropped and counted (`slo_flush_failures`, logged).
 *
 * @example
 * ```ts
 * recorder.add(env, "/v1/chat/completions", { requests: [record] }, (p) => ctx.waitUntil(p), log);
 * ```
 *
 * @module
 */
import { type Fault, NO_FAULT, withFaults } from "../lib/fault";
import type { Logger } from "../telemetry/logger";
import type { Batch, SloCounterRpc } from "./contract";
import { shardOf } from "./shards";

/** What an isolate has gathered for one shard and not yet sent: a batch without its id. */
type PendingBatch = Required<Omit<Batch, "id">>;

/** Where the batches of a route go (tests and benchmarks inject their own). */
export type ShardLookup = (env: Env, route: string) => Pick<SloCounterRpc, "apply">;

/** The route's `SloCounter` shard. */
export const defaultShards: ShardLookup = shardOf;

export class Recorder {
	#pending = new Map<string, PendingBatch>();
	#flush: Promise<void> | null = null;
	/** Flushes that failed every retry (dropped), for export health. */
	failures = 0;
	/** Request records in those dropped flushes: the requests the SLO counts are missing (per isolate). */
	droppedRequests = 0;
	/** The injected `SloCounter` fault of the latest request (local and test only). */
	#fault: Fault = NO_FAULT;

	constructor(
		private readonly options: { delayMs: number; retries: number; shards: ShardLookup } = {
			delayMs: 25,
			retries: 3,
			shards: defaultShards,
		},
	) {}

	add(
		env: Env,
		route: string,
		items: Partial<PendingBatch>,
		waitUntil: (p: Promise<unknown>) => void,
		log: Logger,
		fault: Fault = NO_FAULT,
	): void {
		this.#fault = fault;
		const b = this.#pending.get(route) ?? { requests: [], counters: [], observations: [], opened: [] };
		b.requests.push(...(items.requests ?? []));
		b.counters.push(...(items.counters ?? []));
		b.observations.push(...(items.observations ?? []));
		b.opened.push(...(items.opened ?? []));
		this.#pending.set(route, b);
		this.#flush ??= this.#scheduleFlush(env, log);
		// Every request that adds keeps the isolate alive until the flush that carries its records has finished.
		waitUntil(this.#flush);
	}

	async #scheduleFlush(env: Env, log: Logger): Promise<void> {
		await new Promise((r) => setTimeout(r, this.options.delayMs));
		const pending = this.#pending;
		this.#pending = new Map();
		this.#flush = null;
		await Promise.all(
			[...pending].map(async ([route, b]) => {
				const batch: Batch = {
					id: crypto.randomUUID(),
					requests: b.requests,
					counters: b.counters,
					...(b.observations.length > 0 ? { observations: b.observations } : {}),
					...(b.opened.length > 0 ? { opened: b.opened } : {}),
				};
				for (let attempt = 0; ; attempt++) {
					try {
						await withFaults(this.options.shards(env, route), "SLO counter", this.#fault).apply(batch);
						return;
					} catch (err) {
						if (attempt >= this.options.retries) {
							this.failures++;
							this.droppedRequests += batch.requests.length;
							log.error("SLO flush failed; batch dropped", {
								route,
								requests: batch.requests.length,
								error_message: String(err),
							});
							return;
						}
						await new Promise((r) => setTimeout(r, 50 * 4 ** attempt));
					}
				}
			}),
		);
	}
}

/** The isolate's recorder. */
export const recorder = new Recorder();
