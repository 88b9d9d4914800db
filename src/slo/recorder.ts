import type { Batch, CounterIncrement, Observation, RequestRecord } from "../../durable-objects/slo-counter";
import type { Logger } from "../telemetry/logger";

/**
 * Off-the-hot-path recording into the `SloCounter` shards. Each isolate buffers what its requests produced (request
 * records and counter increments) per shard and flushes shortly after (`delayMs`), inside `ctx.waitUntil`, so the
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
 */
type Buffer = { requests: RequestRecord[]; counters: CounterIncrement[]; observations: Observation[] };

export type ShardLookup = (env: Env, route: string) => { apply(batch: Batch): Promise<boolean> };

export const defaultShards: ShardLookup = (env, route) =>
	env.SLO_COUNTER.get(env.SLO_COUNTER.idFromName(`slo:${route}`)) as unknown as {
		apply(batch: Batch): Promise<boolean>;
	};

export class Recorder {
	#buffers = new Map<string, Buffer>();
	#flush: Promise<void> | null = null;
	/** Flushes that failed every retry (dropped), for export health. */
	failures = 0;

	constructor(
		private readonly options: { delayMs: number; retries: number; shards: ShardLookup } = {
			delayMs: 25,
			retries: 3,
			shards: defaultShards,
		},
	) {}

	add(env: Env, route: string, items: Partial<Buffer>, waitUntil: (p: Promise<unknown>) => void, log: Logger): void {
		const b = this.#buffers.get(route) ?? { requests: [], counters: [], observations: [] };
		b.requests.push(...(items.requests ?? []));
		b.counters.push(...(items.counters ?? []));
		b.observations.push(...(items.observations ?? []));
		this.#buffers.set(route, b);
		this.#flush ??= this.#scheduleFlush(env, log);
		// Every request that adds keeps the isolate alive until the flush that carries its records has finished.
		waitUntil(this.#flush);
	}

	async #scheduleFlush(env: Env, log: Logger): Promise<void> {
		await new Promise((r) => setTimeout(r, this.options.delayMs));
		const buffers = this.#buffers;
		this.#buffers = new Map();
		this.#flush = null;
		await Promise.all(
			[...buffers].map(async ([route, b]) => {
				const batch: Batch = {
					id: crypto.randomUUID(),
					requests: b.requests,
					counters: b.counters,
					...(b.observations.length > 0 ? { observations: b.observations } : {}),
				};
				for (let attempt = 0; ; attempt++) {
					try {
						await this.options.shards(env, route).apply(batch);
						return;
					} catch (err) {
						if (attempt >= this.options.retries) {
							this.failures++;
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
