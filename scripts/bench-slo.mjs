#!/usr/bin/env node
// `npm run bench:slo`: GET /v1/auth/me with and without SLO recording, side by side in one run on local workerd
// (the benchmark Worker: the same app with and without the recording middleware, no rate limits), at saturation
// and at a fixed arrival rate, plus the SloCounter calls per request the recorder made. Written to
// docs/performance.md between the bench:slo markers. Env: BENCH_DURATION (default 10s), BENCH_VUS (8), BENCH_RATE
// (100), BENCH_ROUNDS (2), BENCH_PORT (8797), K6_BIN, BENCH_WRITE=0 to leave the docs alone.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const duration = process.env.BENCH_DURATION ?? "10s";
const vus = Number(process.env.BENCH_VUS ?? 8);
const rate = Number(process.env.BENCH_RATE ?? 100);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const port = Number(process.env.BENCH_PORT ?? 8797);
const k6 = process.env.K6_BIN ?? "k6";
const base = `http://127.0.0.1:${port}`;
// The local seed's keys (migrations/local/seed.sql): the demo tenant's for the measured route, the operator key
// (tenant platform, scope metrics:read: only the operator tenant may read /metrics) for the loss count.
const KEY = "eak_00000000d3e0_localDemoKey_localDemoKey_localDemoKey_0000";
const OPS_KEY = "eak_00000000a0b5_localOpsKey_localOpsKey_localOpsKey_0000000";

if (spawnSync(k6, ["version"], { encoding: "utf8" }).status !== 0) {
	console.error(`k6 not found (tried "${k6}"): put it on PATH or set K6_BIN (this machine: ../shared/bin/k6).`);
	process.exit(1);
}
/** @param {number} x */
const fmt = (x, digits = 0) =>
	x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

const persist = mkdtempSync(path.join(tmpdir(), "edge-ai-api-bench-slo-"));
/** @type {import("node:child_process").ChildProcess | null} */
let server = null;
async function startServer() {
	let output = "";
	const child = spawn(process.execPath, [path.join(root, "scripts", "dev.mjs")], {
		cwd: root,
		env: {
			...process.env,
			PORT: String(port),
			PERSIST_DIR: persist,
			WRANGLER_CONFIG: "scripts/bench/wrangler.bench.toml",
			WRANGLER_LOG_LEVEL: "error",
		},
		stdio: ["ignore", "pipe", "inherit"],
		detached: true,
	});
	child.stdout?.on("data", (d) => {
		output += d;
	});
	for (let waited = 0; !output.includes("ready at"); waited += 200) {
		if (waited > 120_000 || child.exitCode !== null) {
			console.error(`benchmark server did not start:\n${output}`);
			process.exit(1);
		}
		await new Promise((r) => setTimeout(r, 200));
	}
	server = child;
}
/** @param {NodeJS.Signals} signal */
async function killServer(signal) {
	const child = server;
	if (!child?.pid || child.exitCode !== null) return;
	const exited = new Promise((r) => child.once("exit", r));
	process.kill(-child.pid, signal);
	await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
	server = null;
}
const stop = () => {
	if (server?.pid && server.exitCode === null) process.kill(-server.pid, "SIGKILL");
	rmSync(persist, { recursive: true, force: true });
};
process.on("exit", stop);
await startServer();

/** @param {string} route @param {number} arrivalRate */
function k6Run(route, arrivalRate) {
	const out = path.join(persist, `k6-${Date.now()}.json`);
	const run = spawnSync(
		k6,
		[
			"run",
			"--quiet",
			"--no-color",
			"--summary-export",
			out,
			"-e",
			`BASE_URL=${base}`,
			"-e",
			`ROUTE=${route}`,
			"-e",
			`API_KEY=${KEY}`,
			"-e",
			`VUS=${vus}`,
			"-e",
			`DURATION=${duration}`,
			"-e",
			`RATE=${arrivalRate}`,
			path.join(root, "load", "bench-route.js"),
		],
		{ encoding: "utf8" },
	);
	if (run.status !== 0) {
		console.error(run.stdout, run.stderr);
		process.exit(1);
	}
	const summary = JSON.parse(readFileSync(out, "utf8"));
	const d = summary.metrics.http_req_duration;
	return { p50: d.med, p99: d["p(99)"], rps: summary.metrics.http_reqs.rate, failed: summary.metrics.checks.fails };
}
const stats = async () =>
	/** @type {{ applies: number; requests: number }} */ (await (await fetch(`${base}/__bench/slo-stats`)).json());

