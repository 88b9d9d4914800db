import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import type { Batch, RequestRecord } from "../../src/slo/contract";
import { report } from "../../src/slo/report";
import { isError, SLO_WINDOWS, sloFor } from "../../src/slo/spec";
import { DEMO_AUTH, exposedSamples, OPS_AUTH, ORIGIN } from "../helpers/workers/http";

const app = createApp();
let n = 0;
/** Calls the app as version `version` (its own label, so tests never see each other's counts). */
async function call(version: string, path: string, init: RequestInit = {}, vars: Record<string, unknown> = {}) {
	const ctx = createExecutionContext();
	const res = await app.fetch(
		new Request(ORIGIN + path, init),
		{ ...env, CF_VERSION_METADATA: { id: version, tag: "", timestamp: "" }, ...vars },
		ctx,
	);
	await waitOnExecutionContext(ctx);
	return res;
}

const shard = (route: string) => env.SLO_COUNTER.get(env.SLO_COUNTER.idFromName(`slo:${route}`));

describe("SLO recording and /metrics", () => {
	it("counts every request by route, method, status and version, with histograms, off the hot path", async () => {
		const v = `v-${Date.now()}-${n++}`;
		for (let i = 0; i < 7; i++) expect((await call(v, "/v1/auth/me", { headers: DEMO_AUTH })).status).toBe(200);
		for (let i = 0; i < 3; i++)
			expect(
				(
					await call(v, "/v1/chat/completions", {
						method: "POST",
						headers: { ...DEMO_AUTH, "Content-Type": "application/json" },
						body: "{}",
					})
				).status,
			).toBe(422);
		await call(v, "/healthz");
		const res = await call(v, "/metrics", { headers: OPS_AUTH });
		expect(res.headers.get("Content-Type")).toMatch(/^text\/plain; version=0\.0\.4/);
		const s = exposedSamples(await res.text());
		const labels = (route: string, method: string, status: number) =>
			`{http_route="${route}",http_request_method="${method}",http_response_status_code="${status}",version="${v}"}`;
		expect(s.get(`http_server_request_duration_seconds_count${labels("/v1/auth/me", "GET", 200)}`)).toBe(7);
		expect(s.get(`http_server_request_duration_seconds_count${labels("/v1/chat/completions", "POST", 422)}`)).toBe(3);
		const inf = `http_server_request_duration_seconds_bucket{http_route="/v1/auth/me",http_request_method="GET",http_response_status_code="200",version="${v}",le="+Inf"}`;
		expect(s.get(inf)).toBe(7);
		// Probes are not recorded.
		expect([...s.keys()].some((k) => k.includes('http_route="/healthz"'))).toBe(false);
	});

	it("counts rate-limit decisions and LLM tokens and cost", async () => {
		const v = `v-${Date.now()}-${n++}`;
		const policies = JSON.stringify([
			{ name: `p${n}`, routes: ["POST /v1/chat/completions"], key: "subject", limit: 1, window_s: 60 },
		]);
		const chat = () =>
			call(
				v,
				"/v1/chat/completions",
				{
					method: "POST",
					headers: { ...DEMO_AUTH, "Content-Type": "application/json" },
					body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], max_tokens: 3 }),
				},
				{
					RATE_LIMIT_POLICIES: policies,
					RATE_LIMIT_TIMEOUT_MS: "5000",
					CHAT_PRICES: JSON.stringify({ local: { prompt_per_mtok: 1_000_000, completion_per_mtok: 1_000_000 } }),
				},
			);
		const ok = await chat();
		expect(ok.status).toBe(200);
		const { usage } = (await ok.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
		expect((await chat()).status).toBe(429);
		const s = exposedSamples(await (await call(v, "/metrics", { headers: OPS_AUTH })).text());
		expect(
			s.get(`rate_limit_decisions_total{http_route="/v1/chat/completions",outcome="allowed",policy="p${n}"}`),
		).toBe(1);
		expect(s.get(`rate_limit_decisions_total{http_route="/v1/chat/completions",outcome="denied",policy="p${n}"}`)).toBe(
			1,
		);
		const tokens = [...s].filter(
			([k]) =>
				k.startsWith("llm_tokens_total{") &&
				k.includes('model="local"') &&
				k.includes('tenant="demo"') &&
				k.includes('type="completion"'),
		);
		expect(tokens.reduce((a, [, x]) => a + x, 0)).toBeGreaterThanOrEqual(usage.completion_tokens);
	});

	it("answers OpenMetrics when asked", async () => {
		const res = await call(`v-${n++}`, "/metrics", {
			headers: { ...OPS_AUTH, Accept: "application/openmetrics-text; version=1.0.0" },
		});
		expect(res.headers.get("Content-Type")).toMatch(/^application\/openmetrics-text/);
		const text = await res.text();
		expect(text.endsWith("# EOF\n")).toBe(true);
		expect(text).toContain("# TYPE rate_limit_decisions counter");
	});

	it("applies a batch once: a retried flush never double counts", async () => {
		const route = `/probe/idempotent/${n++}`;
		const record: RequestRecord = { route, method: "GET", status: 200, version: "x", durationMs: 12, atMs: Date.now() };
		const batch: Batch = {
			id: crypto.randomUUID(),
			requests: [record, record],
			counters: [{ metric: "rag_operations", labels: { operation: "embed", outcome: "ok" }, value: 2 }],
		};
		expect(await shard(route).apply(batch)).toBe(true);
		expect(await shard(route).apply(batch)).toBe(false);
		const snap = await shard(route).snapshot();
		expect(snap.series[0]?.count).toBe(2);
		expect(snap.counters[0]?.value).toBe(2);
	});
});

