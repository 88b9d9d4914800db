#!/usr/bin/env node
// `npm run load -- <script> [options]`: runs one k6 script of load/ (docs/load-testing.md#npm-run-load).
//   - finds k6 (K6_BIN, else PATH) and says how to install it when it is missing;
//   - without --base-url, starts the local service (scripts/load/service.ts: wrangler.toml's local configuration
//     under wrangler dev, with the load Worker's variants; raised rate limits for capacity scripts);
//   - creates the run's credentials through the admin API (a tenant, API keys, an API client, and — when the run calls
//     /metrics or /v1/slo — an operator key of scope metrics:read in the operator tenant) and revokes them after;
//   - runs k6 and writes its handleSummary JSON and a short markdown table to load/results/ (git-ignored), plus
//     `latest-<script>.json`, which `npm run load -- report` and `npm run load:compare` read.
// Exit code: k6's (0 passed, 99 thresholds failed, …); 2 for a usage or setup error.
//
//   npm run load -- smoke                                   # local service, fresh credentials
//   npm run load -- baseline -e RATE=20 -e DURATION=2m
//   npm run load -- smoke --base-url https://api.example.com --admin "$ADMIN_ID:$ADMIN_SECRET"
//   npm run load -- smoke --base-url https://api.example.com --api-key "$KEY" --ops-key "$OPS_KEY" -e VERSION_OVERRIDE='edge-ai-api="…"'
//   npm run load -- report                                  # capacity section of docs/performance.md
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import path from "node:path";
import { parseCommandLine } from "./lib/command-line.ts";
import { wranglerVersion } from "./lib/dev-server.ts";
import { ADMIN_CLIENT } from "./lib/local-credentials.ts";
import { REPO_ROOT } from "./lib/repository-root.ts";
import {
	adminToken,
	createRunCredentials,
	DEFAULT_OPERATOR_TENANT,
	probePolicy,
	type RunCredentials,
} from "./load/credentials.ts";
import { findK6 } from "./load/k6-binary.ts";
import {
	type MemorySample,
	memoryDrift,
	type RunResult,
	renderResultMarkdown,
	type ScriptSummary,
	writeCapacitySection,
} from "./load/report.ts";
import { CAPACITY_POLICIES, CAPACITY_QUOTAS, type LocalService, startLocalService } from "./load/service.ts";

const SCRIPTS = ["smoke", "baseline", "stress", "spike", "soak", "rate-limit"];
/** Scripts that measure capacity: the local service gets limits they cannot reach. */
const CAPACITY = new Set(["baseline", "stress", "spike", "soak"]);
const LOCAL_ADMIN = `${ADMIN_CLIENT.id}:${ADMIN_CLIENT.secret}`;
/**
 * The k6 route names (load/config.js, `auth: "ops"`) and API routes that need an operator credential (scope
 * `metrics:read`, held only in the operator tenant): a run that calls one gets an operator key as OPS_KEY.
 */
const OPERATOR_ROUTE_NAMES = new Set(["metrics", "slo"]);
const OPERATOR_ROUTES = new Set(["/metrics", "/v1/slo"]);

const USAGE = `usage: npm run load -- <${SCRIPTS.join("|")}> [options]
       npm run load -- report [--results-dir DIR]

  --base-url URL       run against this deployment (default: start the local service)
  --admin ID:SECRET    admin client for creating the run's credentials (default LOAD_ADMIN; local: ${LOCAL_ADMIN})
  --api-key KEY        use this API key instead of creating credentials (also API_KEY; CLIENT_ID/CLIENT_SECRET
                       from the environment for the token route)
  --ops-key KEY        with --api-key: an operator key (scope metrics:read, of the operator tenant) for /metrics and
                       /v1/slo (also OPS_KEY); smoke needs one
  --operator-tenant T  the service's OPERATOR_TENANT, where the run's operator key is created (default
                       LOAD_OPERATOR_TENANT, else ${DEFAULT_OPERATOR_TENANT})
  --subjects N         API keys (subjects) a capacity run spreads its VUs over (default 8)
  --results-dir DIR    where results go (default load/results)
  -e NAME=VALUE        passed to the script (k6 -e), e.g. -e RATE=20 -e DURATION=2m; repeatable
  --k6-arg ARG         passed to k6 run as is; repeatable (one starting with "-" as --k6-arg=ARG)`;

