// Results of `npm run chaos`: the machine-readable run (load/results/<stamp>-chaos.json, git-ignored) and its one
// table, written to load/results/<stamp>-chaos.md and — for a run of every scenario — to docs/resilience.md between
// the chaos markers. Figures, never edited by hand.
import { markdownTable } from "../../load/analysis.js";
import { docSection } from "../lib/doc-section.ts";
import type { ClientStats, MetricSample, RouteComparison } from "./measure.ts";
import type { FaultState } from "./operator-api.ts";
import type { Check, Faults } from "./scenarios.ts";

/** One scenario as run. */
export type ScenarioResult = {
	name: string;
	faults: Faults;
	expected: string;
	/** load/chaos.js route → req/s. */
	routes: Record<string, number>;
	/** What GET /v1/admin/faults reported while the scenario ran. */
	fault_state: FaultState | null;
	k6_exit_code: number;
	/** Requests k6 could not start on schedule (no VU free: the machine could not keep up). */
	not_started: number;
	client: ClientStats;
	client_routes: Record<string, ClientStats>;
	comparisons: RouteComparison[];
	/** /metrics: every sample that moved during the scenario (after − before; no buckets or sums). */
	metric_deltas: MetricSample[];
	cron_runs: number;
	/** Requests the OTLP receiver got during the scenario, per path. */
	otlp_received: Record<string, number>;
	/** From the end of the traffic until the service's counts stopped moving, ms. */
	settle_ms: number;
	/** The machine's 1-minute load average when the scenario started and ended (latency depends on it). */
	load_average: { start: number; end: number };
	checks: Check[];
	passed: boolean;
};

export type ChaosRun = {
	meta: {
		run_id: string;
		started_at: string;
		finished_at: string;
		/** Traffic per scenario. */
		duration: string;
		cores: number;
		cpu: string;
		memory_gib: number;
		node: string;
		k6: string;
		wrangler: string;
		load_average: { start: number; end: number };
		/** The chaos service's configuration where it differs from `npm start`'s. */
		service: Record<string, string>;
		exit_code: number;
	};
	scenarios: ScenarioResult[];
};

/** `chat_model rate 0.3`, `d1 +250 ms`, `chat_stream rate 0.5 after 3 tokens`; "none". */
export function faultsText(faults: Faults): string {
	const parts = Object.entries(faults).map(([dependency, f]) => {
		const bits = [
			f.rate !== undefined ? `rate ${f.rate}` : "",
			f.after_tokens !== undefined ? `after ${f.after_tokens} tokens` : "",
			f.latency_ms !== undefined
				? `+${f.latency_ms >= 60_000 ? `${f.latency_ms / 60_000} min` : `${f.latency_ms} ms`}`
				: "",
		].filter(Boolean);
		return `\`${dependency}\` ${bits.join(" ")}`;
	});
	return parts.length === 0 ? "none" : parts.join(", ");
}

const pct = (x: number | null) => (x === null ? "–" : `${(Math.floor(x * 10_000) / 100).toFixed(2)} %`);

/** The scenarios' table (markdown): one row per scenario. */
export function chaosTable(run: ChaosRun): string {
	return markdownTable(
		[
			"Scenario",
			"Faults",
			"Expected behaviour",
			"Requests",
			"Availability",
			"p95 (TTFB p95)",
			"Errors by type",
			"Bad events: client-seen / SLO-counted",
			"Verdict",
		],
		run.scenarios.map((s) => {
			const p95 = Object.entries(s.client_routes)
				.map(([r, c]) => `${r} ${ms(c.p95Ms)} (${ms(c.p95TtfbMs)})`)
				.join("<br>");
			const errors = Object.entries(s.client.errors)
				.map(([e, n]) => `${e} ×${n}`)
				.join("<br>");
			const client = s.comparisons.reduce((a, c) => ({ bad: a.bad + c.client.bad, total: a.total + c.client.total }), {
				bad: 0,
				total: 0,
			});
			const slo = s.comparisons.reduce((a, c) => ({ bad: a.bad + c.slo.bad, total: a.total + c.slo.total }), {
				bad: 0,
				total: 0,
			});
			const same = s.comparisons.every((c) => c.equal);
			const lost = s.metric_deltas
				.filter((m) => m.name === "slo_flush_dropped_requests_isolate")
				.reduce((a, m) => a + m.value, 0);
			const failed = s.checks.filter((c) => !c.ok).map((c) => c.what);
			return [
				`\`${s.name}\``,
				faultsText(s.faults),
				s.expected,
				s.not_started > 0 ? `${s.client.requests} (${s.not_started} not started)` : s.client.requests,
				pct(s.client.availability),
				p95,
				errors || "none",
				`${client.bad} / ${slo.bad} ${same ? "=" : "≠"} (of ${client.total} / ${slo.total}${lost > 0 ? `; ${lost} reported lost` : ""})`,
				s.passed ? "pass" : `**FAIL**: ${failed.join("; ")}`,
			];
		}),
	);
}

const ms = (x: number | null) => (x === null ? "–" : `${Math.round(x)} ms`);

/** Where and how the run ran: the machine, the versions, the service's configuration. */
export function runLine(run: ChaosRun): string {
	const m = run.meta;
	return `Run ${m.started_at.slice(0, 16).replace("T", " ")} UTC: ${m.cores} cores (${m.cpu}), ${m.memory_gib} GiB; node ${m.node}, k6 ${m.k6}, wrangler ${m.wrangler} (local workerd, k6 on the same cores); load average ${m.load_average.start} → ${m.load_average.end}; ${m.duration} of traffic per scenario. Service: ${Object.entries(
		m.service,
	)
		.map(([k, v]) => `${k}=${v}`)
		.join(", ")}.`;
}

/** The failed checks with their figures, one line each. */
function failures(run: ChaosRun): string[] {
	return run.scenarios.flatMap((s) =>
		s.checks
			.filter((c) => !c.ok)
			.map(
				(c) =>
					`- \`${s.name}\`: ${c.what} — ${c.detail} (load average ${s.load_average.start} → ${s.load_average.end})`,
			),
	);
}

/** The run as markdown: where it ran, the table, what failed. */
export function chaosMarkdown(run: ChaosRun): string {
	const failed = failures(run);
	return [
		runLine(run),
		"",
		chaosTable(run),
		"",
		failed.length === 0 ? "Every check of every scenario passed." : ["Failed checks:", "", ...failed].join("\n"),
	].join("\n");
}

/** The generated section of docs/resilience.md. */
export function chaosSection(run: ChaosRun): string {
	return docSection("chaos", "npm run chaos; edit the script, not this", chaosMarkdown(run));
}
