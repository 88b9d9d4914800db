#!/usr/bin/env node
// `npm start`: applies D1 migrations to the local database, starts `wrangler dev` on loopback, waits until
// /healthz answers and prints one ready line (scripts/lib/dev-server.ts, as every script and e2e test starts it).
// Offline; no Cloudflare login. Runs until Ctrl-C, which stops wrangler and its workerd processes.
//
// Environment: PORT (default 8787), HOST (default 127.0.0.1), PERSIST_DIR (local D1/DO state, default
// .wrangler/state), READY_TIMEOUT_MS (default 60000), WRANGLER_LOG_LEVEL (default log). Worker variables come from
// wrangler.toml and .dev.vars. Arguments after `--` go to `wrangler dev` as they are, e.g.
// `npm start -- --var LOCAL_MODEL_FAULT_RATE:0.2` (a fault drill, docs/observability.md) or `--test-scheduled`
// (GET /__scheduled runs the cron handler).
import path from "node:path";
import { DEFAULT_STATE_DIR, startDevServer, stopAllDevServers } from "./lib/dev-server.ts";
import { exitOnSignals } from "./lib/process-group.ts";
import { REPO_ROOT } from "./lib/repository-root.ts";

const port = Number(process.env.PORT ?? 8787);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
	console.error(`PORT must be a TCP port number, got "${process.env.PORT}"`);
	process.exit(1);
}

// wrangler runs in a process group of its own, which Ctrl-C does not reach: stopping it is ours, while it starts too.
let stopping = false;
exitOnSignals(() => {
	stopping = true;
	return stopAllDevServers();
}, 0);
try {
	const server = await startDevServer({
		host: process.env.HOST ?? "127.0.0.1",
		port,
		persistDir: path.resolve(REPO_ROOT, process.env.PERSIST_DIR ?? DEFAULT_STATE_DIR),
		readyTimeoutMs: Number(process.env.READY_TIMEOUT_MS ?? 60_000),
		logLevel: process.env.WRANGLER_LOG_LEVEL ?? "log",
		// Passed through to wrangler dev, not parsed here.
		args: process.argv.slice(2),
		output: "inherit",
	});
	const { code, signal } = await server.exited;
	if (!stopping) {
		console.error(`wrangler dev exited (${signal ?? code})`);
		await server.stop();
		process.exit(code || 1);
	}
} catch (err) {
	console.error(err instanceof Error ? err.message : String(err));
	process.exit(1);
}
