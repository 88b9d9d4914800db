#!/usr/bin/env node
// `npm run observe`: a local Prometheus and Alertmanager (Debian's packages) watching the local service, with the
// generated rules of alerts/ loaded and alerts routed by alerts/alertmanager.yml to a loopback webhook that prints
// them here. Offline; everything listens on 127.0.0.1. docs/observability.md shows how to add Grafana.
//
// Environment: OBSERVE_TARGET (the API's base URL; default http://127.0.0.1:$PORT, PORT default 8787 — started with
// the dev server of `npm start` when nothing answers there), OBSERVE_PROMETHEUS_PORT (9090), OBSERVE_ALERTMANAGER_PORT (9093),
// OBSERVE_WEBHOOK_PORT (9095: the placeholder receivers of alerts/alertmanager.yml), OBSERVE_DIR (.observe),
// OBSERVE_SCRAPE_INTERVAL (15s: scrape and rule evaluation interval).
// The scrape credential is OBSERVE_SCRAPE_KEY from the environment or .dev.vars (an operator key: an API key of the
// operator tenant with scope metrics:read), else the local seed's operator key (tenant platform, subject prometheus).
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import path from "node:path";
import { parseCommandLine } from "./lib/command-line.ts";
import { DEFAULT_STATE_DIR, startDevServer, stopAllDevServers } from "./lib/dev-server.ts";
import { OPS_KEY } from "./lib/local-credentials.ts";
import { REPO_ROOT } from "./lib/repository-root.ts";
import { RULE_FILES } from "./observability/config.ts";
import { JOB } from "./observability/slo-rules.ts";

parseCommandLine(
	"usage: npm run observe\nEnvironment: OBSERVE_TARGET, OBSERVE_PROMETHEUS_PORT, OBSERVE_ALERTMANAGER_PORT, OBSERVE_WEBHOOK_PORT, OBSERVE_DIR, OBSERVE_SCRAPE_INTERVAL, OBSERVE_SCRAPE_KEY (docs/observability.md).",
	{},
);
const INSTALL = "sudo apt-get update && sudo apt-get install -y prometheus prometheus-alertmanager";

const has = (bin: string) => spawnSync(bin, ["--version"], { stdio: "ignore" }).status === 0;
const missing = ["prometheus", "prometheus-alertmanager"].filter((b) => !has(b));
if (missing.length > 0) {
	console.error(`${missing.join(" and ")} not found. On Debian or Ubuntu:\n\n  ${INSTALL}\n`);
	process.exit(1);
}

/** `KEY=value` lines of .dev.vars (comments and blanks skipped). */
function devVars(): Record<string, string> {
	const file = path.join(REPO_ROOT, ".dev.vars");
	if (!existsSync(file)) return {};
	const out: Record<string, string> = {};
	for (const line of readFileSync(file, "utf8").split("\n")) {
		const m = line.match(/^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/);
		if (m?.[1]) out[m[1]] = (m[2] ?? "").replace(/^"(.*)"$/, "$1");
	}
	return out;
}

function port(name: string, fallback: number): number {
	const raw = process.env[name];
	const value = raw === undefined ? fallback : Number(raw);
	if (!Number.isInteger(value) || value < 1 || value > 65535) {
		console.error(`${name} must be a TCP port number, got "${raw}"`);
		process.exit(1);
	}
	return value;
}

const target = new URL(process.env.OBSERVE_TARGET ?? `http://127.0.0.1:${process.env.PORT ?? 8787}`);
const promPort = port("OBSERVE_PROMETHEUS_PORT", 9090);
const amPort = port("OBSERVE_ALERTMANAGER_PORT", 9093);
const hookPort = port("OBSERVE_WEBHOOK_PORT", 9095);
const dir = path.resolve(REPO_ROOT, process.env.OBSERVE_DIR ?? ".observe");
const interval = process.env.OBSERVE_SCRAPE_INTERVAL ?? "15s";
if (!/^\d+(ms|s|m)$/.test(interval)) {
	console.error(`OBSERVE_SCRAPE_INTERVAL must be a Prometheus duration like 15s, got "${interval}"`);
	process.exit(1);
}
// The local seed's operator key: /metrics needs metrics:read, which only the operator tenant's keys hold.
const key = process.env.OBSERVE_SCRAPE_KEY ?? devVars().OBSERVE_SCRAPE_KEY ?? OPS_KEY;
mkdirSync(dir, { recursive: true });

const children: ChildProcess[] = [];
let stopping = false;
function stop(code = 0) {
	if (stopping) return;
	stopping = true;
	for (const c of children) if (c.exitCode === null) c.kill("SIGTERM");
	// The API, when started here, runs in a process group of its own: stopped with wrangler's workerd processes.
	void stopAllDevServers().finally(() => setTimeout(() => process.exit(code), 500).unref());
}
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(signal, () => stop(0));

async function waitFor(url: string, timeoutMs: number): Promise<boolean> {
	for (const started = Date.now(); Date.now() - started < timeoutMs; ) {
		const res = await fetch(url, { signal: AbortSignal.timeout(1_000) }).catch(() => null);
		if (res?.ok) return true;
		await new Promise((r) => setTimeout(r, 200));
	}
	return false;
}

