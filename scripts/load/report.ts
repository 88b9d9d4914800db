// Results of `npm run load`: the markdown of one run (load/results/<stamp>-<script>.md), memory drift of the local
// service, and the capacity section of docs/performance.md (`npm run load -- report`), built from the latest run of
// each capacity script. Figures, never assertions.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fmt, markdownTable, type Ratio, type RouteStats, ratiosOf, type StressRoute } from "../../load/analysis.js";
import { docSection, writeDocSection } from "../lib/doc-section.ts";

export type MemorySample = { t_s: number; rss_mib: number };
export type RunMeta = {
	script: string;
	run_id: string;
	started_at: string;
	finished_at: string;
	exit_code: number;
	target: string;
	local: { wrangler: string; rate_limit_policies: string; storage_quotas?: string; variants: boolean } | null;
	k6: string;
	cores: number;
	cpu: string;
	memory_gib: number;
	load_average: { start: number; end: number };
	env: Record<string, string>;
};
type BaselineReport = { routes: RouteStats[] } & Record<string, unknown>;
type StressReport = { routes: StressRoute[] } & Record<string, unknown>;
/** What a script's handleSummary writes (load/*.js). */
export type ScriptSummary = {
	script: string;
	passed: boolean;
	failed_thresholds: string[];
	failed_checks: string[];
	markdown: string;
	report: Record<string, unknown>;
};
export type MemoryDrift = ReturnType<typeof memoryDrift>;
/** One run's result file (load/results/<stamp>-<script>.json). */
export type RunResult = {
	meta: RunMeta;
	memory: ({ samples: MemorySample[] } & MemoryDrift) | null;
	summary: ScriptSummary;
};

/**
 * Resident memory of the local service's workerd processes over the run (MiB): the first and last minute's
 * medians, the peak, and two slopes (MiB per hour, least squares after the first minute): of every sample, and of
 * the floor — each minute's lowest sample. V8 grows its heap under load and gives it back at major collections,
 * so the samples saw-tooth; a leak is a floor that keeps rising.
 */
export function memoryDrift(samples: MemorySample[]) {
	const none = {
		start_mib: null as number | null,
		end_mib: null as number | null,
		max_mib: null as number | null,
		slope_mib_per_h: null as number | null,
		floor_slope_mib_per_h: null as number | null,
	};
	if (samples.length < 2) return none;
	const last = samples[samples.length - 1]?.t_s ?? 0;
	const edge = Math.min(60, last / 4);
	const med = (xs: number[]) => {
		const s = xs.slice().sort((a, b) => a - b);
		return s.length === 0 ? null : (s[Math.floor((s.length - 1) / 2)] ?? null);
	};
	const slope = (pts: MemorySample[]) => {
		if (pts.length < 3) return null;
		const mx = pts.reduce((a, s) => a + s.t_s, 0) / pts.length;
		const my = pts.reduce((a, s) => a + s.rss_mib, 0) / pts.length;
		const sxx = pts.reduce((a, s) => a + (s.t_s - mx) ** 2, 0);
		const sxy = pts.reduce((a, s) => a + (s.t_s - mx) * (s.rss_mib - my), 0);
		return sxx > 0 ? (sxy / sxx) * 3600 : null;
	};
	const settled = samples.filter((s) => s.t_s >= edge);
	const floors = new Map<number, MemorySample>();
	for (const s of settled) {
		const minute = Math.floor(s.t_s / 60);
		const f = floors.get(minute);
		if (!f || s.rss_mib < f.rss_mib) floors.set(minute, s);
	}
	return {
		start_mib: med(samples.filter((s) => s.t_s <= edge).map((s) => s.rss_mib)),
		end_mib: med(samples.filter((s) => s.t_s >= last - edge).map((s) => s.rss_mib)),
		max_mib: Math.max(...samples.map((s) => s.rss_mib)),
		slope_mib_per_h: slope(settled),
		floor_slope_mib_per_h: slope([...floors.values()]),
	};
}

/** One run as markdown: what ran where, verdict, the script's tables, memory. */
export function renderResultMarkdown(r: RunResult): string {
	const m = r.meta;
	const lines = [
		`# ${m.script} — ${m.started_at.slice(0, 19).replace("T", " ")} UTC`,
		"",
		`Target: ${m.target === "local" ? `local service (wrangler ${m.local?.wrangler}, load Worker, rate limits: ${m.local?.rate_limit_policies})` : m.target}; k6 ${m.k6}; ${m.cores} cores (${m.cpu}), load average ${m.load_average.start} → ${m.load_average.end}; exit code ${m.exit_code}.`,
		Object.keys(m.env).length > 0
			? `Script options: ${Object.entries(m.env)
					.map(([k, v]) => `${k}=${v}`)
					.join(" ")}.`
			: "",
		"",
		r.summary.passed ? "Every threshold passed." : `Failed thresholds: ${r.summary.failed_thresholds.join("; ")}.`,
		r.summary.failed_checks.length > 0 ? `Failed checks: ${r.summary.failed_checks.join("; ")}.` : "",
		"",
		r.summary.markdown,
	];
	if (r.memory && r.memory.start_mib !== null) {
		lines.push(
			"",
			`workerd resident memory (wrangler dev's two workerd processes): ${fmt(r.memory.start_mib, " MiB")} at the start, ${fmt(r.memory.end_mib, " MiB")} at the end, peak ${fmt(r.memory.max_mib, " MiB")}; slope ${fmt(r.memory.slope_mib_per_h, " MiB/h")}, of the per-minute floor ${fmt(r.memory.floor_slope_mib_per_h, " MiB/h")}.`,
		);
	}
	return `${lines.filter((l, i, a) => l !== "" || a[i - 1] !== "").join("\n")}\n`;
}

