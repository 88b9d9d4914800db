import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findK6 } from "../../scripts/canary/k6.ts";
import { BACKENDS } from "../../scripts/canary/local/environment.ts";
import type { RehearsalReport } from "../../scripts/canary/local/rehearsal.ts";
import { REPO_ROOT } from "../../scripts/lib/repository-root.ts";

// `npm run canary:local` as a newcomer runs it: the whole loop offline — a candidate with 2.5 s of extra model
// latency is rolled back by its verdicts, a healthy one is promoted — with 2 s bakes so CI stays fast.
// The smoke test is k6 (.ci/run puts ../shared/bin on PATH): skipped locally without it, an error in CI.
const hasK6 = (() => {
	try {
		findK6(REPO_ROOT);
		return true;
	} catch {
		return false;
	}
})();
if (!hasK6 && process.env.CI) throw new Error("k6 is not installed (K6_BIN or PATH): the canary tests need it");
const dir = mkdtempSync(path.join(tmpdir(), "canary-local-"));
let child: ChildProcess | undefined;
afterAll(() => {
	// A timed-out run still stops its stage (the rehearsal stops wrangler dev on SIGTERM).
	if (child?.pid && child.exitCode === null) process.kill(-child.pid, "SIGTERM");
	rmSync(dir, { recursive: true, force: true });
});

function npmRun(args: string[]): Promise<{ code: number | null; output: string }> {
	return new Promise((resolve, reject) => {
		const c = spawn("npm", ["run", "--silent", "canary:local", "--", ...args], {
			cwd: REPO_ROOT,
			env: process.env,
			stdio: ["ignore", "pipe", "pipe"],
			detached: true,
		});
		child = c;
		let output = "";
		c.stdout.on("data", (d) => {
			output += String(d);
		});
		c.stderr.on("data", (d) => {
			output += String(d);
		});
		c.on("error", reject);
		c.on("exit", (code) => resolve({ code, output }));
	});
}

describe.skipIf(!hasK6)("npm run canary:local (the rehearsal)", () => {
	it("rolls back the faulty candidate on its verdicts and promotes the healthy one", async () => {
		const reportFile = path.join(dir, "report.json");
		const { code, output } = await npmRun(["--interval", "2", "--report", reportFile]);
		expect(code, output).toBe(0);
		const report = JSON.parse(readFileSync(reportFile, "utf8")) as RehearsalReport;
		const [faulty, healthy] = report.phases;

		expect(faulty?.version).toBe(BACKENDS.faulty.versionId);
		expect(faulty?.outcome).toBe("aborted");
		// Rolled back by failed checks on chat latency, not by the smoke test (which does not judge latency).
		expect(faulty?.reason).toMatch(
			/failed evaluation\(s\) at 1 %.*\/v1\/chat\/completions: requests slower than 2000 ms/,
		);
		expect(faulty?.verdicts.filter((v) => v.outcome === "fail").length).toBeGreaterThanOrEqual(2);
		expect(faulty?.canaryShares).toEqual([0, 1]);
		expect(faulty?.finalSplit).toEqual([{ version_id: BACKENDS.stable.versionId, percentage: 100 }]);
		expect(faulty?.candidateBadRequests).toBeGreaterThan(0);
		expect(faulty?.detectionSeconds).not.toBeNull();
		expect(faulty?.rollbackSeconds).not.toBeNull();

		expect(healthy?.version).toBe(BACKENDS.healthy.versionId);
		expect(healthy?.outcome).toBe("promoted");
		// Each step passed once, in order (a step may be held first: inconclusive on a busy machine is not a finding).
		expect(healthy?.verdicts.filter((v) => v.outcome === "pass").map((v) => v.percent)).toEqual([1, 5, 25, 50]);
		expect(healthy?.canaryShares).toEqual([0, 1, 5, 25, 50, 100]);
		// No 5xx from the healthy candidate (a slow answer depends on the machine's load, an error does not).
		expect(healthy?.candidateErrors).toBe(0);
		// The newcomer sees the verdicts and the timings.
		expect(output).toMatch(/verdict at 1 %: FAIL/);
		expect(output).toMatch(/PROMOTED: every step passed/);
		console.log(
			`rehearsal: first bad request → failing verdict ${faulty?.detectionSeconds} s, → all traffic on stable ${faulty?.rollbackSeconds} s`,
		);
	}, 300_000);
});
