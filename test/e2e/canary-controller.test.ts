import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CanaryError, Controller, type ControllerOptions } from "../../scripts/canary/controller.ts";
import { type SloSource, SloSourceError, samplesFromReport, sloApiSource } from "../../scripts/canary/slo-source.ts";
import { parseSteps, type Settings, stateStore } from "../../scripts/canary/state.ts";
import { DEFAULT_POLICY, type RouteSample } from "../../scripts/canary/verdict.ts";
import type { Deployment, Platform, Split } from "../../scripts/canary/wrangler.ts";

// The controller's state machine at its crash points, with an in-memory platform and a manual clock (no sleeping):
// the real wrangler/API path is test/e2e/canary.test.ts. Each "crash" is an exception at the exact point a process
// could die; the next command must resume from the state file alone.
const STABLE = "00000000-0000-4000-8000-0000000000aa";
const CANARY = "00000000-0000-4000-8000-0000000000bb";

class Crash extends Error {}

function memoryPlatform() {
	const deployments: Deployment[] = [{ id: "d0", createdOn: "t0", versions: [{ versionId: STABLE, percent: 100 }] }];
	const p = {
		deployments,
		uploads: 0,
		/** Next deploy: "apply-then-crash" applies the split and then dies; "refuse" applies nothing. */
		nextDeploy: "ok" as "ok" | "apply-then-crash" | "refuse",
		platform: {
			scriptName: "edge-ai-api",
			env: "production",
			async currentDeployment() {
				return deployments.at(-1) as Deployment;
			},
			async upload() {
				p.uploads++;
				return CANARY;
			},
			async deploy(split: Split) {
				const mode = p.nextDeploy;
				p.nextDeploy = "ok";
				if (mode === "refuse") throw new Error("API refused the deployment");
				if (split.reduce((s, v) => s + v.percent, 0) !== 100) throw new Error("must sum to 100");
				deployments.push({ id: `d${deployments.length}`, createdOn: "t", versions: split });
				if (mode === "apply-then-crash") throw new Crash("died after the deploy, before saving");
				return `d${deployments.length - 1}`;
			},
			async pendingMigration() {
				return null;
			},
		} satisfies Platform,
	};
	return p;
}

const healthy = (n: number): RouteSample[] => [
	{
		route: "/v1/models",
		objectives: { availability: 0.999, latency: [{ quantile: 0.95, thresholdMs: 500 }] },
		canary: { requests: n, errors: 0, latency: [{ quantile: 0.95, thresholdMs: 500, slow: 0, valueMs: null }] },
		stable: { requests: 10 * n, errors: 0, latency: [{ quantile: 0.95, thresholdMs: 500, slow: 0, valueMs: null }] },
	},
];

const settings: Settings = {
	url: "http://service.invalid",
	window: "5m",
	min_requests: 100,
	max_ratio: 1.1,
	min_effect_error_ratio: null,
	min_effect_slow_ratio: null,
	latency_min_effect_ms: 50,
	alpha: 0.05,
	required_routes: [],
	max_failures: 2,
	max_inconclusive: 3,
	top_up: false,
	top_up_rate: 10,
};