// The service: the one at the target, or started here (as `npm start` does) when nothing answers.
if (!(await waitFor(new URL("/healthz", target).href, 1_000))) {
	if (!["127.0.0.1", "localhost"].includes(target.hostname)) {
		console.error(`Nothing answers ${target.origin}/healthz; start the service or fix OBSERVE_TARGET.`);
		process.exit(1);
	}
	console.log(`Nothing answers ${target.origin}; starting the API there (npm start)…`);
	const api = await startDevServer({
		host: target.hostname === "localhost" ? "127.0.0.1" : target.hostname,
		port: Number(target.port || 80),
		persistDir: path.join(REPO_ROOT, DEFAULT_STATE_DIR),
		readyTimeoutMs: 90_000,
		output: "inherit",
	}).catch((err: unknown) => {
		console.error(`The API did not start: ${err instanceof Error ? err.message : String(err)}`);
		process.exit(1);
	});
	void api.exited.then(({ code, signal }) => {
		if (!stopping) {
			console.error(`The API exited (${signal ?? code}).`);
			stop(1);
		}
	});
}

// The placeholder receivers: alerts arrive here and are printed, one line per alert.
const hook = createServer((req, res) => {
	let body = "";
	req.on("data", (d) => {
		body += String(d);
	});
	req.on("end", () => {
		try {
			const msg = JSON.parse(body) as {
				status: string;
				alerts: { status: string; labels: Record<string, string>; annotations: Record<string, string> }[];
			};
			for (const a of msg.alerts)
				console.log(
					`[alert ${req.url?.split("/").pop()}] ${a.status.toUpperCase()} ${a.labels.alertname} ${a.labels.http_route ?? ""} — ${a.annotations.summary ?? ""}`,
				);
		} catch {
			console.log(`[alert] ${body.slice(0, 200)}`);
		}
		res.writeHead(200).end();
	});
});
await new Promise((resolve, reject) => {
	hook.once("error", reject);
	hook.listen(hookPort, "127.0.0.1", () => resolve(undefined));
}).catch((err) => {
	console.error(`Cannot listen on 127.0.0.1:${hookPort} for alert notifications (${err}); set OBSERVE_WEBHOOK_PORT.`);
	process.exit(1);
});
if (hookPort !== 9095) {
	console.log(
		`Note: alerts/alertmanager.yml sends to 127.0.0.1:9095; with OBSERVE_WEBHOOK_PORT=${hookPort} notifications go unanswered.`,
	);
}

const rules = RULE_FILES.map((f) => path.join(REPO_ROOT, "alerts", f));
const config = path.join(dir, "prometheus.yml");
writeFileSync(
	config,
	[
		"# Written by npm run observe (scripts/observe.ts); regenerated on every run.",
		"global:",
		`  scrape_interval: ${interval}`,
		`  evaluation_interval: ${interval}`,
		"rule_files:",
		...rules.map((r) => `  - ${JSON.stringify(r)}`),
		"alerting:",
		"  alertmanagers:",
		`    - static_configs: [{ targets: ["127.0.0.1:${amPort}"] }]`,
		"scrape_configs:",
		`  - job_name: ${JOB}`,
		"    metrics_path: /metrics",
		`    scheme: ${target.protocol.replace(":", "")}`,
		"    authorization:",
		`      credentials: ${JSON.stringify(key)}`,
		"    static_configs:",
		`      - targets: [${JSON.stringify(target.host)}]`,
		"",
	].join("\n"),
);

const alertmanager = spawn(
	"prometheus-alertmanager",
	[
		`--config.file=${path.join(REPO_ROOT, "alerts", "alertmanager.yml")}`,
		`--storage.path=${path.join(dir, "alertmanager")}`,
		`--web.listen-address=127.0.0.1:${amPort}`,
		"--cluster.listen-address=",
	],
	{ stdio: ["ignore", "ignore", "pipe"] },
);
const prometheus = spawn(
	"prometheus",
	[
		`--config.file=${config}`,
		`--storage.tsdb.path=${path.join(dir, "prometheus")}`,
		// The SLO period is 30 days: keep a little more than that (the default is 15 days).
		"--storage.tsdb.retention.time=32d",
		`--web.listen-address=127.0.0.1:${promPort}`,
		"--web.enable-lifecycle",
	],
	{ stdio: ["ignore", "ignore", "pipe"] },
);
for (const [name, child] of [
	["prometheus-alertmanager", alertmanager],
	["prometheus", prometheus],
] as const) {
	children.push(child);
	let stderr = "";
	child.stderr?.on("data", (d) => {
		stderr = (stderr + String(d)).slice(-4_000);
	});
	child.on("exit", (code) => {
		if (!stopping) {
			console.error(`${name} exited (${code}):\n${stderr}`);
			stop(1);
		}
	});
}

const promUrl = `http://127.0.0.1:${promPort}`;
const amUrl = `http://127.0.0.1:${amPort}`;
if (!(await waitFor(`${promUrl}/-/ready`, 30_000)) || !(await waitFor(`${amUrl}/-/ready`, 30_000))) {
	console.error("Prometheus or Alertmanager did not become ready.");
	stop(1);
} else {
	console.log(
		[
			`Observing ${target.origin} (scraped every ${interval} with the generated rules of alerts/ loaded):`,
			`  Prometheus    ${promUrl}   (targets: ${promUrl}/targets, rules: ${promUrl}/rules, alerts: ${promUrl}/alerts)`,
			`  Alertmanager  ${amUrl}`,
			`  Notifications print here (placeholder receivers on 127.0.0.1:${hookPort}).`,
			"  Grafana: point a Prometheus datasource at the Prometheus URL and load dashboards/ (docs/observability.md#grafana).",
			"Ctrl-C stops everything.",
		].join("\n"),
	);
}
