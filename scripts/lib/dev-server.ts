// The one way to start the API locally: `npm start`, the benchmarks, `npm run eval:rag`, `npm run load`,
// `npm run observe`, the canary rehearsal and the e2e tests all call startDevServer. It applies the D1 migrations and
// the local seed, starts `wrangler dev` on loopback in a process group of its own, waits until /healthz answers, and
// stops the whole group (wrangler and its workerd processes). Offline; no Cloudflare login.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
	appendFileSync,
	closeSync,
	existsSync,
	mkdirSync,
	mkdtempSync,
	openSync,
	readFileSync,
	rmSync,
	writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./net.ts";
import { killProcessGroup, stopProcessGroup } from "./process-group.ts";
import { REPO_ROOT } from "./repository-root.ts";
import { runCommand } from "./run-command.ts";

/** `npm start`'s state directory (local D1 and Durable Objects), relative to the repository. */
export const DEFAULT_STATE_DIR = path.join(".wrangler", "state");
const WRANGLER = path.join(REPO_ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
const SEED_FILE = path.join(REPO_ROOT, "migrations", "local", "seed.sql");

export type DevServerOptions = {
	/**
	 * wrangler configurations (`-c`), default wrangler.toml. Several run as one multi-Worker session; the first is the
	 * primary Worker, the one on the port.
	 */
	configs?: string[];
	/** The configuration whose D1 database gets the migrations and the local seed (default: the first of `configs`). */
	databaseConfig?: string;
	/** Loopback address to listen on (default 127.0.0.1). */
	host?: string;
	/** Default: a free port. */
	port?: number;
	/** Local D1 and Durable Object state. Default: a fresh temporary directory. */
	persistDir?: string;
	/** Leave the state directory when stopped (default: only when `persistDir` was given). */
	keepState?: boolean;
	/** Further `wrangler dev` arguments, e.g. `--var K:V`, `--test-scheduled`. */
	args?: string[];
	/** Further environment of wrangler. */
	env?: Record<string, string>;
	/** wrangler's `--log-level` (default `log`: the Worker's own log lines included). */
	logLevel?: string;
	/** From the start (migrations included) until /healthz answers, in ms (default 60 000). */
	readyTimeoutMs?: number;
	/**
	 * Where wrangler's output and the progress lines go: `capture` (default; read with `output()`), `inherit` (this
	 * process's stdout and stderr), or `{ file }` (appended). `capture` pipes it into this process: keep the event loop
	 * free while the server runs (no spawnSync of long commands), or the pipe fills and wrangler stalls.
	 */
	output?: "capture" | "inherit" | { file: string };
	/** Sees every chunk of wrangler's output as it comes (with `capture`). */
	onOutput?: (text: string) => void;
};

export type DevServer = {
	/** `http://127.0.0.1:<port>`. */
	base: string;
	port: number;
	/** The process group of wrangler and its workerd processes. */
	pid: number;
	persistDir: string;
	/** Wall time from the start (migrations included) to the first answer of /healthz (ms). */
	readyMs: number;
	/** Everything printed so far (wrangler's stdout and stderr, and the progress lines), with `capture`. */
	output(): string;
	/** The Worker's structured log lines, parsed (with `capture` and log level `log`). */
	logLines(): Record<string, unknown>[];
	/** SIGTERM to the process group, SIGKILL after 5 s; removes the state directory unless it is kept. */
	stop(options?: { keepState?: boolean }): Promise<void>;
	/** SIGKILL to the process group now: no graceful shutdown (what a crash of the runtime looks like). */
	kill(): Promise<void>;
	/** Settles when wrangler exits, by itself or stopped. */
	exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
};

/** The version of the wrangler that runs the API (`wrangler --version`), for reports. */
export function wranglerVersion(): string {
	return spawnSync(process.execPath, [WRANGLER, "--version"], { encoding: "utf8" }).stdout.trim();
}

/** The servers of this process not stopped yet (starting ones included), by their wrangler process. */
const running = new Map<ChildProcess, () => Promise<void>>();
let exitHookInstalled = false;
function track(child: ChildProcess, stop: () => Promise<void>): void {
	running.set(child, stop);
	if (exitHookInstalled) return;
	exitHookInstalled = true;
	// However this process ends (process.exit included, signals aside), no group it started outlives it.
	process.on("exit", () => {
		for (const c of running.keys()) killProcessGroup(c);
	});
}

/**
 * Stops every server this process started and has not stopped, those still starting included: what a script runs on
 * SIGINT/SIGTERM (`exitOnSignals(stopAllDevServers)`), since the groups do not receive the terminal's Ctrl-C.
 */
export async function stopAllDevServers(): Promise<void> {
	await Promise.all([...running.values()].map((stop) => stop()));
}

/** Runs `node wrangler.js <args>` to its end; rejects with its output when it fails. */
async function wrangler(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
	const { code, signal, output } = await runCommand(process.execPath, [WRANGLER, ...args], { cwd: REPO_ROOT, env });
	if (code !== 0) throw new Error(`wrangler ${args.slice(0, 3).join(" ")} failed (${signal ?? code}):\n${output}`);
	return output;
}

/**
 * Starts the API under `wrangler dev` and resolves once /healthz answers 200; rejects (with the output) when it does
 * not within `readyTimeoutMs` or wrangler exits first. Before starting, applies the D1 migrations and the local seed
 * (migrations/local/seed.sql: the demo credentials; idempotent). A marker beside the state, named by the seed file's
 * hash, skips the seed's wrangler run (~3 s) once this exact seed was applied.
 * @example
 * const server = await startDevServer({ args: ["--var", "RATE_LIMIT_POLICIES:[]"] });
 * try {
 * 	await fetch(`${server.base}/healthz`);
 * } finally {
 * 	await server.stop();
 * }
 */
export async function startDevServer(options: DevServerOptions = {}): Promise<DevServer> {
	const started = Date.now();
	const host = options.host ?? "127.0.0.1";
	const port = options.port ?? (await freePort());
	const persistDir = options.persistDir ?? mkdtempSync(path.join(tmpdir(), "edge-ai-api-dev-"));
	const keepStateByDefault = options.keepState ?? options.persistDir !== undefined;
	const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
	const configArgs = (options.configs ?? []).flatMap((c) => ["-c", c]);
	const databaseConfig = options.databaseConfig ?? options.configs?.[0];
	const databaseArgs = databaseConfig ? ["-c", databaseConfig] : [];
	// Offline and unattended: no telemetry, no prompts, and no fetch of the `Request.cf` sample from the internet
	// (miniflare then uses its built-in placeholder `cf` object).
	const env = {
		...process.env,
		WRANGLER_SEND_METRICS: "false",
		CLOUDFLARE_CF_FETCH_ENABLED: "false",
		CI: process.env.CI ?? "true",
		...options.env,
	};

	let captured = "";
	const sink = options.output ?? "capture";
	const say = (line: string) => {
		if (sink === "inherit") console.log(line);
		else if (sink === "capture") captured += `${line}\n`;
		else appendFileSync(sink.file, `${line}\n`);
	};
	const fail = (message: string) =>
		new Error(
			`${message}${sink === "capture" ? `:\n${captured.slice(-4_000)}` : typeof sink === "object" ? `; its output is in ${sink.file}` : ""}`,
		);

	const migrate = await wrangler(
		["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistDir, ...databaseArgs],
		env,
	).catch((err: Error) => {
		if (!options.persistDir) rmSync(persistDir, { recursive: true, force: true });
		throw new Error(`D1 migrations failed; the API was not started. ${err.message}`);
	});
	const applied = /Migrations to be applied:[\s\S]*?└/.test(migrate) ? "applied new migrations" : "up to date";
	const seedHash = createHash("sha256").update(readFileSync(SEED_FILE)).digest("hex").slice(0, 16);
	const seedMarker = path.join(persistDir, `.local-seed-${seedHash}`);
	let seeded = "already seeded";
	if (!existsSync(seedMarker)) {
		await wrangler(
			["d1", "execute", "DB", "--local", "--persist-to", persistDir, "--file", SEED_FILE, ...databaseArgs],
			env,
		).catch((err: Error) => {
			if (!options.persistDir) rmSync(persistDir, { recursive: true, force: true });
			throw new Error(`Seeding the local demo credentials failed; the API was not started. ${err.message}`);
		});
		mkdirSync(persistDir, { recursive: true });
		writeFileSync(seedMarker, `${new Date().toISOString()}\n`);
		seeded = "demo credentials seeded";
	}
	say(`D1 (local): migrations ${applied}, ${seeded}, in ${persistDir}`);

	const fd = typeof sink === "object" ? openSync(sink.file, "a") : undefined;
	const child = spawn(
		process.execPath,
		[
			WRANGLER,
			"dev",
			...configArgs,
			"--ip",
			host,
			"--port",
			String(port),
			"--persist-to",
			persistDir,
			"--show-interactive-dev-session=false",
			"--log-level",
			options.logLevel ?? "log",
			...(options.args ?? []),
		],
		{
			cwd: REPO_ROOT,
			env,
			stdio: [
				"ignore",
				fd ?? (sink === "inherit" ? "inherit" : "pipe"),
				fd ?? (sink === "inherit" ? "inherit" : "pipe"),
			],
			detached: true,
		},
	);
	if (fd !== undefined) closeSync(fd);
	const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
		child.once("exit", (code, signal) => resolve({ code, signal })),
	);
	const onData = (d: Buffer) => {
		const text = String(d);
		captured += text;
		options.onOutput?.(text);
	};
	child.stdout?.on("data", onData);
	child.stderr?.on("data", onData);

	const removeState = (keep: boolean) => {
		if (!keep) rmSync(persistDir, { recursive: true, force: true });
	};
	const stop = async (stopOptions: { keepState?: boolean } = {}) => {
		running.delete(child);
		await stopProcessGroup(child);
		removeState(stopOptions.keepState ?? keepStateByDefault);
	};
	const kill = async () => {
		running.delete(child);
		killProcessGroup(child);
		await stopProcessGroup(child, 0);
	};
	track(child, () => stop());

	const base = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
	for (const deadline = started + readyTimeoutMs; ; ) {
		const ok = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2_000) }).then(
			(r) => r.ok,
			() => false,
		);
		if (ok) break;
		const gone = child.exitCode !== null || child.signalCode !== null;
		if (gone || Date.now() > deadline) {
			const reason = gone
				? `wrangler dev exited (${child.signalCode ?? child.exitCode}) before ${base}/healthz answered`
				: `The API did not answer ${base}/healthz within ${readyTimeoutMs} ms`;
			await stop();
			throw fail(reason);
		}
		await new Promise((r) => setTimeout(r, 150));
	}
	const readyMs = Date.now() - started;
	say(
		`Edge AI API ready at ${base} in ${(readyMs / 1000).toFixed(1)} s — API docs ${base}/docs (OpenAPI: ${base}/openapi.json)`,
	);
	return {
		base,
		port,
		pid: child.pid ?? 0,
		persistDir,
		readyMs,
		output: () => captured,
		logLines: () =>
			captured
				.split("\n")
				.filter((l) => l.startsWith('{"time":'))
				.map((l) => JSON.parse(l) as Record<string, unknown>),
		stop,
		kill,
		exited,
	};
}
