import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../scripts/lib/repository-root.ts";
import { counterValues, sparseCounterValues } from "../../scripts/observability/promtool-tests.ts";
import { RULE_FILES, rulesOf } from "../helpers/node/alert-rules";

// Streams that fail after their first byte are failed requests wherever failures are counted (docs/slo.md, "Which
// responses are bad"). promtool proves the maths on chosen traffic (alerts/tests/failed-streams.test.yml, run by
// test/e2e/alerts.test.ts); this checks every generated expression, rules and dashboard panels alike, for the two
// mistakes a new one could make: counting 5xx (or non-5xx within a threshold) without the failed streams of the same
// selection, and reading the failed-stream histogram without a fallback for when it has no series at all.
const REQUESTS = "http_server_request_duration_seconds";
const FAILED = "http_server_failed_stream_duration_seconds";

type Expr = { where: string; expr: string };

function expressions(): Expr[] {
	const rules = RULE_FILES.flatMap((f) =>
		rulesOf(f).map((r) => ({ where: `alerts/${f}: ${r.record ?? r.alert}`, expr: r.expr ?? "" })),
	);
	const dir = path.join(REPO_ROOT, "dashboards");
	const panels = readdirSync(dir)
		.filter((f) => f.endsWith(".json"))
		.flatMap((f) => {
			const d = JSON.parse(readFileSync(path.join(dir, f), "utf8")) as {
				panels: { title: string; targets?: { expr: string }[] }[];
			};
			return d.panels.flatMap((p) =>
				(p.targets ?? []).map((t) => ({ where: `dashboards/${f}: ${p.title}`, expr: t.expr })),
			);
		});
	return [...rules, ...panels];
}

/** Every series selector of a histogram in `expr`: the suffix (`count`, `bucket`) and its matchers as text. */
function selectors(expr: string, metric: string): { suffix: string; matchers: string[] }[] {
	const out: { suffix: string; matchers: string[] }[] = [];
	for (const m of expr.matchAll(new RegExp(`${metric}_(count|bucket)\\{([^}]*)\\}`, "g"))) {
		const matchers = [...(m[2] ?? "").matchAll(/\w+(?:=~|!~|!=|=)"(?:[^"\\]|\\.)*"/g)].map((x) => x[0]);
		out.push({ suffix: m[1] ?? "", matchers: matchers.sort() });
	}
	return out;
}

const FIVE_XX = 'http_response_status_code=~"5.."';
const NOT_FIVE_XX = 'http_response_status_code!~"5.."';

describe("streams failed after their first byte in the generated rules and dashboards", () => {
	const all = expressions();

	it("finds the expressions to check", () => {
		// Rules (SLIs of every SLO and window, per version) and panels (error ratios by route and by version).
		const counting = all.filter((e) => e.expr.includes(FIVE_XX) || e.expr.includes(NOT_FIVE_XX));
		expect(counting.length).toBeGreaterThan(100);
		expect(counting.some((e) => e.where.startsWith("dashboards/service-overview.json"))).toBe(true);
		expect(counting.some((e) => e.where.startsWith("dashboards/canary.json"))).toBe(true);
		expect(counting.some((e) => e.where.includes("High5xxRatio"))).toBe(true);
	});

	it("count failed streams beside every count of 5xx, and subtract them from every count of non-5xx within a threshold", () => {
		const missing: string[] = [];
		for (const { where, expr } of all) {
			const failed = selectors(expr, FAILED).map((s) => `${s.suffix}{${s.matchers.join(", ")}}`);
			for (const s of selectors(expr, REQUESTS)) {
				const status = s.matchers.find((m) => m === FIVE_XX || m === NOT_FIVE_XX);
				if (!status) continue;
				// 5xx counts need the failed streams' count; good (non-5xx) requests within a bound, their bucket.
				if (status === FIVE_XX && s.suffix !== "count") missing.push(`${where}: 5xx selected from ${s.suffix}`);
				if (status === NOT_FIVE_XX && s.suffix !== "bucket") missing.push(`${where}: non-5xx from ${s.suffix}`);
				const same = `${s.suffix}{${s.matchers.filter((m) => m !== status).join(", ")}}`;
				if (!failed.includes(same))
					missing.push(`${where}: ${REQUESTS}_${s.suffix} with ${status} but no ${FAILED}_${same}`);
			}
		}
		expect(missing).toEqual([]);
	});

	it("read the failed-stream histogram only with a fallback for when it has no series (`or on (…)`)", () => {
		const unguarded: string[] = [];
		let reads = 0;
		for (const { where, expr } of all) {
			for (const m of expr.matchAll(
				new RegExp(`${FAILED}_(?:count|bucket)\\{[^}]*\\}\\[[^\\]]+\\]\\)\\)(.{0,8})`, "g"),
			)) {
				reads++;
				if (!m[1]?.startsWith(" or on (")) unguarded.push(`${where}: ${m[0]}`);
			}
		}
		expect(unguarded).toEqual([]);
		expect(reads).toBeGreaterThan(100);
	});
});

describe("promtool notation of the test series", () => {
	it("writes a counter from minute 0, one sample a minute", () => {
		// 0 at minute 0, 20 a minute for 70 minutes, then 0 a minute for 10: 81 samples.
		expect(
			counterValues([
				{ minutes: 70, perMinute: 20 },
				{ minutes: 10, perMinute: 0 },
			]),
		).toBe("0+20x70 1400+0x9");
	});

	it("writes a counter that appears with its first increase: missing samples until then", () => {
		// Nothing for 60 minutes, then 10 a minute for 40: no sample at minutes 0…60 (61 of them), 10 at minute 61.
		expect(
			sparseCounterValues([
				{ minutes: 60, perMinute: 0 },
				{ minutes: 40, perMinute: 10 },
			]),
		).toBe("_x61 10+10x39");
		expect(sparseCounterValues([{ minutes: 70, perMinute: 3 }])).toBe("_x1 3+3x69");
		// A bucket below every failed stream's duration appears with the histogram's count, at 0.
		expect(sparseCounterValues([{ minutes: 70, perMinute: 0 }], 1)).toBe("_x1 0+0x69");
		// An increase in the first minute only, then none: one sample of 5 at minute 1, then 5 until the end.
		expect(
			sparseCounterValues([
				{ minutes: 1, perMinute: 5 },
				{ minutes: 3, perMinute: 0 },
			]),
		).toBe("_x1 5+0x3");
		// Never increasing: no series at all.
		expect(sparseCounterValues([{ minutes: 30, perMinute: 0 }])).toBe("");
	});
});