describe("/v1/slo windows", () => {
	it("match a reference computed independently from the same requests (injected clock, window edges, low traffic)", async () => {
		const slo = sloFor("/v1/x");
		await fc.assert(
			fc.asyncProperty(
				fc.array(
					fc.record({
						agoMs: fc.oneof(
							fc.integer({ min: 0, max: 10 * 60_000 }),
							fc.integer({ min: 0, max: 31 * 86_400_000 }),
							fc.constantFrom(0, 59_999, 60_000, 299_999, 300_000, 43_200 * 60_000 - 1),
						),
						status: fc.constantFrom(200, 200, 200, 404, 429, 500, 503, 504),
						durationMs: fc.oneof(fc.integer({ min: 1, max: 2_000 }), fc.constantFrom(500, 501, 1_000, 1_001)),
					}),
					{ maxLength: 40 },
				),
				async (events) => {
					const route = `/probe/slo/${n++}`;
					const now = Date.UTC(2026, 10, 24, 12, 0, 30, 500);
					const records = events.map((e) => ({
						route,
						method: "GET",
						status: e.status,
						version: "v1",
						durationMs: e.durationMs,
						atMs: now - e.agoMs,
					}));
					if (records.length > 0)
						await shard(route).apply({ id: crypto.randomUUID(), requests: records, counters: [] });
					const got = await shard(route).windows(now);
					// Reference: windows cover the current minute and the (minutes − 1) before it.
					const currentMinute = Math.floor(now / 60_000);
					const longest = Math.max(...SLO_WINDOWS.map((w) => w.minutes));
					if (!records.some((r) => Math.floor(r.atMs / 60_000) > currentMinute - longest)) {
						// Nothing within the longest window: the route × version is not reported at all.
						expect(got).toEqual([]);
						return;
					}
					for (const w of SLO_WINDOWS) {
						const inside = records.filter((r) => {
							const m = Math.floor(r.atMs / 60_000);
							return m > currentMinute - w.minutes && m <= currentMinute;
						});
						const counted = got[0]?.windows.find((x) => x.window === w.name);
						expect(counted?.total, w.name).toBe(inside.length);
						expect(counted?.errors, w.name).toBe(inside.filter((r) => isError(r.status)).length);
						slo.latency.forEach((l, i) => {
							expect(counted?.fast[i]).toBe(
								inside.filter((r) => !isError(r.status) && r.durationMs <= l.thresholdMs).length,
							);
						});
					}
					// Ratios come from the summed counts.
					const r = report(got[0] as NonNullable<(typeof got)[0]>);
					const w30 = got[0]?.windows.find((x) => x.window === "30d");
					if (w30 && w30.total > 0) {
						expect(r.windows["30d"]?.burn_rate).toBeCloseTo(w30.errors / w30.total / (1 - slo.availability), 9);
						expect(r.error_budget_remaining).toBeCloseTo(1 - w30.errors / w30.total / (1 - slo.availability), 9);
					}
				},
			),
			{ numRuns: 60 },
		);
	});

	it("reports per route and version through the API", async () => {
		const v = `v-${Date.now()}-${n++}`;
		for (let i = 0; i < 4; i++) await call(v, "/v1/auth/me", { headers: DEMO_AUTH });
		const body = (await (await call(v, "/v1/slo", { headers: OPS_AUTH })).json()) as {
			routes: { route: string; version: string; windows: Record<string, { requests: number; availability: number }> }[];
		};
		const me = body.routes.find((r) => r.route === "/v1/auth/me" && r.version === v);
		expect(me?.windows["5m"]).toMatchObject({ requests: 4, availability: 1 });
	});
});
