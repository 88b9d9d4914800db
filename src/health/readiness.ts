/**
 * Readiness, for `/readyz` and the cron's self-check: valid configuration, D1 migrated, the Durable Objects
 * answering. Each check is bounded in time, and `/readyz` reuses a result per isolate briefly because it is public.
 *
 * @module
 */
import { loadConfig } from "../config";
import { bindingsIdentity } from "../config/bindings";
import { D1_MIGRATIONS_TABLE, EXPECTED_D1_MIGRATIONS } from "../db/migrations";
import type { Logger } from "../telemetry/logger";

export type CheckResult = { ok: boolean; duration_ms: number; detail?: string; extra?: Record<string, unknown> };
type CheckOutcome = Omit<CheckResult, "duration_ms">;
export type Readiness = {
	ready: boolean;
	checks: { config: CheckResult; d1: CheckResult; durable_objects: CheckResult };
};

/** Each dependency check gets this long (ms) before it counts as failed, so `/readyz` never hangs. */
export const CHECK_TIMEOUT_MS = 2_000;

/** The name of the object the readiness probe pings in each Durable Object namespace. */
export const PROBE_OBJECT_NAME = "__readiness-probe__";

class CheckTimeout extends Error {}

/** Runs a check within CHECK_TIMEOUT_MS; a failure's own text goes to the log only (the route is public). */
async function timed(name: string, run: () => Promise<CheckOutcome>, log: Logger | undefined): Promise<CheckResult> {
	const started = Date.now();
	let timer: ReturnType<typeof setTimeout> | undefined;
	try {
		const timeout = new Promise<never>((_, reject) => {
			timer = setTimeout(() => reject(new CheckTimeout(`timed out after ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
		});
		const result = await Promise.race([run(), timeout]);
		return { ...result, duration_ms: Date.now() - started };
	} catch (err) {
		// Readiness is public: it says that a dependency failed, not what the dependency said (that is logged).
		log?.warn("readiness check failed", { check: name, error_message: String(err) });
		const detail = err instanceof CheckTimeout ? err.message : "did not answer";
		return { ok: false, detail, duration_ms: Date.now() - started };
	} finally {
		clearTimeout(timer);
	}
}

async function checkD1(db: D1Database): Promise<CheckOutcome> {
	const { results } = await db.prepare(`SELECT name FROM ${D1_MIGRATIONS_TABLE} ORDER BY id`).all<{ name: string }>();
	const applied = new Set(results.map((r) => r.name));
	const missing = EXPECTED_D1_MIGRATIONS.filter((m) => !applied.has(m));
	if (missing.length > 0) {
		return { ok: false, detail: `migrations not applied: ${missing.join(", ")}`, extra: { applied: applied.size } };
	}
	return { ok: true, extra: { applied: applied.size } };
}

async function checkDurableObjects(env: Env): Promise<CheckOutcome> {
	const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(PROBE_OBJECT_NAME));
	const pong = await stub.ping();
	return { ok: true, extra: { RATE_LIMITER: pong } };
}

/**
 * Readiness: valid configuration, D1 reachable with every expected migration applied, and each Durable Object
 * namespace answering an RPC ping. Checks run concurrently, each bounded by {@link CHECK_TIMEOUT_MS}.
 */
export async function checkReadiness(env: Env, log?: Logger): Promise<Readiness> {
	const loaded = loadConfig(env);
	const config: CheckResult = loaded.ok
		? { ok: true, duration_ms: 0 }
		: { ok: false, duration_ms: 0, detail: "invalid configuration", extra: { issues: loaded.issues } };
	const [d1, durableObjects] = await Promise.all([
		timed("d1", () => checkD1(env.DB), log),
		timed("durable_objects", () => checkDurableObjects(env), log),
	]);
	return {
		ready: config.ok && d1.ok && durableObjects.ok,
		checks: { config, d1, durable_objects: durableObjects },
	};
}

/** How long one isolate reuses a readiness result, ms. */
export const READINESS_CACHE_MS = 1_000;

const recent = new WeakMap<object, { atMs: number; result: Promise<Readiness> }>();

/**
 * {@link checkReadiness} at most once per {@link READINESS_CACHE_MS} per isolate, concurrent callers sharing the check
 * in flight: `/readyz` is public, and without this every probe (or every request of a flood) would cost a D1 query
 * and a Durable Object call — an amplifier onto the dependencies it reports on.
 */
export function cachedReadiness(env: Env, log?: Logger, nowMs: number = Date.now()): Promise<Readiness> {
	const key = bindingsIdentity(env);
	const hit = recent.get(key);
	if (hit && nowMs - hit.atMs < READINESS_CACHE_MS) return hit.result;
	const result = checkReadiness(env, log);
	recent.set(key, { atMs: nowMs, result });
	return result;
}
