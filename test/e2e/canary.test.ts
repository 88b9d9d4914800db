import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { findK6, runSmoke } from "../../scripts/canary/k6.ts";
import {
	ACCOUNT_ID,
	API_TOKEN,
	BACKENDS,
	type RehearsalEnvironment,
	SCRIPT,
	startRehearsalEnvironment,
} from "../../scripts/canary/local/environment.ts";
import { runController, startTraffic, type Transition } from "../../scripts/canary/local/rehearsal.ts";
import { prometheusSource, sloApiSource } from "../../scripts/canary/slo-source.ts";
import { DEFAULT_POLICY, judgeStep } from "../../scripts/canary/verdict.ts";
import { readWranglerConfig } from "../../scripts/canary/wrangler.ts";
import { DEMO_KEY, OPS_KEY } from "../../scripts/lib/local-credentials.ts";
import { REPO_ROOT } from "../../scripts/lib/repository-root.ts";
import { hasPrometheus, type LocalPrometheus, startPrometheus } from "../helpers/node/prometheus";

// The canary controller end to end: the real `wrangler` (4.155.0) against the fake Cloudflare API on loopback, the
// real Worker (two local versions behind the rehearsal router, sharing Durable Objects and D1), the real k6 smoke
// test and the real /v1/slo. Bakes are 2 s (options, never sleeps in the test); the rollback of a faulty candidate
// and a plain promotion are the rehearsal (canary-local.test.ts). Each test's smoke runs as a tenant of its own
// (env.canaryKeys): an aborted smoke leaves its documents behind, and they must not change another test's answers.
// /metrics and /v1/slo need an operator key (tenant `platform`, scope metrics:read): the controller's CANARY_API_KEY
// and the Prometheus scrape (the seeded one) use one; the demo key is a tenant key.
// The smoke test is k6 (.ci/run puts ../shared/bin on PATH): skipped locally without it, an error in CI.
const hasK6 = (() => {
	try {
		findK6(REPO_ROOT);
		return true;
	} catch {
		return false;
	}
})();
if (!hasK6 && process.env.CI) throw new Error("k6 is not installed (K6_BIN or PATH): the canary tests need it");
let env: RehearsalEnvironment;
let prometheus: LocalPrometheus | undefined;

beforeAll(async () => {
	env = await startRehearsalEnvironment({ backends: ["stable", "quiet", "resumed"] });
}, 180_000);
afterAll(async () => {
	prometheus?.stop();
	await env?.stop();
});

/** A real Prometheus scraping the rehearsal (every version reads the same shards) with the generated version rules. */
async function startVersionPrometheus(): Promise<string> {
	prometheus = await startPrometheus({
		dir: env.dir,
		target: env.url.replace("http://", ""),
		ruleFiles: [path.join(REPO_ROOT, "alerts", "version-rules.yml")],
	});
	return prometheus.base;
}

const api = (p: string, init: RequestInit = {}) =>
	fetch(`${env.api.url}/client/v4/accounts/${ACCOUNT_ID}/workers/scripts/${SCRIPT}${p}`, {
		...init,
		headers: {
			Authorization: `Bearer ${API_TOKEN}`,
			...(init.body instanceof FormData ? {} : { "Content-Type": "application/json" }),
			...init.headers,
		},
	});
const deployTo = (versions: { version_id: string; percentage: number }[]) =>
	api("/deployments", { method: "POST", body: JSON.stringify({ strategy: "percentage", versions }) });
/** Uploads a version (as `wrangler versions upload` would) unless an earlier test did, so tests also run alone. */
async function ensureUploaded(spec: (typeof BACKENDS)[keyof typeof BACKENDS]) {
	if (env.api.version(SCRIPT, spec.versionId)) return;
	const form = new FormData();
	form.set("metadata", JSON.stringify({ main_module: "index.js", annotations: { "workers/tag": spec.tag } }));
	form.set("index.js", new Blob(["export default {}"], { type: "application/javascript+module" }), "index.js");
	const res = await api("/versions", { method: "POST", body: form });
	expect(res.status, await res.clone().text()).toBe(200);
}
const canaryShares = (version: string) =>
	env.api.deployments(SCRIPT).map((d) => d.versions.find((v) => v.version_id === version)?.percentage ?? null);
