#!/usr/bin/env node
// `npm run gen:observability`: writes every file derived from the SLO spec (src/slo/spec.ts) and the operational
// alert list (scripts/observability/): Prometheus recording and alert rules, their promtool tests, the Alertmanager
// configuration, the Grafana dashboards and provisioning, the k6 thresholds, and the generated tables of docs/slo.md.
// Deterministic (no clock, no randomness): `--check` regenerates in memory and exits 1 naming every stale file, which
// `npm test` runs. Warnings (objectives too loose for a burn-rate factor) are printed, never hidden.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { parseCommandLine } from "./lib/command-line.ts";
import { docSection, replaceDocSection } from "./lib/doc-section.ts";
import { REPO_ROOT } from "./lib/repository-root.ts";
import { alertmanagerConfig } from "./observability/alertmanager.ts";
import { GENERATED_HEADER, runbookUrl } from "./observability/config.ts";
import { dashboards, provisioning } from "./observability/dashboards.ts";
import { failedStreamScenarios } from "./observability/failed-stream-tests.ts";
import { renderK6Thresholds } from "./observability/k6-thresholds.ts";
import { operationalAlerts, operationalRuleGroups, operationalScenarios } from "./observability/operational-alerts.ts";
import { sloDocTables } from "./observability/slo-docs.ts";
import { objectives, recordingRules, sloAlerts, versionRules } from "./observability/slo-rules.ts";
import { sloScenarios } from "./observability/slo-tests.ts";

const yaml = (value: unknown) => stringify(value, { lineWidth: 0 });

/** Every generated file: path relative to the repository → content. */
export function generate(): { files: Record<string, string>; warnings: string[] } {
	const objs = objectives();
	const slo = sloAlerts(objs, runbookUrl);
	const ops = operationalAlerts();
	const files: Record<string, string> = {
		"alerts/recording-rules.yml":
			GENERATED_HEADER("Prometheus recording rules: SLIs per route and window, request totals, error budgets.") +
			yaml({ groups: recordingRules(objs) }),
		"alerts/version-rules.yml":
			GENERATED_HEADER(
				"Prometheus recording rules per route × version, for canary verdicts and the canary dashboard.",
			) + yaml({ groups: versionRules(objs) }),
		"alerts/slo-alerts.yml":
			GENERATED_HEADER("Multiwindow multi-burn-rate SLO alerts (docs/slo.md).") + yaml({ groups: slo.groups }),
		"alerts/operational-alerts.yml":
			GENERATED_HEADER("Operational alerts (docs/observability.md#alerts); each has a runbook in docs/runbooks/.") +
			yaml({ groups: operationalRuleGroups(ops) }),
		"alerts/alertmanager.yml": alertmanagerConfig(),
		"alerts/tests/operational.test.yml":
			GENERATED_HEADER(
				"promtool unit tests of every operational alert: it fires on its condition, stays quiet otherwise.",
			) +
			yaml({
				rule_files: ["../version-rules.yml", "../operational-alerts.yml"],
				evaluation_interval: "1m",
				tests: operationalScenarios(ops),
			}),
		"alerts/tests/failed-streams.test.yml":
			GENERATED_HEADER(
				"promtool unit tests of streams failing after their first byte: SLIs, burn rates, versions, dashboards.",
			) +
			yaml({
				rule_files: [
					"../recording-rules.yml",
					"../version-rules.yml",
					"../slo-alerts.yml",
					"../operational-alerts.yml",
				],
				evaluation_interval: "1m",
				tests: failedStreamScenarios(),
			}),
		"load/thresholds.gen.js": renderK6Thresholds(),
	};
	// One test file per SLO class, so promtool runs them in parallel (it evaluates every rule every minute).
	for (const sloClass of new Set(objs.map((o) => o.sloClass))) {
		files[`alerts/tests/slo-${sloClass}.test.yml`] =
			GENERATED_HEADER(`promtool unit tests of the burn-rate alerts of the ${sloClass} SLOs.`) +
			yaml({
				rule_files: ["../recording-rules.yml", "../slo-alerts.yml"],
				evaluation_interval: "1m",
				tests: sloScenarios(objs.filter((o) => o.sloClass === sloClass)),
			});
	}
	for (const [name, d] of Object.entries(dashboards()))
		files[`dashboards/${name}.json`] = `${JSON.stringify(d, null, 2)}\n`;
	for (const [name, text] of Object.entries(provisioning())) files[`dashboards/provisioning/${name}`] = text;

	const docPath = "docs/slo.md";
	const doc = readFileSync(path.join(REPO_ROOT, docPath), "utf8");
	files[docPath] = replaceDocSection(
		doc,
		"slo-tables",
		docSection(
			"slo-tables",
			"npm run gen:observability from src/slo/spec.ts; edit the spec, not this",
			sloDocTables(objs, ops),
		),
		docPath,
	);
	return { files, warnings: slo.warnings };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
	const { values } = parseCommandLine("usage: npm run gen:observability [-- --check]", {
		options: { check: { type: "boolean" } },
	});
	const check = values.check ?? false;
	const { files, warnings } = generate();
	for (const w of warnings) console.warn(`warning: ${w}`);
	const stale: string[] = [];
	for (const [rel, content] of Object.entries(files)) {
		const file = path.join(REPO_ROOT, rel);
		const current = existsSync(file) ? readFileSync(file, "utf8") : null;
		if (current === content) continue;
		if (check) {
			stale.push(rel);
		} else {
			mkdirSync(path.dirname(file), { recursive: true });
			writeFileSync(file, content);
			console.log(`wrote ${rel}`);
		}
	}
	if (check && stale.length > 0) {
		console.error(`stale generated files (run npm run gen:observability):\n  ${stale.join("\n  ")}`);
		process.exit(1);
	}
	console.log(check ? `${Object.keys(files).length} generated files are up to date` : "observability files up to date");
}
