import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { REPO_ROOT } from "../../scripts/lib/repository-root.ts";
import { ALERTS_DIR as alerts, alertRules as allAlertRules, ruleTestFiles } from "../helpers/node/alert-rules";

// What every generated alert (alerts/*.yml, npm run gen:observability) must come with: promtool tests that see it fire
// and stay quiet, a severity, a summary, a description with its live value, and a runbook. Read from the files; that
// promtool accepts them and passes the tests is test/e2e/alerts.test.ts.
const alertRules = allAlertRules();
const testFiles = ruleTestFiles();

describe("generated alerts", () => {
	it("test every alert both firing and quiet", () => {
		const fires = new Set<string>();
		const quiet = new Set<string>();
		for (const f of testFiles) {
			const doc = parse(readFileSync(path.join(alerts, "tests", f), "utf8")) as {
				tests: {
					alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[];
					promql_expr_test?: { expr: string; exp_samples: { labels: string }[] }[];
				}[];
			};
			for (const t of doc.tests) {
				for (const a of t.alert_rule_test ?? []) (a.exp_alerts.length > 0 ? fires : quiet).add(a.alertname);
				for (const e of t.promql_expr_test ?? []) {
					const named = e.expr.match(/^ALERTS\{alertname="(\w+)"/)?.[1];
					if (named && e.exp_samples.length === 0) quiet.add(named);
					for (const s of e.exp_samples) {
						const n = s.labels.match(/alertname="(\w+)"/)?.[1];
						if (n) fires.add(n);
					}
				}
			}
		}
		const names = [...new Set(alertRules.map((r) => r.alert as string))];
		expect(
			names.filter((n) => !fires.has(n)),
			"alerts never tested firing",
		).toEqual([]);
		expect(
			names.filter((n) => !quiet.has(n)),
			"alerts never tested quiet",
		).toEqual([]);
	});

	it("give every alert a severity, summary, a description with its live value, and an existing runbook", () => {
		for (const r of alertRules) {
			expect(["page", "ticket", "info"], r.alert).toContain(r.labels?.severity);
			expect(r.annotations?.summary, r.alert).toBeTruthy();
			// absent() has no value worth showing (always 1); every other alert shows what it measured.
			if (!r.expr?.startsWith("absent(")) expect(r.annotations?.description, r.alert).toMatch(/\{\{ \$value/);
			const url = r.annotations?.runbook_url ?? "";
			expect(url.endsWith(`/docs/runbooks/${r.alert}.md`), r.alert).toBe(true);
			const runbook = path.join(REPO_ROOT, "docs", "runbooks", `${r.alert}.md`);
			expect(existsSync(runbook), runbook).toBe(true);
			const text = readFileSync(runbook, "utf8");
			expect(text, runbook).toMatch(/^## Check/m);
			expect(text, runbook).toMatch(/^## Act/m);
		}
	});
});
