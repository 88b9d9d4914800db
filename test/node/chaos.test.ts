import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
	type ClientSample,
	clientStats,
	compareCounts,
	countDeltas,
	metricDeltas,
	parseExposition,
	percentile,
	readK6Output,
	sloCounts,
} from "../../scripts/chaos/measure.ts";
import { chaosSection, chaosTable, faultsText, type ScenarioResult } from "../../scripts/chaos/report.ts";
import {
	CHAT_DEADLINE_MS,
	countsMatch,
	type Measured,
	SCENARIOS,
	selectScenarios,
} from "../../scripts/chaos/scenarios.ts";
import { docSection, replaceDocSection } from "../../scripts/lib/doc-section.ts";
import { REPO_ROOT } from "../../scripts/lib/repository-root.ts";

// What `npm run chaos` computes (scripts/chaos/): the clients' view from k6's JSON output, the service's from /v1/slo
// and /metrics, their comparison and the scenarios' verdicts. Pure, no k6 and no server: test/e2e/chaos-smoke.test.ts
// runs the real thing.

/** k6's JSON output line of one chaos_request_* sample. */
function point(metric: string, value: number, tags: Record<string, string>): string {
	return JSON.stringify({ type: "Point", metric, data: { time: "2026-01-01T00:00:00Z", value, tags } });
}

function sample(over: Partial<ClientSample>): ClientSample {
	return {
		chaosRoute: "chat",
		apiRoute: "/v1/chat/completions",
		status: 200,
		outcome: "ok",
		error: "",
		durationMs: 100,
		ttfbMs: 50,
		...over,
	};
}

/** A /v1/slo body with these (route, version, requests, errors) in its 30-day window. */
function sloBody(rows: [string, string, number, number][]) {
	const window = (requests: number, errors: number) => ({
		requests,
		errors,
		availability: requests > 0 ? 1 - errors / requests : null,
		burn_rate: 0,
		latency: [{ quantile: 0.95, threshold_ms: 500, compliance: requests > 0 ? 1 : null, burn_rate: 0 }],
	});
	return {
		object: "slo_report",
		generated_at: "2026-01-01T00:00:00Z",
		routes: rows.map(([route, version, requests, errors]) => ({
			route,
			version,
			objectives: { availability: 0.999, latency: [{ quantile: 0.95, threshold_ms: 500 }] },
			error_budget_remaining: 1,
			windows: { "5m": window(0, 0), "30d": window(requests, errors) },
		})),
	};
}