k6Run("/slo-off/v1/auth/me", 0);
k6Run("/slo-on/v1/auth/me", 0);
/** @typedef {{ p50: number; p99: number; rps: number; failed: number }} Result */
/** @param {number} arrivalRate */
async function measure(arrivalRate) {
	/** @type {Record<string, Result[]>} */
	const results = { off: [], on: [] };
	let applies = 0;
	let recorded = 0;
	for (let round = 0; round < rounds; round++) {
		for (const variant of round % 2 === 0 ? ["off", "on"] : ["on", "off"]) {
			const before = await stats();
			results[variant]?.push(k6Run(`/slo-${variant}/v1/auth/me`, arrivalRate));
			await new Promise((r) => setTimeout(r, 500));
			const after = await stats();
			if (variant === "on") {
				applies += after.applies - before.applies;
				recorded += after.requests - before.requests;
			}
		}
	}
	return { results, applies, recorded };
}
/** @param {number[]} xs */
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rows = [];
for (const [label, arrival] of /** @type {[string, number][]} */ ([
	[`closed loop, ${vus} VUs (saturation)`, 0],
	[`open, ${rate} req/s`, rate],
])) {
	const m = await measure(arrival);
	for (const [variant, rs] of Object.entries(m.results)) {
		const per = rs.map((r) => `${fmt(r.p50, 2)} / ${fmt(r.p99, 2)} / ${fmt(r.rps)}`).join("; ");
		const calls =
			variant === "on"
				? `${fmt(m.applies)} calls / ${fmt(m.recorded)} requests = ${fmt(m.applies / Math.max(1, m.recorded), 3)}`
				: "—";
		rows.push(
			`| ${label} | recording ${variant} | ${fmt(mean(rs.map((r) => r.p50)), 2)} | ${fmt(mean(rs.map((r) => r.p99)), 2)} | ${fmt(mean(rs.map((r) => r.rps)))} | ${rs.reduce((a, r) => a + r.failed, 0)} | ${calls} | ${per} |`,
		);
	}
}
// Loss bound, measured: send a burst, SIGKILL the whole runtime right after the last response (no graceful
// shutdown: buffered records and in-flight flushes die with it), restart on the same state, count what arrived.
/** @param {string} text */
const countOf = (text) =>
	text
		.split("\n")
		.filter((l) => l.startsWith('http_server_request_duration_seconds_count{http_route="/v1/auth/me"'))
		.reduce((a, l) => a + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
const scrape = async () => {
	const res = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${OPS_KEY}` } });
	if (!res.ok) throw new Error(`GET /metrics answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
	return countOf(await res.text());
};
const lossRows = [];
for (let trial = 0; trial < 3; trial++) {
	await new Promise((r) => setTimeout(r, 1_000));
	const before = await scrape();
	const burst = 200;
	let next = 0;
	await Promise.all(
		Array.from({ length: 20 }, async () => {
			while (next < burst) {
				next++;
				await fetch(`${base}/slo-on/v1/auth/me`, { headers: { "X-API-Key": KEY } });
			}
		}),
	);
	await killServer("SIGKILL");
	await startServer();
	await new Promise((r) => setTimeout(r, 500));
	const after = await scrape();
	lossRows.push(`| ${trial + 1} | ${burst} | ${after - before} | ${burst - (after - before)} |`);
}
stop();

const section = `<!-- bench:slo:start (generated by npm run bench:slo; edit the script, not this) -->
Run: ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, local workerd, k6 phases of ${duration}, ${rounds} rounds per variant and load.
\`GET /v1/auth/me\` (demo API key, no rate limits) through the same app with and without the SLO recording middleware;
"DO calls per request" counts the recorder's \`SloCounter.apply\` calls against the requests they carried (batching
in the isolate makes it < 1 when requests overlap).

| Load | Variant | p50 ms | p99 ms | req/s | Failed checks | DO calls per request | Per round (p50 / p99 / req/s) |
|---|---|---|---|---|---|---|---|
${rows.join("\n")}

**Loss when the runtime is killed** (SIGKILL of wrangler + workerd right after the last response of a burst of
200 requests from 20 clients; restart on the same state; counted from \`/metrics\`):

| Trial | Sent | Recorded | Lost |
|---|---|---|---|
${lossRows.join("\n")}
<!-- bench:slo:end -->`;
console.log(section);
if (process.env.BENCH_WRITE !== "0") {
	const doc = path.join(root, "docs", "performance.md");
	const text = readFileSync(doc, "utf8");
	const re = /<!-- bench:slo:start[\s\S]*?<!-- bench:slo:end -->/;
	if (!re.test(text)) {
		console.error("docs/performance.md has no bench:slo markers");
		process.exit(1);
	}
	writeFileSync(doc, text.replace(re, section));
	console.log("\nwritten to docs/performance.md");
}
process.exit(0);
