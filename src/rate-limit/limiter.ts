/**
 * The Worker side of rate limiting: one atomic decision over every policy that governs a request.
 *
 * Policies are grouped by limit key; each key is one `RateLimiter` object, decided in one call (atomic inside the
 * object). When a request's policies span several keys (say `subject` and `tenant`), the objects are called in
 * parallel and, if any denies or fails closed, the charges the others made are cancelled: no policy is charged
 * for a request that was not admitted. The trade-off: between a charge and its cancellation (one round trip)
 * the charge is visible, so a concurrent request of the same key can be denied where a single global lock would
 * have admitted it; nothing is ever over-admitted. Policies sharing one key have no such window.
 *
 * @example
 * ```ts
 * const admission = await admit({ policies, keyOf: (p) => limitKey(p.key, inputs), tokenCost: 0 }, deps);
 * if (admission.outcome === "denied") throw tooManyRequests(admission);
 * ```
 *
 * @module
 */

import type { Logger } from "../telemetry/logger";
import type { RateLimiterRpc } from "./contract";
import type { NegativeCache } from "./negative-cache";
import type { Policy } from "./policies";

/** What the Worker needs of a `RateLimiter` object (its RPC methods). */
export type LimiterStub = Pick<RateLimiterRpc, "consume" | "commit" | "cancel">;

/** The object for a limit key. */
export type LimiterLookup = (key: string) => LimiterStub;

/** The `RateLimiter` object of a key in the Worker's namespace. */
export function limiterLookup(namespace: Env["RATE_LIMITER"]): LimiterLookup {
	return (key) => namespace.get(namespace.idFromName(`rl:${key}`));
}

/** A policy's standing after a decision, for headers and problem bodies. */
export type PolicyState = {
	policy: Policy;
	allowed: boolean;
	remaining: number;
	/** ms until quota comes back (see `Decision.resetMs`); `Infinity` when the cost can never fit. */
	resetMs: number;
};

/** An open token reservation in one object. */
export type Reservation = { key: string; event: string; cost: number };

export type Admission =
	| { outcome: "allowed"; states: PolicyState[]; failedOpen: Policy[]; reservations: Reservation[] }
	| { outcome: "denied"; states: PolicyState[]; violated: PolicyState[]; retryAfterMs: number; cached: boolean }
	| { outcome: "unavailable"; states: PolicyState[]; failed: Policy[] };

export type AdmitDeps = {
	lookup: LimiterLookup;
	cache: NegativeCache;
	timeoutMs: number;
	leaseMs: number;
	now: () => number;
	/** Runs work after the response (ctx.waitUntil): cancellations never delay the answer. */
	defer: (p: Promise<unknown>) => void;
	log: Logger;
};

export type AdmitInput = {
	policies: readonly Policy[];
	keyOf: (p: Policy) => string;
	/** Worst-case tokens of this request (prompt estimate + max_tokens); 0 when unknown or not an LLM call. */
	tokenCost: number;
};

class LimiterTimeout extends Error {}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	const expired = new Promise<never>((_, reject) => {
		timer = setTimeout(() => reject(new LimiterTimeout(`rate limiter did not answer within ${ms} ms`)), ms);
	});
	return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

function costOf(p: Policy, tokenCost: number): number {
	return p.unit === "tokens" ? tokenCost : 1;
}

