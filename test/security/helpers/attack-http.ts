import { expect } from "vitest";
import type { WireResponse } from "./raw-http";
import { check, type Problem } from "./response-checks";

/**
 * An attacker's HTTP client for test/security/attacks.test.ts: one caller (a credential, the address it calls from,
 * and what it must never see), whose every answer is held to the general rules of response-checks.ts — status below
 * 500, 4xx as problem+json with type/title/status/detail/instance (instance = X-Request-ID), no stack trace, none of
 * the caller's forbidden strings (another tenant's markers and keys) in the body or the headers.
 *
 * Every request carries `CF-Connecting-IP` (client-supplied under wrangler dev, docs/security.md#client-addresses),
 * so throttles on invalid credentials see exactly the address the attack chose.
 *
 * @example
 * ```ts
 * const b = new Caller(base, { apiKey: keyB, ip: "203.0.113.10", secrets: () => markersOfA });
 * const res = await b.get(`/v1/documents/${idOfA}`);
 * expectProblem(res, 404, "not-found");
 * ```
 */
export type Answer = {
	method: string;
	path: string;
	status: number;
	headers: Headers;
	text: string;
	/** The body parsed as JSON (undefined when it is not JSON). */
	body: unknown;
	ms: number;
};

export type CallerOptions = {
	/** Sent as X-API-Key. */
	apiKey?: string;
	/** Sent as Authorization (e.g. `Bearer …`, `Basic …`). */
	authorization?: string;
	/** The CF-Connecting-IP this caller sends. */
	ip: string;
	/** Strings no answer to this caller may contain (read at each answer, so a list may grow as the run goes). */
	secrets?: () => readonly string[];
};

export type RequestOptions = {
	json?: unknown;
	form?: Record<string, string>;
	headers?: Record<string, string>;
	/** The answer may be a 5xx (the production-safety attack expects 503). */
	allow5xx?: boolean;
};

export class Caller {
	constructor(
		readonly base: string,
		readonly options: CallerOptions,
	) {}

	/** The same credential from another address, or another credential from this one. */
	with(overrides: Partial<CallerOptions>): Caller {
		return new Caller(this.base, { ...this.options, ...overrides });
	}

	get(path: string, init: RequestOptions = {}): Promise<Answer> {
		return this.request("GET", path, init);
	}

	post(path: string, json: unknown, init: RequestOptions = {}): Promise<Answer> {
		return this.request("POST", path, { ...init, json });
	}

	delete(path: string, init: RequestOptions = {}): Promise<Answer> {
		return this.request("DELETE", path, init);
	}

	async request(method: string, path: string, init: RequestOptions = {}): Promise<Answer> {
		const headers: Record<string, string> = { "CF-Connecting-IP": this.options.ip };
		if (this.options.apiKey !== undefined) headers["X-API-Key"] = this.options.apiKey;
		if (this.options.authorization !== undefined) headers.Authorization = this.options.authorization;
		let body: string | URLSearchParams | undefined;
		if (init.json !== undefined) {
			headers["Content-Type"] = "application/json";
			body = JSON.stringify(init.json);
		} else if (init.form !== undefined) {
			body = new URLSearchParams(init.form);
		}
		Object.assign(headers, init.headers);
		const started = performance.now();
		const res = await fetch(`${this.base}${path}`, { method, headers, body });
		const raw = Buffer.from(await res.arrayBuffer());
		const ms = Math.round(performance.now() - started);
		const text = raw.toString("utf8");
		let parsed: unknown;
		try {
			parsed = JSON.parse(text);
		} catch {
			parsed = undefined;
		}
		const headerRecord: Record<string, string> = {};
		res.headers.forEach((value, name) => {
			headerRecord[name] = value;
		});
		const wire: WireResponse = {
			kind: "response",
			status: res.status,
			headers: headerRecord,
			body: raw,
			timedOut: false,
			ms,
		};
		const verdict = check(wire, {
			method,
			secrets: this.options.secrets?.() ?? [],
			streaming: false,
			mustBeDenied: false,
		});
		const violations = verdict.violations.filter((v) => !(init.allow5xx && v.startsWith("5xx")));
		expect(violations, `${method} ${path} → ${res.status}: ${text.slice(0, 600)}`).toEqual([]);
		return { method, path, status: res.status, headers: res.headers, text, body: parsed, ms };
	}
}

/** The answer is the problem `slug` with this status; returns the problem's fields. */
export function expectProblem(answer: Answer, status: number, slug: string): Problem {
	const where = `${answer.method} ${answer.path}: ${answer.text.slice(0, 600)}`;
	expect(answer.status, where).toBe(status);
	expect(answer.headers.get("content-type"), where).toMatch(/^application\/problem\+json/);
	const problem = answer.body as Problem;
	expect(problem.type, where).toBe(`https://errors.edge-ai-api.dev/${slug}`);
	return problem;
}

/** The answer is a success with this status; returns its JSON body. */
export function expectOk<T>(answer: Answer, status = 200): T {
	expect(answer.status, `${answer.method} ${answer.path}: ${answer.text.slice(0, 600)}`).toBe(status);
	return answer.body as T;
}

/** The `data:` payloads of an event stream, in order (`[DONE]` included). */
export function sseData(text: string): string[] {
	return text
		.split("\n\n")
		.map((event) =>
			event
				.split("\n")
				.filter((line) => line.startsWith("data: "))
				.map((line) => line.slice(6))
				.join("\n"),
		)
		.filter((data) => data.length > 0);
}

export const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
