#!/usr/bin/env node
// `npm run load:compare`: a run's ratios against the committed baseline ratios (load/baseline-ratios.json), without
// timing assertions — absolute req/s depend on the machine, ratios within one run do not (docs/load-testing.md#
// regression-check). Prints a table; the exit code is 0 unless --fail-on-regression (or LOAD_COMPARE_FAIL=1) is
// given and some ratio regressed beyond its tolerance.
//
//   npm run load:compare                                  # latest stress and baseline results in load/results/
//   npm run load:compare -- --stress F.json --baseline-run G.json --tolerance 0.3 --fail-on-regression
//   npm run load:compare -- --write                       # store the latest run's ratios as the new baseline
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
	compareRatios,
	markdownTable,
	type Ratio,
	type RouteStats,
	ratiosOf,
	round,
	type StressRoute,
} from "../load/analysis.js";
import { parseCommandLine } from "./lib/command-line.ts";
import { REPO_ROOT } from "./lib/repository-root.ts";

const USAGE = `usage: npm run load:compare -- [--stress FILE] [--baseline-run FILE] [--ratios FILE] [--tolerance X]
                             [--fail-on-regression] [--write]
  --stress / --baseline-run   run results (load/results/*.json; default latest-stress.json / latest-baseline.json)
  --ratios FILE               the committed baseline (default load/baseline-ratios.json)
  --tolerance X               relative tolerance for every ratio (default: the file's, else 0.25)
  --fail-on-regression        exit 1 when a ratio regressed (also LOAD_COMPARE_FAIL=1)
  --write                     write the run's ratios as the new baseline file instead of comparing`;

function fail(message: string): never {
	console.error(`load:compare: ${message}`);
	process.exit(2);
}

const { values } = parseCommandLine(USAGE, {
	options: {
		stress: { type: "string" },
		"baseline-run": { type: "string" },
		ratios: { type: "string" },
		tolerance: { type: "string" },
		"fail-on-regression": { type: "boolean" },
		write: { type: "boolean" },
	},
});
const results = path.join(REPO_ROOT, "load", "results");
const stressFile = path.resolve(values.stress ?? path.join(results, "latest-stress.json"));
const baselineFile = path.resolve(values["baseline-run"] ?? path.join(results, "latest-baseline.json"));
const ratiosFile = path.resolve(values.ratios ?? path.join(REPO_ROOT, "load", "baseline-ratios.json"));
const tolerance = values.tolerance === undefined ? undefined : Number(values.tolerance);
const failOnRegression = values["fail-on-regression"] || process.env.LOAD_COMPARE_FAIL === "1";
const write = values.write ?? false;
if (tolerance !== undefined && !(tolerance >= 0)) fail("--tolerance must be a number ≥ 0");

/** A run's result file (scripts/load.ts), as far as this reads it. */
type RunFile<Report> = {
	meta: { started_at: string; target: string; cores: number; k6: string };
	summary: { report: Report };
};
/** The committed baseline (load/baseline-ratios.json). */
type BaselineFile = { tolerance?: number; ratios: Record<string, Ratio & { tolerance?: number }> };

function readRun<Report>(file: string) {
	if (!existsSync(file)) return undefined;
	const run = JSON.parse(readFileSync(file, "utf8")) as RunFile<Report>;
	return { file, meta: run.meta, report: run.summary.report };
}
const stress = readRun<{ routes: StressRoute[] }>(stressFile);
const baseline = readRun<{ routes: RouteStats[] }>(baselineFile);
if (!stress && !baseline) fail(`no run results (${stressFile}, ${baselineFile}): run npm run load -- stress first`);
const current = ratiosOf({ stress: stress?.report, baseline: baseline?.report });

if (write) {
	const previous: Partial<BaselineFile> = existsSync(ratiosFile) ? JSON.parse(readFileSync(ratiosFile, "utf8")) : {};
	const file = {
		$comment:
			"Baseline ratios for npm run load:compare (docs/load-testing.md#regression-check). Written by `npm run load:compare -- --write` from real runs; per-ratio `tolerance` overrides the default.",
		tolerance: tolerance ?? previous.tolerance ?? 0.25,
		source: {
			stress: stress
				? `${stress.meta.started_at} (${stress.meta.target}, ${stress.meta.cores} cores, k6 ${stress.meta.k6})`
				: null,
			baseline: baseline
				? `${baseline.meta.started_at} (${baseline.meta.target}, ${baseline.meta.cores} cores, k6 ${baseline.meta.k6})`
				: null,
		},
		ratios: Object.fromEntries(
			Object.keys(current)
				.sort()
				.map((k) => {
					const r = current[k] as Ratio;
					const kept = previous.ratios?.[k]?.tolerance;
					return [
						k,
						{ ...r, value: Number(r.value.toPrecision(3)), ...(kept === undefined ? {} : { tolerance: kept }) },
					];
				}),
		),
	};
	writeFileSync(ratiosFile, `${JSON.stringify(file, null, "\t")}\n`);
	console.log(`load:compare: wrote ${Object.keys(current).length} ratios to ${path.relative(REPO_ROOT, ratiosFile)}`);
	process.exit(0);
}

if (!existsSync(ratiosFile)) fail(`no baseline ratios at ${ratiosFile}: create it with --write`);
const committed = JSON.parse(readFileSync(ratiosFile, "utf8")) as BaselineFile;
const rows = compareRatios(committed, current, tolerance);
const effective = tolerance ?? committed.tolerance ?? 0.25;
console.log(
	`Ratios of ${[stress ? `stress ${stress.meta.started_at}` : "", baseline ? `baseline ${baseline.meta.started_at}` : ""].filter(Boolean).join(" and ")} against ${path.relative(REPO_ROOT, ratiosFile)} (tolerance ${effective * 100} % unless the file says otherwise):\n`,
);
console.log(
	markdownTable(
		["Ratio", "Baseline", "This run", "Change", "Verdict"],
		rows.map((r) => [
			`\`${r.key}\``,
			Number(r.baseline.toPrecision(3)),
			r.current === null ? "—" : Number(r.current.toPrecision(3)),
			r.change === null ? "—" : `${r.change >= 0 ? "+" : ""}${round(r.change * 100)} %`,
			r.verdict === "regression" ? "**regression**" : r.verdict,
		]),
	),
);
const regressions = rows.filter((r) => r.verdict === "regression");
const missing = rows.filter((r) => r.verdict === "missing");
console.log(
	`\n${regressions.length} regression(s), ${missing.length} missing (not measured in this run), ${rows.length - regressions.length - missing.length} within tolerance or better.`,
);
process.exit(failOnRegression && regressions.length > 0 ? 1 : 0);
