// Stopping a child started with `detached: true`: it leads a process group of its own (wrangler dev and its workerd
// processes), so one signal reaches every process it started, and a terminal's Ctrl-C reaches none of them — the
// script that started it stops it (exitOnSignals).
import type { ChildProcess } from "node:child_process";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends `signal` to the process group `pgid`; a group already gone is not an error. */
function signalGroup(pgid: number, signal: NodeJS.Signals): void {
	try {
		process.kill(-pgid, signal);
	} catch {
		// already gone
	}
}

/** Whether any process of the group `pgid` still exists (signal 0 probes without signalling). */
export function processGroupAlive(pgid: number): boolean {
	try {
		process.kill(-pgid, 0);
		return true;
	} catch (err) {
		return (err as NodeJS.ErrnoException).code === "EPERM";
	}
}

/**
 * SIGTERM to the child's process group, then SIGKILL if any process of it is left after `graceMs`. Resolves once the
 * group is gone (or, after the SIGKILL, 2 s at most). The group is signalled even when the child itself has exited:
 * wrangler can die and leave its workerd behind.
 */
export async function stopProcessGroup(child: ChildProcess, graceMs = 5_000): Promise<void> {
	const pgid = child.pid;
	if (!pgid) return;
	signalGroup(pgid, "SIGTERM");
	for (const deadline = Date.now() + graceMs; processGroupAlive(pgid) && Date.now() < deadline; ) await sleep(50);
	if (!processGroupAlive(pgid)) return;
	signalGroup(pgid, "SIGKILL");
	for (const deadline = Date.now() + 2_000; processGroupAlive(pgid) && Date.now() < deadline; ) await sleep(50);
}

/** SIGKILL to the child's process group, now (synchronous: usable in a `process.on("exit")` handler). */
export function killProcessGroup(child: ChildProcess): void {
	if (child.pid) signalGroup(child.pid, "SIGKILL");
}

/**
 * On SIGINT, SIGTERM or SIGHUP: runs `cleanup` (stopping what this process started in groups of its own), then exits
 * with `code`. A second signal while cleaning up exits at once.
 */
export function exitOnSignals(cleanup: () => Promise<unknown>, code = 130): void {
	let stopping = false;
	for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
		process.on(signal, () => {
			if (stopping) process.exit(code);
			stopping = true;
			void cleanup().finally(() => process.exit(code));
		});
	}
}