describe("chaos measurements (pure)", () => {
	it("reads every request from k6's JSON output, joining each with its time to first byte, and the requests k6 could not start", () => {
		const tags = (outcome: string, status: string, error = "") => ({
			chaos_route: "chat_stream",
			api_route: "/v1/chat/completions",
			status,
			outcome,
			error,
		});
		const lines = [
			point("http_req_duration", 5, { status: "200" }),
			point("chaos_request_duration", 300, tags("ok", "200")),
			point("chaos_request_ttfb", 40, tags("ok", "200")),
			point("chaos_request_duration", 90, tags("bad", "200", "stream upstream_error")),
			point("chaos_request_ttfb", 35, tags("bad", "200", "stream upstream_error")),
			JSON.stringify({ type: "Metric", metric: "chaos_request_duration", data: { type: "trend" } }),
			"",
		];
		expect(readK6Output(lines)).toEqual({
			samples: [
				sample({ chaosRoute: "chat_stream", durationMs: 300, ttfbMs: 40 }),
				sample({
					chaosRoute: "chat_stream",
					outcome: "bad",
					error: "stream upstream_error",
					durationMs: 90,
					ttfbMs: 35,
				}),
			],
			notStarted: 0,
		});
		const dropped = point("dropped_iterations", 1, { scenario: "chat" });
		expect(readK6Output([...lines, dropped, dropped]).notStarted).toBe(2);
		expect(() => readK6Output([point("chaos_request_duration", 1, tags("ok", "200"))])).toThrow(/time-to-first-byte/);
		expect(() => readK6Output([point("chaos_request_duration", 1, tags("fine", "200"))])).toThrow(/unknown outcome/);
	});

	it("availability counts only right answers; errors by type, statuses and a nearest-rank p95", () => {
		const samples = [
			...Array.from({ length: 18 }, (_, i) => sample({ durationMs: i + 1 })),
			sample({ status: 503, outcome: "bad", error: "503 upstream-unavailable, Retry-After", durationMs: 500 }),
			sample({ status: 200, outcome: "wrong", error: "200 wrong answer", durationMs: 1000 }),
		];
		const s = clientStats(samples);
		expect(s).toMatchObject({
			requests: 20,
			outcomes: { ok: 18, bad: 1, client: 0, wrong: 1 },
			availability: 0.9,
			p95Ms: 500,
			errors: { "200 wrong answer": 1, "503 upstream-unavailable, Retry-After": 1 },
			statuses: { "200": 19, "503": 1 },
		});
		expect(percentile([], 0.95)).toBeNull();
		expect(percentile([3, 1, 2], 0.5)).toBe(2);
		expect(percentile([1, 2, 3, 4], 1)).toBe(4);
	});

	it("sums /v1/slo's 30-day window over versions and takes deltas per route", () => {
		const before = sloCounts(
			sloBody([
				["/v1/auth/me", "v1", 10, 0],
				["/v1/chat/completions", "v1", 5, 1],
			]),
		);
		const after = sloCounts(
			sloBody([
				["/v1/auth/me", "v1", 10, 0],
				["/v1/chat/completions", "v1", 9, 2],
				["/v1/chat/completions", "v2", 3, 3],
				["/v1/rag/query", "v2", 4, 0],
			]),
		);
		expect(after["/v1/chat/completions"]).toEqual({ total: 12, bad: 5 });
		expect(countDeltas(before, after)).toEqual({
			"/v1/chat/completions": { total: 7, bad: 4 },
			"/v1/rag/query": { total: 4, bad: 0 },
		});
		expect(() => sloCounts({ object: "slo_report" })).toThrow();
	});

	it("parses the Prometheus exposition and keeps what moved (no buckets or sums)", () => {
		const before = parseExposition(
			[
				"# HELP x y",
				'http_server_request_duration_seconds_count{http_route="/v1/a",http_response_status_code="200",version="v"} 3',
				'http_server_request_duration_seconds_bucket{http_route="/v1/a",le="0.5"} 3',
				'otlp_exports_total{outcome="ok"} 1',
				'rag_operations_total{operation="embed",outcome="error"} 1',
				'rag_operations_total{operation="embed",outcome="error"} 1',
				"slo_flush_failures_isolate 0",
			].join("\n"),
		);
		const after = parseExposition(
			[
				'http_server_request_duration_seconds_count{version="v",http_route="/v1/a",http_response_status_code="200"} 7',
				'http_server_request_duration_seconds_count{http_route="/v1/a",http_response_status_code="503",version="v"} 2',
				'http_server_request_duration_seconds_bucket{http_route="/v1/a",le="0.5"} 9',
				'http_server_request_duration_seconds_sum{http_route="/v1/a"} 9.5',
				'otlp_exports_total{outcome="ok"} 1',
				// The same series from two shards: summed.
				'rag_operations_total{operation="embed",outcome="error"} 2',
				'rag_operations_total{operation="embed",outcome="error"} 3',
				'label_escapes{v="a\\"b\\\\c"} 1',
				"slo_flush_failures_isolate 2",
			].join("\n"),
		);
		expect(after.find((s) => s.name === "label_escapes")?.labels.v).toBe('a"b\\c');
		expect(metricDeltas(before, after).map((s) => [s.name, s.labels.http_response_status_code, s.value])).toEqual([
			["http_server_request_duration_seconds_count", "200", 4],
			["http_server_request_duration_seconds_count", "503", 2],
			["label_escapes", undefined, 1],
			["rag_operations_total", undefined, 3],
			["slo_flush_failures_isolate", undefined, 2],
		]);
		expect(() => parseExposition("not a sample line")).toThrow(/cannot parse/);
	});

	it("compares request for request: totals, bad events, statuses and failed streams must all be equal", () => {
		const samples = [
			sample({}),
			sample({ outcome: "bad", error: "stream upstream_error" }),
			sample({ status: 503, outcome: "bad", error: "503 upstream-unavailable" }),
			sample({ apiRoute: "/v1/auth/me", chaosRoute: "auth_me" }),
		];
		const metrics = (ok: number, failedStreams: number) =>
			parseExposition(
				[
					`http_server_request_duration_seconds_count{http_route="/v1/chat/completions",http_response_status_code="200"} ${ok}`,
					'http_server_request_duration_seconds_count{http_route="/v1/chat/completions",http_response_status_code="503"} 1',
					'http_server_request_duration_seconds_count{http_route="/v1/auth/me",http_response_status_code="200"} 1',
					`http_server_failed_stream_duration_seconds_count{http_route="/v1/chat/completions",error_type="upstream_error"} ${failedStreams}`,
				].join("\n"),
			);
		const slo = { "/v1/chat/completions": { total: 3, bad: 2 }, "/v1/auth/me": { total: 1, bad: 0 } };
		const same = compareCounts(samples, slo, metrics(2, 1));
		expect(same.every((c) => c.equal)).toBe(true);
		expect(same.find((c) => c.route === "/v1/chat/completions")).toMatchObject({
			client: { total: 3, bad: 2 },
			statuses: { "200": { client: 2, service: 2 }, "503": { client: 1, service: 1 } },
			failedStreams: { client: 1, service: 1 },
		});
		// The stream that failed after its first byte counted as good: one bad event short.
		const streamGood = compareCounts(samples, { ...slo, "/v1/chat/completions": { total: 3, bad: 1 } }, metrics(2, 0));
		expect(streamGood.find((c) => c.route === "/v1/chat/completions")?.equal).toBe(false);
		// One more request counted than the clients made (a doubled count), though every bad event matches.
		const doubled = compareCounts(samples, { ...slo, "/v1/auth/me": { total: 2, bad: 0 } }, metrics(2, 1));
		expect(doubled.find((c) => c.route === "/v1/auth/me")?.equal).toBe(false);
		expect(compareCounts(samples, slo, metrics(3, 1)).every((c) => c.equal)).toBe(false);
	});
});

