#!/usr/bin/env node
// `npm run bench:ratelimit`: the rate limiter measured in one run, written to docs/performance.md (between the
// bench:ratelimit markers) and printed. Figures, never assertions.
//   (a) decisions per second of one RateLimiter object on local workerd (admit path and at-the-limit path);
//   (b) p50/p99 latency and throughput of GET /v1/auth/me with and without the limiter, side by side, under k6;
//   (c) over-admissions and wrong denials of our exact limiter, a fixed window and the two-window sliding counter
//       on the same recorded traces, judged against the exact rule.
import { cpus } from "node:os";
import { benchSettings, startBenchWorker } from "./bench/node/bench-worker.ts";
import { exact, fixedWindow, judge, type LimiterFactory, slidingCounter, traces } from "./bench/node/limiters.ts";
import { fmt, mean, type PhaseResult, perRound, routePhase } from "./bench/node/route-phase.ts";
import { stopAllDevServers, wranglerVersion } from "./lib/dev-server.ts";
import { docSection, writeDocSection } from "./lib/doc-section.ts";
import { DEMO_KEY } from "./lib/local-credentials.ts";
import { exitOnSignals } from "./lib/process-group.ts";

const { duration, vus, rate: openRate, rounds, port, k6, write } = benchSettings("bench:ratelimit");

// (c) first: pure, no server needed.
const LIMIT = 100;
const WINDOW_MS = 60_000;
const limiters: [string, LimiterFactory][] = [
	["exact sliding log (ours)", exact],
	["fixed window", fixedWindow],
	["two-window sliding counter", slidingCounter],
];
const accuracyRows: string[] = [];
for (const [traceName, trace] of Object.entries(traces(LIMIT, WINDOW_MS))) {
	for (const [name, make] of limiters) {
		const r = judge(make, LIMIT, WINDOW_MS, trace);
		accuracyRows.push(
			`| ${traceName} | ${name} | ${r.requests} | ${r.admitted} | ${r.overAdmitted} | ${r.wrongDenials} | ${r.peak} |`,
		);
	}
}

// (a) and (b) on the benchmark Worker under wrangler dev.
exitOnSignals(stopAllDevServers);
const server = await startBenchWorker({ port });
let objectRows: string[];
let routeRows: string[];
try {
	objectRows = await objectBench(server.base);
	routeRows = await routeBench(server.base, server.persistDir);
} finally {
	await server.stop();
}

/** Decisions per second of one RateLimiter object, through the benchmark Worker's /__bench/object. */
async function objectBench(base: string): Promise<string[]> {
	const drive = async (q: Record<string, string | number>) => {
		const res = await fetch(
			`${base}/__bench/object?${new URLSearchParams(Object.entries(q).map(([k, v]) => [k, String(v)]))}`,
		);
		return (await res.json()) as { n: number; admitted: number; ms: number };
	};
	await drive({ n: 500 }); // warm-up: compile, first object, SQLite
	const rows: string[] = [];
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
			const { mode, limit, window_ms } = scenario;
			const r = await drive({ n, concurrency, mode, limit, window_ms });
			rows.push(
				`| ${scenario.label} | ${concurrency} | ${fmt(n)} | ${r.admitted} | ${fmt(r.ms)} | ${fmt((n / r.ms) * 1000)} |`,
			);
		}
	}
	return rows;
}

/** GET /v1/auth/me with and without the limiter, alternating phases, at saturation and at a fixed arrival rate. */
async function routeBench(base: string, workDir: string): Promise<string[]> {
	const phase = (route: string, rate: number) =>
		routePhase({ k6, base, route, apiKey: DEMO_KEY, vus, duration, rate, workDir });
	await phase("/without/v1/auth/me", 0); // warm-up of both paths
	await phase("/with/v1/auth/me", 0);
	const measure = async (rate: number) => {
		const results: Record<"without" | "with", PhaseResult[]> = { without: [], with: [] };
		for (let round = 0; round < rounds; round++) {
			for (const variant of round % 2 === 0 ? (["without", "with"] as const) : (["with", "without"] as const)) {
				results[variant].push(await phase(`/${variant}/v1/auth/me`, rate));
			}
		}
		return results;
	};
	const rows = (load: string, results: Record<string, PhaseResult[]>) =>
		Object.entries(results).map(
			([variant, rs]) =>
				`| ${load} | ${variant} limiter | ${fmt(mean(rs.map((r) => r.p50)), 2)} | ${fmt(mean(rs.map((r) => r.p99)), 2)} | ${fmt(mean(rs.map((r) => r.rps)))} | ${rs.reduce((a, r) => a + r.failed, 0)} | ${perRound(rs)} |`,
		);
	return [
		...rows(`closed loop, ${vus} VUs (saturation)`, await measure(0)),
		...rows(`open, ${openRate} req/s`, await measure(openRate)),
	];
}

const section = docSection(
	"bench:ratelimit",
	"npm run bench:ratelimit; edit the script, not this",
	`Run: ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, wrangler ${wranglerVersion()} (local workerd), k6 phases of ${duration}, ${rounds} rounds per variant and load.

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
${accuracyRows.join("\n")}`,
);
console.log(section);
if (write) {
	writeDocSection("docs/performance.md", "bench:ratelimit", section);
	console.log("\nwritten to docs/performance.md");
}