function fail(message: string): never {
	console.error(`load: ${message}`);
	process.exit(2);
}

const { values, positionals } = parseCommandLine(USAGE, {
	allowPositionals: true,
	options: {
		"base-url": { type: "string" },
		admin: { type: "string" },
		"api-key": { type: "string" },
		"ops-key": { type: "string" },
		"operator-tenant": { type: "string" },
		subjects: { type: "string", default: "8" },
		"results-dir": { type: "string" },
		env: { type: "string", short: "e", multiple: true, default: [] },
		"k6-arg": { type: "string", multiple: true, default: [] },
	},
});
if (positionals.length > 1) fail(`one script at a time, got "${positionals.join(" ")}"\n${USAGE}`);
const args = {
	script: positionals[0]?.replace(/\.js$/, "").replace(/^load\//, ""),
	baseUrl: values["base-url"]?.replace(/\/+$/, ""),
	admin: values.admin,
	apiKey: values["api-key"],
	opsKey: values["ops-key"],
	operatorTenant: values["operator-tenant"],
	subjects: Number(values.subjects),
	resultsDir: path.resolve(values["results-dir"] ?? path.join(REPO_ROOT, "load", "results")),
	env: Object.fromEntries(
		values.env.map((pair) => {
			const eq = pair.indexOf("=");
			if (eq < 1) fail(`-e expects NAME=VALUE, got "${pair}"`);
			return [pair.slice(0, eq), pair.slice(eq + 1)];
		}),
	) as Record<string, string>,
	k6Args: values["k6-arg"],
};
if (!Number.isInteger(args.subjects) || args.subjects < 1) fail("--subjects must be a positive integer");
if (args.script === "report") {
	const written = writeCapacitySection(args.resultsDir);
	console.log(`load: capacity section written to docs/performance.md from ${written.join(", ")}`);
	process.exit(0);
}
if (!args.script || !SCRIPTS.includes(args.script)) fail(`which script?\n${USAGE}`);
const script: string = args.script;

/** A script option as k6 will see it: `-e` wins over the process environment. */
const scriptEnv = (name: string) => args.env[name] ?? process.env[name];
const rateLimitRoute = scriptEnv("RL_ROUTE") ?? "/v1/auth/me";
/**
 * Whether the run calls /metrics or /v1/slo: smoke always (it calls every route); a capacity script when its ROUTES
 * (spike: ROUTE) name one; rate-limit when RL_ROUTE is one — then the subject under test is the operator key.
 */
const needsOperator = (() => {
	if (script === "smoke") return true;
	if (script === "rate-limit") return OPERATOR_ROUTES.has(rateLimitRoute);
	const names = (script === "spike" ? (scriptEnv("ROUTE") ?? "") : (scriptEnv("ROUTES") ?? "")).split(",");
	return names.some((n) => OPERATOR_ROUTE_NAMES.has(n.trim()));
})();

const k6 = findK6();
if (!k6.ok) {
	console.error(k6.message);
	process.exit(2);
}

mkdirSync(args.resultsDir, { recursive: true });
const stamp = new Date()
	.toISOString()
	.replace(/[-:]/g, "")
	.replace(/\.\d+Z$/, "Z");
const runId = `${stamp.slice(2, 15).replace("T", "")}${randomBytes(2).toString("hex")}`.toLowerCase();
const prefix = path.join(args.resultsDir, `${stamp}-${script}`);

let service: LocalService | undefined;
let credentials: RunCredentials | undefined;
let cleaned = false;
const cleanup = async () => {
	if (cleaned) return;
	cleaned = true;
	await credentials?.revoke();
	await service?.stop();
};
// Ctrl-C while k6 runs reaches k6 too (same process group): it stops gracefully and still writes its summary,
// after which the results are written and the credentials and service cleaned up as usual. Before or after k6,
// a signal cleans up at once.
let k6Running = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
	process.on(signal, () => {
		if (!k6Running) void cleanup().then(() => process.exit(130));
	});
}

