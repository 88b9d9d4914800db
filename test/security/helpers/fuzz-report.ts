import type { WireFailure, WireResponse } from "./raw-http";
import type { FuzzRequest } from "./request-arbitrary";
import type { Stage } from "./response-checks";

/** Per-operation counts (by status, by stage, by aspect) and the violations found, with reproductions. */
export type Violation = { operation: string; rule: string; request: FuzzRequest; outcome: WireResponse | WireFailure };

export class OperationStats {
	readonly byStatus = new Map<string, number>();
	readonly byStage = new Map<Stage, number>();
	readonly aspects = new Map<string, { runs: number; handled: number }>();
	readonly undocumented = new Set<number>();
	readonly violations: Violation[] = [];
	/** Statuses and handler answers of the requests that kept the operation's method and path. */
	private readonly routedStatuses = new Set<string>();
	private routedHandled = 0;
	runs = 0;
	ms = 0;

	constructor(
		readonly operation: string,
		readonly seed: number,
		private readonly documented: readonly string[],
	) {}

	record(request: FuzzRequest, outcome: WireResponse | WireFailure, stage: Stage | undefined, violations: string[]) {
		this.runs++;
		const status = outcome.kind === "response" ? String(outcome.status) : outcome.timedOut ? "timeout" : "error";
		this.byStatus.set(status, (this.byStatus.get(status) ?? 0) + 1);
		if (stage) this.byStage.set(stage, (this.byStage.get(stage) ?? 0) + 1);
		const aspect = this.aspects.get(request.aspect) ?? { runs: 0, handled: 0 };
		aspect.runs++;
		if (stage === "handler") aspect.handled++;
		this.aspects.set(request.aspect, aspect);
		if (request.routed) {
			this.routedStatuses.add(status);
			if (stage === "handler") this.routedHandled++;
			if (outcome.kind === "response" && !this.documented.includes(status)) this.undocumented.add(outcome.status);
		}
		for (const rule of violations) this.violations.push({ operation: this.operation, rule, request, outcome });
	}

	/** Share of all requests that the operation's own code answered (sent to its method and path). */
	get handledShare(): number {
		return this.runs === 0 ? 0 : this.routedHandled / this.runs;
	}

	/** Its method and path got statuses other than 401, 403 and 404 (it was exercised, not only refused). */
	get exercised(): boolean {
		return [...this.routedStatuses].some((s) => !["401", "403", "404", "timeout", "error"].includes(s));
	}
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + " ".repeat(n - s.length));

export function table(stats: readonly OperationStats[]): string {
	const width = Math.max(...stats.map((s) => s.operation.length), 9);
	const lines = [
		`${pad("operation", width)}  runs  2xx  4xx  handled  ms/req  statuses`,
		...stats.map((s) => {
			const count = (prefix: string) =>
				[...s.byStatus].filter(([k]) => k.startsWith(prefix)).reduce((sum, [, n]) => sum + n, 0);
			const statuses = [...s.byStatus]
				.sort(([a], [b]) => a.localeCompare(b))
				.map(([k, n]) => `${k}×${n}`)
				.join(" ");
			const undocumented = s.undocumented.size > 0 ? `  (undocumented: ${[...s.undocumented].join(",")})` : "";
			return `${pad(s.operation, width)}  ${pad(String(s.runs), 4)}  ${pad(String(count("2")), 3)}  ${pad(String(count("4")), 3)}  ${pad(`${Math.round(s.handledShare * 100)}%`, 7)}  ${pad(String(Math.round(s.ms / Math.max(1, s.runs))), 6)}  ${statuses}${undocumented}`;
		}),
	];
	return lines.join("\n");
}

function preview(bytes: Buffer | undefined, max: number): string {
	if (!bytes || bytes.length === 0) return "(empty)";
	const text = bytes.subarray(0, max).toString("utf8");
	return `${JSON.stringify(text)}${bytes.length > max ? ` … (${bytes.length} bytes)` : ""}`;
}

function short(s: string, max: number): string {
	return s.length > max ? `${s.slice(0, max)}… (${s.length} chars)` : s;
}

/** A reproduction: request line, headers, body, and what came back. */
export function describe(v: Violation): string {
	const r = v.request;
	const out = [
		`${v.operation} — ${v.rule}  [aspect ${r.aspect}: ${short(r.detail, 200)}]`,
		`  request:  ${r.method} ${short(r.target, 300)}`,
		...r.headers.map(([k, val]) => `            ${k}: ${short(val, 160)}`),
		`            body: ${preview(r.body, 400)}`,
	];
	if (v.outcome.kind === "failure") out.push(`  outcome:  ${v.outcome.error} after ${v.outcome.ms} ms`);
	else {
		out.push(
			`  response: ${v.outcome.status} ${String(v.outcome.headers["content-type"] ?? "(no content-type)")} after ${v.outcome.ms} ms`,
			`            body: ${preview(v.outcome.body, 600)}`,
		);
	}
	return out.join("\n");
}

/** Violations grouped by operation and rule: the first `examples` of each in full, the rest counted. */
export function summarize(violations: readonly Violation[], examples = 2): string {
	const groups = new Map<string, Violation[]>();
	for (const v of violations) {
		const key = `${v.operation} — ${v.rule}`;
		groups.set(key, [...(groups.get(key) ?? []), v]);
	}
	return [...groups.values()]
		.map((group) => {
			const shown = group.slice(0, examples).map(describe).join("\n");
			return group.length > examples ? `${shown}\n  … and ${group.length - examples} more like it` : shown;
		})
		.join("\n\n");
}
