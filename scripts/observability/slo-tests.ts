// Generated promtool scenarios for every SLO's burn-rate alerts (docs/slo.md#tests): a total outage pages within the
// detection time the maths predicts (and not before), a steady 2x burn raises a ticket and never a page, a 0.5x
// burn raises nothing, and a few failures on a quiet route do not page.
import { BURN_RATE_CONDITIONS } from "../../src/slo/spec.ts";
import { at, firing, labelText, requestSeries, type TestGroup, type TrafficSegment } from "./promtool-tests.ts";
import { outageDetectionMinutes, type SloObjective, sloAlertName } from "./slo-rules.ts";

/** A route of the class to send the scenario's traffic to. */
function routeOf(o: SloObjective): string {
	return "only" in o.routes ? (o.routes.only[0] ?? "/") : "/v1/auth/me";
}

function alertLabels(o: SloObjective, severity: "page" | "ticket", route: string) {
	return {
		http_route: route,
		service: "edge-ai-api",
		severity,
		slo: o.sli,
		slo_class: o.sloClass,
		slo_id: o.id,
	};
}

/** Traffic that is bad for this SLO: 5xx for availability, slower than every threshold for latency. */
const bad = (o: SloObjective, share: number): Partial<TrafficSegment> =>
	o.sli === "availability" ? { errorShare: share } : { slowShare: share };

/**
 * Good history before an outage: a little over the fast condition's hour (the 6-hour windows are then partly
 * filled, which the predicted time accounts for; promtool evaluates every rule every minute, so shorter is faster).
 */
const HISTORY_MINUTES = 70;
const RATE = 20; // requests per minute: 1 200 an hour, well above the low-traffic guard

export function sloScenarios(objs: readonly SloObjective[]): TestGroup[] {
	const groups: TestGroup[] = [];
	for (const o of objs) {
		const route = routeOf(o);
		const page = sloAlertName(o, "page");
		const ticket = sloAlertName(o, "ticket");
		const only = (alert: string, severity: "page" | "ticket", minutes: number, fires: boolean) =>
			firing(alert, minutes, fires ? [alertLabels(o, severity, route)] : [], { slo_id: o.id });

		// 1. Total outage after a healthy history: pages within the predicted detection time, not before.
		const detect = outageDetectionMinutes(o, HISTORY_MINUTES);
		const outageMinutes = Math.ceil(detect) + 10;
		const checks = [
			only(page, "page", HISTORY_MINUTES - 5, false),
			only(page, "page", HISTORY_MINUTES + Math.ceil(detect) + 3, true),
		];
		if (detect > 4) checks.push(only(page, "page", HISTORY_MINUTES + Math.floor(detect) - 2, false));
		groups.push({
			name: `${o.id}: total outage pages within ${detect.toFixed(1)} min`,
			interval: "1m",
			input_series: requestSeries(route, [
				{ minutes: HISTORY_MINUTES, perMinute: RATE },
				{ minutes: outageMinutes, perMinute: RATE, ...bad(o, 1) },
			]),
			promql_expr_test: checks,
		});

		// 2. A steady 2x burn from the start: a ticket (the 3-day and 6-hour ratios exceed 1x; with a full 3-day history
		// that takes 36 h, docs/slo.md), never a page.
		const budget = 1 - o.objective;
		groups.push({
			name: `${o.id}: a 2x burn raises a ticket, not a page`,
			interval: "1m",
			input_series: requestSeries(route, [{ minutes: 120, perMinute: RATE, ...bad(o, 2 * budget) }]),
			promql_expr_test: [only(ticket, "ticket", 90, true), ...[10, 60, 120].map((m) => only(page, "page", m, false))],
		});

		// 3. A 0.5x burn: within budget, nothing fires.
		groups.push({
			name: `${o.id}: a 0.5x burn raises nothing`,
			interval: "1m",
			input_series: requestSeries(route, [{ minutes: 120, perMinute: RATE, ...bad(o, 0.5 * budget) }]),
			promql_expr_test: [10, 60, 120].flatMap((m) => [only(page, "page", m, false), only(ticket, "ticket", m, false)]),
		});

		// 4. A quiet route (1 request a minute: fewer than the guard's minimum in every page window) with a burst of
		// failures. Where the burst crosses the fast page threshold in both windows (checked), only the guard keeps
		// the page quiet.
		const burst = 5;
		const fast = BURN_RATE_CONDITIONS.find((c) => c.severity === "page" && c.long === "1h");
		const threshold = (fast?.factor ?? 14.4) * budget;
		const end = 40 + burst;
		const crossed = (w: string) => ({
			expr: `slo:sli_error:ratio_rate${w}{slo_id="${o.id}"} > bool ${Number(threshold.toPrecision(6))}`,
			eval_time: at(end),
			exp_samples: [{ labels: labelText({ http_route: route, slo: o.sli, slo_id: o.id }), value: 1 }],
		});
		const crosses = burst / end > threshold;
		groups.push({
			name: `${o.id}: ${burst} bad requests on a quiet route (1/min) do not page`,
			interval: "1m",
			input_series: requestSeries(route, [
				{ minutes: 40, perMinute: 1 },
				{ minutes: burst, perMinute: 1, ...bad(o, 1) },
				{ minutes: 20, perMinute: 1 },
			]),
			promql_expr_test: [
				...(crosses ? [crossed("1h"), crossed("5m")] : []),
				...[end, end + 10, end + 20].map((m) => only(page, "page", m, false)),
			],
		});
	}
	return groups;
}