const stateFile = (name: string) => path.join(env.dir, `test-${name}.state.json`);
/** The controller's environment with an API key of the test's own tenant and an operator key of its own. */
const controllerEnvFor = async (name: string) => ({
	...env.controllerEnv,
	...(await env.canaryKeys(`canary-test-${name}`)),
});
const flags = (name: string, steps: string, extra: string[] = []) => [
	"--url",
	env.url,
	"--state",
	stateFile(name),
	"--steps",
	steps,
	"--interval",
	"2s",
	"--min-requests",
	"40",
	...extra,
];

describe("the fake Cloudflare API enforces the platform's rules", () => {
	it("refuses bad tokens, more than two versions, splits not summing to 100, unknown versions and migrations in uploads", async () => {
		const bad = await fetch(`${env.api.url}/client/v4/accounts/${ACCOUNT_ID}/workers/scripts/${SCRIPT}/deployments`, {
			headers: { Authorization: "Bearer wrong" },
		});
		expect(((await bad.json()) as { errors: { code: number }[] }).errors[0]?.code).toBe(10000);
		const stable = BACKENDS.stable.versionId;
		const three = await deployTo([
			{ version_id: stable, percentage: 50 },
			{ version_id: BACKENDS.quiet.versionId, percentage: 25 },
			{ version_id: BACKENDS.resumed.versionId, percentage: 25 },
		]);
		expect(three.status).toBe(400);
		expect(await three.text()).toMatch(/at most two versions/);
		const sum = await deployTo([{ version_id: stable, percentage: 90 }]);
		expect(await sum.text()).toMatch(/"code":10223.*sum to 100/);
		const unknown = await deployTo([{ version_id: "00000000-0000-4000-8000-00000000dead", percentage: 100 }]);
		expect(await unknown.text()).toMatch(/"code":10224/);
		const form = new FormData();
		form.set(
			"metadata",
			JSON.stringify({
				main_module: "index.js",
				migrations: { new_tag: "v5", steps: [{ new_sqlite_classes: ["X"] }] },
			}),
		);
		form.set("index.js", new Blob(["export default {}"], { type: "application/javascript+module" }), "index.js");
		const upload = await fetch(`${env.api.url}/client/v4/accounts/${ACCOUNT_ID}/workers/scripts/${SCRIPT}/versions`, {
			method: "POST",
			headers: { Authorization: `Bearer ${API_TOKEN}` },
			body: form,
		});
		expect(await upload.text()).toMatch(/"code":10211.*Durable Object migration/);
		// Versions older than a Durable Object migration are not deployable (checked on a script of its own).
		const other = "other-worker";
		const old = env.api.seedScript(other, { migrationTag: "v1" });
		const migrated = env.api.applyMigration(other, "v2");
		const deployOther = (version_id: string) =>
			fetch(`${env.api.url}/client/v4/accounts/${ACCOUNT_ID}/workers/scripts/${other}/deployments`, {
				method: "POST",
				headers: { Authorization: `Bearer ${API_TOKEN}`, "Content-Type": "application/json" },
				body: JSON.stringify({
					strategy: "percentage",
					versions: [
						{ version_id, percentage: 10 },
						{ version_id: migrated, percentage: 90 },
					],
				}),
			});
		expect(await (await deployOther(old)).text()).toMatch(/"code":10224.*not deployable/);
		// None of those changed the live deployment.
		expect(env.api.latestDeployment(SCRIPT)?.versions).toEqual([{ version_id: stable, percentage: 100 }]);
	});
});

