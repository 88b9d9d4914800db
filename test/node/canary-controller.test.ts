import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CanaryError, Controller, type ControllerOptions } from "../../scripts/canary/controller.ts";
import { smokeFailureReason, summaryFailures } from "../../scripts/canary/k6.ts";
import { versionProbe } from "../../scripts/canary/propagation.ts";
import {
	prometheusSource,
	type SloSource,
	SloSourceError,
	samplesFromReport,
	sloApiSource,
} from "../../scripts/canary/slo-source.ts";
import {
	type CanaryState,
	parseSteps,
	type Settings,
	type StateStore,
	stateStore,
} from "../../scripts/canary/state.ts";
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
		/** Every deployment message, in order. */
		messages: [] as string[],
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
			async deploy(split: Split, message: string) {
				p.messages.push(message);
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
	propagation_timeout_ms: 30_000,
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
	/** Dies (throws Crash) instead of writing a state this returns true for: a crash right before that write. */
	crashBeforeSave?: (state: CanaryState) => boolean,
) {
	const file = stateStore(path.join(dir, "state.json"), {
		now: () => clock,
		out: (l) => lines.push(JSON.parse(l) as Record<string, unknown>),
	});
	const store: StateStore = {
		...file,
		save(state) {
			if (crashBeforeSave?.(state)) throw new Crash("died before writing the state");
			file.save(state);
		},
	};
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
const failing = () => {
	const s = healthy(500);
	(s[0] as RouteSample).canary.errors = 50;
	return s;
};

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
		expect(p.messages.slice(0, 2)).toEqual(["canary abc: 0 % (smoke test)", "canary abc: 5 %"]);
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

describe("Controller: resuming what a failure interrupted", () => {
	it("a crash after the upload's state write but before the 0 % deploy's resumes from the saved version: one upload", async () => {
		const p = memoryPlatform();
		const crashing = controller(
			p,
			() => healthy(500),
			{},
			(s) => s.phase === "smoke",
		);
		await expect(crashing.start({ tag: "abc", message: "m", steps, settings })).rejects.toBeInstanceOf(Crash);
		expect(p.uploads).toBe(1);
		const c = controller(p, () => healthy(500));
		await c.start({ tag: "abc", message: "m", steps, settings });
		expect(p.uploads).toBe(1);
		expect(lines.find((l) => l.event === "resumed")).toMatchObject({ phase: "uploading", uploaded: true });
		expect(p.deployments.at(-1)?.versions).toEqual([
			{ versionId: CANARY, percent: 0 },
			{ versionId: STABLE, percent: 100 },
		]);
	});

	it("a failed 0 % deploy is not taken for 0 %: the next step deploys NEW@0 before smoking it", async () => {
		const p = memoryPlatform();
		p.nextDeploy = "refuse";
		const c = controller(p, () => healthy(500));
		await expect(c.start({ tag: "abc", message: "m", steps, settings })).rejects.toThrow(/refused/);
		expect(p.deployments.at(-1)?.versions).toEqual([{ versionId: STABLE, percent: 100 }]);
		// The smoke test would judge stable's answers unless the canary is in the deployment when it runs.
		const smoked: Split[] = [];
		const resumed = controller(p, () => healthy(500), {
			smoke: async () => {
				smoked.push((p.deployments.at(-1) as Deployment).versions);
				return { ok: true };
			},
		});
		expect(await resumed.step()).toBe("advanced");
		expect(lines.find((l) => l.event === "reconciled")).toMatchObject({
			pending_percent: 0,
			live_percent: null,
			adopted: false,
		});
		expect(lines.find((l) => l.event === "redeploying")).toMatchObject({ percent: 0, live_percent: null });
		expect(smoked).toEqual([
			[
				{ versionId: CANARY, percent: 0 },
				{ versionId: STABLE, percent: 100 },
			],
		]);
		expect(p.deployments.map(share)).toEqual([0, 0, 5]);
	});

	it("a rollback whose deploy failed during run is retried by the next run, which then exits rolled back", async () => {
		const p = memoryPlatform();
		const c = controller(p, failing);
		await c.start({ tag: "abc", message: "m", steps, settings });
		expect(await c.step()).toBe("advanced");
		expect(await c.step()).toBe("held");
		p.nextDeploy = "refuse"; // the rollback deploy after the second failure
		await expect(c.step()).rejects.toThrow(/refused/);
		expect(share(p.deployments.at(-1))).toBe(5); // still live at 5 %
		expect(await controller(p, failing).run()).toBe("aborted");
		expect(p.deployments.at(-1)?.versions).toEqual([{ versionId: STABLE, percent: 100 }]);
		expect(lines.find((l) => l.event === "rollback-retried")).toMatchObject({ pending_percent: 0, live_percent: 5 });
		expect(lines.at(-1)).toMatchObject({ event: "aborted", reason: expect.stringMatching(/^2 failed evaluation/) });
		// Once rolled back, nothing more to do: no further deploy.
		const count = p.deployments.length;
		expect(await controller(p, failing).run()).toBe("aborted");
		expect(p.deployments.length).toBe(count);
	});

	it("an aborted rollout whose canary is live again is rolled back again", async () => {
		const p = memoryPlatform();
		const c = controller(p, () => healthy(500));
		await c.start({ tag: "abc", message: "m", steps, settings });
		await c.step();
		await c.abort("by hand");
		p.deployments.push({
			id: "again",
			createdOn: "t",
			versions: [
				{ versionId: CANARY, percent: 5 },
				{ versionId: STABLE, percent: 95 },
			],
		});
		expect(await c.step()).toBe("aborted");
		expect(p.deployments.at(-1)?.versions).toEqual([{ versionId: STABLE, percent: 100 }]);
		expect(lines.find((l) => l.event === "rollback-retried")).toMatchObject({ pending_percent: null, live_percent: 5 });
	});

	it("cuts deployment messages to the API's 100 bytes at a character, the tag first", async () => {
		const p = memoryPlatform();
		const c = controller(p, () => healthy(500));
		await c.start({ tag: "abc", message: "m", steps, settings });
		await c.abort(`p95 ≥ 2 s — ${"é".repeat(200)}`);
		const message = p.messages.at(-1) ?? "";
		expect(message.startsWith("canary abc: aborted: p95 ≥ 2 s — é")).toBe(true);
		expect(new TextEncoder().encode(message).length).toBeLessThanOrEqual(100);
		expect(new TextEncoder().encode(message).length).toBeGreaterThanOrEqual(99);
		expect(message).not.toContain("\uFFFD");
		// The state keeps the whole reason.
		expect(lines.at(-1)?.reason).toMatch(/é{200}$/);
	});

	it("refuses to promote a canary that was rolled back outside the controller", async () => {
		const p = memoryPlatform();
		const c = controller(p, () => healthy(500));
		await c.start({ tag: "abc", message: "m", steps, settings });
		await c.step();
		p.deployments.push({ id: "manual", createdOn: "t", versions: [{ versionId: STABLE, percent: 100 }] });
		const count = p.deployments.length;
		await expect(c.promote("by hand")).rejects.toThrow(/refusing to promote abc: .*rolled back outside/);
		expect(p.deployments.length).toBe(count);
		await expect(c.promote("by hand")).rejects.toThrow(/was aborted/);
	});

	it("waits for the new version to answer before the smoke test, and aborts with the reason when it never does", async () => {
		const p = memoryPlatform();
		const order: string[] = [];
		const waited = controller(p, () => healthy(500), {
			awaitVersion: async (id) => {
				order.push(`await ${id}`);
				return { ok: true, waitedMs: 1_500 };
			},
			smoke: async () => {
				order.push("smoke");
				return { ok: true };
			},
		});
		await waited.start({ tag: "abc", message: "m", steps, settings });
		expect(await waited.step()).toBe("advanced");
		expect(order).toEqual([`await ${CANARY}`, "smoke"]);
		expect(lines.map((l) => l.event)).toContain("propagated");

		const q = memoryPlatform();
		let smoked = false;
		const never = controller(q, () => healthy(500), {
			awaitVersion: async () => ({ ok: false, reason: "the new version was not served within 30 s" }),
			smoke: async () => {
				smoked = true;
				return { ok: true };
			},
		});
		rmSync(path.join(dir, "state.json"));
		await never.start({ tag: "def", message: "m", steps, settings });
		expect(await never.step()).toBe("aborted");
		expect(smoked).toBe(false);
		expect(lines.at(-1)).toMatchObject({ event: "aborted", reason: "the new version was not served within 30 s" });
		expect(q.deployments.at(-1)?.versions).toEqual([{ versionId: STABLE, percent: 100 }]);
	});
});

describe("the propagation probe", () => {
	it("polls /healthz pinned to the version until X-Worker-Version names it", async () => {
		let now = 0;
		const seen: { url: string; override: string | null }[] = [];
		const answers = [STABLE, STABLE, CANARY];
		const probe = versionProbe({
			baseUrl: "http://svc.invalid/",
			script: "edge-ai-api",
			timeoutMs: 30_000,
			now: () => now,
			sleep: async (ms) => {
				now += ms;
			},
			fetch: async (url, init) => {
				seen.push({ url, override: new Headers(init?.headers).get("Cloudflare-Workers-Version-Overrides") });
				return new Response("ok", { headers: { "X-Worker-Version": answers.shift() ?? CANARY } });
			},
		});
		expect(await probe(CANARY)).toEqual({ ok: true, waitedMs: 2_000 });
		expect(seen).toHaveLength(3);
		expect(seen[0]).toEqual({ url: "http://svc.invalid/healthz", override: `edge-ai-api="${CANARY}"` });
	});

	it("gives up after its timeout with what it last saw", async () => {
		let now = 0;
		let calls = 0;
		const probe = versionProbe({
			baseUrl: "http://svc.invalid",
			script: "edge-ai-api",
			timeoutMs: 5_000,
			intervalMs: 1_000,
			now: () => now,
			sleep: async (ms) => {
				now += ms;
			},
			fetch: async () => {
				calls++;
				if (calls === 2) throw new Error("connection reset");
				return new Response("ok", { headers: { "X-Worker-Version": STABLE } });
			},
		});
		const r = await probe(CANARY);
		expect(r.ok).toBe(false);
		if (!r.ok)
			expect(r.reason).toMatch(
				new RegExp(
					`^the new version ${CANARY} was not served within 5 s .*last answered 200 with X-Worker-Version ${STABLE}`,
				),
			);
		expect(calls).toBe(6); // t = 0, 1, …, 5 s
	});
});

describe("smoke failure reasons (k6 --summary-export)", () => {
	const summary = (checks: Record<string, [number, number]>, nested: Record<string, [number, number]> = {}) => {
		const group = (cs: Record<string, [number, number]>) =>
			Object.fromEntries(Object.entries(cs).map(([name, [passes, fails]]) => [name, { name, passes, fails }]));
		return {
			root_group: { checks: group(checks), groups: { g: { checks: group(nested), groups: {} } } },
			metrics: {
				checks: { thresholds: { "rate==1": true }, value: 0.9 },
				http_req_failed: { thresholds: { "rate==0": false }, value: 0 },
			},
		};
	};

	it("names every failed check (nested groups too) and every crossed threshold", () => {
		const s = summary(
			{ "health: status 200": [2, 0], "rag_search: finds the document just ingested": [1, 1] },
			{ "nested: body": [0, 2] },
		);
		expect(summaryFailures(s)).toEqual({
			checks: ["rag_search: finds the document just ingested (1/2 failed)", "nested: body (2/2 failed)"],
			thresholds: ["checks: rate==1"],
		});
		expect(
			smokeFailureReason(CANARY, 99, s, "level=error msg=\"thresholds on metrics 'checks' have been crossed\""),
		).toBe(
			"smoke test failed (k6 exit 99): failed checks: rag_search: finds the document just ingested (1/2 failed); nested: body (2/2 failed) — thresholds crossed: checks: rate==1",
		);
	});

	it("says when responses came from another version, and falls back to the output without a summary", () => {
		const s = summary({ [`health: X-Worker-Version is ${CANARY}`]: [0, 1], "health: status 200": [0, 1] });
		expect(smokeFailureReason(CANARY, 99, s, "")).toMatch(
			new RegExp(`did not come from ${CANARY} \\(the override was not applied\\): health: X-Worker-Version is`),
		);
		expect(smokeFailureReason(CANARY, 107, null, "some line\nReferenceError: x is not defined\n")).toBe(
			"smoke test failed (k6 exit 107): ReferenceError: x is not defined",
		);
	});
});

describe("the Prometheus source", () => {
	const vector = (rows: { metric: Record<string, string>; value: number }[]) => ({
		status: "success",
		data: { resultType: "vector", result: rows.map((r) => ({ metric: r.metric, value: [0, String(r.value)] })) },
	});
	const m = (version: string, extra: Record<string, string> = {}) => ({ http_route: "/v1/models", version, ...extra });
	function source(sloRows: { metric: Record<string, string>; value: number }[]) {
		return prometheusSource({
			url: "http://prom.invalid",
			fetch: async (url) => {
				const q = decodeURIComponent(new URL(url).searchParams.get("query") ?? "");
				let rows: { metric: Record<string, string>; value: number }[] = [];
				if (q.startsWith("slo_version:requests:"))
					rows = [
						{ metric: m(CANARY), value: 200.4 },
						{ metric: m(STABLE), value: 4_000 },
					];
				else if (q.startsWith("slo_version:errors:"))
					rows = [
						{ metric: m(CANARY), value: 0 },
						{ metric: m(STABLE), value: 0 },
					];
				else if (q.startsWith("slo_version:sli_error:")) rows = sloRows;
				else if (q.startsWith("sum by (http_route, version, le)"))
					rows = [
						{ metric: m(CANARY, { le: "0.5" }), value: 190 },
						{ metric: m(CANARY, { le: "1" }), value: 150 },
						{ metric: m(CANARY, { le: "1.0" }), value: 48 },
						{ metric: m(CANARY, { le: "+Inf" }), value: 200.4 },
					];
				return new Response(JSON.stringify(vector(rows)));
			},
		});
	}

	it("reads the histogram (one bound for `1` and `1.0`), and a missing slow-share series as no number, never 0", async () => {
		const samples = await source([
			{ metric: m(CANARY, { slo: "latency-p95" }), value: 0.05 },
			{ metric: m(STABLE, { slo: "latency-p95" }), value: 0.01 },
			{ metric: m(STABLE, { slo: "latency-p99" }), value: 0 },
		]).read({ canary: CANARY, stable: STABLE }, "5m");
		const canary = samples[0]?.canary;
		expect(canary?.requests).toBe(200);
		expect(canary?.histogram).toEqual([
			{ leMs: 500, count: 190 },
			{ leMs: 1_000, count: 198 },
			{ leMs: Number.POSITIVE_INFINITY, count: 200 },
		]);
		expect(canary?.latency.map((l) => l.slow)).toEqual([10, null]);
		expect(samples[0]?.stable?.latency.map((l) => l.slow)).toEqual([40, 0]);
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
		// /v1/slo is an operator route: a refusal says which key the controller needs.
		await expect(source({}, 403).read({ canary: CANARY, stable: STABLE }, "5m")).rejects.toThrow(
			/answered 403: .*CANARY_API_KEY must be an operator key/,
		);
		await expect(source(report).read({ canary: CANARY, stable: STABLE }, "1h")).rejects.toBeInstanceOf(SloSourceError);
	});
});
