import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compareRatios, ratiosOf, type Summary, spikeReport, stressRoute, stressTable } from "../../load/analysis.js";
import { ROUTES, THRESHOLDS } from "../../load/thresholds.gen.js";
import { findK6 } from "../../scripts/load/k6-binary.mjs";
import { memoryDrift } from "../../scripts/load/report.mjs";
import { CAPACITY_POLICIES, loadConfigToml } from "../../scripts/load/service.mjs";
import { K6_ROUTES, renderK6Thresholds } from "../../scripts/observability/k6-thresholds.ts";
import { DEFAULT_POLICIES, PoliciesSchema, type Policy, policiesFor } from "../../src/rate-limit/policies";
import { sloFor } from "../../src/slo/spec";
import { type DevServer, freePort, startDevServer } from "../helpers/node/dev-server";

// The k6 load tests (docs/load-testing.md): thresholds generated from the SLO spec, the pure analysis of results,
// every script accepted by k6, and smoke.js and a short rate-limit.js run for real against wrangler dev, through
// `npm run load` (scripts/load.mjs) and k6 directly, with their exit codes asserted. k6 comes from K6_BIN or PATH
// (.ci/run puts ../shared/bin first); locally the k6 part is skipped without it, in CI it fails.
const root = path.resolve(import.meta.dirname, "../..");
const k6 = findK6();
if (!k6.ok && process.env.CI) throw new Error(`k6 is required in CI: ${k6.message}`);
const K6_BIN = k6.ok ? k6.bin : "k6";
const SCRIPTS = ["smoke", "baseline", "stress", "spike", "soak", "rate-limit"];

type RunResult = { status: number | null; stdout: string; stderr: string };

/** Runs a command to completion without blocking the event loop (the proxy below must keep serving). */
function run(cmd: string, args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
	return new Promise((resolve) => {
		const child: ChildProcess = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env } });
		let stdout = "";
		let stderr = "";
		child.stdout?.on("data", (d) => {
			stdout += String(d);
		});
		child.stderr?.on("data", (d) => {
			stderr += String(d);
		});
		child.on("exit", (status) => resolve({ status, stdout, stderr }));
	});
}

const runner = (args: string[], env: Record<string, string | undefined> = {}) =>
	run(process.execPath, [path.join(root, "scripts", "load.mjs"), ...args], { K6_BIN, ...env });

/** The one `<stamp>-<script>.json` result file in `dir`. */
function resultOf(dir: string, script: string) {
	const files = readdirSync(dir).filter((f) => f.endsWith(`-${script}.json`) && !f.startsWith("latest-"));
	expect(files, `results in ${dir}: ${readdirSync(dir).join(", ")}`).toHaveLength(1);
	return JSON.parse(readFileSync(path.join(dir, files[0] as string), "utf8")) as {
		meta: { script: string; exit_code: number; target: string };
		summary: {
			passed: boolean;
			failed_checks: string[];
			report: Record<string, unknown> & { routes?: { route: string; requests: number }[] };
			k6: { metrics: Record<string, { values: Record<string, number> }> };
		};
	};
}

describe("k6 thresholds from the SLO spec", () => {
	it("load/thresholds.gen.js is what renderK6Thresholds() returns (regenerate with npm run gen:observability)", () => {
		expect(readFileSync(path.join(root, "load", "thresholds.gen.js"), "utf8")).toBe(renderK6Thresholds());
	});

	it("keys every route name's objectives by the spec: TTFB for time-to-first-token routes, error ratio = 1 − availability", () => {
		expect(Object.keys(ROUTES).sort()).toEqual(K6_ROUTES.map((r) => r.name).sort());
		for (const r of K6_ROUTES) {
			const slo = sloFor(r.route);
			const metric = slo.timeToFirstToken ? "http_req_waiting" : "http_req_duration";
			expect(THRESHOLDS[`${metric}{route:${r.name}}`]).toEqual(
				slo.latency.map((l) => `p(${l.quantile * 100})<=${l.thresholdMs}`),
			);
			const [failed] = THRESHOLDS[`http_req_failed{route:${r.name}}`] ?? [];
			expect(Number(failed?.replace("rate<=", ""))).toBeCloseTo(1 - slo.availability, 12);
		}
		// The seeds' figures, as a spot check of the spec wiring.
		expect(THRESHOLDS["http_req_waiting{route:chat_stream}"]).toEqual(["p(95)<=2000", "p(99)<=5000"]);
		expect(THRESHOLDS["http_req_duration{route:health}"]).toEqual(["p(95)<=500", "p(99)<=1000"]);
	});
});

