import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { z } from "zod";
import { runCommand } from "../lib/run-command.ts";
import { findK6 as findK6Binary } from "../load/k6-binary.ts";

/**
 * k6 for the controller: the 0 % smoke test (load/smoke.js, owned by the load tests) against the new version only,
 * with the tenant key (`apiKey`) for the tenant routes and the operator key (`opsKey`) for `/metrics` and `/v1/slo`,
 * and the optional top-up traffic (scripts/canary/top-up.js, tenant key). k6 is an external binary: `K6_BIN`, else `k6` on PATH,
 * else `../shared/bin/k6` beside the project (this workplace's copy).
 *
 * The smoke pins the new version with `Cloudflare-Workers-Version-Overrides: <script>="<id>"` and sets
 * `EXPECT_VERSION=<id>`: every response's `X-Worker-Version` must be that id, so an override the platform did not
 * apply (a silent fallback to stable) fails the smoke instead of passing it on stable's answers. A failed smoke is
 * explained from k6's `--summary-export` (every check with failures, every crossed threshold), not only from what
 * the script logged: the rollback reason names what broke.
 *
 * @example
 * ```ts
 * const r = await runSmoke({ cwd, baseUrl, apiKey, opsKey, script: "edge-ai-api", versionId });
 * if (!r.ok) abort(r.reason);
 * ```
 */
export class K6Error extends Error {}

/** scripts/load/k6-binary.ts's search (K6_BIN, else PATH; 0.48 or newer), then `../shared/bin/k6` beside the project. */
export function findK6(cwd: string, env: NodeJS.ProcessEnv = process.env): string {
	const found = findK6Binary(env);
	if (found.ok) return found.bin;
	const workplace = path.resolve(cwd, "..", "shared", "bin", "k6");
	if (!env.K6_BIN && existsSync(workplace)) {
		const there = findK6Binary({ ...env, K6_BIN: workplace });
		if (there.ok) return there.bin;
	}
	throw new K6Error(found.message);
}

/** `<script>="<id>"`: an RFC 8941 dictionary member, as Cloudflare reads the override header. */
export function overrideHeader(script: string, versionId: string): string {
	return `${script}="${versionId}"`;
}

type K6Result = { code: number | null; output: string };

async function runK6(bin: string, cwd: string, args: string[], env: Record<string, string>): Promise<K6Result> {
	const { code, output } = await runCommand(bin, args, {
		cwd,
		env: { ...process.env, ...env, K6_NO_USAGE_REPORT: "true" },
	});
	return { code, output };
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

type SummaryGroup = {
	checks?: Record<string, { name: string; passes: number; fails: number }>;
	groups?: Record<string, SummaryGroup>;
};
const SummaryGroupSchema: z.ZodType<SummaryGroup> = z.lazy(() =>
	z.object({
		checks: z.record(z.string(), z.object({ name: z.string(), passes: z.number(), fails: z.number() })).optional(),
		groups: z.record(z.string(), SummaryGroupSchema).optional(),
	}),
);
/** k6's `--summary-export` file (k6 0.48), as far as a failure reason needs it. */
const SummaryExportSchema = z.object({
	root_group: SummaryGroupSchema,
	// `thresholds: { "rate==1": true }`: true means crossed (failed).
	metrics: z.record(z.string(), z.object({ thresholds: z.record(z.string(), z.boolean()).optional() }).passthrough()),
});

/** Checks with failures (`name (fails/total)`) and crossed thresholds (`metric: expression`) of a summary export. */
export function summaryFailures(summary: unknown): { checks: string[]; thresholds: string[] } | null {
	const parsed = SummaryExportSchema.safeParse(summary);
	if (!parsed.success) return null;
	const checks: string[] = [];
	const walk = (g: SummaryGroup) => {
		for (const c of Object.values(g.checks ?? {}))
			if (c.fails > 0) checks.push(`${c.name} (${c.fails}/${c.passes + c.fails} failed)`);
		for (const sub of Object.values(g.groups ?? {})) walk(sub);
	};
	walk(parsed.data.root_group);
	const thresholds = Object.entries(parsed.data.metrics)
		.flatMap(([metric, m]) =>
			Object.entries(m.thresholds ?? {})
				.filter(([, crossed]) => crossed)
				.map(([expr]) => `${metric}: ${expr}`),
		)
		.sort();
	return { checks, thresholds };
}

/**
 * Why a smoke run failed, in one line: a version mismatch (the override was not applied) first, else the failed
 * checks and crossed thresholds of the summary, else the script's first console error or k6's last line.
 */
export function smokeFailureReason(versionId: string, code: number | null, summary: unknown, output: string): string {
	const failures = summaryFailures(summary);
	const errors = consoleErrors(output);
	const versionCheck = failures?.checks.find((c) => c.includes("X-Worker-Version"));
	const versionError = errors.find((e) => e.includes("X-Worker-Version"));
	let detail: string;
	if (versionCheck || versionError) {
		detail = `responses did not come from ${versionId} (the override was not applied): ${versionCheck ?? versionError}`;
	} else if (failures && (failures.checks.length > 0 || failures.thresholds.length > 0)) {
		detail = [
			failures.checks.length > 0 ? `failed checks: ${failures.checks.join("; ")}` : "",
			failures.thresholds.length > 0 ? `thresholds crossed: ${failures.thresholds.join(", ")}` : "",
			errors[0] ? `first error: ${errors[0]}` : "",
		]
			.filter(Boolean)
			.join(" — ");
	} else {
		detail =
			errors[0] ??
			output
				.split("\n")
				.filter((l) => l.trim())
				.at(-1) ??
			"no output";
	}
	return `smoke test failed (k6 exit ${code}): ${detail.slice(0, 600)}`;
}

export async function runSmoke(options: {
	cwd: string;
	baseUrl: string;
	/** A key of a tenant of its own (chat rag:read rag:write usage:read): the smoke writes as it. */
	apiKey: string;
	/** An operator key (scope metrics:read, of the operator tenant): /metrics and /v1/slo. */
	opsKey: string;
	script: string;
	versionId: string;
	k6?: string;
	smokeFile?: string;
}): Promise<{ ok: true } | { ok: false; reason: string }> {
	const bin = options.k6 ?? findK6(options.cwd);
	const file = options.smokeFile ?? path.join(options.cwd, "load", "smoke.js");
	if (!existsSync(file)) throw new K6Error(`the smoke test ${file} does not exist`);
	const dir = mkdtempSync(path.join(tmpdir(), "canary-smoke-"));
	const summaryFile = path.join(dir, "summary.json");
	try {
		const { code, output } = await runK6(
			bin,
			options.cwd,
			["run", "--quiet", "--no-color", "--summary-export", summaryFile, file],
			{
				BASE_URL: options.baseUrl,
				API_KEY: options.apiKey,
				OPS_KEY: options.opsKey,
				VERSION_OVERRIDE: overrideHeader(options.script, options.versionId),
				EXPECT_VERSION: options.versionId,
				// Ids the smoke creates (documents, conversations) must not collide with an earlier run's (24 chars at most).
				RUN_ID: `cn-${options.versionId.slice(0, 8)}-${Date.now().toString(36)}`,
			},
		);
		if (code === 0) return { ok: true };
		let summary: unknown = null;
		try {
			summary = JSON.parse(readFileSync(summaryFile, "utf8"));
		} catch {
			// k6 died before its summary (a script error): the output says why.
		}
		return { ok: false, reason: smokeFailureReason(options.versionId, code, summary, output) };
	} finally {
		rmSync(dir, { recursive: true, force: true });
	}
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
