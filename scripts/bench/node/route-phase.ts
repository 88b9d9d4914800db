// One k6 phase of load/bench-route.js against the benchmark Worker, for `npm run bench:ratelimit` and `bench:slo`:
// one route with one API key, closed loop (VUs as fast as they can) or open (a fixed arrival rate), read back from
// k6's --summary-export. Figures, never assertions.
import { readFileSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "../../lib/repository-root.ts";
import { runCommand } from "../../lib/run-command.ts";

export type PhaseResult = {
	/** Median latency (ms). */
	p50: number;
	/** 99th percentile latency (ms). */
	p99: number;
	/** Requests per second. */
	rps: number;
	/** Failed checks (responses other than 200). */
	failed: number;
};

export type PhaseOptions = {
	k6: string;
	base: string;
	route: string;
	apiKey: string;
	vus: number;
	/** k6 duration, e.g. `10s`. */
	duration: string;
	/** Arrivals per second; 0 for a closed loop of `vus`. */
	rate: number;
	/** Where k6's summary is written. */
	workDir: string;
};

/**
 * Runs one phase; throws with k6's output when k6 fails, or made no request. Asynchronous on purpose: the dev server's
 * output is piped into this process, and a blocked event loop would stop draining it and stall the server.
 */
export async function routePhase(o: PhaseOptions): Promise<PhaseResult> {
	const out = path.join(o.workDir, `k6-${Date.now()}.json`);
	const env = { BASE_URL: o.base, ROUTE: o.route, API_KEY: o.apiKey, VUS: o.vus, DURATION: o.duration, RATE: o.rate };
	const args = [
		"run",
		"--quiet",
		"--no-color",
		"--summary-export",
		out,
		...Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]),
		path.join(REPO_ROOT, "load", "bench-route.js"),
	];
	const { code, output } = await runCommand(o.k6, args);
	if (code !== 0) throw new Error(`k6 failed on ${o.route} (${code}):\n${output}`);
	const summary = JSON.parse(readFileSync(out, "utf8")) as {
		metrics: Record<string, Record<string, number>>;
	};
	const d = summary.metrics.http_req_duration;
	const reqs = summary.metrics.http_reqs;
	if (d?.med === undefined || d["p(99)"] === undefined || reqs?.rate === undefined) {
		throw new Error(`k6 completed no request on ${o.route} in ${o.duration}:\n${output}`);
	}
	return { p50: d.med, p99: d["p(99)"], rps: reqs.rate, failed: summary.metrics.checks?.fails ?? 0 };
}

/** `x` with thousands separators and `digits` decimals. */
export const fmt = (x: number, digits = 0) =>
	x.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** `p50 / p99 / req/s` of every round, for the "Per round" column. */
export const perRound = (rs: PhaseResult[]) =>
	rs.map((r) => `${fmt(r.p50, 2)} / ${fmt(r.p99, 2)} / ${fmt(r.rps)}`).join("; ");
