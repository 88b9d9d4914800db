import type { Context } from "hono";
import type { AppEnv } from "../app-env";

/**
 * Runs work after the response, inside the request's `ctx.waitUntil` (bookkeeping, cleanups, a stream's pump), so
 * the isolate stays alive until it ends but the client never waits for it. A failure is logged as `what` (a warning;
 * an error when `level` says so), never thrown. Without an ExecutionContext (Hono's `app.request` in unit tests) the
 * work still runs to completion.
 *
 * @example
 * ```ts
 * background(c, stub.cancel(event), "rate limiter cleanup failed");
 * ```
 */
export function background(
	c: Context<AppEnv>,
	work: Promise<unknown>,
	what = "background work failed",
	level: "warn" | "error" = "warn",
): void {
	const quiet = work.catch((err: unknown) => c.get("log")?.[level](what, { error_message: String(err) }));
	try {
		c.executionCtx.waitUntil(quiet);
	} catch {
		void quiet;
	}
}

/** {@link background} bound to a request: what the pipeline hands to domain code as its `defer`/`waitUntil`. */
export function deferrer(
	c: Context<AppEnv>,
	what?: string,
	level?: "warn" | "error",
): (work: Promise<unknown>) => void {
	return (work) => background(c, work, what, level);
}
