#!/usr/bin/env node
// `npm run bench:ratelimit`: the rate limiter measured in one run, written to docs/performance.md (between the
// bench:ratelimit markers) and printed. Figures, never assertions.
//   (a) decisions per second of one RateLimiter object on local workerd (admit path and at-the-limit path);
//   (b) p50/p99 latency and throughput of GET /v1/auth/me with and without the limiter, side by side, under k6;
//   (c) over-admissions and wrong denials of our exact limiter, a fixed window and the two-window sliding counter
//       on the same recorded traces, judged against the exact rule.
// Env: BENCH_DURATION (k6 phase, default 10s), BENCH_VUS (default 8), BENCH_RATE (open-model req/s, default 100),
// BENCH_ROUNDS (default 2), BENCH_PORT
// (default 8799), K6_BIN (default `k6` on PATH), BENCH_WRITE=0 to leave the docs alone.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { exact, fixedWindow, judge, slidingCounter, traces } from "./bench/limiters.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const duration = process.env.BENCH_DURATION ?? "10s";
const vus = Number(process.env.BENCH_VUS ?? 8);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const port = Number(process.env.BENCH_PORT ?? 8799);
const k6 = process.env.K6_BIN ?? "k6";
const base = `http://127.0.0.1:${port}`;
const DEMO_KEY = "eak_00000000d3e0_localDemoKey_localDemoKey_localDemoKey_0000";

if (spawnSync(k6, ["version"], { encoding: "utf8" }).status !== 0) {
	console.error(`k6 not found (tried "${k6}"): put it on PATH or set K6_BIN (this machine: ../shared/bin/k6).`);
	process.exit(1);
}

/** @param {number} x */
const fmt = (x, digits = 0) =>
	x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

// (c) first: pure, no server needed.
const LIMIT = 100;
const WINDOW_MS = 60_000;
const recorded = traces(LIMIT, WINDOW_MS);
/** @type {[string, import("./bench/limiters.mjs").LimiterFactory][]} */
const limiters = [
	["exact sliding log (ours)", exact],
	["fixed window", fixedWindow],
	["two-window sliding counter", slidingCounter],
];
const accuracyRows = [];
for (const [traceName, trace] of Object.entries(recorded)) {
	for (const [name, make] of limiters) {
		const r = judge(make, LIMIT, WINDOW_MS, trace);
		accuracyRows.push(
			`| ${traceName} | ${name} | ${r.requests} | ${r.admitted} | ${r.overAdmitted} | ${r.wrongDenials} | ${r.peak} |`,
		);
	}
}

// (a) and (b) on the benchmark Worker under wrangler dev.
const persist = mkdtempSync(path.join(tmpdir(), "edge-ai-api-bench-"));
const server = spawn(process.execPath, [path.join(root, "scripts", "dev.mjs")], {
	cwd: root,
	env: {
		...process.env,
		PORT: String(port),
		PERSIST_DIR: persist,
		WRANGLER_CONFIG: "scripts/bench/wrangler.bench.toml",
		WRANGLER_LOG_LEVEL: "error",
	},
	stdio: ["ignore", "pipe", "inherit"],
});
let output = "";
server.stdout.on("data", (d) => {
	output += d;
});
const stop = () => {
	server.kill("SIGTERM");
	rmSync(persist, { recursive: true, force: true });
};
process.on("exit", stop);
for (let waited = 0; !output.includes("ready at"); waited += 200) {
	if (waited > 120_000 || server.exitCode !== null) {
		console.error(`benchmark server did not start:\n${output}`);
		process.exit(1);
	}
	await new Promise((r) => setTimeout(r, 200));
}

/** @param {Record<string, string | number>} q */
async function driveObject(q) {
	const res = await fetch(
		`${base}/__bench/object?${new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)]))}`,
	);
	return /** @type {{ n: number; admitted: number; ms: number }} */ (await res.json());
}
await driveObject({ n: 500 }); // warm-up: compile, first object, SQLite
const objectRows = [];
for (const scenario of [
	{ label: "baseline: bare RPC round trip (`ping`)", mode: "ping", limit: 1, window_ms: 1_000 },
	{ label: "decide without logging (dry run: no write)", mode: "dry", limit: 1_000_000, window_ms: 1_000 },
	{
		label: "admit path (1 000 000 per 1 s: never full; one durable write)",
		mode: "consume",
		limit: 1_000_000,
		window_ms: 1_000,
	},
	{
		label: "at the limit (100 per 60 s: every call after the 100th denied)",
		mode: "consume",
		limit: 100,
		window_ms: 60_000,
	},
]) {
	for (const concurrency of [1, 8]) {
		const n = 4_000;
		const r = await driveObject({
			n,
			concurrency,
			mode: scenario.mode,
			limit: scenario.limit,
			window_ms: scenario.window_ms,
		});
		objectRows.push(
			`| ${scenario.label} | ${concurrency} | ${fmt(n)} | ${r.admitted} | ${fmt(r.ms)} | ${fmt((n / r.ms) * 1000)} |`,
		);
	}
}

