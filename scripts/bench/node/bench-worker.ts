// The benchmark Worker (scripts/bench/wrangler.bench.toml) under wrangler dev, and the settings of the benchmarks that
// drive it with k6: `npm run bench:ratelimit`, `bench:slo` and (the worker only) `eval:rag`.
import path from "node:path";
import { parseCommandLine } from "../../lib/command-line.ts";
import { type DevServer, startDevServer } from "../../lib/dev-server.ts";
import { REPO_ROOT } from "../../lib/repository-root.ts";
import { findK6 } from "../../load/k6-binary.ts";

/** Starts the benchmark Worker on loopback (quiet: wrangler prints errors only). */
export function startBenchWorker(options: { port?: number; persistDir?: string } = {}): Promise<DevServer> {
	return startDevServer({
		configs: [path.join(REPO_ROOT, "scripts", "bench", "wrangler.bench.toml")],
		logLevel: "error",
		readyTimeoutMs: 120_000,
		...options,
	});
}

export type BenchSettings = {
	/** k6 duration of one phase, e.g. `10s`. */
	duration: string;
	/** Virtual users of the closed-loop phases. */
	vus: number;
	/** Arrivals per second of the open-model phases. */
	rate: number;
	/** Rounds per variant and load. */
	rounds: number;
	/** Default: a free port. */
	port: number | undefined;
	k6: string;
	/** Whether the result goes into docs/performance.md. */
	write: boolean;
};

/**
 * The settings of `npm run <command>` from the environment; `--help` prints them, and a missing k6 ends the run with
 * how to install it.
 */
export function benchSettings(command: string): BenchSettings {
	parseCommandLine(
		`usage: npm run ${command}
Environment: BENCH_DURATION (k6 phase, default 10s), BENCH_VUS (default 8), BENCH_RATE (open-model req/s, default 100),
BENCH_ROUNDS (default 2), BENCH_PORT (default: a free port), K6_BIN (default \`k6\` on PATH), BENCH_WRITE=0 to leave
docs/performance.md alone.`,
		{},
	);
	const k6 = findK6();
	if (!k6.ok) {
		console.error(k6.message);
		process.exit(1);
	}
	const env = process.env;
	return {
		duration: env.BENCH_DURATION ?? "10s",
		vus: Number(env.BENCH_VUS ?? 8),
		rate: Number(env.BENCH_RATE ?? 100),
		rounds: Number(env.BENCH_ROUNDS ?? 2),
		port: env.BENCH_PORT ? Number(env.BENCH_PORT) : undefined,
		k6: k6.bin,
		write: env.BENCH_WRITE !== "0",
	};
}
