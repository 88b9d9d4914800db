import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { compareRatios, ratiosOf, type Summary, spikeReport, stressRoute, stressTable } from "../../load/analysis.js";
import { REPO_ROOT } from "../../scripts/lib/repository-root.ts";
import { memoryDrift } from "../../scripts/load/report.ts";
import { CAPACITY_POLICIES, loadConfigToml } from "../../scripts/load/service.ts";
import { DEFAULT_POLICIES, PoliciesSchema, type Policy, policiesFor } from "../../src/rate-limit/policies";

// What `npm run load` computes from k6's summaries (load/analysis.js, scripts/load/report.ts) and the configuration
// of the local service it starts (scripts/load/service.ts): pure, no k6 and no server (test/e2e/load.test.ts runs
// them).
/** A k6 summary with the given submetrics (what `trackRoutes` makes k6 keep). */
function summaryOf(metrics: Record<string, Record<string, number>>): Summary {
	return { metrics: Object.fromEntries(Object.entries(metrics).map(([k, values]) => [k, { values }])) };
}

describe("load analysis (pure)", () => {
	it("stress: the knee is the last step sustained within the SLO (a lone failing step is transient); past it the peak is the capacity", () => {
		const step = (i: number, count: number, p95: number, failed = 0): Record<string, Record<string, number>> => ({
			[`http_reqs{route:health,step:${i}}`]: { count },
			[`http_req_duration{route:health,step:${i}}`]: { "p(95)": p95, "p(99)": p95 * 1.5, med: p95 / 2 },
			[`http_req_failed{route:health,step:${i}}`]: { rate: failed },
		});
		const data = summaryOf({ ...step(0, 100, 10), ...step(1, 199, 20), ...step(2, 300, 900), ...step(3, 310, 2000) });
		const r = stressRoute(data, "health", [10, 20, 40, 80], 10);
		expect(r.knee?.offered_rps).toBe(20);
		expect(r.past_knee?.offered_rps).toBe(40);
		// 300 of 400 started (25 % dropped) and p95 900 ms > 500 ms: both reasons.
		expect(r.past_knee_reason).toMatch(/25 % of arrivals dropped, SLO missed/);
		expect(r.saturated).toBe(true);
		expect(r.peak_rps).toBe(31);
		const unsaturated = stressRoute(summaryOf({ ...step(0, 100, 10), ...step(1, 200, 20) }), "health", [10, 20], 10);
		expect(unsaturated.knee?.offered_rps).toBe(20);
		expect(unsaturated.saturated).toBe(false);
		const errors = stressRoute(summaryOf({ ...step(0, 100, 10, 0.01) }), "health", [10], 10);
		expect(errors.knee).toBeNull();
		// One slow step between passing ones is transient, reported, not the knee; two in a row are the knee.
		const blip = stressRoute(
			summaryOf({ ...step(0, 100, 10), ...step(1, 200, 900), ...step(2, 400, 20), ...step(3, 500, 2000) }),
			"health",
			[10, 20, 40, 80],
			10,
		);
		expect(blip.knee?.offered_rps).toBe(40);
		expect(blip.transient.map((t) => t.offered_rps)).toEqual([20]);
		expect(blip.past_knee?.offered_rps).toBe(80);
		expect(stressTable([blip])).toMatch(/80 req\/s: .*SLO missed.*; transient at 20 req\/s: SLO missed \(p95 900 ms\)/);
		const twice = stressRoute(
			summaryOf({ ...step(0, 100, 10), ...step(1, 200, 900), ...step(2, 400, 900), ...step(3, 800, 20) }),
			"health",
			[10, 20, 40, 80],
			10,
		);
		expect(twice.knee?.offered_rps).toBe(10);
		expect(twice.past_knee?.offered_rps).toBe(20);
		expect(twice.transient).toEqual([]);
	});

	it("spike: recovery is the first of three seconds back within 2 × the pre-spike p95 at the base rate", () => {
		const metrics: Record<string, Record<string, number>> = {};
		// 10 s before (p95 10 ms), 5 s of spike, then 6 s slow, then back.
		const p95 = (s: number) => (s < 10 ? 10 : s < 21 ? 500 : 12);
		for (let s = 0; s < 30; s++) {
			metrics[`http_reqs{route:auth_me,sec:${s}}`] = { count: s >= 10 && s < 15 ? 150 : 20 };
			metrics[`http_req_duration{route:auth_me,sec:${s}}`] = { "p(95)": p95(s), "p(99)": p95(s), med: p95(s) };
		}
		metrics["http_reqs{route:auth_me,phase:spike}"] = { count: 750 };
		const r = spikeReport(summaryOf(metrics), "auth_me", { base: 20, spike: 200, preS: 10, spikeS: 5, postS: 15 });
		expect(r.reference_p95).toBe(10);
		expect(r.limit_p95).toBe(20);
		expect(r.recovery_s).toBe(6);
		expect(r.spike_achieved_rps).toBe(150);
	});

	it("ratios: capacity relative to /healthz only for saturated routes; comparisons honour direction and tolerance", () => {
		const route = (name: string, peak: number, saturated = true, capacity: number | null = null) => ({
			route: name,
			steps: [],
			knee: null,
			past_knee: null,
			past_knee_reason: "",
			transient: [],
			peak_rps: peak,
			saturated,
			capacity_rps: capacity,
			capacity_p50: null,
		});
		// Without a closed-loop phase: the staircase's peak, and only for routes driven past their knee.
		const ratios = ratiosOf({
			stress: {
				routes: [
					route("health", 200),
					route("chat", 100),
					route("ingest", 50, false),
					route("auth_me", 90),
					route("auth_me_bare", 120),
				],
			},
		});
		expect(ratios["stress.throughput.chat/health"]?.value).toBe(0.5);
		expect(ratios["stress.throughput.ingest/health"]).toBeUndefined();
		expect(ratios["stress.throughput.auth_me/auth_me_bare"]?.value).toBe(0.75);
		// With it: the closed-loop capacity, saturated or not.
		const closed = ratiosOf({ stress: { routes: [route("health", 200, true, 400), route("ingest", 50, false, 100)] } });
		expect(closed["stress.throughput.ingest/health"]?.value).toBe(0.25);
		const committed = {
			tolerance: 0.2,
			ratios: {
				"stress.throughput.chat/health": { value: 0.7, direction: "higher" as const, what: "" },
				"stress.throughput.auth_me/auth_me_bare": { value: 0.8, direction: "higher" as const, what: "" },
				"baseline.p50.auth_me/auth_me_bare": { value: 1.2, direction: "lower" as const, what: "", tolerance: 0.5 },
				"stress.throughput.rag_query/health": { value: 0.4, direction: "higher" as const, what: "" },
			},
		};
		const current = {
			...ratios,
			"baseline.p50.auth_me/auth_me_bare": { value: 1.7, direction: "lower" as const, what: "" },
		};
		const verdicts = Object.fromEntries(compareRatios(committed, current).map((c) => [c.key, c.verdict]));
		expect(verdicts).toEqual({
			"stress.throughput.chat/health": "regression", // 0.5 vs 0.7: −29 % > 20 %
			"stress.throughput.auth_me/auth_me_bare": "ok", // −6 %
			"baseline.p50.auth_me/auth_me_bare": "ok", // +42 %, within its own 50 %
			"stress.throughput.rag_query/health": "missing",
		});
		expect(compareRatios(committed, current, 0.4).find((c) => c.key.includes("chat"))?.verdict).toBe("ok");
	});

	it("memory drift: a saw-tooth with a flat floor has a flat floor slope; a rising floor does not", () => {
		const saw = Array.from({ length: 60 }, (_, i) => ({ t_s: i * 10, rss_mib: 300 + (i % 6) * 50 }));
		expect(Math.abs(memoryDrift(saw).floor_slope_mib_per_h ?? 1)).toBeLessThan(1);
		const leak = saw.map((s) => ({ ...s, rss_mib: s.rss_mib + s.t_s / 6 }));
		expect(memoryDrift(leak).floor_slope_mib_per_h).toBeCloseTo(600, -1);
	});

	it("the local service's configuration is wrangler.toml's, with the load Worker and the given variables", () => {
		const toml = readFileSync(path.join(REPO_ROOT, "wrangler.toml"), "utf8");
		const entry = path.join(REPO_ROOT, "scripts", "bench", "load-worker.ts");
		const out = loadConfigToml(toml, REPO_ROOT, entry, { RATE_LIMIT_POLICIES: JSON.stringify(CAPACITY_POLICIES) });
		expect(out).toContain(`main = ${JSON.stringify(entry)}`);
		expect(out).not.toMatch(/^migrations_dir = "migrations"$/m);
		expect(out).toContain(`migrations_dir = ${JSON.stringify(path.join(REPO_ROOT, "migrations"))}`);
		const vars = out.slice(out.indexOf("\n[vars]"), out.indexOf("\n[", out.indexOf("\n[vars]") + 1));
		expect(vars).toContain(`RATE_LIMIT_POLICIES = '${JSON.stringify(CAPACITY_POLICIES)}'`);
		// Everything else is untouched: the same lines in the same order.
		const strip = (s: string) =>
			s.split("\n").filter((l) => !/^(main|\s*migrations_dir|RATE_LIMIT_POLICIES) =/.test(l));
		expect(strip(out)).toEqual(strip(toml));
		// A second value of the same name replaces the first rather than making a duplicate TOML key.
		const twice = loadConfigToml(out, REPO_ROOT, entry, { RATE_LIMIT_POLICIES: "[]" });
		expect(twice.match(/RATE_LIMIT_POLICIES =/g)).toHaveLength(1);
		expect(() => loadConfigToml("name = 'x'", REPO_ROOT, entry, {})).toThrow(/main/);
		// The service accepts the capacity policies as RATE_LIMIT_POLICIES (the same schema parses them), and every
		// route meets the same policies as with the defaults, so each request makes the same limiter calls.
		const parsed = PoliciesSchema.parse(JSON.parse(JSON.stringify(CAPACITY_POLICIES)));
		for (const [method, route] of [
			["GET", "/v1/auth/me"],
			["POST", "/v1/chat/completions"],
			["POST", "/v1/auth/token"],
			["POST", "/v1/documents"],
			["POST", "/v1/rag/query"],
		] as const) {
			const names = (ps: readonly Policy[]) =>
				policiesFor(ps, method, route).map((p) => `${p.name}:${p.key}:${p.unit}`);
			expect(names(parsed), `${method} ${route}`).toEqual(names(DEFAULT_POLICIES));
			expect(names(parsed).length, `${method} ${route}`).toBeGreaterThan(0);
		}
	});
});
