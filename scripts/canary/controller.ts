import type { SloSource } from "./slo-source.ts";
import type { CanaryState, Settings, StateStore, Step } from "./state.ts";
import { judgeStep, type StepVerdict, type VerdictPolicy } from "./verdict.ts";
import type { Deployment, PendingMigration, Platform } from "./wrangler.ts";

/**
 * The canary loop, as a state machine over the state file (docs/canary.md#the-loop):
 *
 *   start: stable = the version at 100 % → upload the new version → deploy NEW@0 STABLE@100
 *   smoke: wait until NEW answers with the version override (propagation) → the smoke test against NEW only →
 *          first step, or abort
 *   step:  wait the step's interval → read per-version SLO numbers → verdict →
 *          pass: next step (the step before 100 % passing promotes: NEW@100) ·
 *          fail: after `maxFailures` failed evaluations abort, else re-bake ·
 *          inconclusive: top up traffic if enabled; after `maxInconclusive` evaluations abort, else re-bake
 *   abort: STABLE@100 with the reason · promote: NEW@100
 *
 * Every external action is bracketed by state writes (`pending_percent` before a deploy), and every command starts
 * by reconciling the state with the live deployment, so a crash at any point resumes without repeating a step's
 * bake or skipping one, an upload, or a rollback. Dependencies (platform, SLO source, propagation probe, smoke,
 * top-up, clock, sleep) are injected.
 *
 * @example
 * ```ts
 * const controller = new Controller({ platform, store, source, smoke, now: Date.now, sleep, policy, … });
 * await controller.start({ tag: "3f2c1ab", message: "canary 3f2c1ab", steps });
 * const outcome = await controller.run(); // "promoted" | "aborted"
 * ```
 */
export type ControllerOptions = {
	platform: Platform;
	store: StateStore;
	source: SloSource | null;
	smoke: (versionId: string) => Promise<{ ok: true } | { ok: false; reason: string }>;
	/**
	 * Waits until the new version answers requests pinned to it (a deployment takes seconds to propagate), before
	 * the smoke test; absent: no wait.
	 */
	awaitVersion?: (versionId: string) => Promise<{ ok: true; waitedMs: number } | { ok: false; reason: string }>;
	/** Sends `iterations` of top-up traffic to each version; null: no top-up. */
	topUp: ((versions: { canary: string; stable: string }, iterations: number) => Promise<void>) | null;
	policy: VerdictPolicy;
	window: string;
	/** Failed evaluations that abort the rollout. */
	maxFailures: number;
	/** Inconclusive evaluations at one step that abort it (no verdict is not a pass). */
	maxInconclusive: number;
	now: () => number;
	sleep: (ms: number) => Promise<void>;
	/** Wait after top-up traffic before re-reading (ms): the counters flush ~25 ms after each request. */
	settleMs?: number;
};

export class CanaryError extends Error {}

export type StepResult = "advanced" | "held" | "promoted" | "aborted";

const iso = (ms: number) => new Date(ms).toISOString();
const utf8 = new TextEncoder();

export function migrationRefusal(p: PendingMigration, platform: Pick<Platform, "env">): string {
	const env = platform.env ? ` --env ${platform.env}` : "";
	return (
		`refusing to start: the config has Durable Object migration(s) ${p.configTags.join(", ")} that the deployed script ` +
		`(at ${p.deployedTag ?? "no migration"}) has not applied, and a gradual deployment cannot carry a migration ` +
		`(the API refuses such a version upload). Apply it with a plain deploy first: \`wrangler deploy${env}\` ` +
		`(100 % at once; keep the migration alone in that release), then start the canary of the next change ` +
		`(docs/canary.md#durable-object-migrations)`
	);
}

export class Controller {
	private readonly o: ControllerOptions;
	constructor(options: ControllerOptions) {
		this.o = options;
	}

	private log(event: string, state: CanaryState | null, fields: Record<string, unknown> = {}) {
		this.o.store.log(event, {
			script: this.o.platform.scriptName,
			...(state ? { tag: state.tag, stable: state.stable_version, canary: state.canary_version } : {}),
			...fields,
		});
	}

	private save(state: CanaryState) {
		this.o.store.save(state);
	}

	private message(state: CanaryState, what: string) {
		// The API keeps 100 bytes of a deployment message: the tag first, cut at a character (UTF-8), never inside one.
		let out = "";
		let bytes = 0;
		for (const ch of `canary ${state.tag}: ${what}`) {
			bytes += utf8.encode(ch).length;
			if (bytes > 100) break;
			out += ch;
		}
		return out;
	}

