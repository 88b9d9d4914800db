#!/usr/bin/env node
// `npm run chaos`: the chaos scenarios of docs/resilience.md#chaos-scenarios against the local service, for real.
//   - starts the local service once (scripts/load/service.ts, as `npm run load` does: wrangler.toml's local
//     configuration under wrangler dev, rate limits no run reaches but the same fail modes), with an OTLP receiver of
//     its own (scripts/chaos/otlp-receiver.ts) and a short chat deadline (a hang ends in bounded time);
//   - creates the run's credentials through the admin API (tenant keys, an operator key for /v1/slo and /metrics; the
//     admin client itself drives the fault endpoint) and ingests the documents the RAG routes ask about;
//   - per scenario (scripts/chaos/scenarios.ts): reads the service's counts, sets its faults
//     (PUT /v1/admin/faults), runs load/chaos.js for --duration, clears the faults, waits until the counts settle,
//     and compares what the clients saw with what the service counted, request for request;
//   - writes load/results/<stamp>-chaos.{json,md} and latest-chaos.json (git-ignored) and, when every scenario ran,
//     the chaos section of docs/resilience.md.
// Exit code: 0 every check passed, 1 a check failed, 2 the runner's own error (no k6, the service did not start…).
//
//   npm run chaos
//   npm run chaos -- --scenario model-failing --scenario mid-stream --duration 30s
//   npm run chaos -- --list
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import path from "node:path";
import { corpusDocument } from "../load/corpus.js";
import {
	type ClientSample,
	clientStats,
	compareCounts,
	countDeltas,
	type EventCounts,
	groupBy,
	metricDeltas,
	readK6Output,
} from "./chaos/measure.ts";
import { type FaultState, faultEndpoint, readServiceCounts, settledCounts, triggerCron } from "./chaos/operator-api.ts";
import { startOtlpReceiver } from "./chaos/otlp-receiver.ts";
import { type ChaosRun, chaosMarkdown, chaosSection, type ScenarioResult } from "./chaos/report.ts";
import {
	countsMatch,
	type Measured,
	MIXED_TRAFFIC,
	SCENARIOS,
	type Scenario,
	selectScenarios,
} from "./chaos/scenarios.ts";
import { parseCommandLine } from "./lib/command-line.ts";
import { wranglerVersion } from "./lib/dev-server.ts";
import { writeDocSection } from "./lib/doc-section.ts";
import { ADMIN_CLIENT } from "./lib/local-credentials.ts";
import { REPO_ROOT } from "./lib/repository-root.ts";
import { adminToken, createRunCredentials, type RunCredentials } from "./load/credentials.ts";
import { findK6 } from "./load/k6-binary.ts";
import { CAPACITY_POLICIES, CAPACITY_QUOTAS, type LocalService, startLocalService } from "./load/service.ts";

const USAGE = `usage: npm run chaos -- [options]

  --scenario NAME     run this scenario (repeatable, or comma-separated; default: all, in order); --list names them
  --duration D        traffic per scenario, k6 syntax (default 20s)
  --results-dir DIR   where results go (default load/results)
  --no-doc            do not write docs/resilience.md (only a run of every scenario writes it)
  --keep-k6-output    keep k6's JSON output (one line per sample) beside the results
  --list              print the scenarios and what each expects`;

/** Documents ingested before the first scenario, which the RAG routes ask about (load/corpus.js). */
const CORPUS_DOCS = 20;
/** API keys (subjects) the VUs are spread over. */
const SUBJECTS = 4;
/** max_tokens of chat and RAG answers: short answers, so streams of 16 tokens at 10 ms end in ~0.2 s. */
const MAX_TOKENS = 16;
/** A metric push gives up after its retries (0.5 + 1 + 2 s of backoff): no push is started closer to the end. */
const PUSH_GIVE_UP_MS = 5_000;
/** Traffic before the first scenario, not measured, s. */
const WARM_UP_S = 5;

function fail(message: string): never {
	console.error(`chaos: ${message}`);
	process.exit(2);
}