/** A k6 summary with the given submetrics (what `trackRoutes` makes k6 keep). */
function summaryOf(metrics: Record<string, Record<string, number>>): Summary {
	return { metrics: Object.fromEntries(Object.entries(metrics).map(([k, values]) => [k, { values }])) };
}

describe("load analysis (pure)", () => {
	it("stress: the knee is the last step sustained within the SLO (a lone failing step is transient); past it the peak is the capacity", () => {
		const step = (i: number, count: number, p95: number, failed = 0): Record<string, Record<string, number>> => ({
			[`http_reqs{route:health,step:${i}}`]: { count },
			[`http_req_duration{route:health,step:${i}}`]: { "p(95)": p95, "p(99)": p95 * 1.5, med: p95 / 2 },
			[`http_req_failed{route:health,step:${i}}`]: { rate: failed },
		});
		const data = summaryOf({ ...step(0, 100, 10), ...step(1, 199, 20), ...step(2, 300, 900), ...step(3, 310, 2000) });
		const r = stressRoute(data, "health", [10, 20, 40, 80], 10);
		expect(r.knee?.offered_rps).toBe(20);
		expect(r.past_knee?.offered_rps).toBe(40);
		// 300 of 400 started (25 % dropped) and p95 900 ms > 500 ms: both reasons.
		expect(r.past_knee_reason).toMatch(/25 % of arrivals dropped, SLO missed/);
		expect(r.saturated).toBe(true);
		expect(r.peak_rps).toBe(31);
		const unsaturated = stressRoute(summaryOf({ ...step(0, 100, 10), ...step(1, 200, 20) }), "health", [10, 20], 10);
		expect(unsaturated.knee?.offered_rps).toBe(20);
		expect(unsaturated.saturated).toBe(false);
		const errors = stressRoute(summaryOf({ ...step(0, 100, 10, 0.01) }), "health", [10], 10);
		expect(errors.knee).toBeNull();
		// One slow step between passing ones is transient, reported, not the knee; two in a row are the knee.
		const blip = stressRoute(
			summaryOf({ ...step(0, 100, 10), ...step(1, 200, 900), ...step(2, 400, 20), ...step(3, 500, 2000) }),
			"health",
			[10, 20, 40, 80],
			10,
		);
		expect(blip.knee?.offered_rps).toBe(40);
		expect(blip.transient.map((t) => t.offered_rps)).toEqual([20]);
		expect(blip.past_knee?.offered_rps).toBe(80);
		expect(stressTable([blip])).toMatch(/80 req\/s: .*SLO missed.*; transient at 20 req\/s: SLO missed \(p95 900 ms\)/);
		const twice = stressRoute(
			summaryOf({ ...step(0, 100, 10), ...step(1, 200, 900), ...step(2, 400, 900), ...step(3, 800, 20) }),
			"health",
			[10, 20, 40, 80],
			10,
		);
		expect(twice.knee?.offered_rps).toBe(10);
		expect(twice.past_knee?.offered_rps).toBe(20);
		expect(twice.transient).toEqual([]);
	});

	it("spike: recovery is the first of three seconds back within 2 × the pre-spike p95 at the base rate", () => {
		const metrics: Record<string, Record<string, number>> = {};
		// 10 s before (p95 10 ms), 5 s of spike, then 6 s slow, then back.
		const p95 = (s: number) => (s < 10 ? 10 : s < 21 ? 500 : 12);
		for (let s = 0; s < 30; s++) {
			metrics[`http_reqs{route:auth_me,sec:${s}}`] = { count: s >= 10 && s < 15 ? 150 : 20 };
			metrics[`http_req_duration{route:auth_me,sec:${s}}`] = { "p(95)": p95(s), "p(99)": p95(s), med: p95(s) };
		}
		metrics["http_reqs{route:auth_me,phase:spike}"] = { count: 750 };
		const r = spikeReport(summaryOf(metrics), "auth_me", { base: 20, spike: 200, preS: 10, spikeS: 5, postS: 15 });
		expect(r.reference_p95).toBe(10);
		expect(r.limit_p95).toBe(20);
		expect(r.recovery_s).toBe(6);
		expect(r.spike_achieved_rps).toBe(150);
	});

	it("ratios: capacity relative to /healthz only for saturated routes; comparisons honour direction and tolerance", () => {
		const route = (name: string, peak: number, saturated = true, capacity: number | null = null) => ({
			route: name,
			steps: [],
			knee: null,
			past_knee: null,
			past_knee_reason: "",
			transient: [],
			peak_rps: peak,
			saturated,
			capacity_rps: capacity,
			capacity_p50: null,
		});
		// Without a closed-loop phase: the staircase's peak, and only for routes driven past their knee.
		const ratios = ratiosOf({
			stress: {
				routes: [
					route("health", 200),
					route("chat", 100),
					route("ingest", 50, false),
					route("auth_me", 90),
					route("auth_me_bare", 120),
				],
			},
		});
		expect(ratios["stress.throughput.chat/health"]?.value).toBe(0.5);
		expect(ratios["stress.throughput.ingest/health"]).toBeUndefined();
		expect(ratios["stress.throughput.auth_me/auth_me_bare"]?.value).toBe(0.75);
		// With it: the closed-loop capacity, saturated or not.
		const closed = ratiosOf({ stress: { routes: [route("health", 200, true, 400), route("ingest", 50, false, 100)] } });
		expect(closed["stress.throughput.ingest/health"]?.value).toBe(0.25);
		const committed = {
			tolerance: 0.2,
			ratios: {
				"stress.throughput.chat/health": { value: 0.7, direction: "higher" as const, what: "" },
				"stress.throughput.auth_me/auth_me_bare": { value: 0.8, direction: "higher" as const, what: "" },
				"baseline.p50.auth_me/auth_me_bare": { value: 1.2, direction: "lower" as const, what: "", tolerance: 0.5 },
				"stress.throughput.rag_query/health": { value: 0.4, direction: "higher" as const, what: "" },
			},
		};
		const current = {
			...ratios,
			"baseline.p50.auth_me/auth_me_bare": { value: 1.7, direction: "lower" as const, what: "" },
		};
		const verdicts = Object.fromEntries(compareRatios(committed, current).map((c) => [c.key, c.verdict]));
		expect(verdicts).toEqual({
			"stress.throughput.chat/health": "regression", // 0.5 vs 0.7: −29 % > 20 %
			"stress.throughput.auth_me/auth_me_bare": "ok", // −6 %
			"baseline.p50.auth_me/auth_me_bare": "ok", // +42 %, within its own 50 %
			"stress.throughput.rag_query/health": "missing",
		});
		expect(compareRatios(committed, current, 0.4).find((c) => c.key.includes("chat"))?.verdict).toBe("ok");
	});

	it("memory drift: a saw-tooth with a flat floor has a flat floor slope; a rising floor does not", () => {
		const saw = Array.from({ length: 60 }, (_, i) => ({ t_s: i * 10, rss_mib: 300 + (i % 6) * 50 }));
		expect(Math.abs(memoryDrift(saw).floor_slope_mib_per_h ?? 1)).toBeLessThan(1);
		const leak = saw.map((s) => ({ ...s, rss_mib: s.rss_mib + s.t_s / 6 }));
		expect(memoryDrift(leak).floor_slope_mib_per_h).toBeCloseTo(600, -1);
	});

	it("the local service's configuration is wrangler.toml's, with the load Worker and the given variables", () => {
		const toml = readFileSync(path.join(root, "wrangler.toml"), "utf8");
		const entry = path.join(root, "scripts", "bench", "load-worker.ts");
		const out = loadConfigToml(toml, root, entry, { RATE_LIMIT_POLICIES: JSON.stringify(CAPACITY_POLICIES) });
		expect(out).toContain(`main = ${JSON.stringify(entry)}`);
		expect(out).not.toMatch(/^migrations_dir = "migrations"$/m);
		expect(out).toContain(`migrations_dir = ${JSON.stringify(path.join(root, "migrations"))}`);
		const vars = out.slice(out.indexOf("\n[vars]"), out.indexOf("\n[", out.indexOf("\n[vars]") + 1));
		expect(vars).toContain(`RATE_LIMIT_POLICIES = '${JSON.stringify(CAPACITY_POLICIES)}'`);
		// Everything else is untouched: the same lines in the same order.
		const strip = (s: string) =>
			s.split("\n").filter((l) => !/^(main|\s*migrations_dir|RATE_LIMIT_POLICIES) =/.test(l));
		expect(strip(out)).toEqual(strip(toml));
		// A second value of the same name replaces the first rather than making a duplicate TOML key.
		const twice = loadConfigToml(out, root, entry, { RATE_LIMIT_POLICIES: "[]" });
		expect(twice.match(/RATE_LIMIT_POLICIES =/g)).toHaveLength(1);
		expect(() => loadConfigToml("name = 'x'", root, entry, {})).toThrow(/main/);
		// The service accepts the capacity policies as RATE_LIMIT_POLICIES (the same schema parses them), and every
		// route meets the same policies as with the defaults, so each request makes the same limiter calls.
		const parsed = PoliciesSchema.parse(JSON.parse(JSON.stringify(CAPACITY_POLICIES)));
		for (const [method, route] of [
			["GET", "/v1/auth/me"],
			["POST", "/v1/chat/completions"],
			["POST", "/v1/auth/token"],
			["POST", "/v1/documents"],
			["POST", "/v1/rag/query"],
		] as const) {
			const names = (ps: readonly Policy[]) =>
				policiesFor(ps, method, route).map((p) => `${p.name}:${p.key}:${p.unit}`);
			expect(names(parsed), `${method} ${route}`).toEqual(names(DEFAULT_POLICIES));
			expect(names(parsed).length, `${method} ${route}`).toBeGreaterThan(0);
		}
	});
});

