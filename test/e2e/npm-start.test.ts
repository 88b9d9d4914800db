import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../scripts/lib/net.ts";
import { killProcessGroup } from "../../scripts/lib/process-group.ts";
import { REPO_ROOT } from "../../scripts/lib/repository-root.ts";

// The launcher itself, as `npm start` runs it: `node scripts/dev.ts` with the README's environment variables, then
// Ctrl-C. (test/e2e/start.test.ts exercises the API it serves through the shared starter.)
const persistDir = mkdtempSync(path.join(tmpdir(), "npm-start-"));
let child: ChildProcess | undefined;

afterAll(() => {
	// Whatever happened, leave nothing running: the launcher's group (and, through its own cleanup, wrangler's).
	if (child && child.exitCode === null) killProcessGroup(child);
	rmSync(persistDir, { recursive: true, force: true });
});

describe("npm start (node scripts/dev.ts)", () => {
	it("serves on PORT with PERSIST_DIR, prints one ready line, and stops wrangler and workerd on Ctrl-C with exit 0", async () => {
		const port = await freePort();
		let output = "";
		child = spawn(process.execPath, [path.join(REPO_ROOT, "scripts", "dev.ts")], {
			cwd: REPO_ROOT,
			env: { ...process.env, PORT: String(port), PERSIST_DIR: persistDir, READY_TIMEOUT_MS: "90000" },
			stdio: ["ignore", "pipe", "pipe"],
			detached: true,
		});
		const exited = new Promise<number | null>((resolve) => child?.once("exit", (code) => resolve(code)));
		child.stdout?.on("data", (d: Buffer) => {
			output += d.toString();
		});
		child.stderr?.on("data", (d: Buffer) => {
			output += d.toString();
		});
		const deadline = Date.now() + 110_000;
		while (!output.includes("ready at") && child.exitCode === null && Date.now() < deadline) {
			await new Promise((r) => setTimeout(r, 200));
		}
		expect(output, output.slice(-2_000)).toContain(`ready at http://127.0.0.1:${port}`);
		expect(output.split("\n").filter((l) => l.includes("ready at"))).toHaveLength(1);

		const health = await fetch(`http://127.0.0.1:${port}/healthz`);
		expect(health.status).toBe(200);
		// The migrations ran into PERSIST_DIR before serving.
		expect(((await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()) as { status: string }).status).toBe(
			"ready",
		);

		// Ctrl-C reaches the launcher only (wrangler runs in a process group of its own): it must stop wrangler itself.
		child.kill("SIGINT");
		expect(await exited).toBe(0);
		await expect(fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();
	}, 130_000);

	it("refuses a PORT that is not a port number, with exit 1 and a message", async () => {
		const refused = spawn(process.execPath, [path.join(REPO_ROOT, "scripts", "dev.ts")], {
			cwd: REPO_ROOT,
			env: { ...process.env, PORT: "http" },
			stdio: ["ignore", "pipe", "pipe"],
		});
		let stderr = "";
		refused.stderr?.on("data", (d: Buffer) => {
			stderr += d.toString();
		});
		const code = await new Promise<number | null>((resolve) => refused.once("exit", resolve));
		expect(code).toBe(1);
		expect(stderr).toContain('PORT must be a TCP port number, got "http"');
	});
});
