import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ABANDONED_AFTER_MS, type SloCounter } from "../../durable-objects/slo-counter";
import type { RequestRecord, Snapshot } from "../../src/slo/contract";

// Streams are announced to their shard at their first byte and closed by their own record when they end; a stream
// whose closing record never comes (its isolate died: a crash, a restart) is counted once as a bad event,
// `abandoned` — never lost, never twice (docs/slo.md#which-responses-are-bad).

let n = 0;
const ROUTE = "/v1/chat/completions";

/** A shard of its own (the object's name is free; only the Worker derives it from the route). */
function shard() {
	return env.SLO_COUNTER.get(env.SLO_COUNTER.idFromName(`slo-streams-test:${Date.now()}:${n++}`));
}

const started = Date.now();
const request = (version: string, extra: Partial<RequestRecord> = {}): RequestRecord => ({
	route: ROUTE,
	method: "POST",
	status: 200,
	version,
	durationMs: 420,
	atMs: started,
	...extra,
});

function counts(snap: Snapshot, version: string) {
	const series = snap.series.filter((s) => s.version === version).reduce((a, s) => a + s.count, 0);
	const failed = (snap.histograms ?? []).filter(
		(h) => h.metric === "http_server_failed_stream_duration_seconds" && h.labels.version === version,
	);
	const open = snap.gauges.find((g) => g.metric === "http_server_open_streams" && g.labels.http_route === ROUTE);
	return { series, failed: failed.map((h) => [h.labels.error_type, h.count]), open: open?.value ?? 0 };
}

async function windowOf(stub: DurableObjectStub<SloCounter>, version: string) {
	const windows = await stub.windows(started + 1_000);
	return windows.find((w) => w.version === version)?.windows.find((w) => w.window === "5m");
}

describe("streams announced at their first byte", () => {
	it("a stream that never closes is counted once as abandoned after the longest stream budget, then never again", async () => {
		const stub = shard();
		const v = "cut";
		await stub.apply({
			id: crypto.randomUUID(),
			requests: [],
			counters: [],
			opened: [{ id: "s1", request: request(v) }],
		});
		// In flight: not counted yet, visible as open.
		expect(counts(await stub.snapshot(), v)).toEqual({ series: 0, failed: [], open: 1 });
		expect(await windowOf(stub, v)).toBeUndefined();

		const swept = await runInDurableObject(stub, async (object: SloCounter) => [
			object.sweepAbandoned(Date.now() + ABANDONED_AFTER_MS - 60_000),
			object.sweepAbandoned(Date.now() + ABANDONED_AFTER_MS + 1),
			object.sweepAbandoned(Date.now() + 2 * ABANDONED_AFTER_MS),
		]);
		// Not before it is due; once when it is; never again.
		expect(swept).toEqual([0, 1, 0]);
		expect(counts(await stub.snapshot(), v)).toEqual({ series: 1, failed: [["abandoned", 1]], open: 0 });
		// In the minute it started, as a bad event (not fast either).
		expect(await windowOf(stub, v)).toMatchObject({ total: 1, errors: 1, fast: [0, 0] });

		// Its closing record arriving after all (a flush retried very late) does not count it twice.
		await stub.apply({ id: crypto.randomUUID(), requests: [request(v, { streamId: "s1" })], counters: [] });
		expect(counts(await stub.snapshot(), v)).toEqual({ series: 1, failed: [["abandoned", 1]], open: 0 });
	});

	it("a stream that closes is counted by its record only, whether the close comes in the same batch or later", async () => {
		const stub = shard();
		const v = "closed";
		await stub.apply({
			id: crypto.randomUUID(),
			requests: [request(v, { streamId: "a" })],
			counters: [],
			opened: [{ id: "a", request: request(v) }],
		});
		await stub.apply({
			id: crypto.randomUUID(),
			requests: [],
			counters: [],
			opened: [{ id: "b", request: request(v) }],
		});
		await stub.apply({
			id: crypto.randomUUID(),
			requests: [request(v, { streamId: "b", errorType: "model_error" })],
			counters: [],
			observations: [
				{
					metric: "http_server_failed_stream_duration_seconds",
					labels: { http_route: ROUTE, http_request_method: "POST", version: v, error_type: "model_error" },
					seconds: 0.42,
				},
			],
		});
		const swept = await runInDurableObject(stub, async (object: SloCounter) =>
			object.sweepAbandoned(Date.now() + 2 * ABANDONED_AFTER_MS),
		);
		expect(swept).toBe(0);
		expect(counts(await stub.snapshot(), v)).toEqual({ series: 2, failed: [["model_error", 1]], open: 0 });
		expect(await windowOf(stub, v)).toMatchObject({ total: 2, errors: 1 });
	});

	it("an announcement that arrives after its stream's closing record (a retried flush) is ignored", async () => {
		const stub = shard();
		const v = "late";
		await stub.apply({ id: crypto.randomUUID(), requests: [request(v, { streamId: "c" })], counters: [] });
		await stub.apply({
			id: crypto.randomUUID(),
			requests: [],
			counters: [],
			opened: [{ id: "c", request: request(v) }],
		});
		expect(counts(await stub.snapshot(), v)).toEqual({ series: 1, failed: [], open: 0 });
		const swept = await runInDurableObject(stub, async (object: SloCounter) =>
			object.sweepAbandoned(Date.now() + 2 * ABANDONED_AFTER_MS),
		);
		expect(swept).toBe(0);
	});

	it("an announcement schedules the alarm that will sweep it", async () => {
		const stub = shard();
		const before = Date.now();
		await stub.apply({
			id: crypto.randomUUID(),
			requests: [],
			counters: [],
			opened: [{ id: "d", request: request("alarm") }],
		});
		const alarm = await runInDurableObject(stub, async (_o: SloCounter, state: DurableObjectState) =>
			state.storage.getAlarm(),
		);
		expect(alarm).not.toBeNull();
		expect(alarm as number).toBeGreaterThanOrEqual(before + ABANDONED_AFTER_MS);
		expect(alarm as number).toBeLessThanOrEqual(Date.now() + ABANDONED_AFTER_MS);
	});
});
