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
import { fileURLToPath } from "node:url";
import { compareRatios, markdownTable, ratiosOf, round } from "../load/analysis.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const USAGE = `usage: npm run load:compare -- [--stress FILE] [--baseline-run FILE] [--ratios FILE] [--tolerance X]
                             [--fail-on-regression] [--write]
  --stress / --baseline-run   run results (load/results/*.json; default latest-stress.json / latest-baseline.json)
  --ratios FILE               the committed baseline (default load/baseline-ratios.json)
  --tolerance X               relative tolerance for every ratio (default: the file's, else 0.25)
  --fail-on-regression        exit 1 when a ratio regressed (also LOAD_COMPARE_FAIL=1)
  --write                     write the run's ratios as the new baseline file instead of comparing`;

/** @param {string} message @returns {never} */
function fail(message) {
	console.error(`load:compare: ${message}`);
	process.exit(2);
}

const argv = process.argv.slice(2);
const results = path.join(root, "load", "results");
let stressFile = path.join(results, "latest-stress.json");
let baselineFile = path.join(results, "latest-baseline.json");
let ratiosFile = path.join(root, "load", "baseline-ratios.json");
/** @type {number | undefined} */
let tolerance;
let failOnRegression = process.env.LOAD_COMPARE_FAIL === "1";
let write = false;
for (let i = 0; i < argv.length; i++) {
	const a = argv[i];
	const value = () => argv[++i] ?? fail(`${a} needs a value\n${USAGE}`);
	if (a === "--stress") stressFile = path.resolve(value());
	else if (a === "--baseline-run") baselineFile = path.resolve(value());
	else if (a === "--ratios") ratiosFile = path.resolve(value());
	else if (a === "--tolerance") tolerance = Number(value());
	else if (a === "--fail-on-regression") failOnRegression = true;
	else if (a === "--write") write = true;
	else if (a === "-h" || a === "--help") {
		console.log(USAGE);
		process.exit(0);
	} else fail(`unknown argument "${a}"\n${USAGE}`);
}
if (tolerance !== undefined && !(tolerance >= 0)) fail("--tolerance must be a number ≥ 0");

/** @param {string} file */
const readRun = (file) => {
	if (!existsSync(file)) return undefined;
	const run = JSON.parse(readFileSync(file, "utf8"));
	return { file, meta: run.meta, report: run.summary.report };
};
const stress = readRun(stressFile);
const baseline = readRun(baselineFile);
if (!stress && !baseline) fail(`no run results (${stressFile}, ${baselineFile}): run npm run load -- stress first`);
const current = ratiosOf({ stress: stress?.report, baseline: baseline?.report });

if (write) {
	const previous = existsSync(ratiosFile) ? JSON.parse(readFileSync(ratiosFile, "utf8")) : {};
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
					const r = /** @type {import("../load/analysis.js").Ratio} */ (current[k]);
					const kept = previous.ratios?.[k]?.tolerance;
					return [
						k,
						{ ...r, value: Number(r.value.toPrecision(3)), ...(kept === undefined ? {} : { tolerance: kept }) },
					];
				}),
		),
	};
	writeFileSync(ratiosFile, `${JSON.stringify(file, null, "\t")}\n`);
	console.log(`load:compare: wrote ${Object.keys(current).length} ratios to ${path.relative(root, ratiosFile)}`);
	process.exit(0);
}

if (!existsSync(ratiosFile)) fail(`no baseline ratios at ${ratiosFile}: create it with --write`);
const committed = JSON.parse(readFileSync(ratiosFile, "utf8"));
const rows = compareRatios(committed, current, tolerance);
const effective = tolerance ?? committed.tolerance ?? 0.25;
console.log(
	`Ratios of ${[stress ? `stress ${stress.meta.started_at}` : "", baseline ? `baseline ${baseline.meta.started_at}` : ""].filter(Boolean).join(" and ")} against ${path.relative(root, ratiosFile)} (tolerance ${effective * 100} % unless the file says otherwise):\n`,
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