/** @param {string} route @param {number} [rate] */
function k6Run(route, rate = 0) {
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
			`API_KEY=${DEMO_KEY}`,
			"-e",
			`VUS=${vus}`,
			"-e",
			`DURATION=${duration}`,
			"-e",
			`RATE=${rate}`,
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
	const checks = summary.metrics.checks;
	return { p50: d.med, p99: d["p(99)"], rps: summary.metrics.http_reqs.rate, failed: checks.fails };
}
k6Run("/without/v1/auth/me"); // warm-up of both paths
k6Run("/with/v1/auth/me");
/** @typedef {{ p50: number; p99: number; rps: number; failed: number }} K6Result */
/** @param {number} rate */
function measure(rate) {
	/** @type {Record<string, K6Result[]>} */
	const results = { without: [], with: [] };
	for (let round = 0; round < rounds; round++) {
		for (const variant of round % 2 === 0 ? ["without", "with"] : ["with", "without"]) {
			results[variant]?.push(k6Run(`/${variant}/v1/auth/me`, rate));
		}
	}
	return results;
}
/** @param {number[]} xs */
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** @param {string} load @param {Record<string, K6Result[]>} results */
const rows = (load, results) =>
	Object.entries(results).map(([variant, rs]) => {
		const per = rs.map((r) => `${fmt(r.p50, 2)} / ${fmt(r.p99, 2)} / ${fmt(r.rps)}`).join("; ");
		return `| ${load} | ${variant} limiter | ${fmt(mean(rs.map((r) => r.p50)), 2)} | ${fmt(mean(rs.map((r) => r.p99)), 2)} | ${fmt(mean(rs.map((r) => r.rps)))} | ${rs.reduce((a, r) => a + r.failed, 0)} | ${per} |`;
	});
const OPEN_RATE = Number(process.env.BENCH_RATE ?? 100);
const routeRows = [
	...rows(`closed loop, ${vus} VUs (saturation)`, measure(0)),
	...rows(`open, ${OPEN_RATE} req/s`, measure(OPEN_RATE)),
];
stop();

const versions = spawnSync(
	process.execPath,
	[path.join(root, "node_modules", "wrangler", "bin", "wrangler.js"), "--version"],
	{
		encoding: "utf8",
	},
).stdout.trim();
const section = `<!-- bench:ratelimit:start (generated by npm run bench:ratelimit; edit the script, not this) -->
Run: ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, wrangler ${versions} (local workerd), k6 phases of ${duration}, ${rounds} rounds per variant and load.

**(a) Decisions per second of one \`RateLimiter\` object** (one policy, cost 1; calls from a Worker in the same
workerd, sequential or 8 in flight; a Durable Object runs one call at a time, so more in flight only hides the
round trip; the first two rows are baselines, not the limiter's work):

| Scenario | In flight | Calls | Admitted | ms | Decisions/s |
|---|---|---|---|---|---|
${objectRows.join("\n")}

**(b) \`GET /v1/auth/me\` (demo API key) with and without the limiter**, same isolate, alternating phases (p50 /
p99 in ms, throughput in requests/s), at saturation (closed loop: k6 and workerd share the 2 cores, so this is
the throughput ceiling) and at a fixed arrival rate below it (the latency a client sees). The "with" policy never
denies, so both variants do the same work apart from the decision; all its requests share one key, i.e. one
object:

| Load | Variant | p50 ms | p99 ms | req/s | Failed checks | Per round (p50 / p99 / req/s) |
|---|---|---|---|---|---|---|
${routeRows.join("\n")}

**(c) Accuracy on recorded traces** (limit ${LIMIT} per ${WINDOW_MS / 1000} s, 10 windows, seeded; every decision judged
by the exact rule on that limiter's own admitted history: an admission that puts more than ${LIMIT} in some
${WINDOW_MS / 1000} s window is an over-admission, a denial the rule would have admitted is a wrong denial; peak is
the most admitted in any ${WINDOW_MS / 1000} s window):

| Trace | Limiter | Requests | Admitted | Over-admitted | Wrong denials | Peak in a window |
|---|---|---|---|---|---|---|
${accuracyRows.join("\n")}
<!-- bench:ratelimit:end -->`;

console.log(section);
if (process.env.BENCH_WRITE !== "0") {
	const doc = path.join(root, "docs", "performance.md");
	const text = readFileSync(doc, "utf8");
	const re = /<!-- bench:ratelimit:start[\s\S]*?<!-- bench:ratelimit:end -->/;
	if (!re.test(text)) {
		console.error("docs/performance.md has no bench:ratelimit markers");
		process.exit(1);
	}
	writeFileSync(doc, text.replace(re, section));
	console.log("\nwritten to docs/performance.md");
}
process.exit(0);