	private async deploy(state: CanaryState, percent: number, what: string): Promise<void> {
		const canary = state.canary_version;
		if (!canary) throw new CanaryError("no canary version to deploy");
		state.pending_percent = percent;
		this.save(state);
		// Always both sides while splitting (wrangler would otherwise spread the remainder itself); one at 100 %.
		const split =
			percent >= 100
				? [{ versionId: canary, percent: 100 }]
				: [
						{ versionId: canary, percent },
						{ versionId: state.stable_version, percent: 100 - percent },
					];
		const deployment = await this.o.platform.deploy(split, this.message(state, what));
		state.percent = percent;
		state.pending_percent = null;
		// The step's bake counts from its traffic, and is saved with it: a crash cannot skip or restart it.
		state.step_started_at = iso(this.o.now());
		this.save(state);
		this.log("deployed", state, { percent, deployment, split });
	}

	/**
	 * The live deployment, checked against the state: a crash between a deploy and its state write is adopted.
	 * Returns the canary's live share — null when it is not in the deployment at all, which is not 0 %: at 0 % the
	 * version override reaches it, absent it does not.
	 */
	private async reconcile(state: CanaryState): Promise<number | null> {
		const live = await this.o.platform.currentDeployment();
		const ids = new Set([state.stable_version, state.canary_version]);
		const foreign = live.versions.filter((v) => !ids.has(v.versionId));
		if (foreign.length > 0) {
			throw new CanaryError(
				`the live deployment has version(s) ${foreign.map((v) => `${v.versionId} at ${v.percent} %`).join(", ")} that this canary did not deploy: someone deployed outside the controller; check \`wrangler deployments status\`, then abort or remove ${this.o.store.file}`,
			);
		}
		const share = canaryShare(live, state.canary_version);
		if (state.pending_percent !== null) {
			// A deploy that named the canary went through only if the canary is in the deployment at that share.
			const adopted = share !== null && share === state.pending_percent;
			this.log("reconciled", state, { pending_percent: state.pending_percent, live_percent: share, adopted });
			if (adopted) {
				// The deploy went through before the crash: its bake starts now (never shorter than planned).
				state.percent = share;
				state.step_started_at = iso(this.o.now());
			}
			state.pending_percent = null;
			this.save(state);
		}
		if (state.phase === "smoke") {
			// At 0 %, or not deployed at all (the 0 % deploy never happened: step() makes it again).
			if (share === null || share === 0) return share;
		} else if (share === state.percent) {
			return share;
		} else if (share === null || share === 0) {
			state.phase = "aborted";
			state.reason = "rolled back outside the controller (the canary no longer receives traffic)";
			this.save(state);
			this.log("aborted", state, { reason: state.reason });
			return share;
		}
		throw new CanaryError(
			`the live split (canary at ${share} %) differs from the controller's (${state.percent} %): the deployment was changed outside the controller; promote or abort explicitly`,
		);
	}

	private load(): CanaryState {
		const state = this.o.store.load();
		if (!state) throw new CanaryError(`no canary in progress (${this.o.store.file} does not exist): run start first`);
		return state;
	}

	async start(input: { tag: string; message: string; steps: Step[]; settings: Settings }): Promise<CanaryState> {
		const existing = this.o.store.load();
		if (existing && existing.phase !== "promoted" && existing.phase !== "aborted") {
			if (existing.tag !== input.tag || existing.phase !== "uploading") {
				throw new CanaryError(
					`a canary of ${existing.tag} is in progress (${existing.phase}, ${existing.percent} %): run it to its end, or promote or abort it first`,
				);
			}
		}
		const pending = await this.o.platform.pendingMigration();
		if (pending) throw new CanaryError(migrationRefusal(pending, this.o.platform));
		let state: CanaryState;
		if (existing && existing.phase === "uploading" && existing.tag === input.tag) {
			state = existing;
			this.log("resumed", state, { phase: state.phase, uploaded: state.canary_version !== null });
		} else {
			const live = await this.o.platform.currentDeployment();
			if (live.versions.length !== 1 || live.versions[0]?.percent !== 100) {
				throw new CanaryError(
					`the live deployment already splits traffic (${live.versions.map((v) => `${v.versionId} at ${v.percent} %`).join(", ")}): finish or roll back that rollout before starting another`,
				);
			}
			const now = iso(this.o.now());
			state = {
				schema: 1,
				script: this.o.platform.scriptName,
				env: this.o.platform.env,
				tag: input.tag,
				message: input.message,
				stable_version: live.versions[0].versionId,
				canary_version: null,
				phase: "uploading",
				steps: input.steps,
				settings: input.settings,
				step: -1,
				percent: 0,
				pending_percent: null,
				step_started_at: null,
				failures: 0,
				inconclusive: 0,
				verdicts: [],
				reason: null,
				started_at: now,
				updated_at: now,
			};
			this.save(state);
			this.log("started", state, { steps: input.steps.map((s) => s.percent) });
		}
		// A crash after the upload's save but before the 0 % deploy's resumes from the saved version: no second upload.
		if (state.canary_version === null) {
			state.canary_version = await this.o.platform.upload(state.tag, state.message);
			this.save(state);
			this.log("uploaded", state, {});
		}
		state.phase = "smoke";
		await this.deploy(state, 0, "0 % (smoke test)");
		return state;
	}