try {
	let base = args.baseUrl;
	if (!base) {
		console.log(
			`load: starting the local service${CAPACITY.has(script) ? " (rate limits raised for a capacity run)" : ""}…`,
		);
		service = await startLocalService({
			policies: CAPACITY.has(script) ? CAPACITY_POLICIES : undefined,
			vars: CAPACITY.has(script) ? CAPACITY_QUOTAS : undefined,
			logFile: `${prefix}.service.log`,
		});
		base = service.base;
		console.log(`load: local service ready at ${base} in ${(service.readyMs / 1000).toFixed(1)} s`);
	}

	const env: Record<string, string> = { BASE_URL: base, RUN_ID: runId, SUMMARY_JSON: `${prefix}.summary.json` };
	if (service) env.VARIANTS = "1";
	const apiKey = args.apiKey ?? (args.baseUrl ? process.env.API_KEY : undefined);
	const admin = args.admin ?? process.env.LOAD_ADMIN ?? (service ? LOCAL_ADMIN : undefined);
	const operatorTenant = args.operatorTenant ?? process.env.LOAD_OPERATOR_TENANT ?? DEFAULT_OPERATOR_TENANT;
	if (apiKey && !args.admin) {
		env.API_KEY = apiKey;
		const opsKey = args.opsKey ?? process.env.OPS_KEY;
		if (opsKey) env.OPS_KEY = opsKey;
		else if (needsOperator) {
			fail(
				`${script} calls /metrics and /v1/slo, which need an operator key: give --ops-key KEY (or OPS_KEY), an API key of the operator tenant with scope metrics:read`,
			);
		}
		if (script === "rate-limit" && needsOperator) env.API_KEY = env.OPS_KEY ?? apiKey;
		if (process.env.CLIENT_ID) env.CLIENT_ID = process.env.CLIENT_ID;
		if (process.env.CLIENT_SECRET) env.CLIENT_SECRET = process.env.CLIENT_SECRET;
	} else if (admin) {
		const colon = admin.indexOf(":");
		if (colon < 1) fail("--admin expects CLIENT_ID:CLIENT_SECRET");
		const token = await adminToken(base, admin.slice(0, colon), admin.slice(colon + 1));
		if (script === "rate-limit") {
			const route = rateLimitRoute;
			const policy = await probePolicy(base, token, route, runId, { operator: needsOperator, operatorTenant });
			if (!policy) fail(`GET ${route} is not rate limited on ${base}: nothing to test`);
			env.RL_POLICY = policy.name;
			env.RL_LIMIT = String(policy.limit);
			env.RL_WINDOW_S = String(policy.windowS);
			console.log(`load: GET ${route} is governed by "${policy.name}": ${policy.limit} per ${policy.windowS} s`);
		}
		credentials = await createRunCredentials(base, token, {
			runId,
			// rate-limit of an operator route tests the operator key alone: no tenant key needed.
			keys: CAPACITY.has(script) ? args.subjects : script === "rate-limit" && needsOperator ? 0 : 1,
			client: script !== "rate-limit",
			operator: needsOperator,
			operatorTenant,
			label: `npm run load ${script} ${runId}`,
			renew: () => adminToken(base, admin.slice(0, colon), admin.slice(colon + 1)),
		});
		env.API_KEY = credentials.keys[0]?.key ?? "";
		env.API_KEYS = credentials.keys.map((k) => k.key).join(",");
		if (credentials.opsKey) env.OPS_KEY = credentials.opsKey.key;
		// rate-limit of an operator route: the fresh subject under test is the operator key.
		if (script === "rate-limit" && credentials.opsKey) env.API_KEY = env.API_KEYS = credentials.opsKey.key;
		if (credentials.clientId) env.CLIENT_ID = credentials.clientId;
		if (credentials.clientSecret) env.CLIENT_SECRET = credentials.clientSecret;
		console.log(
			`load: credentials of tenant ${credentials.tenant}: ${credentials.keys.length} API key(s)${credentials.clientId ? ", 1 client" : ""}${credentials.opsKey ? `, 1 operator key (tenant ${credentials.opsKey.tenant}, metrics:read)` : ""}`,
		);
	} else {
		fail(
			"against --base-url, give --admin ID:SECRET (or LOAD_ADMIN) to create credentials, or --api-key KEY (and --ops-key KEY)",
		);
	}

	// Credentials travel in the k6 process's environment (k6 reads it into __ENV), not on its command line;
	// the user's -e values come last and win.
	const k6Env = { ...process.env, ...env };
	const k6Argv = [
		"run",
		...(process.stdout.isTTY ? [] : ["--no-color"]),
		...args.k6Args,
		...Object.entries(args.env).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
		path.join(REPO_ROOT, "load", `${script}.js`),
	];
	console.log(`load: ${k6.bin} ${k6Argv.join(" ")}`);
	const started = new Date();
	// The machine's 1-minute load average when the run starts and ends: figures from a busy machine say so.
	const loadBefore = loadavg()[0] ?? 0;
	const memory: MemorySample[] = [];
	const sample = () => {
		const rss = service?.memoryMiB();
		if (rss !== null && rss !== undefined) memory.push({ t_s: (Date.now() - started.getTime()) / 1000, rss_mib: rss });
	};
	sample();
	const sampler = setInterval(sample, 5_000);
	k6Running = true;
	const child = spawn(k6.bin, k6Argv, { cwd: REPO_ROOT, env: k6Env, stdio: "inherit" });
	const code = await new Promise<number>((resolve) =>
		child.on("exit", (c, signal) => resolve(c ?? (signal ? 130 : 1))),
	);
	k6Running = false;
	clearInterval(sampler);
	sample();

	const summaryFile = `${prefix}.summary.json`;
	if (!existsSync(summaryFile)) {
		console.error(`load: k6 exited ${code} without a summary (${summaryFile})`);
	} else {
		const summary = JSON.parse(readFileSync(summaryFile, "utf8")) as ScriptSummary;
		const wrangler = wranglerVersion();
		const result: RunResult = {
			meta: {
				script,
				run_id: runId,
				started_at: started.toISOString(),
				finished_at: new Date().toISOString(),
				exit_code: code,
				target: service ? "local" : base,
				local: service
					? {
							wrangler,
							rate_limit_policies: CAPACITY.has(script) ? "capacity (limits 10^9 per 1 s)" : "defaults",
							storage_quotas: CAPACITY.has(script) ? "capacity (the largest allowed)" : "defaults",
							variants: true,
						}
					: null,
				k6: k6.version,
				cores: cpus().length,
				cpu: cpus()[0]?.model ?? "unknown",
				memory_gib: Math.round(totalmem() / 2 ** 30),
				load_average: { start: Math.round(loadBefore * 100) / 100, end: Math.round((loadavg()[0] ?? 0) * 100) / 100 },
				env: args.env,
			},
			memory: service ? { samples: memory, ...memoryDrift(memory) } : null,
			summary,
		};
		writeFileSync(`${prefix}.json`, `${JSON.stringify(result, null, 1)}\n`);
		writeFileSync(`${prefix}.md`, renderResultMarkdown(result));
		copyFileSync(`${prefix}.json`, path.join(args.resultsDir, `latest-${script}.json`));
		rmSync(summaryFile);
		console.log(
			`load: results in ${path.relative(REPO_ROOT, prefix)}.{json,md}${service ? ` (service log: ${path.relative(REPO_ROOT, prefix)}.service.log)` : ""}`,
		);
	}
	await cleanup();
	process.exit(code);
} catch (err) {
	console.error(`load: ${err instanceof Error ? err.message : String(err)}`);
	await cleanup();
	process.exit(2);
}
