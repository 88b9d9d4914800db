// The local service `npm run load` starts when no --base-url is given: the API exactly as `npm start` serves it
// (scripts/lib/dev-server.ts: D1 migrations, the local seed, `wrangler dev` on loopback), from wrangler.toml's local
// configuration with two differences, both written into a generated copy of the configuration in a temporary
// directory (wrangler.toml itself is never touched):
//   - `main` is the load Worker (scripts/bench/load-worker.ts): src/index.ts at every path, plus the with/without
//     variants of /v1/auth/me under /__load/… for the ratios;
//   - optionally RATE_LIMIT_POLICIES and the per-tenant storage quotas, so a capacity run measures the service rather
//     than its 429s.
// Because the copy lives in its own directory, a developer's .dev.vars is not read: runs are reproducible.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { DEFAULT_POLICIES } from "../../src/rate-limit/policies.ts";
import { startDevServer } from "../lib/dev-server.ts";
import { REPO_ROOT } from "../lib/repository-root.ts";

/**
 * The default policies (src/rate-limit/policies.ts) with the same names, routes, keys, units and fail modes — so
 * every request still makes the same limiter calls, one object per key — but limits no load test reaches: 10⁹
 * per 1 s window. The 1 s window keeps each key's sliding log as short as the defaults keep it (at most a
 * second of admitted events, like 30–60 events a minute under the default limits).
 */
export const CAPACITY_POLICIES = DEFAULT_POLICIES.map((p) => ({ ...p, limit: 1_000_000_000, window_s: 1 }));

/**
 * The per-tenant storage quotas (src/config/schema.ts) at their largest values: every ingest still checks and updates its
 * tenant's usage — the same work — but a long capacity run that keeps ingesting never meets
 * `storage-quota-exceeded` (the defaults allow 10 000 documents per tenant, and all of a run's keys share one tenant).
 */
export const CAPACITY_QUOTAS = {
	RAG_TENANT_MAX_DOCUMENTS: "100000000",
	RAG_TENANT_MAX_CHUNKS: "1000000000",
	RAG_TENANT_MAX_BYTES: "1000000000000",
};

/**
 * wrangler.toml's text with `main` and the migrations directories made absolute (the copy lives elsewhere),
 * `main` pointing at `entry`, and the top-level [vars] given `vars` (replacing a line of the same name). Throws
 * when the file does not have the lines this relies on, rather than starting something else. Relative paths are
 * resolved against `root`.
 */
export function loadConfigToml(toml: string, root: string, entry: string, vars: Record<string, string>): string {
	const lines = toml.split("\n");
	const mainAt = lines.findIndex((l) => /^main\s*=/.test(l));
	if (mainAt < 0) throw new Error("wrangler.toml has no top-level `main =` line");
	lines[mainAt] = `main = ${JSON.stringify(entry)}`;
	let migrations = 0;
	for (let i = 0; i < lines.length; i++) {
		const m = /^(\s*migrations_dir\s*=\s*)"([^"]+)"\s*$/.exec(lines[i] ?? "");
		if (m) {
			lines[i] = `${m[1]}${JSON.stringify(path.resolve(root, m[2] ?? ""))}`;
			migrations++;
		}
	}
	if (migrations === 0) throw new Error("wrangler.toml has no `migrations_dir` line");
	const varsAt = lines.findIndex((l) => l.trim() === "[vars]");
	if (varsAt < 0) throw new Error("wrangler.toml has no top-level [vars] table");
	let end = lines.findIndex((l, i) => i > varsAt && /^\s*\[/.test(l));
	if (end < 0) end = lines.length;
	for (const [name, value] of Object.entries(vars)) {
		if (value.includes("'") || value.includes("\n")) throw new Error(`${name}: value must fit a TOML literal string`);
		const line = `${name} = '${value}'`;
		const at = lines.findIndex((l, i) => i > varsAt && i < end && new RegExp(`^${name}\\s*=`).test(l));
		if (at >= 0) lines[at] = line;
		else {
			lines.splice(varsAt + 1, 0, line);
			end++;
		}
	}
	return lines.join("\n");
}

