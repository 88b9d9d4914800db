import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { BLINDING_ALERTS } from "../../scripts/observability/alertmanager";
import { objectives, recordingRules, sloAlerts } from "../../scripts/observability/slo-rules";
import {
	ALERTS_DIR as alerts,
	alertRules as allAlertRules,
	RULE_FILES,
	ruleTestFiles,
} from "../helpers/node/alert-rules";
import { freePort } from "../helpers/node/dev-server";

// The generated rules, their promtool unit tests and the Alertmanager configuration, checked with Debian's promtool,
// amtool and a real Alertmanager (`.ci/run` installs prometheus and prometheus-alertmanager).
const run = promisify(execFile);
const has = (bin: string) => spawnSync(bin, ["--version"]).status === 0;
const tools = has("promtool") && has("amtool") && has("prometheus-alertmanager");
if (!tools && process.env.CI)
	throw new Error("promtool/amtool/alertmanager missing (apt-get install -y prometheus prometheus-alertmanager)");

const alertRules = allAlertRules();
const testFiles = ruleTestFiles();

describe.skipIf(!tools)("generated Prometheus rules", () => {
	it("pass promtool check rules (syntax, templates, duplicate names)", async () => {
		const { stdout } = await run("promtool", ["check", "rules", ...RULE_FILES.map((f) => path.join(alerts, f))]);
		expect(stdout).not.toContain("FAILED");
		expect((stdout.match(/SUCCESS/g) ?? []).length).toBe(RULE_FILES.length);
	});

	it("pass every promtool unit test (generated and hand-written), run in parallel", async () => {
		const results = await Promise.all(
			testFiles.map((f) =>
				run("promtool", ["test", "rules", f], { cwd: path.join(alerts, "tests"), maxBuffer: 64 << 20 }).then(
					(r) => ({ f, ok: true, out: r.stdout + r.stderr }),
					(e: { stdout?: string; stderr?: string }) => ({ f, ok: false, out: `${e.stdout ?? ""}${e.stderr ?? ""}` }),
				),
			),
		);
		for (const r of results) expect(r.ok, `${r.f}:\n${r.out.slice(0, 4000)}`).toBe(true);
		const groups = testFiles.flatMap(
			(f) => (parse(readFileSync(path.join(alerts, "tests", f), "utf8")) as { tests: unknown[] }).tests,
		);
		console.log(`promtool: ${testFiles.length} files, ${groups.length} test groups passed`);
		expect(groups.length).toBeGreaterThan(alertRules.length);
	}, 600_000);

	it("handle objectives too loose for a burn-rate factor explicitly: a warning, and alerting on total failure", async () => {
		const loose = objectives(
			{ "/v1/loose": { availability: 0.9, latency: [] } },
			{
				availability: 0.999,
				latency: [],
			},
		);
		const { groups, warnings } = sloAlerts(loose, (a) => `https://runbooks.example/${a}.md`);
		// 14.4 × 10 % = 144 % and 6 × 10 % = 60 %: only the first is infeasible.
		expect(warnings).toEqual([
			"loose-availability: 14.4x burn over 1h/5m needs an error ratio of 1.44 (>= 1); alerting on a total failure of both windows instead",
		]);
		const page = groups[0]?.rules[0] as { expr: string; annotations: Record<string, string> };
		expect(page.expr).toContain(">= 1");
		expect(page.annotations.infeasible_conditions).toContain("14.4x over 1h/5m");
		// And promtool agrees: total failure pages, 50 % errors (5× the budget) does not.
		const dir = mkdtempSync(path.join(tmpdir(), "loose-slo-"));
		try {
			writeFileSync(path.join(dir, "rec.yml"), stringify({ groups: recordingRules(loose) }, { lineWidth: 0 }));
			writeFileSync(path.join(dir, "alerts.yml"), stringify({ groups }, { lineWidth: 0 }));
			const series = (share: number) => [
				{
					series: `http_server_request_duration_seconds_count{job="edge-ai-api", http_route="/v1/loose", http_response_status_code="200", version="v1"}`,
					values: `0+${20 * (1 - share)}x90`,
				},
				{
					series: `http_server_request_duration_seconds_count{job="edge-ai-api", http_route="/v1/loose", http_response_status_code="500", version="v1"}`,
					values: `0+${20 * share}x90`,
				},
			];
			const check = (firing: boolean) => ({
				expr: 'ALERTS{alertname="SloAvailabilityBudgetBurnPage", alertstate="firing"}',
				eval_time: "80m",
				exp_samples: firing
					? [
							{
								labels:
									'ALERTS{alertname="SloAvailabilityBudgetBurnPage", alertstate="firing", http_route="/v1/loose", service="edge-ai-api", severity="page", slo="availability", slo_class="loose", slo_id="loose-availability"}',
								value: 1,
							},
						]
					: [],
			});
			writeFileSync(
				path.join(dir, "t.yml"),
				stringify({
					rule_files: ["rec.yml", "alerts.yml"],
					evaluation_interval: "1m",
					tests: [
						{ name: "total failure", interval: "1m", input_series: series(1), promql_expr_test: [check(true)] },
						{ name: "half failing", interval: "1m", input_series: series(0.5), promql_expr_test: [check(false)] },
					],
				}),
			);
			const r = spawnSync("promtool", ["test", "rules", "t.yml"], { cwd: dir, encoding: "utf8" });
			expect(r.status, r.stdout + r.stderr).toBe(0);
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	}, 60_000);
});

describe.skipIf(!tools)("Alertmanager configuration", () => {
	const config = path.join(alerts, "alertmanager.yml");
	let am: ChildProcess | undefined;
	let base = "";
	const dir = mkdtempSync(path.join(tmpdir(), "edge-ai-api-am-"));

	beforeAll(async () => {
		const port = await freePort();
		am = spawn(
			"prometheus-alertmanager",
			[
				`--config.file=${config}`,
				`--storage.path=${dir}`,
				`--web.listen-address=127.0.0.1:${port}`,
				"--cluster.listen-address=",
			],
			{ stdio: "ignore" },
		);
		base = `http://127.0.0.1:${port}`;
		for (let waited = 0; ; waited += 200) {
			if ((await fetch(`${base}/-/ready`).catch(() => null))?.status === 200) return;
			if (waited > 30_000) throw new Error("alertmanager did not become ready");
			await new Promise((r) => setTimeout(r, 200));
		}
	}, 60_000);
	afterAll(async () => {
		if (am && am.exitCode === null) {
			const exited = new Promise((r) => am?.once("exit", r));
			am.kill("SIGTERM");
			await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
		}
		rmSync(dir, { recursive: true, force: true });
	});

	it("passes amtool check-config", async () => {
		const { stdout } = await run("amtool", ["check-config", config]);
		expect(stdout).toContain("SUCCESS");
	});

	it("routes by severity", async () => {
		const receiver = async (...labels: string[]) =>
			(await run("amtool", ["config", "routes", "test", `--config.file=${config}`, ...labels])).stdout.trim();
		expect(await receiver("severity=page", "alertname=SloAvailabilityBudgetBurnPage")).toBe("page");
		expect(await receiver("severity=ticket", "alertname=High5xxRatio")).toBe("ticket");
		expect(await receiver("severity=info", "alertname=RateLimitDenialsHigh")).toBe("info");
		expect(await receiver("alertname=Unlabelled")).toBe("ticket");
	});

	type ApiAlert = { labels: Record<string, string>; status: { state: string; inhibitedBy: string[] } };
	const post = async (alerts: Record<string, string>[]) => {
		const now = Date.now();
		const res = await fetch(`${base}/api/v2/alerts`, {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify(
				alerts.map((labels) => ({
					labels,
					annotations: { summary: labels.alertname ?? "" },
					startsAt: new Date(now - 60_000).toISOString(),
					endsAt: new Date(now + 600_000).toISOString(),
				})),
			),
		});
		expect(res.status).toBe(200);
	};
	const states = async () => {
		const list = (await (await fetch(`${base}/api/v2/alerts`)).json()) as ApiAlert[];
		return Object.fromEntries(
			list.map((a) => [`${a.labels.alertname} ${a.labels.http_route ?? ""}`.trim(), a.status.state]),
		);
	};
	const slo = (alertname: string, severity: string, route: string) => ({
		alertname,
		severity,
		service: "edge-ai-api",
		slo: "availability",
		slo_id: "default-availability",
		http_route: route,
	});

	it("inhibits a ticket while the page for the same SLO and route fires, and a latency page while the route's availability page fires", async () => {
		await post([
			slo("SloAvailabilityBudgetBurnPage", "page", "/v1/models"),
			slo("SloAvailabilityBudgetBurnTicket", "ticket", "/v1/models"),
			{ ...slo("SloLatencyBudgetBurnPage", "page", "/v1/models"), slo: "latency-p95", slo_id: "default-latency-p95" },
			{ ...slo("SloLatencyBudgetBurnPage", "page", "/v1/auth/me"), slo: "latency-p95", slo_id: "default-latency-p95" },
			slo("SloAvailabilityBudgetBurnTicket", "ticket", "/v1/auth/me"),
			{
				alertname: "High5xxRatio",
				severity: "ticket",
				service: "edge-ai-api",
				slo: "availability",
				http_route: "/v1/models",
			},
			{
				alertname: "LatencyP95AboveObjective",
				severity: "ticket",
				service: "edge-ai-api",
				slo: "latency-p95",
				http_route: "/v1/models",
			},
		]);
		await expect.poll(states, { timeout: 15_000, interval: 250 }).toEqual({
			"SloAvailabilityBudgetBurnPage /v1/models": "active",
			"SloAvailabilityBudgetBurnTicket /v1/models": "suppressed",
			"SloAvailabilityBudgetBurnTicket /v1/auth/me": "active",
			"SloLatencyBudgetBurnPage /v1/models": "suppressed",
			"SloLatencyBudgetBurnPage /v1/auth/me": "active",
			"High5xxRatio /v1/models": "suppressed",
			// The latency page of /v1/models is itself inhibited, but still inhibits its ticket (Alertmanager's rule:
			// any firing source alert inhibits), so one incident sends one page.
			"LatencyP95AboveObjective /v1/models": "suppressed",
		});
	});

	it("silences every other alert of the service while it is down", async () => {
		await post([{ alertname: BLINDING_ALERTS[0], severity: "page", service: "edge-ai-api", job: "edge-ai-api" }]);
		await expect.poll(states, { timeout: 15_000, interval: 250 }).toEqual({
			ServiceDown: "active",
			"SloAvailabilityBudgetBurnPage /v1/models": "suppressed",
			"SloAvailabilityBudgetBurnTicket /v1/models": "suppressed",
			"SloAvailabilityBudgetBurnTicket /v1/auth/me": "suppressed",
			"SloLatencyBudgetBurnPage /v1/models": "suppressed",
			"SloLatencyBudgetBurnPage /v1/auth/me": "suppressed",
			"High5xxRatio /v1/models": "suppressed",
			"LatencyP95AboveObjective /v1/models": "suppressed",
		});
	});
});
