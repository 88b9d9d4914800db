import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { loadConfig } from "../../src/config";
import { handlerPaths } from "../../src/http/route-of";
import { exportMetrics } from "../../src/telemetry/export";
import { createLogger } from "../../src/telemetry/logger";
import { parseHeaders } from "../../src/telemetry/otlp";
import { DEMO_AUTH, OPS_AUTH, ORIGIN } from "../helpers/workers/http";

const app = createApp();
const routes = () => handlerPaths(app.routes);
const log = createLogger({ level: "error", base: {} });
let n = 0;

async function call(version: string, path: string, init: RequestInit = {}) {
	const ctx = createExecutionContext();
	const res = await app.fetch(
		new Request(ORIGIN + path, init),
		{ ...env, CF_VERSION_METADATA: { id: version, tag: "", timestamp: "" } },
		ctx,
	);
	await waitOnExecutionContext(ctx);
	return res;
}

function configWith(endpoint: string) {
	const loaded = loadConfig({
		...env,
		OTLP_ENDPOINT: endpoint,
		OTLP_HEADERS: "Authorization=Basic%20abc,X-Scope-OrgID=tenant-1",
	});
	if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
	return loaded.config;
}

type Point = {
	attributes: { key: string; value: { stringValue: string } }[];
	startTimeUnixNano: string;
	timeUnixNano: string;
	count?: string;
	bucketCounts?: string[];
	asDouble?: number;
};
type Metric = {
	name: string;
	histogram?: { aggregationTemporality: number; dataPoints: Point[] };
	sum?: { aggregationTemporality: number; isMonotonic: boolean; dataPoints: Point[] };
};
type Payload = {
	resourceMetrics: {
		resource: { attributes: { key: string; value: { stringValue: string } }[] };
		scopeMetrics: { metrics: Metric[] }[];
	}[];
};

const attr = (p: Point, key: string) => p.attributes.find((a) => a.key === key)?.value.stringValue;

describe("OTLP/HTTP metrics push", () => {
	it("pushes cumulative counts that match what was sent, with stable start times and resource attributes", async () => {
		const version = `otlp-${Date.now()}-${n++}`;
		for (let i = 0; i < 5; i++) await call(version, "/v1/auth/me", { headers: DEMO_AUTH });
		const id = `ok-${Date.now()}-${n++}`;
		const config = configWith(`${env.TEST_FAKE_OPENAI_URL}/otlp/${id}`);
		expect(await exportMetrics(env, config, routes(), log)).toBe(true);
		for (let i = 0; i < 2; i++) await call(version, "/v1/auth/me", { headers: DEMO_AUTH });
		expect(await exportMetrics(env, config, routes(), log)).toBe(true);

		const got = (await (await fetch(`${env.TEST_FAKE_OPENAI_URL}/otlp/${id}`)).json()) as { bodies: Payload[] };
		expect(got.bodies).toHaveLength(2);
		const pointsOf = (p: Payload) => {
			const rm = p.resourceMetrics[0];
			expect(rm?.resource.attributes).toEqual(
				expect.arrayContaining([{ key: "service.name", value: { stringValue: "edge-ai-api" } }]),
			);
			const h = rm?.scopeMetrics[0]?.metrics.find((m) => m.name === "http.server.request.duration");
			expect(h?.histogram?.aggregationTemporality).toBe(2);
			return (h?.histogram?.dataPoints ?? []).filter(
				(d) => attr(d, "version") === version && attr(d, "http.route") === "/v1/auth/me",
			);
		};
		const [first] = pointsOf(got.bodies[0] as Payload);
		const [second] = pointsOf(got.bodies[1] as Payload);
		expect(first?.count).toBe("5");
		expect(second?.count).toBe("7");
		expect(second?.bucketCounts?.reduce((a, b) => a + Number(b), 0)).toBe(7);
		expect(second?.startTimeUnixNano).toBe(first?.startTimeUnixNano);
		expect(BigInt(second?.timeUnixNano ?? "0")).toBeGreaterThanOrEqual(BigInt(first?.timeUnixNano ?? "0"));
	});

	it("retries a failing receiver, then counts the failure in the export health metrics", async () => {
		const id = `fail-${Date.now()}-${n++}`;
		const config = configWith(`${env.TEST_FAKE_OPENAI_URL}/otlp/${id}`);
		expect(await exportMetrics(env, config, routes(), log, { sleep: async () => {} })).toBe(false);
		const got = (await (await fetch(`${env.TEST_FAKE_OPENAI_URL}/otlp/${id}`)).json()) as { attempts: number };
		expect(got.attempts).toBe(4);
		const metrics = await (await call("any", "/metrics", { headers: OPS_AUTH })).text();
		expect(metrics).toMatch(/otlp_exports_total\{outcome="error"\} [1-9]/);
		expect(metrics).toMatch(/otlp_last_success_timestamp_seconds\{\} \d/);
	});

	it("an injected receiver outage (FAULT_OTLP_RATE=1) fails every attempt before it leaves, and is counted", async () => {
		// A receiver that would accept: only the injected fault can make the push fail.
		const id = `ok-fault-${Date.now()}-${n++}`;
		const config = configWith(`${env.TEST_FAKE_OPENAI_URL}/otlp/${id}`);
		const faulty = { ...config, faults: { ...config.faults, otlp: { rate: 1, latencyMs: 0 } } };
		const count = async () =>
			Number(
				/otlp_exports_total\{outcome="error"\} (\d+)/.exec(
					await (await call("any", "/metrics", { headers: OPS_AUTH })).text(),
				)?.[1] ?? 0,
			);
		const before = await count();
		const slept: number[] = [];
		const ok = await exportMetrics(env, faulty, routes(), log, {
			sleep: async (ms) => {
				slept.push(ms);
			},
		});
		expect(ok).toBe(false);
		// Bounded: four attempts with backoff between them, none of which reached the receiver.
		expect(slept).toEqual([500, 1000, 2000]);
		const got = (await (await fetch(`${env.TEST_FAKE_OPENAI_URL}/otlp/${id}`)).json()) as { attempts?: number };
		expect(got.attempts ?? 0).toBe(0);
		expect((await count()) - before).toBe(1);
	});

	it("parses OTLP_HEADERS like OTEL_EXPORTER_OTLP_HEADERS", () => {
		expect(parseHeaders("Authorization=Basic%20abc, X-Scope-OrgID=t1")).toEqual({
			Authorization: "Basic abc",
			"X-Scope-OrgID": "t1",
		});
		expect(parseHeaders(undefined)).toEqual({});
	});
});
