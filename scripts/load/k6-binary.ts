// Finding k6, an external binary the project does not install: `K6_BIN`, else `k6` on PATH.
import { spawnSync } from "node:child_process";

/** How to get k6, printed when it is missing. */
export const INSTALL_HINT = `Install k6 (0.48 or newer: https://grafana.com/docs/k6/latest/set-up/install-k6/):
  macOS:          brew install k6
  Debian/Ubuntu:  add Grafana's k6 apt repository (see the link), then sudo apt-get install k6
  Windows:        winget install k6
  any system:     a release binary from https://github.com/grafana/k6/releases
then put it on PATH or set K6_BIN=/path/to/k6. On this project's CI machines it is ../shared/bin/k6.`;

export type K6Binary = { ok: true; bin: string; version: string } | { ok: false; message: string };

/** The k6 binary and its version, or an error message saying what was tried and how to install it. */
export function findK6(env: NodeJS.ProcessEnv = process.env): K6Binary {
	const bin = env.K6_BIN || "k6";
	const run = spawnSync(bin, ["version"], { encoding: "utf8" });
	if (run.status !== 0 || run.error) {
		const tried = env.K6_BIN ? `K6_BIN=${env.K6_BIN}` : '"k6" on PATH';
		return { ok: false, message: `k6 was not found (tried ${tried}).\n${INSTALL_HINT}` };
	}
	const m = /k6 v(\d+)\.(\d+)\.(\d+)/.exec(run.stdout);
	if (m && Number(m[1]) === 0 && Number(m[2]) < 48) {
		return { ok: false, message: `k6 ${m[0]} is too old: the scripts need 0.48 or newer.\n${INSTALL_HINT}` };
	}
	return { ok: true, bin, version: m ? m[0].replace("k6 ", "") : run.stdout.trim() };
}
