#!/usr/bin/env node
// `npm run canary -- <command>`: canary releases on gradual deployments (docs/canary.md). A thin shell around
// controller.ts: parses flags, builds the platform (wrangler), the SLO source, k6 smoke and top-up, and maps
// outcomes to exit codes. Errors are one line on stderr, never a stack trace.
//
// Exit codes: 0 done (started, promoted, status), 1 error, 2 usage, 3 `step` not finished yet (advanced, or held at
// the step: inconclusive, or failed below --max-failures; run `step` again), 4 rolled back (aborted).
import path from "node:path";
import { parseArgs } from "node:util";
import { CanaryError, Controller, canaryShare } from "./controller.ts";
import { findK6, K6Error, overrideHeader, runSmoke, runTopUp } from "./k6.ts";
import { versionProbe } from "./propagation.ts";
import { prometheusSource, type SloSource, SloSourceError, sloApiSource } from "./slo-source.ts";
import { type CanaryState, parseDuration, parseSteps, type Settings, StateError, stateStore } from "./state.ts";
import type { VerdictPolicy } from "./verdict.ts";
import { WranglerError, wranglerPlatform } from "./wrangler.ts";

const USAGE = `usage: npm run canary -- <command> [options]

commands:
  start --tag <sha> [--message m] [--steps 1,5,25,50,100] [--interval 5m]   upload, deploy at 0 %
  run                    smoke test, then every step until promoted or rolled back (resumes a crashed run)
  step                   one move: the smoke test, or one step's bake and verdict (exit 3: not finished, call again)
  promote [--reason r]   NEW@100 now
  abort [--reason r]     STABLE@100 now
  status [--json]        the live split, the step, the verdicts and their reasons

options (start fixes the judging ones for the whole rollout):
  --env <name>           wrangler environment (default: the top level)
  --config <file>        wrangler config (default wrangler.toml)
  --state <file>         state file (default .canary/<script>[.<env>].json)
  --url <base url>       the service (smoke, top-up, /v1/slo); or CANARY_URL. API keys: CANARY_API_KEY (an operator
                         key: scope metrics:read, of the operator tenant) and CANARY_TENANT_KEY (scopes chat
                         rag:read rag:write usage:read, of a tenant of its own)
  --window 5m            SLO window judged at each step (5m, 30m, 1h, 2h, 6h)
  --min-requests 100     per route and version in the window, or the step is inconclusive
  --max-ratio 1.1        canary vs stable, on rates
  --min-effect-errors r  minimum effect for the relative error check (default: a quarter of the route's error budget)
  --min-effect-slow r    minimum effect for relative slow-request shares (default: a quarter of 1 − quantile)
  --min-effect-ms 50     minimum effect for relative p95/p99 (Prometheus)
  --alpha 0.05           significance level of a failure
  --require-route r      a route that must be judged (repeatable)
  --max-failures 2       failed evaluations that roll back
  --max-inconclusive 10  inconclusive evaluations at one step that roll back
  --top-up               send k6 traffic at equal rates to both versions when short of samples
  --top-up-rate 10       top-up iterations per second per version
  --propagation-timeout 30s  how long the new version may take to answer pinned requests before the smoke (0: no wait)
Prometheus instead of /v1/slo: set PROMETHEUS_URL.`;

class UsageError extends Error {}