describe.skipIf(!k6.ok)("k6 scripts", () => {
	it("every script passes k6 inspect (ES2017 for k6 0.48), with the generated SLO thresholds wired in", async () => {
		// In parallel: k6 compiles each script for seconds of CPU.
		const inspected = await Promise.all(
			SCRIPTS.map((script) =>
				run(K6_BIN, ["inspect", "-e", "API_KEY=eak_x", "-e", "CLIENT_ID=c", path.join(root, "load", `${script}.js`)]),
			),
		);
		const options: Record<
			string,
			{ thresholds: Record<string, unknown>; scenarios: Record<string, { executor: string }> }
		> = {};
		inspected.forEach((res, i) => {
			expect(res.status, `${SCRIPTS[i]}: ${res.stderr}`).toBe(0);
			options[SCRIPTS[i] as string] = JSON.parse(res.stdout);
		});
		for (const o of Object.values(options)) expect(Object.keys(o.scenarios).length).toBeGreaterThan(0);
		// Baseline: an open model per route, judged by the generated SLO thresholds and a dropped-iterations guard.
		const baseline = options.baseline;
		expect(baseline?.scenarios.chat?.executor).toBe("constant-arrival-rate");
		for (const key of [
			"http_req_waiting{route:chat}",
			"http_req_failed{route:ingest}",
			"http_req_duration{route:rag_search}",
		]) {
			expect(baseline?.thresholds[key]).toEqual(expect.arrayContaining(THRESHOLDS[key] ?? []));
		}
		expect(baseline?.thresholds["dropped_iterations{scenario:health}"]).toBeDefined();
		expect(options.stress?.scenarios.health?.executor).toBe("ramping-arrival-rate");
		expect(options.spike?.scenarios.spike?.executor).toBe("ramping-arrival-rate");
		expect(options.smoke?.thresholds.checks).toEqual([
			expect.objectContaining({ threshold: "rate==1", abortOnFail: true }),
		]);
	});

	it("npm run load says how to install k6 when it is missing", async () => {
		const res = await runner(["smoke"], { K6_BIN: path.join(tmpdir(), "no-such-k6") });
		expect(res.status).toBe(2);
		expect(res.stderr).toContain("k6 was not found");
		expect(res.stderr).toContain("K6_BIN");
	});

	describe("against wrangler dev", () => {
		let server: DevServer;
		let proxy: Server | undefined;
		const seen: IncomingHttpHeaders[] = [];
		const results = mkdtempSync(path.join(tmpdir(), "edge-ai-api-load-results-"));
		let adminToken = "";

		beforeAll(async () => {
			server = await startDevServer({ READY_TIMEOUT_MS: "30000" });
			const token = await fetch(`${server.base}/v1/auth/token`, {
				method: "POST",
				headers: { Authorization: `Basic ${btoa("admin:admin-secret")}` },
				body: new URLSearchParams({ grant_type: "client_credentials" }),
			});
			adminToken = ((await token.json()) as { access_token: string }).access_token;
		}, 120_000);
		afterAll(async () => {
			proxy?.close();
			await server?.stop();
			rmSync(results, { recursive: true, force: true });
		});

		/**
		 * A tenant key (what `npm run load` gives a run), or with `operator` an operator key: tenant `platform`, scope
		 * metrics:read, the only kind of key /metrics and /v1/slo accept.
		 */
		async function newKey(subject: string, operator = false): Promise<string> {
			const res = await fetch(`${server.base}/v1/admin/api-keys`, {
				method: "POST",
				headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" },
				body: JSON.stringify(
					operator
						? { tenant: "platform", subject, scopes: ["metrics:read"] }
						: { tenant: "e2e-load", subject, scopes: ["chat", "rag:read", "rag:write", "usage:read"] },
				),
			});
			expect(res.status).toBe(201);
			return ((await res.json()) as { key: string }).key;
		}

		it("npm run load -- smoke: fresh credentials through the admin API, every route checked, exit 0, results written", async () => {
			const dir = path.join(results, "smoke");
			// When the Worker names its version (X-Worker-Version), the run also proves EXPECT_VERSION accepts it.
			const version = (await fetch(`${server.base}/healthz`)).headers.get("x-worker-version");
			const expectVersion = version ? ["-e", `EXPECT_VERSION=${version}`] : [];
			const res = await runner([
				"smoke",
				"--base-url",
				server.base,
				"--admin",
				"admin:admin-secret",
				"--results-dir",
				dir,
				"-e",
				"SMOKE_PAUSE_S=0",
				...expectVersion,
			]);
			expect(res.status, res.stdout + res.stderr).toBe(0);
			expect(res.stdout).toMatch(
				/credentials of tenant load-\S+: 1 API key\(s\), 1 client, 1 operator key \(tenant platform, metrics:read\)/,
			);
			const result = resultOf(dir, "smoke");
			expect(result.meta.exit_code).toBe(0);
			expect(result.summary.passed).toBe(true);
			const checks = result.summary.k6.metrics.checks?.values;
			expect(checks?.fails).toBe(0);
			// Every route name was called by each of the 2 VUs, and every check ran (≥ 3 per request).
			const called = new Set(result.summary.report.routes?.filter((r) => r.requests >= 2).map((r) => r.route));
			expect([...called].sort()).toEqual(Object.keys(ROUTES).sort());
			expect(checks?.passes).toBeGreaterThan(3 * Object.keys(ROUTES).length * 2);
			expect(existsSync(path.join(dir, "latest-smoke.json"))).toBe(true);
			expect(readdirSync(dir).some((f) => f.endsWith("-smoke.md"))).toBe(true);
			// The run's credentials were revoked afterwards.
			const keys = await fetch(`${server.base}/v1/admin/api-keys?limit=200`, {
				headers: { Authorization: `Bearer ${adminToken}` },
			});
			const listed = (
				(await keys.json()) as {
					data: { tenant: string; subject: string; scopes: string[]; revoked_at: string | null }[];
				}
			).data;
			const runKeys = listed.filter((k) => k.tenant.startsWith("load-"));
			expect(runKeys.length).toBeGreaterThan(0);
			expect(runKeys.every((k) => k.revoked_at !== null)).toBe(true);
			expect(runKeys.every((k) => !k.scopes.includes("metrics:read"))).toBe(true);
			// The run's operator key (/metrics and /v1/slo): in the operator tenant, metrics:read only, revoked too.
			const opsKeys = listed.filter((k) => k.tenant === "platform" && /^load-\S+-ops$/.test(k.subject));
			expect(opsKeys.length).toBeGreaterThan(0);
			expect(opsKeys.every((k) => k.revoked_at !== null && k.scopes.join(" ") === "metrics:read")).toBe(true);
		});

		it("smoke.js sends VERSION_OVERRIDE verbatim on every request, and fails with 99 when X-Worker-Version differs from EXPECT_VERSION", async () => {
			const target = new URL(server.base);
			proxy = createServer((req, res) => {
				seen.push(req.headers);
				const upstream = httpRequest(
					{ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
					(up) => {
						res.writeHead(up.statusCode ?? 502, up.headers);
						up.pipe(res);
					},
				);
				req.pipe(upstream);
			});
			const port = await freePort();
			await new Promise<void>((r) => proxy?.listen(port, "127.0.0.1", r));
			const key = await newKey("smoke-version");
			const opsKey = await newKey("smoke-version-ops", true);
			const override = 'edge-ai-api="00000000-0000-4000-8000-000000000001"';
			const res = await run(K6_BIN, ["run", "--quiet", path.join(root, "load", "smoke.js")], {
				BASE_URL: `http://127.0.0.1:${port}`,
				API_KEY: key,
				OPS_KEY: opsKey,
				VUS: "1",
				SMOKE_PAUSE_S: "0",
				VERSION_OVERRIDE: override,
				EXPECT_VERSION: "not-this-version",
			});
			expect(res.status, res.stdout + res.stderr).toBe(99);
			expect(res.stdout + res.stderr).toMatch(/X-Worker-Version is not-this-version/);
			expect(seen.length).toBeGreaterThan(1);
			expect(seen.every((h) => h["cloudflare-workers-version-overrides"] === override)).toBe(true);
			expect(seen.filter((h) => h.authorization === `Bearer ${key}`).length).toBeGreaterThan(0);
		});

		it("npm run load -- rate-limit: reads the policy, admits exactly the limit from one fresh subject, exit 0", async () => {
			const dir = path.join(results, "rate-limit");
			const res = await runner([
				"rate-limit",
				"--base-url",
				server.base,
				"--admin",
				"admin:admin-secret",
				"--results-dir",
				dir,
			]);
			expect(res.status, res.stdout + res.stderr).toBe(0);
			expect(res.stdout).toContain('GET /v1/auth/me is governed by "default": 60 per 60 s');
			const report = resultOf(dir, "rate-limit").summary.report;
			expect(report).toMatchObject({
				policy: "default",
				limit: 60,
				admitted: 60,
				remaining_values_reported_twice: [],
				remaining_values_missing: [],
			});
			expect(report.denied).toBeGreaterThan(0);
		});

		it("rate-limit.js fails (99) when the subject's quota is not what the policy promises", async () => {
			const key = await newKey("rate-limit-spent");
			// One request of this subject beforehand: the window's quota is no longer whole, so "exactly the limit" fails.
			expect((await fetch(`${server.base}/v1/auth/me`, { headers: { Authorization: `Bearer ${key}` } })).status).toBe(
				200,
			);
			const res = await run(K6_BIN, ["run", "--quiet", path.join(root, "load", "rate-limit.js")], {
				BASE_URL: server.base,
				API_KEY: key,
				RL_DURATION: "3s",
			});
			expect(res.status, res.stdout + res.stderr).toBe(99);
			expect(res.stdout).toMatch(/rl_admitted: count==59/);
			expect(res.stdout).toContain("setup: the subject is fresh");
		});
	});

	it("npm run load -- smoke starts the local service itself when no --base-url is given", {
		timeout: 120_000,
	}, async () => {
		const dir = mkdtempSync(path.join(tmpdir(), "edge-ai-api-load-local-"));
		try {
			const res = await runner(["smoke", "--results-dir", dir, "-e", "SMOKE_PAUSE_S=0", "-e", "VUS=1"]);
			expect(res.status, res.stdout + res.stderr).toBe(0);
			expect(res.stdout).toMatch(/local service ready at http:\/\/127\.0\.0\.1:\d+/);
			const result = resultOf(dir, "smoke");
			expect(result.meta.target).toBe("local");
			expect(result.summary.passed).toBe(true);
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	});
});
