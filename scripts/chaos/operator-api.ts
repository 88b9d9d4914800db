// What `npm run chaos` asks the running service as its operator: the runtime faults (GET/PUT/DELETE
// /v1/admin/faults, scope `admin`), its own counts (GET /v1/slo and GET /metrics, scope `metrics:read`) and the cron
// (GET /__scheduled under `wrangler dev --test-scheduled`). Answers are parsed; anything unexpected throws with the
// status and body, never passes as zero.
import { z } from "zod";
import { expectOk } from "../load/credentials.ts";
import {
	countDeltas,
	type EventCounts,
	type MetricSample,
	parseExposition,
	sloCounts as parseSloCounts,
} from "./measure.ts";
import type { Faults } from "./scenarios.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const FaultStateSchema = z.object({
	environment: z.string(),
	faults: z.record(
		z.string(),
		z
			.object({
				rate: z.number().optional(),
				latency_ms: z.number().optional(),
				after_tokens: z.number().optional(),
				source: z.enum(["runtime", "configuration"]),
			})
			.loose(),
	),
});
export type FaultState = z.infer<typeof FaultStateSchema>;

/** The operator endpoint of the service's runtime faults (local and test environments only). */
export function faultEndpoint(base: string, adminToken: () => Promise<string>) {
	const call = async (method: "GET" | "PUT" | "DELETE", body?: Faults): Promise<FaultState> => {
		const res = await fetch(`${base}/v1/admin/faults`, {
			method,
			headers: {
				Authorization: `Bearer ${await adminToken()}`,
				...(body ? { "Content-Type": "application/json" } : {}),
			},
			...(body ? { body: JSON.stringify(body) } : {}),
		});
		if (res.status === 404) {
			throw new Error(
				`${method} /v1/admin/faults answered 404: this service has no operator fault endpoint (docs/resilience.md#fault-injection)`,
			);
		}
		await expectOk(res, `${method} /v1/admin/faults`);
		return FaultStateSchema.parse(await res.json());
	};
	return {
		get: () => call("GET"),
		/** Replaces every runtime fault by `faults`; checks the service now reports each as a runtime fault. */
		async set(faults: Faults): Promise<FaultState> {
			const state = await call("PUT", faults);
			for (const [dependency, fault] of Object.entries(faults)) {
				const now = state.faults[dependency];
				const same = now && Object.entries(fault).every(([k, v]) => (now as Record<string, unknown>)[k] === v);
				if (now?.source !== "runtime" || !same) {
					throw new Error(
						`PUT /v1/admin/faults: ${dependency} should now be ${JSON.stringify(fault)} (runtime), the service reports ${JSON.stringify(now)}`,
					);
				}
			}
			return state;
		},
		clear: () => call("DELETE"),
	};
}

/** One reading of the service's counts: /v1/slo per route, and every /metrics sample. */
export type ServiceCounts = { slo: Record<string, EventCounts>; metrics: MetricSample[] };

/** Reads /v1/slo and /metrics with an operator key (scope `metrics:read`). */
export async function readServiceCounts(base: string, opsKey: string): Promise<ServiceCounts> {
	const headers = { Authorization: `Bearer ${opsKey}` };
	const [slo, metrics] = await Promise.all([
		fetch(`${base}/v1/slo`, { headers }).then((r) => expectOk(r, "GET /v1/slo")),
		fetch(`${base}/metrics`, { headers }).then((r) => expectOk(r, "GET /metrics")),
	]);
	return { slo: parseSloCounts(await slo.json()), metrics: parseExposition(await metrics.text()) };
}

/**
 * Reads the service's counts until the scenario's requests are all recorded: recording is asynchronous (the Worker
 * flushes ~25 ms after a request, and retries a failed flush up to ~1 s later). Settled when, for every route the
 * clients called, /v1/slo's delta equals what they saw and still does `quietMs` later; or — when they never
 * agree (a lost or doubled count) — when nothing moved for `quietMs`; at the latest after `timeoutMs`.
 */
export async function settledCounts(
	read: () => Promise<ServiceCounts>,
	before: ServiceCounts,
	expected: Record<string, EventCounts>,
	options: { quietMs?: number; pollMs?: number; timeoutMs?: number } = {},
): Promise<{ counts: ServiceCounts; settledMs: number; agreed: boolean }> {
	const quietMs = options.quietMs ?? 1_500;
	const pollMs = options.pollMs ?? 250;
	const timeoutMs = options.timeoutMs ?? 20_000;
	const started = Date.now();
	const routes = Object.keys(expected);
	const view = (c: ServiceCounts) => {
		const d = countDeltas(before.slo, c.slo);
		return JSON.stringify(routes.map((r) => d[r] ?? { total: 0, bad: 0 }));
	};
	const want = JSON.stringify(routes.map((r) => expected[r]));
	let last = await read();
	let lastView = view(last);
	let since = Date.now();
	for (;;) {
		const agreed = lastView === want;
		if (Date.now() - since >= quietMs || Date.now() - started >= timeoutMs) {
			return { counts: last, settledMs: since - started, agreed };
		}
		await sleep(pollMs);
		const next = await read();
		const nextView = view(next);
		if (nextView !== lastView) since = Date.now();
		last = next;
		lastView = nextView;
	}
}

/** Runs the Worker's cron once (`wrangler dev --test-scheduled`): the OTLP metric push among its work. */
export async function triggerCron(base: string): Promise<void> {
	const res = await fetch(`${base}/__scheduled?cron=${encodeURIComponent("* * * * *")}`);
	await expectOk(res, "GET /__scheduled");
	await res.arrayBuffer();
}
