/**
 * The vector index as RAG sees it: one namespace per tenant (so a query never reaches another tenant's vectors),
 * and how far the index has processed writes — what it has not processed yet is "fresh", served from D1.
 *
 * @example
 * ```ts
 * await index.query(vector, { topK: 20, namespace: await namespaceOf("acme") });
 * const upTo = await processedUpTo(index, log); // ms; chunks written later are the fresh tail
 * ```
 *
 * @module
 */
import { sha256Hex } from "../lib/encoding";
import type { VectorIndex } from "../ports/vector-index";
import type { Logger } from "../telemetry/logger";

/** The vector namespace of a tenant: a hash, so any tenant id fits Vectorize's 64-byte namespace limit. */
export async function namespaceOf(tenant: string): Promise<string> {
	return `t-${(await sha256Hex(`tenant\u0000${tenant}`)).slice(0, 40)}`;
}

/** Until when the index has processed its mutations (ms); 0 when it cannot say. */
export async function processedUpTo(index: VectorIndex, log: Logger): Promise<number> {
	try {
		const info = await index.describe();
		const raw: unknown = info.processedUpToDatetime;
		const ms = typeof raw === "number" ? raw : typeof raw === "string" ? Date.parse(raw) : Number.NaN;
		return Number.isFinite(ms) ? ms : 0;
	} catch (err) {
		log.warn("vector index describe failed; treating everything as not yet indexed", { error_message: String(err) });
		return 0;
	}
}