	/** Runs step after step until the rollout is promoted or aborted. */
	async run(): Promise<"promoted" | "aborted"> {
		for (;;) {
			const r = await this.step();
			if (r === "promoted" || r === "aborted") return r;
		}
	}

	/**
	 * One move of the loop: the smoke test (then the first step), or one step's bake and verdict. Resumes from the
	 * state file; a finished rollout is reported, not repeated.
	 */
	async step(): Promise<StepResult> {
		const state = this.load();
		if (state.phase === "promoted") return "promoted";
		if (state.phase === "aborted") {
			// A rollback whose deploy failed (or a canary still live after one) is retried, not left at its share.
			if (await this.rollbackUnfinished(state)) await this.rollback(state);
			return "aborted";
		}
		if (state.phase === "uploading")
			throw new CanaryError(`the upload of ${state.tag} did not finish: run start --tag ${state.tag} again`);
		const share = await this.reconcile(state);
		// Reconciling may find the canary rolled back outside the controller.
		if ((state.phase as CanaryState["phase"]) === "aborted") return "aborted";
		if (state.phase === "smoke") {
			const canary = state.canary_version ?? "";
			if (share === null) {
				// The 0 % deploy of start failed (or never happened): the override cannot reach a version that is not
				// in the deployment, so the smoke test would judge stable's answers. Deploy it first.
				this.log("redeploying", state, { percent: 0, live_percent: null });
				await this.deploy(state, 0, "0 % (smoke test)");
			}
			if (this.o.awaitVersion) {
				const reached = await this.o.awaitVersion(canary);
				if (!reached.ok) {
					this.log("propagation-failed", state, { reason: reached.reason });
					await this.abort(reached.reason);
					return "aborted";
				}
				this.log("propagated", state, { waited_ms: reached.waitedMs });
			}
			this.log("smoke-started", state, {});
			const smoke = await this.o.smoke(canary);
			if (!smoke.ok) {
				this.log("smoke-failed", state, { reason: smoke.reason });
				await this.abort(smoke.reason);
				return "aborted";
			}
			this.log("smoke-passed", state, {});
			return this.enterStep(state, 0);
		}
		const step = state.steps[state.step];
		if (!step) throw new CanaryError(`state step ${state.step} is outside the plan`);
		if (step.percent !== state.percent) {
			// The deploy that entered this step never happened (it failed, or a crash came first): do it now.
			this.log("redeploying", state, { percent: step.percent, live_percent: state.percent });
			return this.enterStep(state, state.step);
		}
		const startedAt = state.step_started_at ? Date.parse(state.step_started_at) : this.o.now();
		const wait = startedAt + step.intervalMs - this.o.now();
		if (wait > 0) await this.o.sleep(wait);
		const verdict = await this.evaluate(state);
		state.verdicts.push({
			at: iso(this.o.now()),
			percent: state.percent,
			outcome: verdict.outcome,
			reasons: verdict.reasons,
			judged_routes: verdict.judgedRoutes,
			source: this.o.source?.describe ?? "none",
			window: this.o.window,
		});
		this.save(state);
		this.log("verdict", state, {
			percent: state.percent,
			outcome: verdict.outcome,
			judged_routes: verdict.judgedRoutes,
			reasons: verdict.reasons,
		});
		if (verdict.outcome === "pass") return this.enterStep(state, state.step + 1);
		if (verdict.outcome === "fail") {
			state.failures++;
			this.save(state);
			if (state.failures >= this.o.maxFailures) {
				await this.abort(
					`${state.failures} failed evaluation(s) at ${state.percent} %; last: ${verdict.failures.join("; ")}`,
				);
				return "aborted";
			}
		} else {
			state.inconclusive++;
			this.save(state);
			if (state.inconclusive >= this.o.maxInconclusive) {
				await this.abort(
					`no conclusive verdict after ${state.inconclusive} evaluations at ${state.percent} %: ${verdict.reasons[0] ?? "no data"}`,
				);
				return "aborted";
			}
		}
		// Another bake at the same share before the next evaluation.
		state.step_started_at = iso(this.o.now());
		this.save(state);
		return "held";
	}

