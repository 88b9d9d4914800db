/**
 * Per-route time budgets in the pipeline: a 504 problem when a handler outlives its budget, an in-stream timeout event
 * when a stream does.
 *
 * @module
 */
import type { MiddlewareHandler } from "hono";
import { sseTimeoutEvent } from "../../chat/completion-stream";
import { AppError } from "../../http/app-error";
import { keepAlive } from "../../http/background";
import { routeOf } from "../../http/route-of";
import { Deadline } from "./deadline";

export { Deadline } from "./deadline";

/** What {@link timeout} puts in the context. */
export type TimeoutVariables = {
	/** The route's time budget; pass `deadline.signal` to upstream calls so a 504 aborts them. */
	deadline: Deadline;
};

type TimeoutEnv = { Bindings: Env; Variables: TimeoutVariables };

/** Picks the budget (ms) for a request from its route pattern; the app maps route classes to configured timeouts. */
export type BudgetResolver = (route: string, env: Env) => number;

/**
 * Per-route timeouts. Puts a {@link Deadline} in the context; when the budget runs out before the handler
 * answers, the deadline's signal aborts the upstream work and the client gets a 504 problem. A response that
 * streams (`text/event-stream`) keeps the deadline armed: if the stream is still open when it fires, the client
 * receives an in-stream error event and the stream closes (a status can no longer change once streaming began).
 *
 * @example
 * ```ts
 * app.use(timeout(() => 30_000));
 * app.get("/slow", async (c) => fetch(upstream, { signal: c.get("deadline").signal }));
 * ```
 */
export function timeout(resolveBudget: BudgetResolver): MiddlewareHandler<TimeoutEnv> {
	return async function timeoutMiddleware(c, next) {
		const deadline = new Deadline(resolveBudget(routeOf(c), c.env));
		c.set("deadline", deadline);

		let timer: ReturnType<typeof setTimeout> | undefined;
		let fire: (() => void) | undefined;
		const arm = () => {
			clearTimeout(timer);
			timer = setTimeout(() => {
				deadline.expire();
				fire?.();
			}, deadline.remainingMs());
		};
		deadline.onChange(arm);

		const expired = new Promise<"expired">((resolve) => {
			fire = () => resolve("expired");
		});
		arm();
		try {
			const outcome = await Promise.race([next().then(() => "done" as const), expired]);
			if (outcome === "expired") {
				throw new AppError({
					status: 504,
					slug: "timeout",
					detail: `The request did not complete within its ${deadline.budgetMs} ms deadline`,
				});
			}
		} catch (err) {
			clearTimeout(timer);
			throw err;
		}

		const body = c.res.body;
		const isStream = c.res.headers.get("Content-Type")?.startsWith("text/event-stream") ?? false;
		if (!body || !isStream || deadline.signal.aborted) {
			clearTimeout(timer);
			return;
		}
		// Streaming: relay the body and keep the deadline armed until the stream ends.
		const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
		const writer = writable.getWriter();
		const encoder = new TextEncoder();
		let closed = false;
		fire = () => {
			if (closed) return;
			closed = true;
			void writer
				.write(encoder.encode(sseTimeoutEvent(deadline.budgetMs)))
				.then(() => writer.close())
				.catch(() => undefined);
			void reader.cancel(deadline.signal.reason).catch(() => undefined);
		};
		const reader = body.getReader();
		const pump = async () => {
			try {
				for (;;) {
					const { done, value } = await reader.read();
					if (done || closed) break;
					await writer.write(value);
				}
				if (!closed) {
					closed = true;
					await writer.close();
				}
			} catch (err) {
				// The client went away (write failed) or the producer failed: abort upstream work either way — as an
				// abandoned request, not an expired one (the SLO counts a timeout as a failure, a client leaving not).
				closed = true;
				deadline.abandon();
				await writer.abort(err).catch(() => undefined);
				await reader.cancel(err).catch(() => undefined);
			} finally {
				clearTimeout(timer);
			}
		};
		// The pump handles its own failures (above); nothing is left to report.
		keepAlive(
			() => c.executionCtx,
			pump(),
			() => undefined,
		);
		c.res = new Response(readable, c.res);
	};
}
