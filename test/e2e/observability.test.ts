import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../scripts/lib/repository-root.ts";
import { RULE_FILES, RULE_PATHS, rulesOf } from "../helpers/node/alert-rules";
import { type DevServer, freePort, startDevServer } from "../helpers/node/dev-server";
import { DEMO_KEY, OPS_KEY } from "../helpers/node/local-credentials";
import { hasPrometheus, startPrometheus } from "../helpers/node/prometheus";

// The generated rules and dashboards against the running service: `wrangler dev` with the local chat model's fault
// injection on, a real Prometheus (Debian's 2.42) scraping it every second with alerts/*.yml loaded. After known
// traffic, every recording rule evaluates, the 5-minute SLIs equal what /v1/slo counted in the same window, and every
// dashboard panel's PromQL returns data. The traffic is the demo tenant's (demo key); /metrics and /v1/slo are read
// with the seeded operator key (tenant platform, scope metrics:read), as only operators may read them.

const dir = mkdtempSync(path.join(tmpdir(), "edge-ai-api-observe-"));
/**
 * The rule files as this test's Prometheus loads them: unchanged but for the day-long groups' `interval` (2m),
 * dropped so every group evaluates at the test's 1 s (a group's first evaluation may otherwise wait its interval).
 */
const LOADED_RULES = RULE_PATHS.map((f) => {
	const copy = path.join(dir, path.basename(f));
	writeFileSync(copy, readFileSync(f, "utf8").replace(/^ {4}interval: \w+\n/gm, ""));
	return copy;
});
let server: DevServer;
let stopPrometheus: (() => void) | undefined;
let promBase = "";
let fake: Server | undefined;
/** OTLP pushes the fake collector accepted. */
let pushes = 0;

