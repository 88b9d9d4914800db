// The end-of-test output every script's handleSummary returns: a short text report on stdout (k6's own summary
// is replaced) and, when SUMMARY_JSON names a file, the whole summary plus the script's computed report as JSON —
// what `npm run load` turns into load/results/*.md and what `npm run load:compare` reads. ES2017 (k6 0.48).

import { failedChecks, failedThresholds } from "./analysis.js";

/**
 * @param {string} script e.g. "baseline"
 * @param {import("./analysis.js").Summary} data k6's summary data
 * @param {{ markdown: string; report: Record<string, unknown> }} result what the script computed from it
 * @returns {Record<string, string>}
 */
export function summaryOutputs(script, data, result) {
	const thresholds = failedThresholds(data);
	const checks = failedChecks(data);
	const seconds = data.state ? Math.round(data.state.testRunDurationMs / 100) / 10 : 0;
	const lines = [
		"",
		`${script}: ${thresholds.length === 0 ? "every threshold passed" : `${thresholds.length} threshold(s) FAILED`} (${seconds} s)`,
		"",
		result.markdown,
		"",
	];
	if (thresholds.length > 0) lines.push("Failed thresholds:", ...thresholds.map((t) => `  - ${t}`), "");
	if (checks.length > 0) lines.push("Failed checks:", ...checks.map((c) => `  - ${c}`), "");
	/** @type {Record<string, string>} */
	const out = { stdout: `${lines.join("\n")}\n` };
	if (__ENV.SUMMARY_JSON) {
		out[__ENV.SUMMARY_JSON] = JSON.stringify({
			script,
			passed: thresholds.length === 0,
			failed_thresholds: thresholds,
			failed_checks: checks,
			report: result.report,
			markdown: result.markdown,
			k6: data,
		});
	}
	return out;
}