describe.skipIf(!hasK6)("npm run canary (controller + wrangler + fake API + local Workers)", () => {
	it("refuses a pending Durable Object migration before uploading anything, naming the plain-deploy procedure", async () => {
		// The deployed script one migration behind wrangler.toml's last tag (as the rehearsal seeded it).
		const tags = (
			readWranglerConfig({ cwd: REPO_ROOT, env: null }) as { migrations: { tag: string }[] }
		).migrations.map((m) => m.tag);
		const [previous, latest] = tags.slice(-2);
		if (!previous || !latest) throw new Error(`wrangler.toml needs two migrations for this test (has ${tags})`);
		env.api.setMigrationTag(SCRIPT, previous);
		try {
			const before = env.api.mutations().length;
			const r = await runController(env.controllerEnv, [
				"start",
				"--tag",
				"rehearsal-quiet",
				...flags("migration", "1,100"),
			]);
			expect(r.code).toBe(1);
			const lines = r.stderr.trim().split("\n");
			expect(lines).toHaveLength(1);
			expect(lines[0]).toMatch(
				new RegExp(
					`^canary: refusing to start: .*migration\\(s\\) ${latest} .*\\(at ${previous}\\).*plain deploy first: \`wrangler deploy\``,
				),
			);
			expect(env.api.mutations().slice(before)).toEqual([]);
		} finally {
			env.api.setMigrationTag(SCRIPT, latest);
		}
	});

	it("holds a low-traffic step as inconclusive, never promotes it, and rolls back after --max-inconclusive", async () => {
		const name = "quiet";
		const controllerEnv = await controllerEnvFor(name);
		const start = await runController(controllerEnv, [
			"start",
			"--tag",
			BACKENDS.quiet.tag,
			...flags(name, "1,50,100", ["--max-inconclusive", "3"]),
		]);
		expect(start.code, start.stderr).toBe(0);
		const run = await runController(controllerEnv, ["run", "--state", stateFile(name)]);
		expect(run.code, run.stderr).toBe(4);
		// The smoke test waited for the 0 % deployment to answer pinned requests first.
		const events = run.transitions.map((t) => t.event);
		expect(events.indexOf("propagated")).toBeGreaterThanOrEqual(0);
		expect(events.indexOf("propagated")).toBeLessThan(events.indexOf("smoke-started"));
		const verdicts = run.transitions.filter((t) => t.event === "verdict");
		expect(verdicts.map((v) => v.outcome)).toEqual(["inconclusive", "inconclusive", "inconclusive"]);
		expect(((verdicts[0]?.reasons as string[] | undefined) ?? []).join(" ")).toMatch(/fewer than 40 canary requests/);
		// Never beyond the first step; the last deployment is stable alone.
		const shares = canaryShares(BACKENDS.quiet.versionId).filter((p) => p !== null);
		expect(shares).toEqual([0, 1]);
		expect(env.api.latestDeployment(SCRIPT)?.versions).toEqual([
			{ version_id: BACKENDS.stable.versionId, percentage: 100 },
		]);
		const aborted = run.transitions.find((t) => t.event === "aborted");
		expect(aborted?.reason).toMatch(/no conclusive verdict after 3 evaluations at 1 %/);
		// `status` shows it, and the state file and its JSON-lines log agree.
		const status = await runController(controllerEnv, ["status", "--state", stateFile(name)]);
		expect(status.stderr).toBe("");
		const state = JSON.parse(readFileSync(stateFile(name), "utf8")) as { phase: string; verdicts: unknown[] };
		expect(state.phase).toBe("aborted");
		expect(state.verdicts).toHaveLength(3);
		const log = readFileSync(stateFile(name).replace(/\.json$/, ".log.jsonl"), "utf8")
			.trim()
			.split("\n");
		expect(log.map((l) => (JSON.parse(l) as Transition).event)).toEqual([
			...start.transitions.map((t) => t.event),
			...run.transitions.map((t) => t.event),
		]);
	}, 150_000);

	it("routes like the platform: overrides only to deployed versions, a version key sticks, both share Durable Objects", async () => {
		await ensureUploaded(BACKENDS.quiet);
		const quiet = BACKENDS.quiet.versionId;
		const stable = BACKENDS.stable.versionId;
		expect(
			(
				await deployTo([
					{ version_id: quiet, percentage: 50 },
					{ version_id: stable, percentage: 50 },
				])
			).status,
		).toBe(200);
		// The router caches the split for 250 ms.
		await new Promise((r) => setTimeout(r, 400));
		try {
			const headers = { Authorization: `Bearer ${DEMO_KEY}`, "Content-Type": "application/json" };
			const versionOf = async (extra: Record<string, string>, p = "/v1/models") =>
				(await fetch(`${env.url}${p}`, { headers: { ...headers, ...extra } })).headers.get("x-worker-version");
			for (let i = 0; i < 5; i++) {
				expect(await versionOf({ "Cloudflare-Workers-Version-Overrides": `${SCRIPT}="${quiet}"` })).toBe(quiet);
			}
			// A version outside the deployment is ignored (the answer comes from the split).
			const outside = await versionOf({
				"Cloudflare-Workers-Version-Overrides": `${SCRIPT}="${BACKENDS.resumed.versionId}"`,
			});
			expect([quiet, stable]).toContain(outside);
			const seen = new Set<string>();
			for (let k = 0; k < 12; k++) {
				const versions = new Set<string | null>();
				for (let i = 0; i < 4; i++)
					versions.add(await versionOf({ "Cloudflare-Workers-Version-Key": `conversation-${k}` }));
				expect(versions.size).toBe(1);
				for (const v of versions) if (v) seen.add(v);
			}
			expect(seen).toEqual(new Set([quiet, stable]));
			// A conversation written through one version is read through the other: the same Durable Object.
			const conversation = `canary-shared-${Date.now()}`;
			const chat = await fetch(`${env.url}/v1/chat/completions`, {
				method: "POST",
				headers: { ...headers, "Cloudflare-Workers-Version-Overrides": `${SCRIPT}="${quiet}"` },
				body: JSON.stringify({
					conversation_id: conversation,
					messages: [{ role: "user", content: "remember me" }],
					max_tokens: 8,
				}),
			});
			expect(chat.status, await chat.clone().text()).toBe(200);
			const read = await fetch(`${env.url}/v1/conversations/${conversation}`, {
				headers: { ...headers, "Cloudflare-Workers-Version-Overrides": `${SCRIPT}="${stable}"` },
			});
			expect(read.headers.get("x-worker-version")).toBe(stable);
			expect(JSON.stringify(await read.json())).toContain("remember me");
		} finally {
			await deployTo([{ version_id: stable, percentage: 100 }]);
			await new Promise((r) => setTimeout(r, 400));
		}
	});

	it("a smoke test whose override the platform ignores fails on X-Worker-Version instead of passing on stable", async () => {
		// The version is not in the deployment, so the router (like Cloudflare) ignores the override: stable answers.
		const missing = BACKENDS.resumed.versionId;
		const keys = await env.canaryKeys("canary-test-ignored-override");
		const r = await runSmoke({
			cwd: REPO_ROOT,
			baseUrl: env.url,
			apiKey: keys.CANARY_TENANT_KEY,
			opsKey: keys.CANARY_API_KEY,
			script: SCRIPT,
			versionId: missing,
		});
		expect(r.ok).toBe(false);
		// The reason names the failed check (from k6's summary), not only "thresholds … have been crossed".
		if (!r.ok)
			expect(r.reason).toMatch(
				new RegExp(
					`did not come from ${missing} \\(the override was not applied\\): [^;]+: X-Worker-Version is ${missing} \\(\\d+/\\d+ failed\\)`,
				),
			);
		expect(env.routerLines().some((l) => l.version === missing)).toBe(false);
	}, 120_000);

	it.skipIf(!hasPrometheus)(
		"reads the same per-version numbers from Prometheus (generated slo_version rules) as from /v1/slo",
		async () => {
			const promUrl = await startVersionPrometheus();
			await ensureUploaded(BACKENDS.quiet);
			const quiet = BACKENDS.quiet.versionId;
			const stable = BACKENDS.stable.versionId;
			await deployTo([
				{ version_id: quiet, percentage: 50 },
				{ version_id: stable, percentage: 50 },
			]);
			await new Promise((r) => setTimeout(r, 400));
			try {
				const headers = { Authorization: `Bearer ${DEMO_KEY}`, "Content-Type": "application/json" };
				const send = (version: string, n: number) =>
					Promise.all(
						Array.from({ length: n }, (_, i) =>
							fetch(`${env.url}${i % 2 ? "/v1/auth/me" : "/v1/models"}`, {
								headers: { ...headers, "Cloudflare-Workers-Version-Overrides": `${SCRIPT}="${version}"` },
							}).then((r) => r.arrayBuffer()),
						),
					);
				// increase() cannot count a series' first sample (it has no earlier one): make the series exist and be
				// scraped first, as a canary's series are within a scrape interval of its first requests.
				await send(quiet, 2);
				await send(stable, 2);
				const seriesQuery = encodeURIComponent(
					`count(http_server_request_duration_seconds_count{version=~"${quiet}|${stable}",http_route=~"/v1/models|/v1/auth/me"})`,
				);
				await expect
					.poll(
						async () => {
							const r = (await (await fetch(`${promUrl}/api/v1/query?query=${seriesQuery}`)).json()) as {
								data: { result: { value: [number, string] }[] };
							};
							return Number(r.data.result[0]?.value[1] ?? 0);
						},
						{ timeout: 30_000, interval: 500 },
					)
					.toBe(4);
				const versions = { canary: quiet, stable };
				const api = sloApiSource({ baseUrl: env.url, apiKey: OPS_KEY });
				// The exact counts of this test's traffic: /v1/slo after minus before (its window also holds earlier tests').
				const before = await api.read(versions, "5m");
				await send(quiet, 60);
				await send(stable, 60);
				await new Promise((r) => setTimeout(r, 200)); // the recorder flushes ~25 ms after a request
				const fromApi = await api.read(versions, "5m");
				const sent = (route: string, side: "canary" | "stable") =>
					(fromApi.find((s) => s.route === route)?.[side]?.requests ?? 0) -
					(before.find((s) => s.route === route)?.[side]?.requests ?? 0);
				/** This test's requests slower than objective `i`'s threshold, by /v1/slo's exact counts. */
				const slowSent = (route: string, side: "canary" | "stable", i: number) =>
					(fromApi.find((s) => s.route === route)?.[side]?.latency[i]?.slow ?? 0) -
					(before.find((s) => s.route === route)?.[side]?.latency[i]?.slow ?? 0);
				const source = prometheusSource({ url: promUrl });
				const routes = ["/v1/models", "/v1/auth/me"];
				/** The largest relative gap between Prometheus's counts and the requests this test sent. */
				const gap = (fromProm: typeof fromApi) =>
					Math.max(
						...routes.flatMap((route) =>
							(["canary", "stable"] as const).map((side) => {
								const exact = sent(route, side);
								expect(exact).toBe(30);
								const seen = fromProm.find((s) => s.route === route)?.[side]?.requests ?? 0;
								return Math.abs(seen - exact) / exact;
							}),
						),
					);
				// Rules evaluate every second on 1 s scrapes; increase() extrapolates over the window: within a fifth.
				let fromProm = await source.read(versions, "5m");
				await expect
					.poll(
						async () => {
							fromProm = await source.read(versions, "5m");
							return gap(fromProm);
						},
						{ timeout: 30_000, interval: 1_000 },
					)
					.toBeLessThanOrEqual(0.2);
				for (const route of routes) {
					const a = fromApi.find((s) => s.route === route);
					const b = fromProm.find((s) => s.route === route);
					expect(b?.objectives).toEqual(a?.objectives);
					for (const side of ["canary", "stable"] as const) {
						expect(b?.[side]?.errors).toBe(0);
						// Slow requests as /v1/slo counted them (how many there are depends on how busy the machine is).
						for (const i of [0, 1]) {
							const exact = slowSent(route, side, i);
							const seen = b?.[side]?.latency[i]?.slow;
							expect(seen, `${route} ${side} objective ${i}`).not.toBeNull();
							expect(Math.abs((seen ?? 0) - exact), `${route} ${side} objective ${i}`).toBeLessThanOrEqual(
								1 + 0.2 * sent(route, side),
							);
						}
						// Prometheus also has the quantiles and the histogram /v1/slo does not.
						const p95 = b?.[side]?.latency[0]?.valueMs ?? null;
						expect(p95).not.toBeNull();
						if (slowSent(route, side, 0) === 0) expect(p95).toBeLessThanOrEqual(500);
						expect(b?.[side]?.histogram?.at(-1)?.leMs).toBe(Number.POSITIVE_INFINITY);
					}
				}
				// Both sources lead to the same decision on the same healthy traffic: never a failure.
				const verdict = (samples: typeof fromApi) =>
					judgeStep(
						samples.filter((s) => s.route === "/v1/models" || s.route === "/v1/auth/me"),
						{ ...DEFAULT_POLICY, minRequests: 20 },
					);
				expect(verdict(fromProm).outcome, verdict(fromProm).reasons.join("\n")).not.toBe("fail");
				expect(verdict(fromApi).outcome, verdict(fromApi).reasons.join("\n")).not.toBe("fail");
				expect(verdict(fromProm).judgedRoutes).toEqual(verdict(fromApi).judgedRoutes);
			} finally {
				prometheus?.stop();
				await deployTo([{ version_id: stable, percentage: 100 }]);
				await new Promise((r) => setTimeout(r, 400));
			}
		},
		90_000,
	);

	it("resumes after a crash between a deploy and its state write: no second upload, no step repeated or skipped, then promotes", async () => {
		const name = "resumed";
		const version = BACKENDS.resumed.versionId;
		const controllerEnv = await controllerEnvFor(name);
		const traffic = startTraffic(env.url, { rate: 4 });
		let kill: (() => void) | undefined;
		// SIGKILL the controller the moment the API accepts the 5 % deployment, before wrangler has even answered it:
		// the deploy happened, the state file still says it is pending.
		const stopWatching = env.api.onDeployment((_script, d) => {
			if (d.versions.some((v) => v.version_id === version && v.percentage === 5)) kill?.();
		});
		try {
			const uploadsBefore = env.api.mutations().filter((c) => c.path.endsWith("/versions")).length;
			const extra = ["--top-up", "--top-up-rate", "5"];
			const start = await runController(controllerEnv, [
				"start",
				"--tag",
				BACKENDS.resumed.tag,
				...flags(name, "1,5,25,100", extra),
			]);
			expect(start.code, start.stderr).toBe(0);
			const crashed = await runController(controllerEnv, ["run", "--state", stateFile(name)], undefined, (k) => {
				kill = k;
			});
			stopWatching();
			const why = (r: { transitions: Transition[]; stderr: string }) =>
				JSON.stringify(r.transitions.filter((t) => t.event === "verdict" || t.event === "aborted")) + r.stderr;
			expect(crashed.code, why(crashed)).toBeNull();
			const verdicts = (r: { transitions: Transition[] }) => r.transitions.filter((t) => t.event === "verdict");
			// The 1 % step passed (after any number of held evaluations), and the 5 % deploy was never recorded.
			expect(verdicts(crashed).at(-1)).toMatchObject({ percent: 1, outcome: "pass" });
			expect(crashed.transitions.some((t) => t.event === "deployed" && t.percent === 5)).toBe(false);
			const saved = JSON.parse(readFileSync(stateFile(name), "utf8")) as { percent: number; pending_percent: number };
			expect(saved).toMatchObject({ percent: 1, pending_percent: 5 });
			expect(env.api.latestDeployment(SCRIPT)?.versions.find((v) => v.version_id === version)?.percentage).toBe(5);

			const resumed = await runController(controllerEnv, ["run", "--state", stateFile(name)]);
			expect(resumed.code, why(resumed)).toBe(0);
			expect(resumed.transitions.find((t) => t.event === "reconciled")).toMatchObject({
				pending_percent: 5,
				live_percent: 5,
				adopted: true,
			});
			// Judged at 5 % and 25 % only (held evaluations allowed), each step passed once, then promoted.
			expect([...new Set(verdicts(resumed).map((t) => t.percent))]).toEqual([5, 25]);
			expect(
				verdicts(resumed)
					.filter((t) => t.outcome === "pass")
					.map((t) => t.percent),
			).toEqual([5, 25]);
			expect(resumed.transitions.at(-1)?.event).toBe("promoted");
			expect(env.api.mutations().filter((c) => c.path.endsWith("/versions")).length).toBe(uploadsBefore + 1);
			// Each share deployed exactly once, in order, both sides named while splitting; then the new version alone.
			const mine = env.api.deployments(SCRIPT).filter((d) => d.versions.some((v) => v.version_id === version));
			expect(mine.map((d) => d.versions)).toEqual([
				...[0, 1, 5, 25].map((p) => [
					{ version_id: version, percentage: p },
					{ version_id: BACKENDS.stable.versionId, percentage: 100 - p },
				]),
				[{ version_id: version, percentage: 100 }],
			]);
			const smoke = env.routerLines().filter((l) => l.version === version && l.how === "override");
			expect(smoke.length).toBeGreaterThan(20);
		} finally {
			stopWatching();
			await traffic.stop();
		}
	}, 240_000);
});
