/**
 * The SLO report of one route × version (`GET /v1/slo`): per window, availability, burn rate and latency
 * compliance computed from summed counts (never from averaged ratios), and the error budget left over the 30-day
 * period. Pure: the route reads the windows from the `SloCounter` shards and renders this.
 *
 * @module
 */
import type { RouteWindows } from "./contract";
import { sloFor } from "./spec";

/** Per-window figures from summed counts (never from averaged ratios). */
export function report(w: RouteWindows) {
	const slo = sloFor(w.route);
	const budget = 1 - slo.availability;
	const windows = Object.fromEntries(
		w.windows.map((x) => {
			const errorRate = x.total > 0 ? x.errors / x.total : 0;
			return [
				x.window,
				{
					requests: x.total,
					errors: x.errors,
					availability: x.total > 0 ? 1 - errorRate : null,
					burn_rate: errorRate / budget,
					latency: slo.latency.map((l, i) => {
						const compliance = x.total > 0 ? (x.fast[i] ?? 0) / x.total : null;
						return {
							quantile: l.quantile,
							threshold_ms: l.thresholdMs,
							compliance,
							burn_rate: compliance === null ? 0 : (1 - compliance) / (1 - l.quantile),
						};
					}),
				},
			];
		}),
	);
	const period = w.windows.find((x) => x.window === "30d");
	return {
		route: w.route,
		version: w.version,
		objectives: {
			availability: slo.availability,
			latency: slo.latency.map((l) => ({ quantile: l.quantile, threshold_ms: l.thresholdMs })),
		},
		error_budget_remaining: period && period.total > 0 ? 1 - period.errors / period.total / budget : null,
		windows,
	};
}
