// Stopping a child started with `detached: true` (its own process group: wrangler dev and its workerd processes).

/**
 * SIGTERM to the child's process group, then SIGKILL if it has not exited within `graceMs`. Resolves once it has
 * exited or been killed; a group already gone is not an error.
 * @param {import("node:child_process").ChildProcess} child @param {number} [graceMs]
 */
export async function stopProcessGroup(child, graceMs = 5_000) {
	if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
	const pid = child.pid;
	const exited = new Promise((r) => child.once("exit", r));
	/** @param {NodeJS.Signals} signal */
	const signal = (signal) => {
		try {
			process.kill(-pid, signal);
		} catch {
			// already gone
		}
	};
	signal("SIGTERM");
	await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))]);
	if (child.exitCode === null && child.signalCode === null) signal("SIGKILL");
}