/** A measurement with these per-route client samples and matching service counts. */
function measured(samples: ClientSample[], metricsText = "", cronRuns = 0, pushesReceived = 0): Measured {
	const byRoute: Record<string, ClientSample[]> = {};
	for (const s of samples) byRoute[s.chaosRoute] = [...(byRoute[s.chaosRoute] ?? []), s];
	const slo: Record<string, { total: number; bad: number }> = {};
	const lines = [metricsText];
	for (const s of samples) {
		const c = slo[s.apiRoute] ?? { total: 0, bad: 0 };
		slo[s.apiRoute] = { total: c.total + 1, bad: c.bad + (s.outcome === "bad" ? 1 : 0) };
		lines.push(
			`http_server_request_duration_seconds_count{http_route="${s.apiRoute}",http_response_status_code="${s.status}"} 1`,
		);
		if (s.status === 200 && s.outcome === "bad") {
			lines.push(`http_server_failed_stream_duration_seconds_count{http_route="${s.apiRoute}"} 1`);
		}
	}
	const metrics = parseExposition(lines.filter(Boolean).join("\n"));
	return {
		client: clientStats(samples),
		routes: Object.fromEntries(Object.entries(byRoute).map(([r, list]) => [r, clientStats(list)])),
		comparisons: compareCounts(samples, slo, metrics),
		metrics,
		cronRuns,
		pushesReceived,
	};
}

