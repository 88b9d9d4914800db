import type { WireFailure, WireResponse } from "./raw-http";

/**
 * The invariants every answer must keep, and how far a request got into the service.
 *
 * Stages: `auth` (401/403 from authentication or a scope check), `routing` (no route for the path, or not this
 * method), `body-limit` (413 before anything was parsed), `validation` (the request schema or media type refused
 * it), `handler` (anything else: the operation's own code answered).
 */
export type Stage = "auth" | "routing" | "body-limit" | "validation" | "handler";

export type Problem = {
	type?: unknown;
	title?: unknown;
	status?: unknown;
	detail?: unknown;
	instance?: unknown;
} & Record<string, unknown>;

export type CheckOptions = {
	method: string;
	/** Strings that must never appear in an answer to this caller (another tenant's data, its credentials). */
	secrets: readonly string[];
	/** The operation may answer with an event stream, so a body still open at the time limit is no failure. */
	streaming: boolean;
	/** The request carried no credential good for the operation, so it must stop at authentication. */
	mustBeDenied: boolean;
};

export type Verdict = { stage: Stage | undefined; problem: Problem | undefined; violations: string[] };

const VALIDATOR_DETAIL = /^The (json|form|query|param|header|cookie) failed validation/;

/** Frames of a V8/Node stack, or an error message with a source file path. */
const STACK_PATTERNS: readonly RegExp[] = [
	/(?:^|\n|\\n)\s{2,}at [^\n]*?(?:\(|\s)(?:file:\/\/|\/|[A-Za-z]:\\|node:|webpack:|<anonymous>)[^\n]*?:\d+(?::\d+)?\)?/,
	/(?:^|\n|\\n) {4}at \S/,
	/\b[A-Z]\w*Error: [^\n]*?(?:\/[\w.@-]+)+\.(?:ts|js|mjs|cjs)\b/,
	/(?:\/[\w.@-]+)+\.(?:ts|mjs|cjs|js):\d+:\d+/,
];

export function parseProblem(body: Buffer): Problem | undefined {
	try {
		const parsed: unknown = JSON.parse(body.toString("utf8"));
		return parsed && typeof parsed === "object" && !Array.isArray(parsed) ? (parsed as Problem) : undefined;
	} catch {
		return undefined;
	}
}

function parses(text: string): boolean {
	try {
		JSON.parse(text);
		return true;
	} catch {
		return false;
	}
}

export function stageOf(status: number, problem: Problem | undefined): Stage {
	if (status < 400) return "handler";
	const slug = typeof problem?.type === "string" ? problem.type.split("/").pop() : undefined;
	const detail = typeof problem?.detail === "string" ? problem.detail : "";
	if ((status === 401 && slug === "unauthorized") || (status === 403 && slug === "forbidden")) return "auth";
	if (status === 405 || (status === 404 && detail.startsWith("No route matches"))) return "routing";
	if (status === 413 && problem?.max_bytes !== undefined) return "body-limit";
	if (slug === "malformed-json" || slug === "unsupported-media-type") return "validation";
	if (slug === "validation-failed" && VALIDATOR_DETAIL.test(detail)) return "validation";
	// Hono's validators reject unreadable bodies with a bare 400; the handlers' own 400s carry an OAuth `error`.
	if (status === 400 && slug === "bad-request" && problem?.error_description === undefined) return "validation";
	return "handler";
}

function header(res: WireResponse, name: string): string {
	const v = res.headers[name];
	return Array.isArray(v) ? v.join(", ") : (v ?? "");
}

export function check(outcome: WireResponse | WireFailure, options: CheckOptions): Verdict {
	if (outcome.kind === "failure") {
		if (outcome.timedOut && options.streaming) return { stage: undefined, problem: undefined, violations: [] };
		return {
			stage: undefined,
			problem: undefined,
			violations: [outcome.timedOut ? `timeout: ${outcome.error}` : `no response: ${outcome.error}`],
		};
	}
	const violations: string[] = [];
	const { status } = outcome;
	const text = outcome.body.toString("utf8");
	const contentType = header(outcome, "content-type");
	if (status >= 500) violations.push(`5xx: ${status}`);
	else if (status < 200 || (status >= 300 && status < 400)) violations.push(`unexpected status: ${status}`);
	if (outcome.timedOut && !options.streaming) violations.push(`timeout: body unfinished after ${outcome.ms} ms`);

	let problem: Problem | undefined;
	if (status >= 400) {
		if (!contentType.toLowerCase().startsWith("application/problem+json")) {
			violations.push(`problem: content-type is "${contentType}"`);
		}
		if (options.method !== "HEAD") {
			problem = parseProblem(outcome.body);
			if (!problem) violations.push("problem: body is not a JSON object");
			else {
				for (const field of ["type", "title", "detail", "instance"] as const) {
					if (typeof problem[field] !== "string") violations.push(`problem: "${field}" is not a string`);
				}
				if (problem.status !== status) violations.push(`problem: "status" ${String(problem.status)} ≠ HTTP ${status}`);
				const requestId = header(outcome, "x-request-id");
				if (requestId && typeof problem.instance === "string" && problem.instance !== requestId) {
					violations.push("problem: instance ≠ X-Request-ID");
				}
			}
		}
	} else if (status >= 200 && status < 300 && status !== 204 && options.method !== "HEAD") {
		if (/^application\/(?:[\w.+-]+\+)?json/i.test(contentType) && !parses(text)) {
			violations.push("2xx: JSON body does not parse");
		}
		if (contentType.startsWith("text/event-stream") && /^data: \{"error"/m.test(text)) {
			violations.push("2xx: event stream carried an error event");
		}
	}

	const headerText = Object.entries(outcome.headers)
		.map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : v}`)
		.join("\n");
	for (const pattern of STACK_PATTERNS) {
		if (pattern.test(text) || pattern.test(headerText)) {
			violations.push(`stack trace: ${pattern.source.slice(0, 40)}`);
			break;
		}
	}
	for (const secret of options.secrets) {
		if (text.includes(secret) || headerText.includes(secret))
			violations.push("leak: another tenant's secret in the answer");
	}

	const stage = stageOf(status, problem);
	if (options.mustBeDenied && (stage === "handler" || stage === "validation")) {
		violations.push(`auth: a request without a valid credential for the operation got ${status} (${stage})`);
	}
	return { stage, problem, violations };
}
