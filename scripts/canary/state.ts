import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";

/**
 * The controller's state, kept in one JSON file so each command can run as its own pipeline step and a crashed run
 * resumes where it stopped: which versions are in play, the step plan, where the rollout is, and every verdict.
 * Writes are atomic (a temp file renamed over the old one): a crash leaves the previous state or the new one, never
 * half of it. Every transition is also appended as one JSON line to `<state>.log.jsonl` and printed on stdout.
 *
 * The file is parsed with zod: a hand-edited or foreign file is refused with the field that is wrong.
 *
 * @example
 * ```ts
 * const store = stateStore(".canary/state.json");
 * const state = store.load(); // null before `start`
 * ```
 */
export const STATE_SCHEMA_VERSION = 1;

const VerdictRecord = z.object({
	at: z.string(),
	percent: z.number(),
	outcome: z.enum(["pass", "fail", "inconclusive"]),
	reasons: z.array(z.string()),
	judged_routes: z.array(z.string()),
	source: z.string(),
	window: z.string(),
});
export type VerdictRecord = z.infer<typeof VerdictRecord>;

export const StepSchema = z.object({ percent: z.number().gt(0).max(100), intervalMs: z.number().int().nonnegative() });
export type Step = z.infer<typeof StepSchema>;

/** How the rollout is judged, fixed at `start` so every later command (and a resumed run) judges alike. */
export const SettingsSchema = z.object({
	/** The service's base URL (smoke, top-up, /v1/slo). */
	url: z.string().nullable(),
	window: z.string(),
	min_requests: z.number().int().positive(),
	max_ratio: z.number().min(1),
	min_effect_error_ratio: z.number().min(0).max(1).nullable(),
	min_effect_slow_ratio: z.number().min(0).max(1).nullable(),
	latency_min_effect_ms: z.number().min(0),
	alpha: z.number().gt(0).lt(1),
	required_routes: z.array(z.string()),
	max_failures: z.number().int().positive(),
	max_inconclusive: z.number().int().positive(),
	top_up: z.boolean(),
	top_up_rate: z.number().positive(),
	/** How long the new version may take to answer pinned requests after its 0 % deploy (ms); 0: no wait. */
	propagation_timeout_ms: z.number().int().nonnegative().default(30_000),
});
export type Settings = z.infer<typeof SettingsSchema>;

export const CanaryStateSchema = z.object({
	schema: z.literal(STATE_SCHEMA_VERSION),
	script: z.string().min(1),
	env: z.string().nullable(),
	tag: z.string().min(1),
	message: z.string(),
	stable_version: z.string().min(1),
	/** Null between the state's creation and a finished upload (a crash there re-uploads). */
	canary_version: z.string().nullable(),
	/**
	 * - `uploading`: stable recorded, upload not finished;
	 * - `smoke`: deployed at 0 %, smoke test pending;
	 * - `stepping`: at `steps[step]`;
	 * - `promoted` / `aborted`: finished (terminal).
	 */
	phase: z.enum(["uploading", "smoke", "stepping", "promoted", "aborted"]),
	steps: z.array(StepSchema).min(1),
	settings: SettingsSchema,
	/** Index into `steps` of the current step while stepping; -1 before the first. */
	step: z.number().int().min(-1),
	/** The canary's share of traffic in the last deployment this controller made (%). */
	percent: z.number().min(0).max(100),
	/** The split being deployed (written before calling wrangler, cleared after): a crash in between is reconciled. */
	pending_percent: z.number().min(0).max(100).nullable(),
	/** When the current step's traffic started (ISO time): its bake interval counts from here. */
	step_started_at: z.string().nullable(),
	failures: z.number().int().nonnegative(),
	/** Inconclusive evaluations at the current step. */
	inconclusive: z.number().int().nonnegative(),
	verdicts: z.array(VerdictRecord),
	reason: z.string().nullable(),
	started_at: z.string(),
	updated_at: z.string(),
});
export type CanaryState = z.infer<typeof CanaryStateSchema>;

export class StateError extends Error {}

export type StateStore = {
	file: string;
	load(): CanaryState | null;
	save(state: CanaryState): void;
	/** Appends one transition to the log file and prints it as one JSON line on stdout. */
	log(event: string, fields: Record<string, unknown>): void;
};

export function stateStore(
	file: string,
	options: { now?: () => number; out?: (line: string) => void } = {},
): StateStore {
	const now = options.now ?? Date.now;
	const out = options.out ?? ((line: string) => process.stdout.write(`${line}\n`));
	const logFile = file.replace(/\.json$/, "") + ".log.jsonl";
	return {
		file,
		load() {
			if (!existsSync(file)) return null;
			let raw: unknown;
			try {
				raw = JSON.parse(readFileSync(file, "utf8"));
			} catch {
				throw new StateError(`${file} is not valid JSON; fix or remove it`);
			}
			const parsed = CanaryStateSchema.safeParse(raw);
			if (!parsed.success) {
				const issue = parsed.error.issues[0];
				throw new StateError(
					`${file} is not a canary state file (${issue ? `${issue.path.join(".") || "(root)"}: ${issue.message}` : "invalid"})`,
				);
			}
			return parsed.data;
		},
		save(state) {
			mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
			const tmp = `${file}.${process.pid}.tmp`;
			writeFileSync(tmp, `${JSON.stringify({ ...state, updated_at: new Date(now()).toISOString() }, null, 2)}\n`);
			renameSync(tmp, file);
		},
		log(event, fields) {
			const line = JSON.stringify({ time: new Date(now()).toISOString(), event, ...fields });
			mkdirSync(path.dirname(path.resolve(logFile)), { recursive: true });
			appendFileSync(logFile, `${line}\n`);
			out(line);
		},
	};
}

/**
 * Parses a step plan: `1,5,25,50,100` with one `interval` for all, or per step `1@10m,5@5m,25,100` (steps without
 * their own interval take `interval`). Percentages must rise strictly and end at 100.
 *
 * @example
 * ```ts
 * parseSteps("1@2m,5,100", 60_000); // [{ percent: 1, intervalMs: 120000 }, { percent: 5, intervalMs: 60000 }, { percent: 100, intervalMs: 60000 }]
 * ```
 */
export function parseSteps(spec: string, intervalMs: number): Step[] {
	const steps = spec
		.split(",")
		.map((s) => s.trim())
		.filter(Boolean)
		.map((s) => {
			const [p, i] = s.split("@");
			const percent = Number(String(p).replace(/%$/, ""));
			if (!Number.isFinite(percent) || percent <= 0 || percent > 100)
				throw new StateError(`step "${s}": the percentage must be a number in (0, 100]`);
			return { percent, intervalMs: i === undefined ? intervalMs : parseDuration(i) };
		});
	if (steps.length === 0) throw new StateError("--steps is empty");
	for (let i = 1; i < steps.length; i++) {
		if ((steps[i]?.percent ?? 0) <= (steps[i - 1]?.percent ?? 0))
			throw new StateError(`--steps must rise strictly (got ${spec})`);
	}
	if (steps.at(-1)?.percent !== 100) throw new StateError(`--steps must end at 100 (got ${spec})`);
	return steps;
}

/** `90s`, `5m`, `1h`, `250ms`, or a bare number of seconds → ms. */
export function parseDuration(text: string): number {
	const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
	if (!m) throw new StateError(`"${text}" is not a duration (e.g. 90s, 5m, 1h)`);
	const n = Number(m[1]);
	const unit = m[2] ?? "s";
	return Math.round(n * (unit === "ms" ? 1 : unit === "s" ? 1_000 : unit === "m" ? 60_000 : 3_600_000));
}
