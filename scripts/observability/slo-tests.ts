// Generated promtool scenarios for every SLO's burn-rate alerts (docs/slo.md#tests): a total outage pages within the
// detection time the maths predicts (and not before); a route whose streams all fail after their first byte pages
// once it has the guard's minimum of requests; a steady 2x burn raises a ticket and never a page, a 0.5x burn raises
// nothing, and a few failures on a quiet route do not page.
import { ALERT_MIN_BAD_EVENTS, ALERT_MIN_REQUESTS, BURN_RATE_CONDITIONS } from "../../src/slo/spec.ts";
import { at, firing, labelText, requestSeries, type TestGroup, type TrafficSegment } from "./promtool-tests.ts";
import { burnThreshold, outageDetectionMinutes, type SloObjective, sloAlertName } from "./slo-rules.ts";

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
/** A busy route for the slow burns: at 200 a minute a 2x burn of a 99.9 % budget is 0.4 errors a minute, so the
 * long windows collect the guard's minimum of bad events within the scenario. */
const BUSY = 200;

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

		// 1b. A route where every request is a stream that fails after its first byte: fast 200s, no 5xx anywhere, the
		// failed-stream series appearing with the first failure, from minute 0 (no history: a short scenario, promtool
		// evaluates every rule every minute). Bad for every SLO, availability and latency alike (a failed request is
		// never fast): quiet while the hour holds fewer requests than the guard's minimum, paging 5 minutes after.
		const fastPage = BURN_RATE_CONDITIONS.find((c) => c.severity === "page" && c.long === "1h");
		const fastThreshold = fastPage ? burnThreshold(o, fastPage) : null;
		// Both windows hold at least 95 % failed streams by then (the first minute's failures are partly lost to rate()).
		if (fastThreshold !== null && fastThreshold < 0.9) {
			const guarded = Math.ceil(ALERT_MIN_REQUESTS.page / RATE);
			groups.push({
				name: `${o.id}: every request a stream failing after its first byte (no 5xx) pages once ${ALERT_MIN_REQUESTS.page} are in`,
				interval: "1m",
				input_series: requestSeries(route, [{ minutes: guarded + 5, perMinute: RATE, failedStreamShare: 1 }]),
				promql_expr_test: [only(page, "page", guarded - 1, false), only(page, "page", guarded + 5, true)],
			});
		}

		// 2. A steady 2x burn from the start: a ticket (the 3-day and 6-hour ratios exceed 1x; with a full 3-day history
		// that takes 36 h, docs/slo.md), never a page.
		const budget = 1 - o.objective;
		groups.push({
			name: `${o.id}: a 2x burn raises a ticket, not a page`,
			interval: "1m",
			input_series: requestSeries(route, [{ minutes: 120, perMinute: BUSY, ...bad(o, 2 * budget) }]),
			promql_expr_test: [only(ticket, "ticket", 90, true), ...[10, 60, 120].map((m) => only(page, "page", m, false))],
		});

		// 3. A 0.5x burn: within budget, nothing fires.
		groups.push({
			name: `${o.id}: a 0.5x burn raises nothing`,
			interval: "1m",
			input_series: requestSeries(route, [{ minutes: 120, perMinute: BUSY, ...bad(o, 0.5 * budget) }]),
			promql_expr_test: [10, 60, 120].flatMap((m) => [only(page, "page", m, false), only(ticket, "ticket", m, false)]),
		});

		// 4. The low-traffic guards. A quiet route (1 request a minute, no history) whose requests all fail for 10
		// minutes: its ratios cross the fast page threshold in both windows (checked), it has the minimum of bad events,
		// but fewer requests than the guard's minimum: no page.
		const fast = BURN_RATE_CONDITIONS.find((c) => c.severity === "page" && c.long === "1h");
		const threshold = Number(((fast?.factor ?? 14.4) * budget).toPrecision(6));
		const crossed = (minutes: number, w: string) => ({
			expr: `slo:sli_error:ratio_rate${w}{slo_id="${o.id}"} > bool ${threshold}`,
			eval_time: at(minutes),
			exp_samples: [{ labels: labelText({ http_route: route, slo: o.sli, slo_id: o.id }), value: 1 }],
		});
		const burst = ALERT_MIN_BAD_EVENTS.page;
		groups.push({
			name: `${o.id}: ${burst} failures on a quiet route (1/min, under ${ALERT_MIN_REQUESTS.page} requests) do not page`,
			interval: "1m",
			input_series: requestSeries(route, [
				{ minutes: burst, perMinute: 1, ...bad(o, 1) },
				{ minutes: 30, perMinute: 1 },
			]),
			promql_expr_test: [
				crossed(burst, "1h"),
				crossed(burst, "5m"),
				...[burst, burst + 5, burst + 30].map((m) => only(page, "page", m, false)),
			],
		});
		// And a route with enough requests but fewer bad ones than the guard's minimum: where those few cross the
		// threshold in both windows (checked), only the bad-events guard keeps the page quiet.
		const few = ALERT_MIN_BAD_EVENTS.page - 1;
		const perMinute = 2; // 120 requests an hour: over the requests guard
		// (with a margin: rate extrapolation moves a ratio by a few per cent)
		if (few / (60 * perMinute) > 1.2 * threshold) {
			groups.push({
				name: `${o.id}: ${few} failures among ${60 * perMinute} requests an hour (under ${ALERT_MIN_BAD_EVENTS.page} bad events) do not page`,
				interval: "1m",
				input_series: requestSeries(route, [
					{ minutes: 60, perMinute },
					{ minutes: few, perMinute, ...bad(o, 1 / perMinute) },
					{ minutes: 30, perMinute },
				]),
				promql_expr_test: [
					crossed(60 + few, "1h"),
					crossed(60 + few, "5m"),
					...[60 + few, 60 + few + 10].map((m) => only(page, "page", m, false)),
				],
			});
		}
	}
	return groups;
}