const scenario = (name: string) => {
	const s = SCENARIOS.find((x) => x.name === name);
	if (!s) throw new Error(name);
	return s;
};

describe("chaos scenarios' checks", () => {
	it("model-failing: availability ≥ 99 %, the fault visibly applied, the breaker closed", () => {
		const ok = (n: number) => Array.from({ length: n }, () => sample({}));
		const failed = sample({ status: 502, outcome: "bad", error: "502 bad-gateway" });
		const metrics =
			'llm_upstream_requests_total{outcome="server_error"} 40\nllm_upstream_requests_total{outcome="ok"} 200';
		const checks = (m: Measured) => scenario("model-failing").checks(m, undefined);
		expect(checks(measured([...ok(199), failed], metrics)).every((c) => c.ok)).toBe(true);
		// 2 of 100 failed: 98 %.
		expect(checks(measured([...ok(98), failed, failed], metrics)).find((c) => !c.ok)?.what).toBe("availability ≥ 99 %");
		// No model call failed: the fault never reached the service.
		expect(checks(measured(ok(100))).find((c) => !c.ok)?.what).toMatch(/fault was applied/);
		const opened = `${metrics}\nllm_upstream_requests_total{outcome="circuit_open"} 3`;
		expect(checks(measured(ok(100), opened)).find((c) => !c.ok)?.what).toBe("the breaker stayed closed");
	});

	it("mid-stream: failed streams are in-stream errors; the counts check catches a failed stream the SLO counted good", () => {
		const stream = (route: string, bad: boolean) =>
			sample({
				chaosRoute: route,
				apiRoute: route === "chat_stream" ? "/v1/chat/completions" : "/v1/rag/query",
				outcome: bad ? "bad" : "ok",
				error: bad ? "stream upstream_error" : "",
			});
		const samples = [true, false, false, true].flatMap((bad) => [
			stream("chat_stream", bad),
			stream("rag_query_stream", bad),
		]);
		const m = measured(samples);
		expect(
			scenario("mid-stream")
				.checks(m, undefined)
				.every((c) => c.ok),
		).toBe(true);
		expect(countsMatch(m).ok).toBe(true);
		const countedGood = {
			...m,
			comparisons: compareCounts(
				samples,
				{ "/v1/chat/completions": { total: 4, bad: 0 }, "/v1/rag/query": { total: 4, bad: 2 } },
				m.metrics,
			),
		};
		expect(countsMatch(countedGood).ok).toBe(false);
		// No stream failed: the fault did nothing.
		const none = measured(samples.map((s) => ({ ...s, outcome: "ok" as const, error: "" })));
		expect(
			scenario("mid-stream")
				.checks(none, undefined)
				.some((c) => !c.ok),
		).toBe(true);
	});

	it("limiter-failing: chat fails closed (503 with Retry-After), search and auth fail open; the decision counts must match", () => {
		const chat = () =>
			sample({ status: 503, outcome: "bad", error: "503 limiter-unavailable, Retry-After", chaosRoute: "chat" });
		const search = () => sample({ chaosRoute: "rag_search", apiRoute: "/v1/rag/search" });
		const me = () => sample({ chaosRoute: "auth_me", apiRoute: "/v1/auth/me" });
		const decisions = (closed: number) =>
			[
				`rate_limit_decisions_total{http_route="/v1/chat/completions",outcome="fail_closed",policy="llm-tokens"} ${closed}`,
				'rate_limit_decisions_total{http_route="/v1/rag/search",outcome="fail_open",policy="rag-query"} 2',
				'rate_limit_decisions_total{http_route="/v1/auth/me",outcome="fail_open",policy="default"} 1',
			].join("\n");
		const samples = [chat(), chat(), search(), search(), me()];
		expect(
			scenario("limiter-failing")
				.checks(measured(samples, decisions(2)), undefined)
				.every((c) => c.ok),
		).toBe(true);
		expect(
			scenario("limiter-failing")
				.checks(measured(samples, decisions(1)), undefined)
				.filter((c) => !c.ok)
				.map((c) => c.what),
		).toEqual(["llm-tokens failed closed for every chat request"]);
		// A chat request admitted (fail open) instead: not every chat request got the 503.
		const admitted = [chat(), sample({ chaosRoute: "chat" }), search(), search(), me()];
		expect(scenario("limiter-failing").checks(measured(admitted, decisions(1)), undefined)[0]?.ok).toBe(false);
	});

	it("slo-counter-failing: what the SLO did not count is exactly what the service reports lost", () => {
		const samples = [sample({}), sample({}), sample({ chaosRoute: "auth_me", apiRoute: "/v1/auth/me" })];
		const check = scenario("slo-counter-failing").countCheck;
		if (!check) throw new Error("slo-counter-failing has its own count check");
		const m = measured(samples);
		expect(check(m).ok).toBe(true);
		const lost = {
			...m,
			comparisons: compareCounts(
				samples,
				{ "/v1/chat/completions": { total: 1, bad: 0 }, "/v1/auth/me": { total: 1, bad: 0 } },
				m.metrics,
			),
		};
		// One request lost and nothing reported: fails. Reported exactly: passes; reported as two: fails.
		expect(check(lost).ok).toBe(false);
		const reported = (n: number) =>
			parseExposition(`slo_flush_failures_isolate 1\nslo_flush_dropped_requests_isolate ${n}`);
		expect(check({ ...lost, metrics: reported(1) }).ok).toBe(true);
		expect(check({ ...lost, metrics: reported(2) }).ok).toBe(false);
	});

	it("otlp-failing: every push counted as failed (at least one), no route slower than the baseline allows", () => {
		const traffic = (ms: number) =>
			["chat", "chat_stream", "rag_query", "rag_search", "auth_me"].map((r) =>
				sample({ chaosRoute: r, apiRoute: `/${r}`, durationMs: ms }),
			);
		const baseline = measured(traffic(100));
		const pushes = (n: number) => `otlp_exports_total{outcome="error"} ${n}`;
		const check = (m: Measured) => scenario("otlp-failing").checks(m, baseline);
		expect(check(measured(traffic(120), pushes(3), 3)).every((c) => c.ok)).toBe(true);
		expect(check(measured(traffic(300), pushes(3), 3)).filter((c) => !c.ok)).toHaveLength(5);
		expect(check(measured(traffic(100), pushes(2), 3)).some((c) => !c.ok)).toBe(true);
		// A push reached the receiver although the fault should have failed every attempt before sending it.
		expect(check(measured(traffic(100), pushes(3), 3, 1)).some((c) => !c.ok)).toBe(true);
		// The baseline's pushes are accepted: counted ok and received, one each.
		const accepted = (received: number) =>
			scenario("baseline").checks(measured(traffic(100), 'otlp_exports_total{outcome="ok"} 2', 2, received), undefined);
		expect(accepted(2).every((c) => c.ok)).toBe(true);
		expect(accepted(1).some((c) => !c.ok)).toBe(true);
		// No push was made: nothing proves anything.
		expect(check(measured(traffic(100), pushes(0), 0)).some((c) => !c.ok)).toBe(true);
		// Without a baseline the latency checks cannot pass.
		expect(
			scenario("otlp-failing")
				.checks(measured(traffic(100), pushes(3), 3), undefined)
				.some((c) => !c.ok),
		).toBe(true);
	});

	it("selects scenarios by name, baseline first when one compares with it; unknown names are refused", () => {
		expect(selectScenarios([]).map((s) => s.name)).toEqual(SCENARIOS.map((s) => s.name));
		expect(selectScenarios(["otlp-failing"]).map((s) => s.name)).toEqual(["baseline", "otlp-failing"]);
		expect(selectScenarios(["mid-stream", "model-failing"]).map((s) => s.name)).toEqual([
			"model-failing",
			"mid-stream",
		]);
		expect(() => selectScenarios(["nope"])).toThrow(/unknown scenario/);
		// model-hang waits for the local chat deadline: wrangler.toml's.
		const toml = readFileSync(path.join(REPO_ROOT, "wrangler.toml"), "utf8");
		expect(Number(/^TIMEOUT_CHAT_MS = "(\d+)"$/m.exec(toml)?.[1])).toBe(CHAT_DEADLINE_MS);
		// Every scenario names load/chaos.js routes with a rate, and says what it expects.
		for (const s of SCENARIOS) {
			expect(Object.values(s.routes).every((r) => r > 0)).toBe(true);
			expect(s.expected.length).toBeGreaterThan(20);
		}
	});
});