function number(name: string, value: string | undefined, fallback: number): number {
	if (value === undefined) return fallback;
	const n = Number(value);
	if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number (got "${value}")`);
	return n;
}

async function main(argv: string[]): Promise<number> {
	const { values, positionals } = parseArgs({
		args: argv,
		allowPositionals: true,
		options: {
			tag: { type: "string" },
			message: { type: "string" },
			steps: { type: "string" },
			interval: { type: "string" },
			env: { type: "string" },
			config: { type: "string" },
			state: { type: "string" },
			url: { type: "string" },
			window: { type: "string" },
			"min-requests": { type: "string" },
			"max-ratio": { type: "string" },
			"min-effect-errors": { type: "string" },
			"min-effect-slow": { type: "string" },
			"min-effect-ms": { type: "string" },
			alpha: { type: "string" },
			"require-route": { type: "string", multiple: true },
			"max-failures": { type: "string" },
			"max-inconclusive": { type: "string" },
			"top-up": { type: "boolean" },
			"top-up-rate": { type: "string" },
			"propagation-timeout": { type: "string" },
			reason: { type: "string" },
			json: { type: "boolean" },
			help: { type: "boolean", short: "h" },
		},
	});
	const command = positionals[0];
	if (values.help || !command) {
		console.log(USAGE);
		return values.help ? 0 : 2;
	}
	if (!["start", "run", "step", "promote", "abort", "status"].includes(command))
		throw new UsageError(`unknown command "${command}"`);

	const cwd = process.cwd();
	const env = values.env ?? null;
	const platform = wranglerPlatform({ cwd, config: values.config, env });
	const stateFile = values.state ?? path.join(".canary", `${platform.scriptName}${env ? `.${env}` : ""}.json`);
	const store = stateStore(stateFile);
	// The operator key reads /v1/slo (and the smoke's /metrics and /v1/slo); the tenant key runs the smoke's tenant
	// routes and the top-up. Operator scopes are held only in the operator tenant, which must not get the smoke's writes.
	const operatorKey = process.env.CANARY_API_KEY ?? "";
	const tenantKey = process.env.CANARY_TENANT_KEY ?? "";

	let settings: Settings;
	let existing: CanaryState | null = null;
	if (command === "start") {
		settings = {
			url: values.url ?? process.env.CANARY_URL ?? null,
			window: values.window ?? "5m",
			min_requests: number("min-requests", values["min-requests"], 100),
			max_ratio: number("max-ratio", values["max-ratio"], 1.1),
			min_effect_error_ratio:
				values["min-effect-errors"] === undefined ? null : number("min-effect-errors", values["min-effect-errors"], 0),
			min_effect_slow_ratio:
				values["min-effect-slow"] === undefined ? null : number("min-effect-slow", values["min-effect-slow"], 0),
			latency_min_effect_ms: number("min-effect-ms", values["min-effect-ms"], 50),
			alpha: number("alpha", values.alpha, 0.05),
			required_routes: values["require-route"] ?? [],
			max_failures: number("max-failures", values["max-failures"], 2),
			max_inconclusive: number("max-inconclusive", values["max-inconclusive"], 10),
			top_up: values["top-up"] ?? false,
			top_up_rate: number("top-up-rate", values["top-up-rate"], 10),
			propagation_timeout_ms: values["propagation-timeout"] ? parseDuration(values["propagation-timeout"]) : 30_000,
		};
		if (!values.tag) throw new UsageError("start needs --tag <git sha>");
		if (!settings.url) throw new UsageError("start needs --url <service base URL> (or CANARY_URL) for the smoke test");
	} else {
		existing = store.load();
		if (!existing && command !== "status")
			throw new CanaryError(`no canary in progress (${stateFile} does not exist): run start first`);
		settings = existing?.settings ?? ({} as Settings);
	}
	const url = settings.url ?? "";
	if (command === "start" || command === "run" || command === "step") {
		if (!operatorKey)
			throw new UsageError(
				"CANARY_API_KEY must hold an operator key (an API key of the operator tenant with scope metrics:read)",
			);
		if (!tenantKey)
			throw new UsageError(
				"CANARY_TENANT_KEY must hold an API key of a tenant of its own (scopes chat, rag:read, rag:write, usage:read)",
			);
	}

	const source: SloSource | null = process.env.PROMETHEUS_URL
		? prometheusSource({ url: process.env.PROMETHEUS_URL })
		: url
			? sloApiSource({ baseUrl: url, apiKey: operatorKey })
			: null;
	const policy: VerdictPolicy = {
		minRequests: settings.min_requests,
		maxRatio: settings.max_ratio,
		minEffectErrorRatio: settings.min_effect_error_ratio,
		minEffectSlowRatio: settings.min_effect_slow_ratio,
		latencyMinEffectMs: settings.latency_min_effect_ms,
		alpha: settings.alpha,
		requiredRoutes: settings.required_routes,
	};
	const needsK6 = command === "start" || command === "run" || command === "step";
	const k6 = needsK6 ? findK6(cwd) : "";
	const controller = new Controller({
		platform,
		store,
		source,
		smoke: (versionId) =>
			runSmoke({
				cwd,
				baseUrl: url,
				apiKey: tenantKey,
				opsKey: operatorKey,
				script: platform.scriptName,
				versionId,
				k6,
			}),
		...(settings.propagation_timeout_ms > 0 && url
			? {
					awaitVersion: versionProbe({
						baseUrl: url,
						script: platform.scriptName,
						timeoutMs: settings.propagation_timeout_ms,
					}),
				}
			: {}),
		topUp: settings.top_up
			? (versions, iterations) =>
					runTopUp({
						cwd,
						baseUrl: url,
						apiKey: tenantKey,
						k6,
						iterations,
						rate: settings.top_up_rate,
						overrides: [
							overrideHeader(platform.scriptName, versions.canary),
							overrideHeader(platform.scriptName, versions.stable),
						],
					})
			: null,
		policy,
		window: settings.window,
		maxFailures: settings.max_failures,
		maxInconclusive: settings.max_inconclusive,
		now: Date.now,
		sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
	});

	switch (command) {
		case "start": {
			const interval = values.interval ? parseDuration(values.interval) : 300_000;
			const steps = parseSteps(values.steps ?? "1,5,25,50,100", interval);
			await controller.start({
				tag: values.tag ?? "",
				message: values.message ?? `canary ${values.tag}`,
				steps,
				settings,
			});
			return 0;
		}
		case "run":
			return (await controller.run()) === "promoted" ? 0 : 4;
		case "step": {
			const r = await controller.step();
			// 3: not finished (advanced, or held at the step): call `step` again.
			return r === "aborted" ? 4 : r === "promoted" ? 0 : 3;
		}
		case "promote":
			await controller.promote(values.reason ?? "promoted by hand");
			return 0;
		case "abort":
			await controller.abort(values.reason ?? "aborted by hand");
			return 4;
		case "status": {
			const { state, live } = await controller.status();
			if (values.json) {
				console.log(JSON.stringify({ state, live }, null, 2));
				return 0;
			}
			console.log(
				`live: ${live.versions.map((v) => `${v.versionId} ${v.percent} %`).join(", ")} (deployment ${live.id}, ${live.createdOn})`,
			);
			if (!state) {
				console.log(`no canary state (${stateFile})`);
				return 0;
			}
			const step = state.steps[state.step];
			const share = canaryShare(live, state.canary_version);
			console.log(
				`canary ${state.tag}: ${state.phase}, ${share === null ? "not in the live deployment" : `${share} % live`}` +
					(step
						? `, step ${state.step + 1}/${state.steps.length} (${step.percent} %, bake ${step.intervalMs / 1000} s)`
						: "") +
					`, ${state.failures} failed and ${state.inconclusive} inconclusive evaluation(s) at this step`,
			);
			console.log(`  stable ${state.stable_version}, canary ${state.canary_version ?? "(not uploaded)"}`);
			if (state.reason) console.log(`  reason: ${state.reason}`);
			for (const v of state.verdicts.slice(-10)) {
				console.log(`  ${v.at} ${v.percent} % ${v.outcome}${v.reasons.length ? `: ${v.reasons.join("; ")}` : ""}`);
			}
			return 0;
		}
	}
	return 2;
}

main(process.argv.slice(2)).then(
	(code) => {
		process.exitCode = code;
	},
	(err: unknown) => {
		const known =
			err instanceof CanaryError ||
			err instanceof WranglerError ||
			err instanceof SloSourceError ||
			err instanceof StateError ||
			err instanceof K6Error ||
			err instanceof UsageError;
		const message = err instanceof Error ? err.message : String(err);
		console.error(`canary: ${known ? message : `unexpected error: ${message}`}`.split("\n").join(" "));
		process.exitCode =
			err instanceof UsageError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS") ? 2 : 1;
	},
);
