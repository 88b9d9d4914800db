#!/usr/bin/env node
// `npm start`: applies D1 migrations to the local database, starts `wrangler dev` on loopback, waits until
// /healthz answers and prints one ready line. Offline; no Cloudflare login.
//
// Environment: PORT (default 8787), HOST (default 127.0.0.1), PERSIST_DIR (local D1/DO state, default
// .wrangler/state), READY_TIMEOUT_MS (default 60000). Worker variables come from wrangler.toml and .dev.vars.
// Arguments after `--` go to `wrangler dev` as they are, e.g. `npm start -- --var LOCAL_MODEL_FAULT_RATE:0.2`
// (a fault drill, docs/observability.md) or `--test-scheduled` (GET /__scheduled runs the cron handler).
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
	console.error(
		`Node ${process.versions.node} is too old for wrangler (needs >= 22.12). Run through npm (npm start), which uses the node@22 devDependency.`,
	);
	process.exit(1);
}

const port = Number(process.env.PORT ?? 8787);
const host = process.env.HOST ?? "127.0.0.1";
const persistTo = path.resolve(root, process.env.PERSIST_DIR ?? ".wrangler/state");
const readyTimeoutMs = Number(process.env.READY_TIMEOUT_MS ?? 60_000);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
	console.error(`PORT must be a TCP port number, got "${process.env.PORT}"`);
	process.exit(1);
}

const wrangler = path.join(root, "node_modules", "wrangler", "bin", "wrangler.js");
// Another wrangler configuration (the benchmark Worker uses one); default wrangler.toml.
const configArgs = process.env.WRANGLER_CONFIG ? ["--config", path.resolve(root, process.env.WRANGLER_CONFIG)] : [];
// Offline and unattended: no telemetry, no prompts, and no fetch of the `Request.cf` sample from the internet
// (miniflare then uses its built-in placeholder `cf` object).
const env = {
	...process.env,
	WRANGLER_SEND_METRICS: "false",
	CLOUDFLARE_CF_FETCH_ENABLED: "false",
	CI: process.env.CI ?? "true",
};
const started = Date.now();

const migrate = spawnSync(
	process.execPath,
	[wrangler, "d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo, ...configArgs],
	{ cwd: root, env, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" },
);
if (migrate.status !== 0) {
	process.stderr.write(migrate.stdout + migrate.stderr);
	console.error("D1 migrations failed; the API was not started.");
	process.exit(migrate.status ?? 1);
}
const applied = /Migrations to be applied:[\s\S]*?└/.test(migrate.stdout) ? "applied new migrations" : "up to date";

// Local-only demo credentials (README#local-credentials); idempotent, never a migration. A marker beside the
// state, named by the seed file's hash, skips the extra wrangler run (~3 s) once this exact seed was applied.
const seedFile = path.join(root, "migrations", "local", "seed.sql");
const seedHash = createHash("sha256").update(readFileSync(seedFile)).digest("hex").slice(0, 16);
const seedMarker = path.join(persistTo, `.local-seed-${seedHash}`);
let seeded = "already seeded";
if (!existsSync(seedMarker)) {
	const seed = spawnSync(
		process.execPath,
		[wrangler, "d1", "execute", "DB", "--local", "--persist-to", persistTo, "--file", seedFile, ...configArgs],
		{ cwd: root, env, stdio: ["ignore", "pipe", "pipe"], encoding: "utf8" },
	);
	if (seed.status !== 0) {
		process.stderr.write(seed.stdout + seed.stderr);
		console.error("Seeding the local demo credentials failed; the API was not started.");
		process.exit(seed.status ?? 1);
	}
	mkdirSync(persistTo, { recursive: true });
	writeFileSync(seedMarker, `${new Date().toISOString()}\n`);
	seeded = "demo credentials seeded";
}
console.log(`D1 (local): migrations ${applied}, ${seeded}, in ${persistTo}`);

const child = spawn(
	process.execPath,
	[
		wrangler,
		"dev",
		...configArgs,
		"--ip",
		host,
		"--port",
		String(port),
		"--persist-to",
		persistTo,
		"--show-interactive-dev-session=false",
		"--log-level",
		process.env.WRANGLER_LOG_LEVEL ?? "log",
		...process.argv.slice(2),
	],
	{ cwd: root, env, stdio: ["ignore", "inherit", "inherit"] },
);

let exiting = false;
for (const signal of /** @type {const} */ (["SIGINT", "SIGTERM", "SIGHUP"])) {
	process.on(signal, () => {
		exiting = true;
		child.kill(signal);
	});
}
child.on("exit", (code, signal) => {
	if (!exiting && code !== 0) console.error(`wrangler dev exited (${signal ?? code})`);
	process.exit(code ?? (signal ? 0 : 1));
});

const base = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
const deadline = started + readyTimeoutMs;
for (;;) {
	try {
		const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(1_000) });
		if (res.ok) break;
	} catch {
		// not listening yet
	}
	if (Date.now() > deadline || child.exitCode !== null) {
		console.error(`The API did not answer ${base}/healthz within ${readyTimeoutMs} ms.`);
		child.kill("SIGTERM");
		process.exit(1);
	}
	await new Promise((r) => setTimeout(r, 150));
}
console.log(
	`Edge AI API ready at ${base} in ${((Date.now() - started) / 1000).toFixed(1)} s — API docs ${base}/docs (OpenAPI: ${base}/openapi.json)`,
);
