// The generated tables of docs/slo.md: objectives with their budgets and detection times, the burn-rate conditions,
// and every alert with its severity and runbook — so the documentation cannot drift from the rules.
import { ALERT_MIN_BAD_EVENTS, ALERT_MIN_REQUESTS, BURN_RATE_CONDITIONS, SLO_PERIOD_DAYS } from "../../src/slo/spec.ts";
import type { OperationalAlert } from "./operational-alerts.ts";
import { burnThreshold, outageDetectionMinutes, type SloObjective, sloAlertName } from "./slo-rules.ts";

const pct = (x: number) => `${Number((x * 100).toPrecision(6))} %`;
const duration = (minutes: number) =>
	minutes < 1
		? `${Math.round(minutes * 60)} s`
		: minutes < 120
			? `${Number(minutes.toFixed(1))} min`
			: `${Number((minutes / 60).toFixed(1))} h`;

/** An annotation template as plain text: `{{ $labels.x }}` → `<x>`. */
const plain = (template: string) => template.replace(/\{\{ \$labels\.(\w+) \}\}/g, "<$1>").replaceAll("|", "\\|");

export function sloDocTables(objs: readonly SloObjective[], ops: readonly OperationalAlert[]): string {
	const lines: string[] = [];
	lines.push("### Objectives", "");
	lines.push(
		"| SLO (`slo_id`) | Routes | SLI: a good request… | Objective | Error budget (30 d) | Full outage pages after |",
		"|---|---|---|---|---|---|",
	);
	for (const o of objs) {
		const routes = "only" in o.routes ? o.routes.only.map((r) => `\`${r}\``).join(", ") : "every other route";
		// "Failed": a 5xx, or a stream that failed after its first byte (docs/slo.md, "Which responses are bad").
		const sli =
			o.sli === "availability" ? "did not fail" : `did not fail and answered within ${o.thresholdSeconds} s (${o.sli})`;
		const budget = 1 - o.objective;
		const minutes = budget * SLO_PERIOD_DAYS * 1440;
		lines.push(
			`| \`${o.id}\` | ${routes} | ${sli} | ${pct(o.objective)} | ${pct(budget)} = ${duration(minutes)} of total outage | ${duration(outageDetectionMinutes(o))} |`,
		);
	}
	lines.push("", "### Burn-rate conditions", "");
	lines.push(
		"| Severity | Burn rate | Long window | Short window | Budget spent when it fires | Minimum requests / bad requests (long window) |",
		"|---|---|---|---|---|---|",
	);
	for (const c of BURN_RATE_CONDITIONS) {
		const minutes = { "1h": 60, "6h": 360, "1d": 1440, "3d": 4320 }[c.long] ?? 0;
		const spent = (c.factor * minutes) / (SLO_PERIOD_DAYS * 1440);
		lines.push(
			`| ${c.severity} | ${c.factor}× | ${c.long} | ${c.short} | ${pct(spent)} | ${ALERT_MIN_REQUESTS[c.severity]} / ${ALERT_MIN_BAD_EVENTS[c.severity]} |`,
		);
	}
	const infeasible = objs.flatMap((o) =>
		BURN_RATE_CONDITIONS.filter((c) => burnThreshold(o, c) === null).map((c) => `\`${o.id}\` at ${c.factor}×`),
	);
	lines.push(
		"",
		infeasible.length > 0
			? `Conditions whose threshold would reach an error ratio of 1 or more fire on total failure instead: ${infeasible.join(", ")}.`
			: "Every condition is feasible for every objective (factor × budget < 1).",
	);
	lines.push("", "### Alerts", "");
	lines.push("| Alert | Severity | What | Runbook |", "|---|---|---|---|");
	const sloNames = new Map<string, { severity: string; what: string }>();
	for (const o of objs) {
		for (const severity of ["page", "ticket"] as const) {
			const name = sloAlertName(o, severity);
			const what = `${o.sli === "availability" ? "availability" : "latency"} error budget burning ${severity === "page" ? "fast (14.4× or 6×)" : "steadily (3× or 1×)"}, per route and SLO`;
			sloNames.set(name, { severity, what });
		}
	}
	for (const [name, x] of sloNames)
		lines.push(`| \`${name}\` | ${x.severity} | ${x.what} | [${name}](runbooks/${name}.md) |`);
	for (const a of ops)
		lines.push(`| \`${a.alert}\` | ${a.severity} | ${plain(a.summary)} | [${a.alert}](runbooks/${a.alert}.md) |`);
	lines.push(
		"",
		`${sloNames.size + ops.length} alerts: ${sloNames.size} burn-rate alerts (one rule per SLO each, ${objs.length * 2} rules) and ${ops.length} operational alerts.`,
	);
	return lines.join("\n");
}