let dir: string;
let clock: number;
let lines: Record<string, unknown>[];
beforeEach(() => {
	dir = mkdtempSync(path.join(tmpdir(), "canary-controller-"));
	clock = Date.parse("2026-12-01T00:00:00Z");
	lines = [];
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function controller(
	p: ReturnType<typeof memoryPlatform>,
	samples: () => RouteSample[],
	extra: Partial<ControllerOptions> = {},
) {
	const store = stateStore(path.join(dir, "state.json"), {
		now: () => clock,
		out: (l) => lines.push(JSON.parse(l) as Record<string, unknown>),
	});
	const source: SloSource = { describe: "memory", read: async () => samples() };
	return new Controller({
		platform: p.platform,
		store,
		source,
		smoke: async () => ({ ok: true }),
		topUp: null,
		policy: { ...DEFAULT_POLICY, minRequests: 100 },
		window: "5m",
		maxFailures: 2,
		maxInconclusive: 3,
		now: () => clock,
		sleep: async (ms) => {
			clock += ms;
		},
		...extra,
	});
}
const steps = parseSteps("5,50,100", 60_000);
const share = (d: Deployment | undefined) => d?.versions.find((v) => v.versionId === CANARY)?.percent ?? 0;

describe("Controller crash points", () => {
	it("a crash after a deploy but before its state write is adopted, and that step still bakes in full", async () => {
		const p = memoryPlatform();
		const c = controller(p, () => healthy(500));
		await c.start({ tag: "abc", message: "m", steps, settings });
		expect(await c.step()).toBe("advanced"); // smoke passed → 5 %
		// 5 % passes; the 50 % deploy goes through, then the process dies before saving it.
		p.nextDeploy = "apply-then-crash";
		await expect(c.step()).rejects.toBeInstanceOf(Crash);
		expect(share(p.deployments.at(-1))).toBe(50);
		const before = clock;
		const resumed = controller(p, () => healthy(500));
		expect(await resumed.step()).toBe("promoted");
		expect(lines.find((l) => l.event === "reconciled")).toMatchObject({ pending_percent: 50, adopted: true });
		// The adopted 50 % step baked its whole interval, was judged once, and was deployed once.
		expect(clock - before).toBe(60_000);
		expect(lines.filter((l) => l.event === "verdict").map((l) => l.percent)).toEqual([5, 50]);
		expect(p.deployments.map(share)).toEqual([0, 0, 5, 50, 100]);
		expect(p.uploads).toBe(1);
	});

	it("a deploy the API refused is redeployed by the next command, not skipped", async () => {
		const p = memoryPlatform();
		const c = controller(p, () => healthy(500));
		await c.start({ tag: "abc", message: "m", steps, settings });
		p.nextDeploy = "refuse";
		await expect(c.step()).rejects.toThrow(/refused/); // smoke passed, entering 5 % failed
		expect(share(p.deployments.at(-1))).toBe(0);
		const start = clock;
		expect(await controller(p, () => healthy(500)).step()).toBe("advanced");
		expect(lines.some((l) => l.event === "redeploying" && l.percent === 5)).toBe(true);
		expect(share(p.deployments.at(-1))).toBe(5);
		// The 5 % bake starts at that deploy: the next evaluation waits the whole interval.
		expect(await controller(p, () => healthy(500)).step()).toBe("advanced");
		expect(clock - start).toBe(60_000);
	});

	it("an abort whose rollback deploy failed can be retried, and then is final", async () => {
		const p = memoryPlatform();
		const c = controller(p, () => healthy(500));
		await c.start({ tag: "abc", message: "m", steps, settings });
		await c.step();
		p.nextDeploy = "refuse";
		await expect(c.abort("by hand")).rejects.toThrow(/refused/);
		await c.abort("again");
		expect(p.deployments.at(-1)?.versions).toEqual([{ versionId: STABLE, percent: 100 }]);
		await expect(c.abort("third")).rejects.toThrow(/already aborted/);
		expect(lines.filter((l) => l.event === "aborted").at(-1)).toMatchObject({ reason: "by hand" });
	});

	it("refuses to act on a deployment changed outside the controller, and notices a manual rollback", async () => {
		const p = memoryPlatform();
		const c = controller(p, () => healthy(500));
		await c.start({ tag: "abc", message: "m", steps, settings });
		await c.step();
		p.deployments.push({
			id: "x",
			createdOn: "t",
			versions: [
				{ versionId: "00000000-0000-4000-8000-0000000000cc", percent: 10 },
				{ versionId: STABLE, percent: 90 },
			],
		});
		await expect(c.step()).rejects.toThrow(/outside the controller/);
		p.deployments.push({ id: "y", createdOn: "t", versions: [{ versionId: STABLE, percent: 100 }] });
		expect(await c.step()).toBe("aborted");
		expect(lines.at(-1)).toMatchObject({ event: "aborted", reason: expect.stringMatching(/rolled back outside/) });
	});

	it("will not start while traffic is split or another canary is in progress", async () => {
		const p = memoryPlatform();
		p.deployments.push({
			id: "s",
			createdOn: "t",
			versions: [
				{ versionId: STABLE, percent: 90 },
				{ versionId: "00000000-0000-4000-8000-0000000000cc", percent: 10 },
			],
		});
		await expect(controller(p, () => []).start({ tag: "abc", message: "m", steps, settings })).rejects.toThrow(
			/already splits traffic/,
		);
		const q = memoryPlatform();
		const c = controller(q, () => healthy(500));
		await c.start({ tag: "abc", message: "m", steps, settings });
		await expect(c.start({ tag: "def", message: "m", steps, settings })).rejects.toBeInstanceOf(CanaryError);
	});

	it("rolls back after --max-failures failed evaluations, naming the failed checks", async () => {
		const p = memoryPlatform();
		const bad = () => {
			const s = healthy(500);
			(s[0] as RouteSample).canary.errors = 50;
			return s;
		};
		const c = controller(p, bad);
		await c.start({ tag: "abc", message: "m", steps, settings });
		await c.step();
		expect(await c.step()).toBe("held");
		expect(await c.step()).toBe("aborted");
		expect(lines.at(-1)).toMatchObject({
			event: "aborted",
			reason: expect.stringMatching(/^2 failed evaluation\(s\) at 5 %; last: \/v1\/models: .*error ratio 10\.0 %/),
		});
		expect(p.deployments.at(-1)?.versions).toEqual([{ versionId: STABLE, percent: 100 }]);
	});
});

describe("the /v1/slo source", () => {
	const report = {
		object: "slo_report",
		generated_at: "2026-12-01T00:00:00Z",
		routes: [
			{
				route: "/v1/chat/completions",
				version: CANARY,
				objectives: { availability: 0.995, latency: [{ quantile: 0.95, threshold_ms: 2000 }] },
				error_budget_remaining: 1,
				windows: {
					"5m": {
						requests: 40,
						errors: 2,
						availability: 0.95,
						burn_rate: 10,
						latency: [{ quantile: 0.95, threshold_ms: 2000, compliance: 0.75, burn_rate: 5 }],
					},
				},
			},
			{
				route: "/v1/chat/completions",
				version: "another-version",
				objectives: { availability: 0.995, latency: [{ quantile: 0.95, threshold_ms: 2000 }] },
				error_budget_remaining: 1,
				windows: {
					"5m": {
						requests: 9,
						errors: 0,
						availability: 1,
						burn_rate: 0,
						latency: [{ quantile: 0.95, threshold_ms: 2000, compliance: 1, burn_rate: 0 }],
					},
				},
			},
		],
	};

	it("turns compliance into slow-request counts, per version, ignoring other versions", () => {
		// biome-ignore lint/suspicious/noExplicitAny: a literal shaped like the zod schema's input
		const samples = samplesFromReport(report as any, { canary: CANARY, stable: STABLE }, "5m");
		expect(samples).toEqual([
			{
				route: "/v1/chat/completions",
				objectives: { availability: 0.995, latency: [{ quantile: 0.95, thresholdMs: 2000 }] },
				canary: { requests: 40, errors: 2, latency: [{ quantile: 0.95, thresholdMs: 2000, slow: 10, valueMs: null }] },
				stable: null,
			},
		]);
	});

	it("refuses an answer that is not a report, naming the field, and a missing window", async () => {
		const source = (body: unknown, status = 200) =>
			sloApiSource({
				baseUrl: "http://svc.invalid",
				apiKey: "k",
				fetch: async () => new Response(JSON.stringify(body), { status }),
			});
		await expect(source({ object: "list" }).read({ canary: CANARY, stable: STABLE }, "5m")).rejects.toThrow(
			/unexpected body \(object: /,
		);
		await expect(source({}, 403).read({ canary: CANARY, stable: STABLE }, "5m")).rejects.toThrow(/answered 403/);
		await expect(source(report).read({ canary: CANARY, stable: STABLE }, "1h")).rejects.toBeInstanceOf(SloSourceError);
	});
});