/** A loopback stand-in for the outside: an OpenAI-compatible model that always answers, and an OTLP collector. */
async function startFake(): Promise<string> {
	fake = createServer((req, res) => {
		let body = "";
		req.on("data", (d) => {
			body += String(d);
		});
		req.on("end", () => {
			if (req.url === "/v1/metrics" || req.url === "/v1/traces") {
				if (req.url === "/v1/metrics") pushes++;
				res.writeHead(200, { "Content-Type": "application/json" }).end("{}");
				return;
			}
			const words = ["A", "steady", "upstream", "answer."];
			res.writeHead(200, { "Content-Type": "application/json" }).end(
				JSON.stringify({
					id: "chatcmpl-fake",
					object: "chat.completion",
					created: 1,
					model: "steady",
					choices: [{ index: 0, message: { role: "assistant", content: words.join(" ") }, finish_reason: "stop" }],
					usage: { prompt_tokens: Math.ceil(body.length / 4), completion_tokens: words.length, total_tokens: 0 },
				}),
			);
		});
	});
	await new Promise<void>((r) => fake?.listen(0, "127.0.0.1", r));
	return `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
}

async function promql(query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
	const res = await fetch(`${promBase}/api/v1/query?query=${encodeURIComponent(query)}`);
	const body = (await res.json()) as {
		status: string;
		error?: string;
		data: { result: { metric: Record<string, string>; value: [number, string] }[] };
	};
	if (body.status !== "success") throw new Error(`${query}: ${body.error}`);
	return body.data.result;
}

const auth = { Authorization: `Bearer ${DEMO_KEY}`, "Content-Type": "application/json" };
/** Requests sent per route pattern (every one is recorded, whatever its status). */
const sent = new Map<string, number>();
async function send(route: string, url: string, init: RequestInit = {}) {
	const res = await fetch(server.base + url, { ...init, headers: { ...auth, ...(init.headers ?? {}) } });
	await res.arrayBuffer();
	sent.set(route, (sent.get(route) ?? 0) + 1);
	return res.status;
}
const chat = (model: string) =>
	send("/v1/chat/completions", "/v1/chat/completions", {
		method: "POST",
		body: JSON.stringify({
			model,
			messages: [{ role: "user", content: `status of the cobalt vault ${Math.random()}` }],
		}),
	});
const ragQuery = (model: string) =>
	send("/v1/rag/query", "/v1/rag/query", {
		method: "POST",
		body: JSON.stringify({ model, query: "How often does the cobalt vault rotate its keys?", mode: "hybrid" }),
	});

type SloRoute = {
	route: string;
	windows: Record<
		string,
		{ requests: number; errors: number; latency: { quantile: number; compliance: number | null }[] }
	>;
};
async function sloCounts(): Promise<Map<string, { requests: number; errors: number; fast95: number; fast99: number }>> {
	const res = await fetch(`${server.base}/v1/slo`, { headers: { Authorization: `Bearer ${OPS_KEY}` } });
	expect(res.status).toBe(200);
	const body = (await res.json()) as { routes: SloRoute[] };
	const out = new Map<string, { requests: number; errors: number; fast95: number; fast99: number }>();
	for (const r of body.routes) {
		const w = r.windows["5m"];
		if (!w) continue;
		const fast = (q: number) => Math.round((w.latency.find((l) => l.quantile === q)?.compliance ?? 0) * w.requests);
		const prev = out.get(r.route) ?? { requests: 0, errors: 0, fast95: 0, fast99: 0 };
		out.set(r.route, {
			requests: prev.requests + w.requests,
			errors: prev.errors + w.errors,
			fast95: prev.fast95 + fast(0.95),
			fast99: prev.fast99 + fast(0.99),
		});
	}
	return out;
}

/** Waits until Prometheus has scraped every request sent so far, then for two more rule evaluations. */
async function settle() {
	const expected = JSON.stringify(Object.fromEntries([...sent].sort()));
	let got = "";
	for (const started = Date.now(); Date.now() - started < 30_000; ) {
		const rows = await promql(
			`sum by (http_route) (http_server_request_duration_seconds_count{job="edge-ai-api", http_route=~"${[...sent.keys()].join("|")}"})`,
		);
		got = JSON.stringify(Object.fromEntries(rows.map((r) => [r.metric.http_route, Number(r.value[1])]).sort()));
		if (got === expected) {
			await new Promise((r) => setTimeout(r, 2_500));
			return;
		}
		await new Promise((r) => setTimeout(r, 500));
	}
	throw new Error(`Prometheus did not see every request: expected ${expected}, got ${got}`);
}

let before: Awaited<ReturnType<typeof sloCounts>>;
let after: Awaited<ReturnType<typeof sloCounts>>;

beforeAll(async () => {
	if (!hasPrometheus) return;
	const fakeBase = await startFake();
	const models = [
		{ id: "local", provider: "local" },
		{ id: "steady", provider: "openai", base_url: `${fakeBase}/v1` },
		// Nothing listens on port 9: every attempt fails (network), then the local model answers (fallback).
		{ id: "flaky", provider: "openai", base_url: "http://127.0.0.1:9/v1", fallbacks: ["local"] },
		{ id: "broken", provider: "openai", base_url: "http://127.0.0.1:9/v1" },
	];
	const policies = [
		{ name: "models", routes: ["GET /v1/models"], key: "subject", limit: 3, window_s: 60 },
		{ name: "default", routes: ["*"], key: "subject", limit: 10_000, window_s: 60 },
	];
	server = await startDevServer(
		{ READY_TIMEOUT_MS: "30000" },
		{
			args: [
				"--test-scheduled",
				"--var",
				`CHAT_MODELS:${JSON.stringify(models)}`,
				"--var",
				"LOCAL_MODEL_FAULT_RATE:0.5",
				"--var",
				"CHAT_MAX_RETRIES:0",
				"--var",
				"CHAT_BREAKER_MIN_CALLS:10000",
				"--var",
				`RATE_LIMIT_POLICIES:${JSON.stringify(policies)}`,
				"--var",
				`OTLP_ENDPOINT:${fakeBase}`,
			],
		},
	);
	const prometheus = await startPrometheus({ dir, target: `127.0.0.1:${server.port}`, ruleFiles: LOADED_RULES });
	stopPrometheus = prometheus.stop;
	promBase = prometheus.base;

	// Warm-up: every route × status series the test counts exists before the counted traffic (Prometheus cannot see
	// the increase that creates a series), and one cron run pushes metrics to the fake collector.
	const doc = { id: "vault", title: "Vault", text: "The cobalt vault rotates its keys every ninety days." };
	expect(
		await send("/v1/documents", "/v1/documents", { method: "POST", body: JSON.stringify({ documents: [doc] }) }),
	).toBe(201);
	// Rates extrapolate a counter whose first sample is small against its increase as if it started near the window's
	// start (Prometheus's "extrapolate to zero"): a few requests per series keep the extrapolation equal for all.
	for (let i = 0; i < 3; i++) {
		expect(await chat("steady")).toBe(200);
		expect(await chat("broken")).toBe(502);
		await chat("local");
		await chat("flaky");
		expect(await ragQuery("steady")).toBe(200);
		expect(await ragQuery("broken")).toBe(502);
		await send("/v1/auth/me", "/v1/auth/me");
		for (const mode of ["keyword", "vector", "hybrid"])
			await send("/v1/rag/search", "/v1/rag/search", {
				method: "POST",
				body: JSON.stringify({ query: "vault", mode }),
			});
	}
	// 3 admitted, then denied, then denied from the negative cache: every decision series exists.
	for (let i = 0; i < 6; i++) await send("/v1/models", "/v1/models");
	expect((await fetch(`${server.base}/__scheduled?cron=*+*+*+*+*`)).status).toBe(200);
	await settle();
	before = await sloCounts();

	// The counted traffic: the local model fails half its calls (LOCAL_MODEL_FAULT_RATE=0.5), fallbacks, denials.
	for (let i = 0; i < 16; i++) await chat(i % 4 === 0 ? "flaky" : "local");
	for (let i = 0; i < 4; i++) await chat("steady");
	for (let i = 0; i < 6; i++) await ragQuery(i % 3 === 0 ? "steady" : "local");
	for (const mode of ["keyword", "vector", "hybrid"])
		for (let i = 0; i < 2; i++)
			await send("/v1/rag/search", "/v1/rag/search", {
				method: "POST",
				body: JSON.stringify({ query: "cobalt vault keys", mode }),
			});
	for (let i = 0; i < 3; i++)
		await send("/v1/documents", "/v1/documents", {
			method: "POST",
			body: JSON.stringify({ documents: [{ ...doc, id: `vault-${i}`, text: `${doc.text} Copy ${i}.` }] }),
		});
	for (let i = 0; i < 10; i++) await send("/v1/auth/me", "/v1/auth/me");
	for (let i = 0; i < 6; i++) await send("/v1/models", "/v1/models");
	await settle();
	after = await sloCounts();
}, 240_000);

afterAll(async () => {
	stopPrometheus?.();
	await server?.stop();
	fake?.close();
	rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!hasPrometheus)("generated rules and dashboards on a real Prometheus scraping the service", () => {
	it("evaluates every recording rule to data", async () => {
		const rules = ["recording-rules.yml", "version-rules.yml"].flatMap(rulesOf);
		const empty: string[] = [];
		for (const r of rules) if ((await promql(r.expr ?? "")).length === 0) empty.push(`${r.record}: ${r.expr}`);
		expect(empty).toEqual([]);
		expect(rules.length).toBeGreaterThan(200);
	}, 120_000);

	it("evaluates every alert expression without error, and Prometheus reports every rule healthy", async () => {
		const res = (await (await fetch(`${promBase}/api/v1/rules`)).json()) as {
			data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
		};
		const rules = res.data.groups.flatMap((g) => g.rules);
		expect(rules.filter((r) => r.health !== "ok").map((r) => `${r.name}: ${r.health} ${r.lastError ?? ""}`)).toEqual(
			[],
		);
		expect(rules.length).toBe(RULE_FILES.flatMap(rulesOf).length);
	});

	it("computes 5-minute SLIs equal to /v1/slo's counts of the same traffic", async () => {
		const routes = [
			"/v1/chat/completions",
			"/v1/rag/query",
			"/v1/documents",
			"/v1/auth/me",
			"/v1/models",
			"/v1/rag/search",
		];
		const errors = (after.get("/v1/chat/completions")?.errors ?? 0) - (before.get("/v1/chat/completions")?.errors ?? 0);
		// The injected faults did fail some of the counted chat requests, and not all of them.
		expect(errors).toBeGreaterThan(0);
		const ratios: Record<string, Record<string, number>> = {};
		for (const route of routes) {
			const a = after.get(route);
			const b = before.get(route);
			if (!a || !b) throw new Error(`no /v1/slo figures for ${route}`);
			const requests = a.requests - b.requests;
			expect(requests, route).toBeGreaterThan(0);
			const expected = {
				availability: (a.errors - b.errors) / requests,
				"latency-p95": 1 - (a.fast95 - b.fast95) / requests,
				"latency-p99": 1 - (a.fast99 - b.fast99) / requests,
			};
			const got = Object.fromEntries(
				(await promql(`slo:sli_error:ratio_rate5m{http_route="${route}"}`)).map((r) => [
					r.metric.slo,
					Number(r.value[1]),
				]),
			);
			ratios[route] = got;
			for (const [slo, value] of Object.entries(expected)) expect(got[slo], `${route} ${slo}`).toBeCloseTo(value, 4);
		}
		console.log("5m SLI error ratios (Prometheus = /v1/slo):", JSON.stringify(ratios));
	});

	it("returns data for every PromQL expression of every dashboard panel", async () => {
		const files = readdirSync(path.join(REPO_ROOT, "dashboards")).filter((f) => f.endsWith(".json"));
		expect(files.length).toBe(5);
		const noData: string[] = [];
		let checked = 0;
		for (const f of files) {
			const d = JSON.parse(readFileSync(path.join(REPO_ROOT, "dashboards", f), "utf8")) as {
				panels: { title: string; targets?: { expr: string }[] }[];
			};
			for (const p of d.panels) {
				for (const t of p.targets ?? []) {
					// Grafana's variables as a user with "All" selected over the last 5 minutes would have them.
					const expr = t.expr
						.replaceAll("$__rate_interval", "5m")
						.replaceAll("$__range", "5m")
						.replaceAll("$route", ".+")
						.replaceAll("$version", ".+");
					const result = await promql(expr);
					checked++;
					if (!result.some((r) => Number.isFinite(Number(r.value[1]))))
						noData.push(`${f} / ${p.title}: ${t.expr} → ${JSON.stringify(result).slice(0, 300)}`);
				}
			}
		}
		expect(noData).toEqual([]);
		console.log(`dashboards: ${checked} panel queries returned data`);
		expect(checked).toBeGreaterThan(40);
	}, 120_000);

	it("pushed the same metrics to an OTLP collector from the cron, and counts the push", async () => {
		expect(pushes).toBeGreaterThanOrEqual(1);
		const ok = await promql('otlp_exports_total{job="edge-ai-api", outcome="ok"}');
		expect(Number(ok[0]?.value[1])).toBeGreaterThanOrEqual(1);
	});

	it("npm run observe: Prometheus with the rules and Alertmanager on loopback, notifications printed", async () => {
		const [promPort, amPort] = [await freePort(), await freePort()];
		// alerts/alertmanager.yml's placeholder receivers post to 127.0.0.1:9095.
		const hookFree = await new Promise<boolean>((resolve) => {
			const probe = createServer();
			probe.once("error", () => resolve(false));
			probe.listen(9095, "127.0.0.1", () => probe.close(() => resolve(true)));
		});
		const hookPort = hookFree ? 9095 : await freePort();
		const observeDir = mkdtempSync(path.join(tmpdir(), "edge-ai-api-observe-cmd-"));
		const child = spawn(process.execPath, [path.join(REPO_ROOT, "scripts", "observe.ts")], {
			cwd: REPO_ROOT,
			env: {
				...process.env,
				OBSERVE_TARGET: server.base,
				OBSERVE_PROMETHEUS_PORT: String(promPort),
				OBSERVE_ALERTMANAGER_PORT: String(amPort),
				OBSERVE_WEBHOOK_PORT: String(hookPort),
				OBSERVE_DIR: observeDir,
				OBSERVE_SCRAPE_INTERVAL: "1s",
			},
			stdio: ["ignore", "pipe", "pipe"],
		});
		let out = "";
		child.stdout?.on("data", (d) => {
			out += String(d);
		});
		child.stderr?.on("data", (d) => {
			out += String(d);
		});
		try {
			const until = async (pred: () => boolean | Promise<boolean>, what: string, ms = 30_000) => {
				for (const started = Date.now(); Date.now() - started < ms; await new Promise((r) => setTimeout(r, 250)))
					if (await pred()) return;
				throw new Error(`${what}; output:\n${out}`);
			};
			await until(() => out.includes("Ctrl-C stops everything."), "observe did not print its URLs");
			expect(out).toContain(`http://127.0.0.1:${promPort}`);
			expect(out).toContain(`http://127.0.0.1:${amPort}`);
			const prom = `http://127.0.0.1:${promPort}`;
			await until(async () => {
				const t = (await (await fetch(`${prom}/api/v1/targets`)).json()) as {
					data: { activeTargets: { health: string }[] };
				};
				return t.data.activeTargets[0]?.health === "up";
			}, "the service was not scraped");
			const r = (await (await fetch(`${prom}/api/v1/rules`)).json()) as { data: { groups: { rules: unknown[] }[] } };
			expect(r.data.groups.flatMap((g) => g.rules).length).toBe(RULE_FILES.flatMap(rulesOf).length);
			if (hookFree) {
				// A page through its Alertmanager reaches the placeholder receiver, which prints it (group_wait 10 s).
				await fetch(`http://127.0.0.1:${amPort}/api/v2/alerts`, {
					method: "POST",
					headers: { "Content-Type": "application/json" },
					body: JSON.stringify([
						{
							labels: { alertname: "ObserveDrill", severity: "page", service: "edge-ai-api", http_route: "/v1/models" },
							annotations: { summary: "a drill" },
						},
					]),
				});
				await until(
					() => out.includes("[alert page] FIRING ObserveDrill /v1/models — a drill"),
					"no notification",
					40_000,
				);
			}
		} finally {
			child.kill("SIGTERM");
			await new Promise((r) => setTimeout(r, 1_000));
			rmSync(observeDir, { recursive: true, force: true });
		}
	}, 120_000);
});
