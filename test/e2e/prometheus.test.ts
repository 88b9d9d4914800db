import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../helpers/node/dev-server";
import { DEMO_KEY, OPS_KEY } from "../helpers/node/local-credentials";
import { hasPrometheus, type LocalPrometheus, startPrometheus } from "../helpers/node/prometheus";

// A real Prometheus (Debian's package; .ci/run installs it) scrapes the service under wrangler dev, with the seeded
// operator key (tenant platform, scope metrics:read) as its bearer token; the traffic is the demo tenant's. What PromQL
// returns must equal what was sent, exactly.
let server: DevServer;
let prometheus: LocalPrometheus | undefined;
const dir = mkdtempSync(path.join(tmpdir(), "edge-ai-api-prom-"));

async function promql(query: string): Promise<Record<string, number>> {
	const res = await fetch(`${prometheus?.base}/api/v1/query?query=${encodeURIComponent(query)}`);
	const body = (await res.json()) as {
		data: { result: { metric: Record<string, string>; value: [number, string] }[] };
	};
	return Object.fromEntries(
		body.data.result.map((r) => [`${r.metric.http_route} ${r.metric.http_response_status_code}`, Number(r.value[1])]),
	);
}

const headers = { "X-API-Key": DEMO_KEY, "Content-Type": "application/json" };
async function traffic(base: string, times: number) {
	const one = async () => {
		expect((await fetch(`${base}/v1/auth/me`, { headers })).status).toBe(200);
		expect((await fetch(`${base}/v1/models`, { headers })).status).toBe(200);
		expect((await fetch(`${base}/v1/chat/completions`, { method: "POST", headers, body: "{}" })).status).toBe(422);
	};
	// Four concurrent clients.
	await Promise.all(
		Array.from({ length: 4 }, async () => {
			for (let i = 0; i < times; i++) await one();
		}),
	);
}

beforeAll(async () => {
	if (!hasPrometheus) return;
	server = await startDevServer({ READY_TIMEOUT_MS: "30000" });
	prometheus = await startPrometheus({ dir, target: `127.0.0.1:${server.port}` });
}, 120_000);
afterAll(async () => {
	prometheus?.stop();
	await server?.stop();
	rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasPrometheus)("metrics scraped by a real Prometheus", () => {
	const query = "sum by (http_route, http_response_status_code) (http_server_request_duration_seconds_count)";

	it("returns exactly the requests sent, per route and status, with consistent histograms", async () => {
		await traffic(server.base, 5);
		const expected = { "/v1/auth/me 200": 20, "/v1/models 200": 20, "/v1/chat/completions 422": 20 };
		await expect.poll(() => promql(query), { timeout: 30_000, interval: 1_000 }).toMatchObject(expected);
		const inf = await promql(
			'sum by (http_route, http_response_status_code) (http_server_request_duration_seconds_bucket{le="+Inf"})',
		);
		expect(inf).toMatchObject(expected);
	});

	it("keeps its counts across a restart of the service and its objects", async () => {
		const persistDir = server.persistDir;
		const port = server.port;
		await server.stop({ keepState: true });
		server = await startDevServer({ READY_TIMEOUT_MS: "30000" }, { persistDir, port });
		await traffic(server.base, 1);
		await expect
			.poll(() => promql(query), { timeout: 30_000, interval: 1_000 })
			.toMatchObject({ "/v1/auth/me 200": 24, "/v1/models 200": 24, "/v1/chat/completions 422": 24 });
	});

	it("serves text exposition promtool accepts, and OpenMetrics (what Prometheus negotiates first) it scrapes cleanly", async () => {
		const text = await fetch(`${server.base}/metrics`, { headers: { Authorization: `Bearer ${OPS_KEY}` } });
		expect(text.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
		const check = spawnSync("promtool", ["check", "metrics"], { input: await text.text(), encoding: "utf8" });
		expect(check.status, check.stdout + check.stderr).toBe(0);
		const om = await fetch(`${server.base}/metrics`, {
			headers: {
				Authorization: `Bearer ${OPS_KEY}`,
				Accept: "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
			},
		});
		expect(om.headers.get("content-type")).toMatch(/^application\/openmetrics-text/);
		expect((await om.text()).endsWith("# EOF\n")).toBe(true);
		// Prometheus asks for OpenMetrics first: its scrapes succeeded and reported no parse errors.
		const up = await fetch(`${prometheus?.base}/api/v1/query?query=${encodeURIComponent('up{job="edge-ai-api"}')}`);
		const body = (await up.json()) as { data: { result: { value: [number, string] }[] } };
		expect(body.data.result[0]?.value[1]).toBe("1");
	});
});
