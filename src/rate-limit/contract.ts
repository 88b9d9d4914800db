/**
 * The RPC contract of the `RateLimiter` Durable Object (durable-objects/rate-limiter.ts): what the Worker sends and
 * gets back. The object implements {@link RateLimiterRpc}; the Worker side (src/rate-limit/limiter.ts, the auth
 * throttle, readiness) depends on this module only, never on the object's file.
 *
 * @module
 */
import type { Decision } from "./sliding-window";

/** The readiness probe's answer: the object is live and its storage migrated to `schema_version`. */
export type Pong = { ok: true; schema_version: number };

/**
 * One charge of a decision: the policy (its name scopes the log inside this object), its limit and window, and
 * the cost to charge. `reserve` marks a token budget charge held as a reservation until `commit`.
 */
export type Charge = { policy: string; limit: number; windowMs: number; cost: number; reserve?: boolean };

export type PolicyDecision = Decision & {
	policy: string;
	/** Cost of open (uncommitted) reservations counted in `used`: capacity that may come back before `resetMs`. */
	reserved: number;
};

export type ConsumeResult = {
	allowed: boolean;
	/** Id of the logged event (for `commit` and `cancel`); null when nothing was logged. */
	event: string | null;
	decisions: PolicyDecision[];
};

export type ConsumeOptions = {
	/** The decision's clock (ms); default the object's clock. Tests and benchmarks inject it. */
	nowMs?: number;
	/** Decide without logging anything. */
	dryRun?: boolean;
	/** Lease of the reservation made by `reserve` charges: uncommitted after this, it is refunded. */
	leaseMs?: number;
};

export type CommitResult = {
	/** False when the reservation is unknown: already committed or cancelled, or refunded at lease expiry. */
	committed: boolean;
	reserved: number;
	charged: number;
	/** Reserved minus charged; negative when the actual usage exceeded the reservation (over-use). */
	refunded: number;
};

/** Default lease of a reservation when the caller gives none. */
export const DEFAULT_LEASE_MS = 360_000;

/** What the Worker calls on a `RateLimiter` object. */
export interface RateLimiterRpc {
	/** Readiness probe: proves the namespace routes to a live object whose storage is migrated. */
	ping(): Promise<Pong>;
	/** Decides every charge and, when all admit (and not `dryRun`), logs them as one event. */
	consume(charges: Charge[], options?: ConsumeOptions): Promise<ConsumeResult>;
	/** Settles a reservation at the actual cost (refunding the rest); false when it is no longer open. */
	commit(event: string, actual: number): Promise<CommitResult>;
	/** Removes an event's charges (a request that was not admitted elsewhere); false when unknown. */
	cancel(event: string): Promise<boolean>;
}