function latest(dir: string, script: string): RunResult | null {
	const file = path.join(dir, `latest-${script}.json`);
	return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as RunResult) : null;
}

const runLine = (r: RunResult) =>
	`${r.meta.started_at.slice(0, 16).replace("T", " ")} UTC, ${r.meta.target === "local" ? "local workerd" : r.meta.target}, load average ${r.meta.load_average.start} → ${r.meta.load_average.end}, exit ${r.meta.exit_code}${
		Object.keys(r.meta.env).length > 0
			? `, ${Object.entries(r.meta.env)
					.map(([k, v]) => `${k}=${v}`)
					.join(" ")}`
			: ""
	}`;

/** The capacity section from the latest baseline, stress, spike and soak results in the results directory `dir`. */
export function capacitySection(dir: string): { section: string; used: string[] } {
	const runs = {
		baseline: latest(dir, "baseline"),
		stress: latest(dir, "stress"),
		spike: latest(dir, "spike"),
		soak: latest(dir, "soak"),
	};
	const any = Object.values(runs).find((r) => r !== null);
	if (!any)
		throw new Error(`no latest-{baseline,stress,spike,soak}.json in ${dir}: run npm run load -- baseline first`);
	const parts = [
		`Machine: ${any.meta.cores} cores (${any.meta.cpu}), ${any.meta.memory_gib} GiB; k6 ${any.meta.k6} on the same cores as the service${any.meta.local ? `; wrangler ${any.meta.local.wrangler}` : ""}.`,
		"",
	];
	if (runs.baseline) {
		parts.push(
			`**Baseline** (\`npm run load -- baseline\`; ${runLine(runs.baseline)}):`,
			"",
			runs.baseline.summary.markdown,
			"",
		);
	}
	if (runs.stress) {
		parts.push(
			`**Stress** (\`npm run load -- stress\`; ${runLine(runs.stress)}):`,
			"",
			runs.stress.summary.markdown,
			"",
		);
	}
	if (runs.spike) {
		parts.push(`**Spike** (\`npm run load -- spike\`; ${runLine(runs.spike)}):`, "", runs.spike.summary.markdown, "");
	}
	if (runs.soak) {
		parts.push(`**Soak** (\`npm run load -- soak\`; ${runLine(runs.soak)}):`, "", runs.soak.summary.markdown);
		const mem = runs.soak.memory;
		if (mem && mem.start_mib !== null) {
			parts.push(
				"",
				`workerd resident memory (wrangler dev's two workerd processes): ${fmt(mem.start_mib, " MiB")} → ${fmt(mem.end_mib, " MiB")}, peak ${fmt(mem.max_mib, " MiB")}; slope ${fmt(mem.slope_mib_per_h, " MiB/h")}, of the per-minute floor ${fmt(mem.floor_slope_mib_per_h, " MiB/h")}.`,
			);
		}
		parts.push("");
	}
	const ratios = ratiosOf({
		stress: runs.stress ? (runs.stress.summary.report as StressReport) : undefined,
		baseline: runs.baseline ? (runs.baseline.summary.report as BaselineReport) : undefined,
	});
	const keys = Object.keys(ratios).sort();
	if (keys.length > 0) {
		parts.push(
			"**Ratios** (what `npm run load:compare` checks against `load/baseline-ratios.json`):",
			"",
			markdownTable(
				["Ratio", "Value", "Better", "What"],
				keys.map((k) => {
					const r = ratios[k] as Ratio;
					return [`\`${k}\``, Number(r.value.toPrecision(3)), r.direction, r.what];
				}),
			),
			"",
		);
	}
	return {
		section: docSection(
			"load:capacity",
			"npm run load -- report from load/results/latest-*.json; edit scripts/load/report.ts, not this",
			parts.join("\n"),
		),
		used: Object.entries(runs)
			.filter(([, r]) => r !== null)
			.map(([k]) => `latest-${k}.json`),
	};
}

/** Replaces the capacity section of docs/performance.md; returns the result files it was built from. */
export function writeCapacitySection(dir: string): string[] {
	const { section, used } = capacitySection(dir);
	writeDocSection("docs/performance.md", "load:capacity", section);
	return used;
}