const { values } = parseCommandLine(USAGE, {
	options: {
		scenario: { type: "string", multiple: true, default: [] },
		duration: { type: "string", default: "20s" },
		"results-dir": { type: "string" },
		"no-doc": { type: "boolean", default: false },
		"keep-k6-output": { type: "boolean", default: false },
		list: { type: "boolean", default: false },
	},
});
if (values.list) {
	for (const s of SCENARIOS) console.log(`${s.name.padEnd(20)} ${s.expected}`);
	process.exit(0);
}
const names = values.scenario.flatMap((s) => s.split(",").map((n) => n.trim())).filter(Boolean);
let scenarios: Scenario[];
try {
	scenarios = selectScenarios(names);
} catch (err) {
	fail(err instanceof Error ? err.message : String(err));
}
const durationMs = (() => {
	const m = /^(\d+)(s|m)$/.exec(values.duration);
	if (!m) fail(`--duration takes seconds or minutes, like 20s or 1m; got "${values.duration}"`);
	return Number(m[1]) * (m[2] === "m" ? 60_000 : 1_000);
})();
if (durationMs < 5_000) fail("--duration must be at least 5s");
const writeDoc = names.length === 0 && !values["no-doc"];
const resultsDir = path.resolve(values["results-dir"] ?? path.join(REPO_ROOT, "load", "results"));

const k6 = findK6();
if (!k6.ok) {
	console.error(k6.message);
	process.exit(2);
}

mkdirSync(resultsDir, { recursive: true });
const stamp = new Date()
	.toISOString()
	.replace(/[-:]/g, "")
	.replace(/\.\d+Z$/, "Z");
const runId = `${stamp.slice(2, 15).replace("T", "")}${randomBytes(2).toString("hex")}`.toLowerCase();
const prefix = path.join(resultsDir, `${stamp}-chaos`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The machine's 1-minute load average, to two decimals: figures from a busy machine say so. */
const loadAverage = () => Math.round((loadavg()[0] ?? 0) * 100) / 100;

let service: LocalService | undefined;
let credentials: RunCredentials | undefined;
let receiver: Awaited<ReturnType<typeof startOtlpReceiver>> | undefined;
let clearFaults: (() => Promise<unknown>) | undefined;
let cleaned = false;
const cleanup = async () => {
	if (cleaned) return;
	cleaned = true;
	await clearFaults?.().catch(() => undefined);
	await credentials?.revoke();
	await service?.stop();
	await receiver?.close();
};
// Ctrl-C reaches k6 too (same process group): it stops, the scenario in progress is dropped, and the run cleans up.
let k6Running = false;
let interrupted = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
	process.on(signal, () => {
		interrupted = true;
		if (!k6Running) void cleanup().then(() => process.exit(130));
	});
}

/** Runs load/chaos.js for one scenario; resolves to k6's exit code. */
function runK6(env: Record<string, string>, out: string): Promise<number> {
	const argv = ["run", "--quiet", "--no-color", "--out", `json=${out}`, path.join(REPO_ROOT, "load", "chaos.js")];
	k6Running = true;
	// Credentials travel in k6's environment, not on its command line.
	const child = spawn(k6.ok ? k6.bin : "k6", argv, {
		cwd: REPO_ROOT,
		env: { ...process.env, ...env },
		stdio: "inherit",
	});
	return new Promise<number>((resolve) =>
		child.on("exit", (c, signal) => {
			k6Running = false;
			resolve(c ?? (signal ? 130 : 1));
		}),
	);
}

/**
 * load/chaos.js's environment for some routes at their rates (req/s), for --duration; `holdS`: the seconds a route's
 * request holds its VU, where that is long.
 */
function k6Env(
	base: string,
	keys: string[],
	run: string,
	routes: Record<string, number>,
	holdS: Record<string, number> = {},
): Record<string, string> {
	return {
		BASE_URL: base,
		API_KEYS: keys.join(","),
		RUN_ID: run,
		CHAOS_ROUTES: Object.entries(routes)
			.map(([r, rate]) => `${r}:${rate}${holdS[r] ? `:${holdS[r]}` : ""}`)
			.join(","),
		DURATION: values.duration,
		CORPUS_DOCS: String(CORPUS_DOCS),
		MAX_TOKENS: String(MAX_TOKENS),
	};
}

/** Total and bad events per API route, as the clients saw them. */
function expectedCounts(samples: readonly ClientSample[]): Record<string, EventCounts> {
	return Object.fromEntries(
		Object.entries(groupBy(samples, (s) => s.apiRoute)).map(([route, list]) => [
			route,
			{ total: list.length, bad: list.filter((s) => s.outcome === "bad").length },
		]),
	);
}

