/**
 * The RPC contract of the `UsageLedger` Durable Object (durable-objects/usage-ledger.ts): one object per tenant
 * holding its exact LLM usage per hour × model × route × subject, the source of `GET /v1/usage`
 * (docs/usage.md). The Worker side (src/usage/ledger.ts) and the object share these types.
 *
 * @module
 */
/** One model call's usage, recorded once (`id` makes a retried record idempotent). */
export type UsageRecord = {
	/** Unique per call (the request id, plus a suffix when a request makes several calls). */
	id: string;
	/** When the call ended, ms since epoch (decides its hour). */
	atMs: number;
	subject: string;
	model: string;
	/** The route pattern that made the call, e.g. `/v1/chat/completions`. */
	route: string;
	inputTokens: number;
	outputTokens: number;
	costUsd: number;
};

export type UsageGroupBy = "model" | "route" | "subject";

export type UsageQuery = {
	/** Inclusive start and exclusive end, ms since epoch, aligned to the bucket width. */
	startMs: number;
	endMs: number;
	bucketMs: number;
	groupBy: readonly UsageGroupBy[];
	/** Only these models (empty or absent: all). */
	models?: readonly string[];
};

/** Totals of one bucket and group; grouped-by fields are set, the others null. */
export type UsageTotals = {
	model: string | null;
	route: string | null;
	subject: string | null;
	requests: number;
	inputTokens: number;
	outputTokens: number;
	costUsd: number;
};

export type UsageBucket = { startMs: number; endMs: number; results: UsageTotals[] };

/** What a Worker calls on a tenant's ledger. */
export type UsageLedgerRpc = {
	/**
	 * Adds records of `tenant` (the object's owner); a record id applied before is skipped. Returns how many applied,
	 * or null when the ledger is another tenant's (refused as a value: a throw across RPC is also uncaught inside).
	 */
	record(tenant: string, records: UsageRecord[], retentionDays: number): Promise<number | null>;
	/** Every bucket of the range (empty ones included), oldest first. Another tenant's call gets nothing. */
	query(tenant: string, query: UsageQuery): Promise<UsageBucket[]>;
};