describe("chaos report", () => {
	it("renders one row per scenario and replaces only its own section of a document", () => {
		const m = measured([
			sample({}),
			sample({ status: 503, outcome: "bad", error: "503 upstream-unavailable, Retry-After", durationMs: 7 }),
		]);
		const result: ScenarioResult = {
			name: "vector-index-down",
			faults: { vector_index: { rate: 1 } },
			expected: "degrades",
			routes: { chat: 1 },
			fault_state: null,
			k6_exit_code: 0,
			not_started: 0,
			client: m.client,
			client_routes: m.routes,
			comparisons: m.comparisons,
			metric_deltas: m.metrics,
			cron_runs: 0,
			otlp_received: {},
			settle_ms: 1500,
			load_average: { start: 1, end: 1.5 },
			checks: [{ what: "x", ok: true, detail: "" }],
			passed: true,
		};
		const run = {
			meta: {
				run_id: "r",
				started_at: "2026-01-01T00:00:00.000Z",
				finished_at: "2026-01-01T00:05:00.000Z",
				duration: "20s",
				cores: 2,
				cpu: "cpu",
				memory_gib: 8,
				node: "v22",
				k6: "v0.48.0",
				wrangler: "4",
				load_average: { start: 1, end: 2 },
				service: { OTLP_ENDPOINT: "the run's receiver" },
				exit_code: 1,
			},
			scenarios: [
				result,
				{ ...result, name: "mid-stream", passed: false, checks: [{ what: "y", ok: false, detail: "d" }] },
			],
		};
		const table = chaosTable(run);
		expect(table.split("\n")).toHaveLength(4);
		expect(table).toContain(
			"| `vector-index-down` | `vector_index` rate 1 | degrades | 2 | 50.00 % | chat 100 ms (50 ms) | 503 upstream-unavailable, Retry-After ×1 | 1 / 1 = (of 2 / 2) | pass |",
		);
		expect(table).toContain("**FAIL**: y");
		expect(faultsText({ chat_stream: { rate: 0.5, after_tokens: 3 }, d1: { latency_ms: 250 } })).toBe(
			"`chat_stream` rate 0.5 after 3 tokens, `d1` +250 ms",
		);
		const doc = `# R\n\n${docSection("chaos", "old", "old body")}\n\nafter\n${docSection("other", "x", "keep")}\n`;
		const replaced = replaceDocSection(doc, "chaos", chaosSection(run));
		expect(replaced).toContain("<!-- chaos:start (generated by npm run chaos; edit the script, not this) -->");
		expect(replaced).toContain("- `mid-stream`: y — d (load average 1 → 1.5)");
		expect(replaced).not.toContain("old body");
		expect(replaced).toContain("keep");
		expect(replaced.endsWith("\nafter\n<!-- other:start (generated by x) -->\nkeep\n<!-- other:end -->\n")).toBe(true);
		expect(() => replaceDocSection("no markers", "chaos", "x", "docs/x.md")).toThrow("docs/x.md has no chaos markers");
	});
});
