import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { OPS_KEY } from "../../../scripts/lib/local-credentials.ts";
import { freePort } from "../../../scripts/lib/net.ts";
import { JOB } from "../../../scripts/observability/slo-rules.ts";

/** Whether Debian's `prometheus` is installed (.ci/run installs it; CI fails without it). */
export const hasPrometheus = spawnSync("prometheus", ["--version"]).status === 0;
if (!hasPrometheus && process.env.CI)
	throw new Error("prometheus is not installed (apt-get install -y prometheus): .ci/run installs it");

export type LocalPrometheus = {
	/** `http://127.0.0.1:<port>`. */
	base: string;
	stop(): void;
};

/**
 * A real Prometheus on a free loopback port, its configuration and data in `dir`: it scrapes the service at `target`
 * (`host:port`) every second as the rules' job, with the seeded operator key (/metrics needs metrics:read), and
 * evaluates `ruleFiles` every second. Resolves once /-/ready answers (30 s at most).
 */
export async function startPrometheus(options: {
	dir: string;
	target: string;
	ruleFiles?: readonly string[];
}): Promise<LocalPrometheus> {
	const port = await freePort();
	const config = path.join(options.dir, "prometheus.yml");
	writeFileSync(
		config,
		[
			"global:",
			"  scrape_interval: 1s",
			"  evaluation_interval: 1s",
			...(options.ruleFiles?.length ? ["rule_files:", ...options.ruleFiles.map((f) => `  - ${f}`)] : []),
			"scrape_configs:",
			`  - job_name: ${JOB}`,
			"    metrics_path: /metrics",
			"    authorization:",
			`      credentials: ${OPS_KEY}`,
			"    static_configs:",
			`      - targets: ["${options.target}"]`,
			"",
		].join("\n"),
	);
	const child: ChildProcess = spawn(
		"prometheus",
		[
			`--config.file=${config}`,
			`--storage.tsdb.path=${path.join(options.dir, "prometheus-data")}`,
			`--web.listen-address=127.0.0.1:${port}`,
		],
		{ stdio: "ignore" },
	);
	const base = `http://127.0.0.1:${port}`;
	const stop = () => {
		if (child.exitCode === null) child.kill("SIGTERM");
	};
	for (const deadline = Date.now() + 30_000; ; ) {
		if ((await fetch(`${base}/-/ready`).catch(() => null))?.status === 200) return { base, stop };
		if (child.exitCode !== null || Date.now() > deadline) {
			stop();
			throw new Error(`prometheus did not become ready at ${base}`);
		}
		await new Promise((r) => setTimeout(r, 200));
	}
}
