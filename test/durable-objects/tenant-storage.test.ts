import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Conversation } from "../../durable-objects/conversation";
import type { SloCounter } from "../../durable-objects/slo-counter";
import type { UsageLedger } from "../../durable-objects/usage-ledger";
import { LABEL_VALUE_CAP, OVERFLOW_VALUE } from "../../src/slo/label-cap";
import { DAY_MS, HOUR_MS } from "../../src/usage/buckets";

/**
 * Durable Objects that hold tenant data or tenant-derived labels: conversations expire, the usage ledger is exact,
 * idempotent and owned, and the SLO counters' caller-derived labels stay bounded (docs/security.md).
 */
let seq = 0;
const unique = (label: string) => `${label}-${Date.now().toString(36)}-${seq++}`;

describe("Conversation expiry", () => {
	it("deletes a conversation untouched for its TTL; an append in between moves the expiry on", async () => {
		const stub = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(unique("ttl")));
		const caps = { maxMessages: 10, maxTokens: 1_000, ttlMs: 60_000 };
		await stub.append("t/s", [{ role: "user", content: "hello" }], caps);
		await runInDurableObject(stub, async (_i: Conversation, state) => {
			const alarm = await state.storage.getAlarm();
			expect(alarm).toBeGreaterThan(Date.now() + 50_000);
			expect(alarm).toBeLessThanOrEqual(Date.now() + 60_000);
			// The last message is not old yet: the alarm re-arms instead of deleting.
		});
		expect(await runDurableObjectAlarm(stub)).toBe(true);
		expect(await stub.history("t/s")).toHaveLength(1);
		// Age the conversation past its TTL, then let the alarm run.
		await runInDurableObject(stub, async (_i: Conversation, state) => {
			state.storage.sql.exec("UPDATE messages SET at_ms = at_ms - 61000");
			// Scheduled ahead, so it runs only when the test says (runDurableObjectAlarm), not on its own.
			await state.storage.setAlarm(Date.now() + 60_000);
		});
		expect(await runDurableObjectAlarm(stub)).toBe(true);
		await runInDurableObject(stub, async (_i: Conversation, state) => {
			const tables = state.storage.sql
				.exec<{ n: number }>("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'messages'")
				.one().n;
			expect(tables).toBe(0); // all storage gone, not just the rows
			expect(await state.storage.getAlarm()).toBeNull();
		});
		expect(await stub.history("t/s")).toEqual([]);
		// It can start again under the same name.
		await stub.append("t/s", [{ role: "user", content: "again" }], caps);
		expect((await stub.history("t/s")).map((m) => m.content)).toEqual(["again"]);
	});

	it("belongs to one owner: another owner reads nothing and cannot write", async () => {
		const stub = env.CONVERSATIONS.get(env.CONVERSATIONS.idFromName(unique("own")));
		await stub.append("acme/alice", [{ role: "user", content: "private" }], { maxMessages: 10, maxTokens: 1_000 });
		expect(await stub.history("acme/bob")).toEqual([]);
		expect(await stub.history("acme")).toEqual([]);
		expect(
			await stub.append("acme/bob", [{ role: "user", content: "x" }], { maxMessages: 10, maxTokens: 1_000 }),
		).toBeNull();
		expect(await stub.forget("acme/bob")).toBe(false);
		expect(await stub.history("acme/alice")).toHaveLength(1);
	});
});