try {
	receiver = await startOtlpReceiver();
	console.log("chaos: starting the local service…");
	service = await startLocalService({
		policies: CAPACITY_POLICIES,
		vars: { ...CAPACITY_QUOTAS, OTLP_ENDPOINT: receiver.url },
		args: ["--test-scheduled"],
		logFile: `${prefix}.service.log`,
	});
	const base = service.base;
	console.log(`chaos: local service ready at ${base} in ${(service.readyMs / 1000).toFixed(1)} s`);

	// The admin client's token, renewed well before it expires: it drives the fault endpoint all run long.
	let token = { value: "", at: 0 };
	const admin = async () => {
		if (Date.now() - token.at > 5 * 60_000) {
			token = { value: await adminToken(base, ADMIN_CLIENT.id, ADMIN_CLIENT.secret), at: Date.now() };
		}
		return token.value;
	};
	const faults = faultEndpoint(base, admin);
	const initial = await faults.clear();
	clearFaults = faults.clear;
	console.log(`chaos: fault endpoint of the ${initial.environment} environment answers`);
	credentials = await createRunCredentials(base, await admin(), {
		runId,
		keys: SUBJECTS,
		client: false,
		operator: true,
		label: `npm run chaos ${runId}`,
		renew: admin,
	});
	const keys = credentials.keys.map((k) => k.key);
	const opsKey = credentials.opsKey?.key;
	if (!opsKey) throw new Error("no operator key was created");

	// The corpus the RAG routes ask about, then one vector search with the ingest's bookmark: the local vector index
	// applies writes in the background, and a scenario must not start before they are searchable.
	const docs = Array.from({ length: CORPUS_DOCS }, (_, n) => corpusDocument(n));
	const auth = { Authorization: `Bearer ${keys[0]}`, "Content-Type": "application/json" };
	const ingest = await fetch(`${base}/v1/documents`, {
		method: "POST",
		headers: auth,
		body: JSON.stringify({ documents: docs }),
	});
	if (ingest.status !== 201) throw new Error(`ingesting the corpus answered ${ingest.status}: ${await ingest.text()}`);
	const { bookmark } = (await ingest.json()) as { bookmark: string };
	const search = await fetch(`${base}/v1/rag/search`, {
		method: "POST",
		headers: auth,
		body: JSON.stringify({ query: docs.at(-1)?.title, mode: "vector", bookmark }),
	});
	if (search.status !== 200) throw new Error(`the corpus is not searchable: ${search.status} ${await search.text()}`);
	console.log(`chaos: ${CORPUS_DOCS} documents ingested for tenant ${credentials.tenant}`);

	// Warm-up, not measured: the isolate's first requests (JIT, the first Durable Object and D1 calls) are slower, and
	// the first scenario is the baseline the others compare with.
	const warmUp = `${prefix}.warm-up.k6.json`;
	await runK6({ ...k6Env(base, keys, `${runId}w`, MIXED_TRAFFIC), DURATION: `${WARM_UP_S}s` }, warmUp);
	rmSync(warmUp, { force: true });
	if (interrupted) {
		await cleanup();
		process.exit(130);
	}

	const started = new Date();
	const loadBefore = loadAverage();
	const results: ScenarioResult[] = [];
	let baseline: Measured | undefined;
	for (const [i, scenario] of scenarios.entries()) {
		if (interrupted) break;
		console.log(`\nchaos: ${scenario.name} — ${scenario.expected}`);
		await faults.clear();
		const loadAtStart = loadAverage();
		const before = await readServiceCounts(base, opsKey);
		const receivedBefore = receiver.received();
		const faultState: FaultState =
			Object.keys(scenario.faults).length > 0 ? await faults.set(scenario.faults) : await faults.get();

		// The cron (an OTLP push) 1 s into the traffic and every cronEveryS after, none closer to its end than a push
		// takes to give up: every push has ended, ok or failed, before the faults are cleared.
		let cronRuns = 0;
		let trafficOver = false;
		const trafficStart = Date.now();
		const cron = (async () => {
			if (!scenario.cronEveryS) return;
			for (let next = 1_000; next <= durationMs - PUSH_GIVE_UP_MS; next += scenario.cronEveryS * 1_000) {
				await sleep(trafficStart + next - Date.now());
				if (trafficOver) return;
				await triggerCron(base);
				cronRuns++;
			}
		})();
		const out = `${prefix}.${scenario.name}.k6.json`;
		const code = await runK6(k6Env(base, keys, `${runId}s${i}`, scenario.routes, scenario.holdS), out);
		trafficOver = true;
		await cron;
		if (interrupted) break;
		const { samples, notStarted } = readK6Output(readFileSync(out, "utf8").split("\n"));
		if (!values["keep-k6-output"]) rmSync(out, { force: true });
		await faults.clear();

		const settled = await settledCounts(() => readServiceCounts(base, opsKey), before, expectedCounts(samples));
		const received = receiver.received();
		const otlpReceived = Object.fromEntries(
			Object.entries(received).map(([p, n]) => [p, n - (receivedBefore[p] ?? 0)]),
		);
		const metrics = metricDeltas(before.metrics, settled.counts.metrics);
		const measured: Measured = {
			client: clientStats(samples),
			routes: Object.fromEntries(
				Object.entries(groupBy(samples, (s) => s.chaosRoute)).map(([r, list]) => [r, clientStats(list)]),
			),
			comparisons: compareCounts(samples, countDeltas(before.slo, settled.counts.slo), metrics),
			metrics,
			cronRuns,
			pushesReceived: otlpReceived["/v1/metrics"] ?? 0,
		};
		if (scenario.name === "baseline") baseline = measured;
		const checks = [
			(scenario.countCheck ?? countsMatch)(measured),
			...scenario.checks(measured, baseline),
			{ what: "k6 ran to its end", ok: code === 0, detail: `exit code ${code}` },
		];
		const result: ScenarioResult = {
			name: scenario.name,
			faults: scenario.faults,
			expected: scenario.expected,
			routes: scenario.routes,
			fault_state: faultState,
			k6_exit_code: code,
			not_started: notStarted,
			client: measured.client,
			client_routes: measured.routes,
			comparisons: measured.comparisons,
			metric_deltas: metrics,
			cron_runs: cronRuns,
			otlp_received: otlpReceived,
			settle_ms: settled.settledMs,
			load_average: { start: loadAtStart, end: loadAverage() },
			checks,
			passed: checks.every((c) => c.ok),
		};
		results.push(result);
		for (const c of checks) console.log(`  ${c.ok ? "ok  " : "FAIL"} ${c.what}: ${c.detail}`);
		console.log(`chaos: ${scenario.name} ${result.passed ? "passed" : "FAILED"}`);
	}
	if (interrupted) {
		await cleanup();
		process.exit(130);
	}

	const passed = results.every((r) => r.passed);
	const run: ChaosRun = {
		meta: {
			run_id: runId,
			started_at: started.toISOString(),
			finished_at: new Date().toISOString(),
			duration: values.duration,
			cores: cpus().length,
			cpu: cpus()[0]?.model ?? "unknown",
			memory_gib: Math.round(totalmem() / 2 ** 30),
			node: process.version,
			k6: k6.version,
			wrangler: wranglerVersion(),
			load_average: { start: loadBefore, end: loadAverage() },
			service: {
				RATE_LIMIT_POLICIES: "the defaults' names, keys and fail modes, limits 10^9 per 1 s",
				OTLP_ENDPOINT: "the run's receiver, cron run by wrangler dev --test-scheduled",
			},
			exit_code: passed ? 0 : 1,
		},
		scenarios: results,
	};
	writeFileSync(`${prefix}.json`, `${JSON.stringify(run, null, 1)}\n`);
	writeFileSync(
		`${prefix}.md`,
		`# chaos — ${run.meta.started_at.slice(0, 19).replace("T", " ")} UTC\n\n${chaosMarkdown(run)}\n`,
	);
	copyFileSync(`${prefix}.json`, path.join(resultsDir, "latest-chaos.json"));
	console.log(`\n${chaosMarkdown(run)}\n`);
	console.log(`chaos: results in ${path.relative(REPO_ROOT, prefix)}.{json,md}`);
	if (writeDoc) {
		writeDocSection("docs/resilience.md", "chaos", chaosSection(run));
		console.log("chaos: docs/resilience.md's chaos section written");
	}
	await cleanup();
	process.exit(run.meta.exit_code);
} catch (err) {
	console.error(`chaos: ${err instanceof Error ? err.message : String(err)}`);
	await cleanup();
	process.exit(2);
}
