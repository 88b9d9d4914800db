import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "../../../scripts/lib/net.mjs";
import { stopProcessGroup } from "../../../scripts/lib/process-group.mjs";

export { freePort };

const root = path.resolve(import.meta.dirname, "../../..");

export type DevServer = {
	base: string;
	/** Wall time from spawn to the ready line (ms). */
	readyMs: number;
	/** Everything the process printed so far (stdout + stderr). */
	output(): string;
	/** The Worker's structured log lines, parsed. */
	logLines(): Record<string, unknown>[];
	/** Stops it; `keepState` leaves the state directory for a restart on it. */
	stop(options?: { keepState?: boolean }): Promise<void>;
	persistDir: string;
	port: number;
};

/**
 * Starts the API exactly as `npm start` does (`node scripts/dev.mjs`, i.e. migrations then `wrangler dev`) on a
 * free loopback port with a fresh state directory, and resolves on its ready line.
 */
export async function startDevServer(
	extraEnv: Record<string, string> = {},
	options: {
		persistDir?: string;
		port?: number /** Extra `wrangler dev` arguments (`--var K:V`, `--test-scheduled`). */;
		args?: string[];
	} = {},
): Promise<DevServer> {
	const port = options.port ?? (await freePort());
	const persistDir = options.persistDir ?? mkdtempSync(path.join(tmpdir(), "edge-ai-api-e2e-"));
	const started = Date.now();
	const child: ChildProcess = spawn(
		process.execPath,
		[path.join(root, "scripts", "dev.mjs"), ...(options.args ?? [])],
		{
			cwd: root,
			env: { ...process.env, PORT: String(port), PERSIST_DIR: persistDir, ...extraEnv },
			stdio: ["ignore", "pipe", "pipe"],
			detached: true,
		},
	);
	let output = "";
	child.stdout?.on("data", (d) => {
		output += String(d);
	});
	child.stderr?.on("data", (d) => {
		output += String(d);
	});
	const stop = async (stopOptions: { keepState?: boolean } = {}) => {
		await stopProcessGroup(child);
		if (!stopOptions.keepState) rmSync(persistDir, { recursive: true, force: true });
	};
	const base = `http://127.0.0.1:${port}`;
	await new Promise<void>((resolve, reject) => {
		const timer = setInterval(() => {
			if (output.includes(`ready at ${base}`)) {
				clearInterval(timer);
				resolve();
			} else if (child.exitCode !== null || Date.now() - started > 90_000) {
				clearInterval(timer);
				void stop();
				reject(new Error(`dev server did not become ready:\n${output}`));
			}
		}, 50);
	});
	return {
		base,
		readyMs: Date.now() - started,
		persistDir,
		port,
		output: () => output,
		logLines: () =>
			output
				.split("\n")
				.filter((l) => l.startsWith('{"time":'))
				.map((l) => JSON.parse(l) as Record<string, unknown>),
		stop,
	};
}