/** The workerd processes of a process group's tree (Linux /proc), for memory sampling. */
export function workerdPids(rootPid: number): number[] {
	const children = new Map<number, number[]>();
	const names = new Map<number, string>();
	let entries: string[] = [];
	try {
		entries = readdirSync("/proc").filter((d) => /^\d+$/.test(d));
	} catch {
		return [];
	}
	for (const d of entries) {
		try {
			const stat = readFileSync(`/proc/${d}/stat`, "utf8");
			// pid (comm) state ppid …: comm may contain spaces, so read around the last parenthesis.
			const close = stat.lastIndexOf(")");
			const comm = stat.slice(stat.indexOf("(") + 1, close);
			const ppid = Number(stat.slice(close + 2).split(" ")[1]);
			names.set(Number(d), comm);
			children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
		} catch {
			// the process ended while we looked
		}
	}
	const out: number[] = [];
	const queue = [rootPid];
	while (queue.length > 0) {
		const pid = queue.shift() as number;
		if ((names.get(pid) ?? "").startsWith("workerd")) out.push(pid);
		queue.push(...(children.get(pid) ?? []));
	}
	return out;
}

/** Resident memory of processes in MiB (VmRSS), or null when unreadable. */
export function rssMiB(pids: number[]): number | null {
	let kib = 0;
	let read = 0;
	for (const pid of pids) {
		try {
			const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
			if (m) {
				kib += Number(m[1]);
				read++;
			}
		} catch {
			// gone
		}
	}
	return read > 0 ? kib / 1024 : null;
}

export type LocalService = {
	base: string;
	port: number;
	pid: number;
	logFile: string;
	readyMs: number;
	stop(): Promise<void>;
	memoryMiB(): number | null;
};

/**
 * Starts the local service and resolves when it answers. The Worker's and wrangler's output go to `logFile`.
 * `vars` are further [vars] of the generated configuration (e.g. {@link CAPACITY_QUOTAS}); `args` further
 * `wrangler dev` arguments (e.g. `--test-scheduled`).
 */
export async function startLocalService(options: {
	policies?: unknown[];
	vars?: Record<string, string>;
	args?: string[];
	logFile: string;
	readyTimeoutMs?: number;
}): Promise<LocalService> {
	const configDir = mkdtempSync(path.join(tmpdir(), "edge-ai-api-load-config-"));
	const vars: Record<string, string> = { ...options.vars };
	if (options.policies) vars.RATE_LIMIT_POLICIES = JSON.stringify(options.policies);
	const configFile = path.join(configDir, "wrangler.toml");
	writeFileSync(
		configFile,
		loadConfigToml(
			readFileSync(path.join(REPO_ROOT, "wrangler.toml"), "utf8"),
			REPO_ROOT,
			path.join(REPO_ROOT, "scripts", "bench", "load-worker.ts"),
			vars,
		),
	);
	const server = await startDevServer({
		configs: [configFile],
		// wrangler prints a line per request, and the Worker's log lines, at its `log` level: under load that costs
		// the cores the service and k6 share. LOAD_WRANGLER_LOG_LEVEL=log keeps them (in the service log file).
		logLevel: process.env.LOAD_WRANGLER_LOG_LEVEL ?? "warn",
		readyTimeoutMs: options.readyTimeoutMs ?? 90_000,
		output: { file: options.logFile },
		...(options.args ? { args: options.args } : {}),
	}).catch((err: unknown) => {
		rmSync(configDir, { recursive: true, force: true });
		throw new Error(`the local service did not start: ${err instanceof Error ? err.message : String(err)}`);
	});
	return {
		base: server.base,
		port: server.port,
		pid: server.pid,
		logFile: options.logFile,
		readyMs: server.readyMs,
		async stop() {
			await server.stop();
			rmSync(configDir, { recursive: true, force: true });
		},
		memoryMiB: () => rssMiB(workerdPids(server.pid)),
	};
}