/** Decides a request against its policies (see the module comment for atomicity and failure modes). */
export async function admit(input: AdmitInput, deps: AdmitDeps): Promise<Admission> {
	const groups = new Map<string, Policy[]>();
	for (const p of input.policies) {
		const key = input.keyOf(p);
		groups.set(key, [...(groups.get(key) ?? []), p]);
	}

	// Known-blocked keys are denied here, before any object is charged.
	const nowMs = deps.now();
	const cachedDenials: PolicyState[] = [];
	for (const [key, policies] of groups) {
		for (const p of policies) {
			const until = deps.cache.blockedUntil(key, p.name, costOf(p, input.tokenCost), nowMs);
			if (until !== null) cachedDenials.push({ policy: p, allowed: false, remaining: 0, resetMs: until - nowMs });
		}
	}
	if (cachedDenials.length > 0) {
		const retryAfterMs = Math.max(...cachedDenials.map((s) => s.resetMs));
		return { outcome: "denied", states: cachedDenials, violated: cachedDenials, retryAfterMs, cached: true };
	}

	const calls = [...groups].map(([key, policies]) => {
		const charges = policies.map((p) => {
			const cost = costOf(p, input.tokenCost);
			return {
				policy: p.name,
				limit: p.limit,
				windowMs: p.window_s * 1000,
				cost,
				reserve: p.unit === "tokens" && cost > 0,
			};
		});
		const pending = deps.lookup(key).consume(charges, { leaseMs: deps.leaseMs });
		return {
			key,
			policies,
			pending,
			settled: withTimeout(pending, deps.timeoutMs).then(
				(result) => ({ ok: true as const, result }),
				(error: unknown) => ({ ok: false as const, error }),
			),
		};
	});
	const answers = await Promise.all(calls.map((c) => c.settled));

	const states: PolicyState[] = [];
	const admittedEvents: { key: string; event: string }[] = [];
	const failed: Policy[] = [];
	const violated: PolicyState[] = [];
	answers.forEach((answer, i) => {
		const call = calls[i];
		if (!call) return;
		if (!answer.ok) {
			failed.push(...call.policies);
			deps.log.warn("rate limiter unavailable", {
				limit_key_policies: call.policies.map((p) => p.name),
				error_message: String(answer.error),
				timeout: answer.error instanceof LimiterTimeout,
			});
			return;
		}
		if (answer.result.allowed && answer.result.event)
			admittedEvents.push({ key: call.key, event: answer.result.event });
		for (const d of answer.result.decisions) {
			const policy = call.policies.find((p) => p.name === d.policy);
			if (!policy) continue;
			const state = { policy, allowed: d.allowed, remaining: d.remaining, resetMs: d.resetMs };
			states.push(state);
			if (!d.allowed) {
				violated.push(state);
				if (d.reserved === 0)
					deps.cache.block(call.key, d.policy, costOf(policy, input.tokenCost), nowMs + d.retryAfterMs);
			}
		}
	});

	const failedClosed = failed.filter((p) => p.fail === "closed");
	if (violated.length > 0 || failedClosed.length > 0) {
		// Not admitted: take back what other objects charged, now and whenever a timed-out call still lands.
		for (const { key, event } of admittedEvents) deps.defer(deps.lookup(key).cancel(event));
		// Best effort, not awaited: a call that timed out may still land (and charge) after the answer.
		answers.forEach((answer, i) => {
			const call = calls[i];
			if (call && !answer.ok) {
				call.pending
					.then((late) => (late.event ? deps.lookup(call.key).cancel(late.event) : false))
					.catch(() => undefined);
			}
		});
	}
	if (violated.length > 0) {
		const retryAfterMs = Math.max(...violated.map((s) => s.resetMs));
		return { outcome: "denied", states, violated, retryAfterMs, cached: false };
	}
	if (failedClosed.length > 0) return { outcome: "unavailable", states, failed };

	const reservations: Reservation[] = [];
	answers.forEach((answer, i) => {
		const call = calls[i];
		if (!call || !answer.ok || !answer.result.event) return;
		const tokens = call.policies.some((p) => p.unit === "tokens") ? input.tokenCost : 0;
		if (tokens > 0) reservations.push({ key: call.key, event: answer.result.event, cost: tokens });
	});
	return { outcome: "allowed", states, failedOpen: failed, reservations };
}

/** How long a commit may take before the lease is left to refund the reservation, ms (off the hot path). */
export const COMMIT_TIMEOUT_MS = 5_000;

/**
 * A request's token reservation, settled once: {@link TokenBudget.commit} charges the actual usage in every
 * object that holds part of it and refunds the rest. A handle nobody commits is released (0 tokens) when the
 * request ends, unless the handler `detach`es it to commit when a stream ends.
 */
export class TokenBudget {
	#settled = false;
	#detached = false;

	constructor(
		readonly reserved: number,
		private readonly reservations: readonly Reservation[],
		private readonly lookup: LimiterLookup,
		private readonly log: Logger,
	) {}

	get settled(): boolean {
		return this.#settled;
	}

	get detached(): boolean {
		return this.#detached;
	}

	/** Keeps the reservation open after the response is returned (a stream); commit when it ends. */
	detach(): void {
		this.#detached = true;
	}

	/** Charges `actualTokens` and refunds the rest of the reservation; later calls do nothing. */
	async commit(actualTokens: number): Promise<void> {
		if (this.#settled) return;
		this.#settled = true;
		const results = await Promise.allSettled(
			this.reservations.map((r) => withTimeout(this.lookup(r.key).commit(r.event, actualTokens), COMMIT_TIMEOUT_MS)),
		);
		for (const r of results) {
			if (r.status === "rejected") {
				this.log.error("token reservation not committed; its lease will refund it", {
					error_message: String(r.reason),
				});
			} else if (!r.value.committed) {
				this.log.warn("token reservation already settled or expired", { tokens: actualTokens });
			}
		}
	}
}