	private async enterStep(state: CanaryState, index: number): Promise<StepResult> {
		const next = state.steps[index];
		if (!next || next.percent >= 100) {
			await this.promote("every step passed");
			return "promoted";
		}
		state.phase = "stepping";
		state.step = index;
		state.failures = 0;
		state.inconclusive = 0;
		// Until the deploy's own save, a crash leaves the previous bake start: the resumed step bakes anew (reconcile).
		state.step_started_at = iso(this.o.now());
		await this.deploy(state, next.percent, `${next.percent} %`);
		return "advanced";
	}

	private async evaluate(state: CanaryState): Promise<StepVerdict> {
		const source = this.o.source;
		if (!source) throw new CanaryError("no SLO source configured (--url and CANARY_API_KEY, or PROMETHEUS_URL)");
		const versions = { canary: state.canary_version ?? "", stable: state.stable_version };
		const samples = await source.read(versions, this.o.window);
		let verdict = judgeStep(samples, this.o.policy);
		if (verdict.outcome === "inconclusive" && this.o.topUp) {
			// The largest shortfall of either side on any route (every route of the window, or none seen at all), from
			// the numbers the verdict was judged on.
			const min = this.o.policy.minRequests;
			const deficit =
				samples.length === 0
					? min
					: Math.max(0, ...samples.map((s) => min - Math.min(s.canary.requests, s.stable?.requests ?? 0)));
			if (deficit > 0) {
				this.log("top-up", state, { iterations_per_version: deficit });
				await this.o.topUp(versions, deficit);
				await this.o.sleep(this.o.settleMs ?? 1_000);
				verdict = judgeStep(await source.read(versions, this.o.window), this.o.policy);
			}
		}
		return verdict;
	}

	async promote(reason: string): Promise<void> {
		const state = this.load();
		if (state.phase === "promoted") return;
		if (state.phase === "aborted")
			throw new CanaryError(`the canary of ${state.tag} was aborted: ${state.reason ?? ""}`);
		if (!state.canary_version) throw new CanaryError(`the upload of ${state.tag} did not finish: nothing to promote`);
		await this.reconcile(state);
		if ((state.phase as CanaryState["phase"]) === "aborted") {
			throw new CanaryError(
				`refusing to promote ${state.tag}: the live deployment no longer sends it traffic (rolled back outside the controller), so the rollout is recorded as aborted; start a new canary of it to roll it out again`,
			);
		}
		await this.deploy(state, 100, "promoted (100 %)");
		state.phase = "promoted";
		state.reason = reason;
		this.save(state);
		this.log("promoted", state, { reason });
	}

	async abort(reason: string): Promise<void> {
		const state = this.load();
		if (state.phase === "promoted") throw new CanaryError(`the canary of ${state.tag} is already promoted`);
		if (state.phase === "aborted") {
			// An abort whose rollback deploy failed may be retried (with its first reason); a finished one may not.
			if (!(await this.rollbackUnfinished(state)))
				throw new CanaryError(`the canary of ${state.tag} is already aborted`);
			await this.rollback(state);
			return;
		}
		state.phase = "aborted";
		state.reason = reason;
		await this.rollback(state);
	}

	/**
	 * Whether an aborted rollout still needs its rollback deploy: it was interrupted (the state still says
	 * `pending_percent`), or the live split still gives the canary traffic.
	 */
	private async rollbackUnfinished(state: CanaryState): Promise<boolean> {
		if (!state.canary_version) return false;
		const share = canaryShare(await this.o.platform.currentDeployment(), state.canary_version);
		const unfinished = state.pending_percent !== null || (share !== null && share > 0);
		if (unfinished)
			this.log("rollback-retried", state, { pending_percent: state.pending_percent, live_percent: share });
		return unfinished;
	}

	/** STABLE@100 for an aborted state. The deploy may fail (API down): the state keeps a pending 0 % to retry. */
	private async rollback(state: CanaryState): Promise<void> {
		if (state.canary_version) {
			state.pending_percent = 0;
			this.save(state);
			const split = [{ versionId: state.stable_version, percent: 100 }];
			const deployment = await this.o.platform.deploy(split, this.message(state, `aborted: ${state.reason ?? ""}`));
			state.percent = 0;
			state.pending_percent = null;
			this.save(state);
			this.log("deployed", state, { percent: 0, deployment, split });
		} else {
			this.save(state);
		}
		this.log("aborted", state, { reason: state.reason });
	}

	/** The state and the live deployment, for `status`. */
	async status(): Promise<{ state: CanaryState | null; live: Deployment }> {
		return { state: this.o.store.load(), live: await this.o.platform.currentDeployment() };
	}
}

/** The canary's share of the deployment (%), or null when it is not in it (which is not 0 %: see reconcile). */
export function canaryShare(d: Deployment, canary: string | null): number | null {
	if (canary === null) return null;
	return d.versions.find((v) => v.versionId === canary)?.percent ?? null;
}