describe("UsageLedger", () => {
	const record = (id: string, atMs: number, extra: Partial<{ subject: string; model: string }> = {}) => ({
		id,
		atMs,
		subject: extra.subject ?? "s1",
		model: extra.model ?? "local",
		route: "/v1/chat/completions",
		inputTokens: 10,
		outputTokens: 5,
		costUsd: 0.25,
	});

	it("sums hourly, applies a record id once, and answers every bucket of the range, grouped as asked", async () => {
		const tenant = unique("ledger");
		const stub = env.USAGE_LEDGER.get(env.USAGE_LEDGER.idFromName(`usage:${tenant}`));
		const day = Math.floor(Date.now() / DAY_MS) * DAY_MS - DAY_MS;
		expect(
			await stub.record(
				tenant,
				[record("a", day + HOUR_MS), record("b", day + HOUR_MS + 5), record("c", day + 3 * HOUR_MS, { subject: "s2" })],
				30,
			),
		).toBe(3);
		// A retried record (same id) is not counted twice.
		expect(await stub.record(tenant, [record("a", day + HOUR_MS)], 30)).toBe(0);
		const daily = await stub.query(tenant, {
			startMs: day,
			endMs: day + 2 * DAY_MS,
			bucketMs: DAY_MS,
			groupBy: ["model"],
		});
		expect(daily).toHaveLength(2);
		expect(daily[0]?.results).toEqual([
			{ model: "local", route: null, subject: null, requests: 3, inputTokens: 30, outputTokens: 15, costUsd: 0.75 },
		]);
		expect(daily[1]?.results).toEqual([]);
		const hourly = await stub.query(tenant, {
			startMs: day,
			endMs: day + 4 * HOUR_MS,
			bucketMs: HOUR_MS,
			groupBy: ["subject"],
		});
		expect(hourly.map((b) => b.results.map((r) => [r.subject, r.requests]))).toEqual([
			[],
			[["s1", 2]],
			[],
			[["s2", 1]],
		]);
		const filtered = await stub.query(tenant, {
			startMs: day,
			endMs: day + DAY_MS,
			bucketMs: DAY_MS,
			groupBy: [],
			models: ["other-model"],
		});
		expect(filtered[0]?.results).toEqual([]);
	});

	it("belongs to its tenant: a mis-addressed call can neither write nor read", async () => {
		const tenant = unique("owned");
		const stub = env.USAGE_LEDGER.get(env.USAGE_LEDGER.idFromName(`usage:${tenant}`));
		await stub.record(tenant, [record("x", Date.now())], 30);
		expect(await stub.record("intruder", [record("y", Date.now())], 30)).toBeNull();
		const day = Math.floor(Date.now() / DAY_MS) * DAY_MS;
		const seen = await stub.query("intruder", { startMs: day, endMs: day + DAY_MS, bucketMs: DAY_MS, groupBy: [] });
		expect(seen).toEqual([{ startMs: day, endMs: day + DAY_MS, results: [] }]);
	});

	it("drops usage older than its retention and record ids older than a day when its alarm runs", async () => {
		const tenant = unique("retain");
		const stub = env.USAGE_LEDGER.get(env.USAGE_LEDGER.idFromName(`usage:${tenant}`));
		const now = Date.now();
		await stub.record(tenant, [record("old", now - 40 * DAY_MS), record("new", now)], 30);
		await runInDurableObject(stub, (_i: UsageLedger, state) => {
			state.storage.sql.exec("UPDATE applied SET at_ms = at_ms - ? WHERE id = 'old'", 2 * DAY_MS);
		});
		expect(await runDurableObjectAlarm(stub)).toBe(true);
		await runInDurableObject(stub, (_i: UsageLedger, state) => {
			const rows = state.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM usage").one().n;
			const ids = state.storage.sql
				.exec<{ id: string }>("SELECT id FROM applied ORDER BY id")
				.toArray()
				.map((r) => r.id);
			expect(rows).toBe(1);
			expect(ids).toEqual(["new"]);
		});
	});
});

describe("SloCounter label cardinality", () => {
	it("keeps tenant and subject labels to their cap per metric; the rest count under (other), totals intact", async () => {
		const stub = env.SLO_COUNTER.get(env.SLO_COUNTER.idFromName(unique("slo-cap")));
		const cap = LABEL_VALUE_CAP.tenant ?? 0;
		const tenants = Array.from({ length: cap + 50 }, (_, i) => `tenant-${i}`);
		// Two batches, so the cap also holds across calls (values already stored are reloaded, not recounted).
		const half = Math.floor(tenants.length / 2);
		for (const part of [tenants.slice(0, half), tenants.slice(half)]) {
			await stub.apply({
				id: crypto.randomUUID(),
				requests: [],
				counters: part.map((tenant) => ({ metric: "llm_tokens", labels: { tenant, model: "local" }, value: 2 })),
			});
		}
		const snapshot = await stub.snapshot();
		const series = snapshot.counters.filter((c) => c.metric === "llm_tokens");
		const distinct = new Set(series.map((c) => c.labels.tenant));
		expect(distinct.size).toBe(cap + 1);
		expect(distinct.has(OVERFLOW_VALUE)).toBe(true);
		expect(series.find((c) => c.labels.tenant === OVERFLOW_VALUE)?.value).toBe(50 * 2);
		expect(series.reduce((s, c) => s + c.value, 0)).toBe(tenants.length * 2);
		// A tenant that already has its series keeps counting there.
		await stub.apply({
			id: crypto.randomUUID(),
			requests: [],
			counters: [{ metric: "llm_tokens", labels: { tenant: "tenant-0", model: "local" }, value: 1 }],
		});
		await runInDurableObject(stub, (_i: SloCounter, state) => {
			const v = state.storage.sql
				.exec<{ value: number }>(
					"SELECT value FROM counters WHERE metric = 'llm_tokens' AND json_extract(labels, '$.tenant') = 'tenant-0'",
				)
				.one().value;
			expect(v).toBe(3);
		});
	});
});
