// Running a command to its end from the scripts and the Node-side tests, without blocking the event loop (a server
// this process pipes, or answers as a fake, keeps being served while the command runs).
import { spawn } from "node:child_process";

export type CommandResult = {
	/** Exit code; null when a signal ended it (`signal`). */
	code: number | null;
	signal: NodeJS.Signals | null;
	stdout: string;
	stderr: string;
	/** stdout and stderr as they came, interleaved. */
	output: string;
};

/**
 * Runs `cmd args` with stdin closed and resolves when it exits, with what it printed; rejects only when it cannot be
 * started (a missing binary). A non-zero exit is the caller's to judge.
 * @example
 * const { code, output } = await runCommand("k6", ["version"]);
 */
export function runCommand(
	cmd: string,
	args: readonly string[],
	options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
	return new Promise((resolve, reject) => {
		const child = spawn(cmd, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"] });
		let stdout = "";
		let stderr = "";
		let output = "";
		child.stdout.on("data", (d) => {
			stdout += String(d);
			output += String(d);
		});
		child.stderr.on("data", (d) => {
			stderr += String(d);
			output += String(d);
		});
		child.on("error", reject);
		child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr, output }));
	});
}
