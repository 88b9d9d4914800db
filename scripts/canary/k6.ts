import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

/**
 * k6 for the controller: the 0 % smoke test (load/smoke.js, owned by the load tests) against the new version only,
 * and the optional top-up traffic (scripts/canary/top-up.js). k6 is an external binary: `K6_BIN`, else `k6` on PATH,
 * else `../shared/bin/k6` beside the project (this workplace's copy).
 *
 * The smoke pins the new version with `Cloudflare-Workers-Version-Overrides: <script>="<id>"` and sets
 * `EXPECT_VERSION=<id>`: every response's `X-Worker-Version` must be that id, so an override the platform did not
 * apply (a silent fallback to stable) fails the smoke instead of passing it on stable's answers.
 *
 * @example
 * ```ts
 * const r = await runSmoke({ cwd, baseUrl, apiKey, script: "edge-ai-api", versionId });
 * if (!r.ok) abort(r.reason);
 * ```
 */
export class K6Error extends Error {}

export function findK6(cwd: string, env: NodeJS.ProcessEnv = process.env): string {
	const candidates = [env.K6_BIN, "k6", path.resolve(cwd, "..", "shared", "bin", "k6")].filter(
		(c): c is string => typeof c === "string" && c.length > 0,
	);
	for (const c of candidates) {
		if (c.includes(path.sep) && !existsSync(c)) continue;
		if (spawnSync(c, ["version"], { stdio: "ignore" }).status === 0) return c;
	}
	throw new K6Error(`k6 not found (tried ${candidates.join(", ")}): put it on PATH or set K6_BIN`);
}

/** `<script>="<id>"`: an RFC 8941 dictionary member, as Cloudflare reads the override header. */
export function overrideHeader(script: string, versionId: string): string {
	return `${script}="${versionId}"`;
}

type K6Result = { code: number | null; output: string };

function runK6(bin: string, cwd: string, args: string[], env: Record<string, string>): Promise<K6Result> {
	return new Promise((resolve, reject) => {
		const child = spawn(bin, args, {
			cwd,
			env: { ...process.env, ...env, K6_NO_USAGE_REPORT: "true" },
			stdio: ["ignore", "pipe", "pipe"],
		});
		let output = "";
		child.stdout.on("data", (d) => {
			output += String(d);
		});
		child.stderr.on("data", (d) => {
			output += String(d);
		});
		child.on("error", reject);
		child.on("exit", (code) => resolve({ code, output }));
	});
}

/** The console.error lines a k6 script logged (`level=error msg="…" source=console`), unquoted. */
function consoleErrors(output: string): string[] {
	return output
		.split("\n")
		.filter((l) => l.includes("level=error") && l.includes("source=console"))
		.map((l) => {
			const m = /msg="((?:[^"\\]|\\.)*)"/.exec(l);
			return m?.[1] ? m[1].replace(/\\"/g, '"') : l;
		});
}

export async function runSmoke(options: {
	cwd: string;
	baseUrl: string;
	apiKey: string;
	script: string;
	versionId: string;
	k6?: string;
	smokeFile?: string;
}): Promise<{ ok: true } | { ok: false; reason: string }> {
	const bin = options.k6 ?? findK6(options.cwd);
	const file = options.smokeFile ?? path.join(options.cwd, "load", "smoke.js");
	if (!existsSync(file)) throw new K6Error(`the smoke test ${file} does not exist`);
	const { code, output } = await runK6(bin, options.cwd, ["run", "--quiet", "--no-color", file], {
		BASE_URL: options.baseUrl,
		API_KEY: options.apiKey,
		VERSION_OVERRIDE: overrideHeader(options.script, options.versionId),
		EXPECT_VERSION: options.versionId,
		// Ids the smoke creates (documents, conversations) must not collide with an earlier run's (24 chars at most).
		RUN_ID: `cn-${options.versionId.slice(0, 8)}-${Date.now().toString(36)}`,
	});
	if (code === 0) return { ok: true };
	const errors = consoleErrors(output);
	const versionMismatch = errors.find((e) => e.includes("X-Worker-Version"));
	const detail = versionMismatch
		? `responses did not come from ${options.versionId} (the override was not applied): ${versionMismatch}`
		: (errors[0] ??
			output
				.split("\n")
				.filter((l) => l.trim())
				.at(-1) ??
			"no output");
	return { ok: false, reason: `smoke test failed (k6 exit ${code}): ${detail.slice(0, 400)}` };
}

/** Sends `iterations` of the top-up mix to each version at `rate` iterations/s per version. */
export async function runTopUp(options: {
	cwd: string;
	baseUrl: string;
	apiKey: string;
	overrides: string[];
	iterations: number;
	rate: number;
	k6?: string;
}): Promise<void> {
	const bin = options.k6 ?? findK6(options.cwd);
	const file = path.join(options.cwd, "scripts", "canary", "top-up.js");
	const { code, output } = await runK6(bin, options.cwd, ["run", "--quiet", "--no-color", file], {
		BASE_URL: options.baseUrl,
		API_KEY: options.apiKey,
		OVERRIDES: options.overrides.join("|"),
		ITERATIONS: String(options.iterations),
		RATE: String(options.rate),
	});
	if (code !== 0)
		throw new K6Error(`top-up traffic failed (k6 exit ${code}): ${output.split("\n").filter(Boolean).at(-1) ?? ""}`);
}
