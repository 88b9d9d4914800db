#!/usr/bin/env node
// `npm run bench:slo`: GET /v1/auth/me with and without SLO recording, side by side in one run on local workerd
// (the benchmark Worker: the same app with and without the recording middleware, no rate limits), at saturation
// and at a fixed arrival rate, plus the SloCounter calls per request the recorder made, and the records lost when the
// runtime is killed. Written to docs/performance.md between the bench:slo markers.
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import path from "node:path";
import { benchSettings, startBenchWorker } from "./bench/node/bench-worker.ts";
import { fmt, mean, type PhaseResult, perRound, routePhase } from "./bench/node/route-phase.ts";
import { type DevServer, stopAllDevServers } from "./lib/dev-server.ts";
import { docSection, writeDocSection } from "./lib/doc-section.ts";
import { DEMO_KEY, OPS_KEY } from "./lib/local-credentials.ts";
import { freePort } from "./lib/net.ts";
import { exitOnSignals } from "./lib/process-group.ts";

const { duration, vus, rate, rounds, port: benchPort, k6, write } = benchSettings("bench:slo");

// One state directory for every start: the loss trials restart the runtime on the state it was killed with.
const persistDir = mkdtempSync(path.join(tmpdir(), "edge-ai-api-bench-slo-"));
// A fresh port per start (unless BENCH_PORT): a released ephemeral port can be taken by another process meanwhile.
const start = async () => startBenchWorker({ port: benchPort ?? (await freePort()), persistDir });
exitOnSignals(async () => {
	await stopAllDevServers();
	rmSync(persistDir, { recursive: true, force: true });
});

let server: DevServer = await start();
const rows: string[] = [];
const lossRows: string[] = [];
try {
	await measureOverhead();
	await measureLoss();
} finally {
	await server.stop();
	rmSync(persistDir, { recursive: true, force: true });
}

/** Latency, throughput and SloCounter calls per request, recording on and off, alternating phases. */
async function measureOverhead() {
	const phase = (route: string, arrivalRate: number) =>
		routePhase({
			k6,
			base: server.base,
			route,
			apiKey: DEMO_KEY,
			vus,
			duration,
			rate: arrivalRate,
			workDir: persistDir,
		});
	const stats = async () =>
		(await (await fetch(`${server.base}/__bench/slo-stats`)).json()) as { applies: number; requests: number };
	await phase("/slo-off/v1/auth/me", 0);
	await phase("/slo-on/v1/auth/me", 0);
	for (const [label, arrival] of [
		[`closed loop, ${vus} VUs (saturation)`, 0],
		[`open, ${rate} req/s`, rate],
	] as const) {
		const results: Record<"off" | "on", PhaseResult[]> = { off: [], on: [] };
		let applies = 0;
		let recorded = 0;
		for (let round = 0; round < rounds; round++) {
			for (const variant of round % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const)) {
				const before = await stats();
				results[variant].push(await phase(`/slo-${variant}/v1/auth/me`, arrival));
				await new Promise((r) => setTimeout(r, 500));
				const after = await stats();
				if (variant === "on") {
					applies += after.applies - before.applies;
					recorded += after.requests - before.requests;
				}
			}
		}
		for (const [variant, rs] of Object.entries(results)) {
			const calls =
				variant === "on"
					? `${fmt(applies)} calls / ${fmt(recorded)} requests = ${fmt(applies / Math.max(1, recorded), 3)}`
					: "—";
			rows.push(
				`| ${label} | recording ${variant} | ${fmt(mean(rs.map((r) => r.p50)), 2)} | ${fmt(mean(rs.map((r) => r.p99)), 2)} | ${fmt(mean(rs.map((r) => r.rps)))} | ${rs.reduce((a, r) => a + r.failed, 0)} | ${calls} | ${perRound(rs)} |`,
			);
		}
	}
}

/**
 * Loss bound, measured: send a burst, SIGKILL the whole runtime right after the last response (no graceful
 * shutdown: buffered records and in-flight flushes die with it), restart on the same state, count what arrived.
 */
async function measureLoss() {
	const countOf = (text: string) =>
		text
			.split("\n")
			.filter((l) => l.startsWith('http_server_request_duration_seconds_count{http_route="/v1/auth/me"'))
			.reduce((a, l) => a + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
	// The operator key: only the operator tenant may read /metrics.
	const scrape = async () => {
		const res = await fetch(`${server.base}/metrics`, { headers: { Authorization: `Bearer ${OPS_KEY}` } });
		if (!res.ok) throw new Error(`GET /metrics answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
		return countOf(await res.text());
	};
	for (let trial = 0; trial < 3; trial++) {
		await new Promise((r) => setTimeout(r, 1_000));
		const before = await scrape();
		const burst = 200;
		let next = 0;
		await Promise.all(
			Array.from({ length: 20 }, async () => {
				while (next < burst) {
					next++;
					await fetch(`${server.base}/slo-on/v1/auth/me`, { headers: { "X-API-Key": DEMO_KEY } });
				}
			}),
		);
		await server.kill();
		server = await start();
		await new Promise((r) => setTimeout(r, 500));
		const after = await scrape();
		lossRows.push(`| ${trial + 1} | ${burst} | ${after - before} | ${burst - (after - before)} |`);
	}
}

const section = docSection(
	"bench:slo",
	"npm run bench:slo; edit the script, not this",
	`Run: ${new Date().toISOString().slice(0, 10)}, ${cpus().length} cores, local workerd, k6 phases of ${duration}, ${rounds} rounds per variant and load.
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
${lossRows.join("\n")}`,
);
console.log(section);
if (write) {
	writeDocSection("docs/performance.md", "bench:slo", section);
	console.log("\nwritten to docs/performance.md");
}
