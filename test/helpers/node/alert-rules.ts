import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { REPO_ROOT } from "../../../scripts/lib/repository-root.ts";
import { RULE_FILES } from "../../../scripts/observability/config.ts";

/** The generated Prometheus files (npm run gen:observability), read by the tests of the rules and alerts. */
export const ALERTS_DIR = path.join(REPO_ROOT, "alerts");
export { RULE_FILES };
/** The rule files, absolute. */
export const RULE_PATHS = RULE_FILES.map((f) => path.join(ALERTS_DIR, f));

export type Rule = {
	alert?: string;
	record?: string;
	expr?: string;
	labels?: Record<string, string>;
	annotations?: Record<string, string>;
};

/** Every rule of a rule file (a name in alerts/, or a path), all groups. */
export function rulesOf(file: string): Rule[] {
	const doc = parse(readFileSync(path.resolve(ALERTS_DIR, file), "utf8")) as { groups: { rules: Rule[] }[] };
	return doc.groups.flatMap((g) => g.rules);
}

/** Every alerting rule of the rule files. */
export const alertRules = (): Rule[] => RULE_FILES.flatMap(rulesOf).filter((r) => r.alert);

/** The promtool test files of alerts/tests/ (generated and hand-written), by name. */
export const ruleTestFiles = (): string[] =>
	readdirSync(path.join(ALERTS_DIR, "tests")).filter((f) => f.endsWith(".test.yml"));
