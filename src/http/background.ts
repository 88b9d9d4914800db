/**
 * Work that runs after the response (bookkeeping, cleanups, a stream's pump, a cron's push), kept alive by the
 * runtime's `waitUntil` so the isolate does not stop before it ends, and never allowed to throw into the caller.
 * The one place the code base calls `waitUntil`.
 *
 * @example
 * ```ts
 * background(c, stub.cancel(event), "rate limiter cleanup failed");
 * keepAlive(ctx, exportMetrics(env, config, routes, log), (err) => log.error("metrics push crashed", { error_message: String(err) }));
 * ```
 *
 * @module
 */

/** The logger methods background failures are reported with (the request logger satisfies it). */
type FailureLog = {
	warn(msg: string, fields?: Record<string, unknown>): void;
	error(msg: string, fields?: Record<string, unknown>): void;
};

/** What {@link background} needs of a Hono context: its execution context and its request logger, if any. */
export type BackgroundScope = {
	readonly executionCtx: Pick<ExecutionContext, "waitUntil">;
	get(key: "log"): FailureLog | undefined;
};

/**
 * Hands `work` to `waitUntil` with its failure turned into a call of `onError` (never an unhandled rejection).
 * `ctx` may be absent or throw on access (Hono's `c.executionCtx` without an ExecutionContext, as under
 * `app.request` in unit tests): the work still runs to completion, only without the runtime's keep-alive.
 */
export function keepAlive(
	ctx: Pick<ExecutionContext, "waitUntil"> | (() => Pick<ExecutionContext, "waitUntil">) | undefined,
	work: Promise<unknown>,
	onError: (err: unknown) => void,
): void {
	const quiet = work.catch(onError);
	try {
		const target = typeof ctx === "function" ? ctx() : ctx;
		if (target) target.waitUntil(quiet);
	} catch {
		// No ExecutionContext: `quiet` runs on; nothing can hold the isolate for it.
	}
}

/**
 * {@link keepAlive} for a request: a failure is logged as `what` on the request's logger (a warning; an error when
 * `level` says so).
 */
export function background(
	c: BackgroundScope,
	work: Promise<unknown>,
	what = "background work failed",
	level: "warn" | "error" = "warn",
): void {
	keepAlive(
		() => c.executionCtx,
		work,
		(err) => c.get("log")?.[level](what, { error_message: String(err) }),
	);
}

/** {@link background} bound to a request: what the pipeline hands to domain code as its `defer`/`waitUntil`. */
export function deferrer(
	c: BackgroundScope,
	what?: string,
	level?: "warn" | "error",
): (work: Promise<unknown>) => void {
	return (work) => background(c, work, what, level);
}
