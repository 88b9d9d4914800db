import { type ChildProcess, spawn } from "node:child_process";
import path from "node:path";
import { DEMO_KEY } from "../../lib/local-credentials.ts";
import { REPO_ROOT } from "../../lib/repository-root.ts";
import { BACKENDS, type RehearsalEnvironment, type RouterLine } from "./environment.ts";
import type { ApiDeployment } from "./fake-cloudflare-api.ts";

/**
 * The pieces of the rehearsal that drive the stage (environment.ts): the controller CLI as a child process (exactly
 * what a pipeline runs), steady background traffic through the router, and the timing report.
 */
export type Transition = { time: string; event: string } & Record<string, unknown>;

export type ControllerRun = { code: number | null; transitions: Transition[]; stderr: string };

/**
 * Runs `scripts/canary/cli.ts <args>` with the rehearsal's environment. `onTransition` sees each JSON line as it
 * comes and may return "kill" to SIGKILL the controller there (the crash tests); `onSpawn` receives a function that
 * SIGKILLs it at any other moment (e.g. from the fake API, while wrangler's deploy is being answered).
 */
export function runController(
	env: Record<string, string>,
	args: string[],
	onTransition: (t: Transition) => undefined | "kill" = () => undefined,
	onSpawn: (kill: () => void) => void = () => {},
): Promise<ControllerRun> {
	return new Promise((resolve, reject) => {
		const child: ChildProcess = spawn(
			process.execPath,
			[path.join(REPO_ROOT, "scripts", "canary", "cli.ts"), ...args],
			{
				cwd: REPO_ROOT,
				env: { ...process.env, ...env },
				stdio: ["ignore", "pipe", "pipe"],
			},
		);
		onSpawn(() => child.kill("SIGKILL"));
		const transitions: Transition[] = [];
		let stderr = "";
		let partial = "";
		child.stdout?.on("data", (d) => {
			partial += String(d);
			const lines = partial.split("\n");
			partial = lines.pop() ?? "";
			for (const l of lines) {
				if (!l.startsWith("{")) continue;
				const t = JSON.parse(l) as Transition;
				transitions.push(t);
				if (onTransition(t) === "kill") child.kill("SIGKILL");
			}
		});
		child.stderr?.on("data", (d) => {
			stderr += String(d);
		});
		child.on("error", reject);
		child.on("exit", (code) => resolve({ code, transitions, stderr }));
	});
}

export type Traffic = { stop(): Promise<void>; sent(): number };

/**
 * Steady background traffic through the router, as users would send it: `rate` requests/s (a mix of model listing,
 * `/v1/auth/me` and chat completions), chat carrying `Cloudflare-Workers-Version-Key` from its conversation id so a
 * conversation stays on one version.
 */
export function startTraffic(url: string, options: { rate: number; conversations?: number }): Traffic {
	let stopped = false;
	let sent = 0;
	const inflight = new Set<Promise<void>>();
	const headers = { Authorization: `Bearer ${DEMO_KEY}`, "Content-Type": "application/json" };
	const conversations = options.conversations ?? 20;
	const one = async (n: number) => {
		const kind = n % 5;
		try {
			if (kind === 0 || kind === 2) {
				const conversation = `rehearsal-conv-${n % conversations}`;
				await fetch(`${url}/v1/chat/completions`, {
					method: "POST",
					headers: { ...headers, "Cloudflare-Workers-Version-Key": conversation },
					body: JSON.stringify({ messages: [{ role: "user", content: `hello ${n}` }], max_tokens: 8 }),
					signal: AbortSignal.timeout(30_000),
				}).then((r) => r.arrayBuffer());
			} else {
				await fetch(`${url}${kind === 1 ? "/v1/auth/me" : "/v1/models"}`, {
					headers,
					signal: AbortSignal.timeout(30_000),
				}).then((r) => r.arrayBuffer());
			}
		} catch {
			// The router logs what users saw; a refused connection at shutdown is not a finding.
		}
	};
	const timer = setInterval(() => {
		if (stopped || inflight.size > 64) return;
		const p = one(sent++).finally(() => inflight.delete(p));
		inflight.add(p);
	}, 1_000 / options.rate);
	return {
		sent: () => sent,
		async stop() {
			stopped = true;
			clearInterval(timer);
			await Promise.all(inflight);
		},
	};
}

/** What a request looked like to its client: bad when it broke an objective of its route. */
export function isBad(line: RouterLine): boolean {
	if (line.status >= 500) return true;
	// Chat's p95 objective: 2 s to the first byte (src/slo/spec.ts).
	return line.path === "/v1/chat/completions" && line.ms > 2_000;
}

