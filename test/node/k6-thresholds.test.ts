import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ROUTES, THRESHOLDS } from "../../load/thresholds.gen.js";
import { REPO_ROOT } from "../../scripts/lib/repository-root.ts";
import { K6_ROUTES, renderK6Thresholds } from "../../scripts/observability/k6-thresholds.ts";
import { sloFor } from "../../src/slo/spec";

// The k6 thresholds generated from the SLO spec (load/thresholds.gen.js), which every load script is judged by.
describe("k6 thresholds from the SLO spec", () => {
	it("load/thresholds.gen.js is what renderK6Thresholds() returns (regenerate with npm run gen:observability)", () => {
		expect(readFileSync(path.join(REPO_ROOT, "load", "thresholds.gen.js"), "utf8")).toBe(renderK6Thresholds());
	});

	it("keys every route name's objectives by the spec: TTFB for time-to-first-token routes, error ratio = 1 − availability", () => {
		expect(Object.keys(ROUTES).sort()).toEqual(K6_ROUTES.map((r) => r.name).sort());
		for (const r of K6_ROUTES) {
			const slo = sloFor(r.route);
			const metric = slo.timeToFirstToken ? "http_req_waiting" : "http_req_duration";
			expect(THRESHOLDS[`${metric}{route:${r.name}}`]).toEqual(
				slo.latency.map((l) => `p(${l.quantile * 100})<=${l.thresholdMs}`),
			);
			const [failed] = THRESHOLDS[`http_req_failed{route:${r.name}}`] ?? [];
			expect(Number(failed?.replace("rate<=", ""))).toBeCloseTo(1 - slo.availability, 12);
		}
		// The seeds' figures, as a spot check of the spec wiring.
		expect(THRESHOLDS["http_req_waiting{route:chat_stream}"]).toEqual(["p(95)<=2000", "p(99)<=5000"]);
		expect(THRESHOLDS["http_req_duration{route:health}"]).toEqual(["p(95)<=500", "p(99)<=1000"]);
	});
});
