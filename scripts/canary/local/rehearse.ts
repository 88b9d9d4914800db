#!/usr/bin/env node
// `npm run canary:local`: the whole canary loop offline (docs/canary.md#local-rehearsal). Starts the stage
// (environment.ts: fake Cloudflare API, router, stable + two candidates sharing Durable Objects and D1), sends steady
// user traffic through the router, then runs the real controller CLI twice — a candidate with 2.5 s of extra model
// latency (rolled back) and a healthy one (promoted) — printing every transition and verdict, and the time from the
// first bad request to the failing verdict and to the rollback.
//
// Options: --interval <s> (bake per step, default 3), --rate <req/s> of background traffic (default 4),
// --report <file> (write the report as JSON), --quiet (no transition lines).
import { writeFileSync } from "node:fs";
import path from "node:path";
import { parseCommandLine } from "../../lib/command-line.ts";
import { stopAllDevServers } from "../../lib/dev-server.ts";
import { exitOnSignals } from "../../lib/process-group.ts";
import { BACKENDS, type RehearsalEnvironment, startRehearsalEnvironment } from "./environment.ts";
import {
	type PhaseReport,
	phaseReport,
	type RehearsalReport,
	rehearsalFlags,
	runController,
	startTraffic,
	type Transition,
} from "./rehearsal.ts";

const { values } = parseCommandLine(
	"usage: npm run canary:local -- [--interval <s>] [--rate <req/s>] [--report <file>] [--quiet]",
	{
		options: {
			interval: { type: "string" },
			rate: { type: "string" },
			report: { type: "string" },
			quiet: { type: "boolean" },
		},
	},
);
const intervalS = Number(values.interval ?? 3);
const rate = Number(values.rate ?? 4);
const say = (line: string) => process.stdout.write(`${line}\n`);

function show(phase: string, t: Transition) {
	if (values.quiet) return;
	const pct = t.percent === undefined ? "" : ` ${t.percent} %`;
	if (t.event === "verdict") {
		say(`  [${phase}] verdict at${pct}: ${String(t.outcome).toUpperCase()}`);
		for (const r of (t.reasons as string[]) ?? []) say(`      - ${r}`);
	} else if (t.event === "aborted" || t.event === "promoted") {
		say(`  [${phase}] ${t.event.toUpperCase()}${t.reason ? `: ${String(t.reason)}` : ""}`);
	} else if (t.event === "deployed") {
		say(`  [${phase}] deployed: canary at${pct}`);
	} else {
		say(`  [${phase}] ${t.event}`);
	}
}

async function main(): Promise<number> {
	const started = Date.now();
	say("canary rehearsal: starting the local stage (fake Cloudflare API, router, three versions)…");
	// Ctrl-C (or a CI timeout's SIGTERM) still stops the stage, while it starts too: wrangler dev runs in its own
	// process group.
	let stage: RehearsalEnvironment | undefined;
	exitOnSignals(() => stage?.stop() ?? stopAllDevServers());
	const env = await startRehearsalEnvironment({
		backends: ["stable", "faulty", "healthy"],
		log: (l) => say(`  ${l}`),
	});
	stage = env;
	const traffic = startTraffic(env.url, { rate });
	const phases: PhaseReport[] = [];
	try {
		for (const [name, expected] of [
			["faulty", 4],
			["healthy", 0],
		] as const) {
			const spec = BACKENDS[name];
			say(`\n== ${spec.what} (${spec.versionId}) ==`);
			const state = path.join(env.dir, `canary-${name}.state.json`);
			const flags = rehearsalFlags(env, state, intervalS);
			// Each candidate's smoke test writes as a tenant of its own: one smoke's leftovers cannot meet another's. The
			// controller reads /v1/slo with an operator key of its own.
			const controllerEnv = { ...env.controllerEnv, ...(await env.canaryKeys(`rehearsal-${name}`)) };
			const start = await runController(controllerEnv, ["start", "--tag", spec.tag, ...flags], (t) => {
				show(name, t);
				return undefined;
			});
			if (start.code !== 0) throw new Error(`start failed: ${start.stderr.trim()}`);
			const run = await runController(controllerEnv, ["run", "--state", state], (t) => {
				show(name, t);
				return undefined;
			});
			if (run.code !== expected)
				throw new Error(
					`the ${name} candidate ended with exit ${run.code} (expected ${expected}): ${run.stderr.trim()}`,
				);
			const all = { ...run, transitions: [...start.transitions, ...run.transitions] };
			phases.push(phaseReport(name, all, env.routerLines(), env.api.deployments("edge-ai-api")));
		}
	} finally {
		await traffic.stop();
		await env.stop();
	}
	const report: RehearsalReport = { url: env.url, phases };
	say("\n== summary ==");
	for (const p of phases) {
		say(
			`${p.candidate}: ${p.outcome.toUpperCase()} after ${p.verdicts.length} verdict(s)${p.reason ? ` — ${p.reason}` : ""}`,
		);
		if (p.outcome === "aborted") {
			say(
				`  first bad request ${p.firstBadRequestAt ?? "none seen"} (to user traffic: ${p.firstBadUserRequestAt ?? "none"}); failing verdict +${p.detectionSeconds ?? "?"} s; all traffic back on stable +${p.rollbackSeconds ?? "?"} s (${p.verdictToRollbackSeconds ?? "?"} s after the verdict); ${p.candidateBadRequests} of the candidate's ${p.candidateRequests} responses were bad`,
			);
		}
	}
	say(`rehearsal took ${Math.round((Date.now() - started) / 1000)} s`);
	if (values.report) writeFileSync(values.report, `${JSON.stringify(report, null, 2)}\n`);
	return 0;
}

main().then(
	(code) => {
		process.exitCode = code;
	},
	(err: unknown) => {
		console.error(`canary:local: ${err instanceof Error ? err.message : String(err)}`.split("\n").join(" "));
		process.exitCode = 1;
	},
);
