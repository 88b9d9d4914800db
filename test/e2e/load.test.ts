import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROUTES, THRESHOLDS } from "../../load/thresholds.gen.js";
import { REPO_ROOT } from "../../scripts/lib/repository-root.ts";
import { runCommand } from "../../scripts/lib/run-command.ts";
import { findK6 } from "../../scripts/load/k6-binary.ts";
import { type DevServer, freePort, startDevServer } from "../helpers/node/dev-server";

// The k6 load tests (docs/load-testing.md): every script accepted by k6, with the generated SLO thresholds, and
// smoke.js and a short rate-limit.js run for real against wrangler dev, through `npm run load` (scripts/load.ts) and
// k6 directly, with their exit codes asserted. k6 comes from K6_BIN or PATH (.ci/run puts ../shared/bin first);
// locally the k6 part is skipped without it, in CI it fails. The thresholds and the analysis of results are pure:
// test/node/k6-thresholds.test.ts and test/node/load-analysis.test.ts.
const k6 = findK6();
if (!k6.ok && process.env.CI) throw new Error(`k6 is required in CI: ${k6.message}`);
const K6_BIN = k6.ok ? k6.bin : "k6";
const SCRIPTS = ["smoke", "baseline", "stress", "spike", "soak", "rate-limit", "chaos"];

/** Runs a command to completion without blocking the event loop (the proxy below must keep serving). */
async function run(cmd: string, args: string[], env: Record<string, string | undefined> = {}) {
	const res = await runCommand(cmd, args, { cwd: REPO_ROOT, env: { ...process.env, ...env } });
	return { ...res, status: res.code };
}

const runner = (args: string[], env: Record<string, string | undefined> = {}) =>
	run(process.execPath, [path.join(REPO_ROOT, "scripts", "load.ts"), ...args], { K6_BIN, ...env });

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

describe.skipIf(!k6.ok)("k6 scripts", () => {
	it("every script passes k6 inspect (ES2017 for k6 0.48), with the generated SLO thresholds wired in", async () => {
		// In parallel: k6 compiles each script for seconds of CPU (nine scripts on two cores, beside other suites: a
		// budget of minutes, not a timing assertion).
		const inspected = await Promise.all(
			SCRIPTS.map((script) =>
				run(K6_BIN, [
					"inspect",
					"-e",
					"API_KEY=eak_x",
					"-e",
					"CLIENT_ID=c",
					// chaos.js (npm run chaos) takes its routes from the runner; the others ignore it.
					"-e",
					"CHAOS_ROUTES=chat:1,rag_search_vector:1",
					path.join(REPO_ROOT, "load", `${script}.js`),
				]),
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
		expect(options.chaos?.scenarios.rag_search_vector?.executor).toBe("constant-arrival-rate");
		expect(options.smoke?.thresholds.checks).toEqual([
			expect.objectContaining({ threshold: "rate==1", abortOnFail: true }),
		]);
	}, 240_000);

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
			const res = await run(K6_BIN, ["run", "--quiet", path.join(REPO_ROOT, "load", "smoke.js")], {
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
			const res = await run(K6_BIN, ["run", "--quiet", path.join(REPO_ROOT, "load", "rate-limit.js")], {
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