export type PhaseReport = {
	candidate: string;
	version: string;
	outcome: "promoted" | "aborted" | "unfinished";
	reason: string | null;
	verdicts: { at: string; percent: number; outcome: string; reasons: string[] }[];
	/** First response of the candidate that broke an objective (router log; the smoke test's included), if any. */
	firstBadRequestAt: string | null;
	/** First such response to user traffic (routed by split or version key, not pinned by an override). */
	firstBadUserRequestAt: string | null;
	/** First failing verdict. */
	detectedAt: string | null;
	/** The deployment that sent all traffic back to stable (the fake API accepted it). */
	rolledBackAt: string | null;
	/** The last response the candidate served. */
	lastCandidateResponseAt: string | null;
	/** First bad request → first failing verdict (s). */
	detectionSeconds: number | null;
	/** First bad request → the deployment that sent every request back to stable (s). */
	rollbackSeconds: number | null;
	/** First failing verdict → that deployment (s). */
	verdictToRollbackSeconds: number | null;
	candidateRequests: number;
	candidateBadRequests: number;
	/** The candidate's 5xx answers (bad by status alone: latency depends on how busy the machine is). */
	candidateErrors: number;
	/** The candidate's share in each deployment that named it, in order (%). */
	canaryShares: number[];
	/** The live split when the phase ended. */
	finalSplit: { version_id: string; percentage: number }[];
};

const secondsBetween = (a: string | null, b: string | null) =>
	a && b ? Math.round((Date.parse(b) - Date.parse(a)) / 100) / 10 : null;

export function phaseReport(
	name: keyof typeof BACKENDS,
	run: ControllerRun,
	lines: RouterLine[],
	deployments: ApiDeployment[],
): PhaseReport {
	const version = BACKENDS[name].versionId;
	const mine = lines.filter((l) => l.version === version);
	const bad = mine.filter(isBad);
	const verdicts = run.transitions
		.filter((t) => t.event === "verdict")
		.map((t) => ({
			at: t.time,
			percent: Number(t.percent),
			outcome: String(t.outcome),
			reasons: (t.reasons as string[] | undefined) ?? [],
		}));
	const aborted = run.transitions.find((t) => t.event === "aborted");
	const promoted = run.transitions.find((t) => t.event === "promoted");
	const firstBad = bad[0]?.time ?? null;
	const detectedAt = verdicts.find((v) => v.outcome === "fail")?.at ?? null;
	const rollback = aborted
		? (deployments
				.filter(
					(d) => d.versions.length === 1 && d.versions[0]?.percentage === 100 && d.versions[0].version_id !== version,
				)
				.map((d) => d.created_on)
				.filter((t) => Date.parse(t) >= Date.parse(firstBad ?? aborted.time) || !firstBad)
				.sort()[0] ?? null)
		: null;
	return {
		candidate: BACKENDS[name].what,
		version,
		outcome: promoted ? "promoted" : aborted ? "aborted" : "unfinished",
		reason: (aborted?.reason as string | undefined) ?? (promoted?.reason as string | undefined) ?? null,
		verdicts,
		firstBadRequestAt: firstBad,
		firstBadUserRequestAt: bad.find((l) => l.how !== "override")?.time ?? null,
		detectedAt,
		rolledBackAt: rollback,
		lastCandidateResponseAt: mine.at(-1)?.time ?? null,
		detectionSeconds: secondsBetween(firstBad, detectedAt),
		rollbackSeconds: secondsBetween(firstBad, rollback),
		verdictToRollbackSeconds: secondsBetween(detectedAt, rollback),
		candidateRequests: mine.length,
		candidateBadRequests: bad.length,
		candidateErrors: mine.filter((l) => l.status >= 500).length,
		canaryShares: deployments.flatMap((d) =>
			d.versions.filter((x) => x.version_id === version).map((x) => x.percentage),
		),
		finalSplit: deployments.at(-1)?.versions ?? [],
	};
}

export type RehearsalReport = { url: string; phases: PhaseReport[] };

/** The controller flags the rehearsal uses: short bakes, a small minimum sample, and top-up traffic. */
export function rehearsalFlags(env: RehearsalEnvironment, stateFile: string, intervalS: number): string[] {
	return [
		"--url",
		env.url,
		"--state",
		stateFile,
		"--steps",
		"1,5,25,50,100",
		"--interval",
		`${intervalS}s`,
		"--min-requests",
		"40",
		"--top-up",
		// 5 iterations/s per version (15 requests/s each): enough for 40 samples in 8 s without saturating 2 cores.
		"--top-up-rate",
		"5",
	];
}
