import { exports } from "cloudflare:workers";
import { expect } from "vitest";
import { DEMO_KEY, OPS_KEY } from "../../../scripts/lib/local-credentials";

export const ORIGIN = "http://api.test";

/** The local demo API key (migrations/local/seed.sql; README#local-credentials): tenant demo, the tenant scopes. */
export const DEMO_API_KEY = DEMO_KEY;
export const DEMO_AUTH = { "X-API-Key": DEMO_API_KEY };

/** The local operator key (tenant platform, scope metrics:read): what Prometheus scrapes /metrics with. */
export const OPS_API_KEY = OPS_KEY;
export const OPS_AUTH = { "X-API-Key": OPS_API_KEY };

/** Calls the Worker's real entry point (`exports.default.fetch`), as a client would. */
export function call(path: string, init?: RequestInit): Promise<Response> {
	return exports.default.fetch(new Request(ORIGIN + path, init));
}

export type ProblemBody = {
	type: string;
	title: string;
	status: number;
	detail: string;
	instance: string;
	errors?: { path: string; message: string; code?: string }[];
	[k: string]: unknown;
};

/** Asserts an RFC 9457 problem with the given status and type slug, whose instance is the echoed request id. */
export async function expectProblem(res: Response, status: number, slug: string): Promise<ProblemBody> {
	expect(res.status).toBe(status);
	expect(res.headers.get("Content-Type")).toBe("application/problem+json");
	const body = (await res.json()) as ProblemBody;
	expect(body.type).toBe(`https://errors.edge-ai-api.dev/${slug}`);
	expect(body.status).toBe(status);
	expect(body.title.length).toBeGreaterThan(0);
	expect(body.detail.length).toBeGreaterThan(0);
	expect(body.instance).toBe(res.headers.get("X-Request-ID"));
	expect(JSON.stringify(body)).not.toMatch(/at .+\.(ts|js):\d+/); // never a stack trace on the wire
	return body;
}

/** Parses a Prometheus text exposition into `name{labels}` → value lookups (labels as exposed, in their order). */
export function exposedSamples(text: string): Map<string, number> {
	const out = new Map<string, number>();
	for (const line of text.split("\n")) {
		if (!line || line.startsWith("#")) continue;
		const at = line.lastIndexOf(" ");
		out.set(line.slice(0, at), Number(line.slice(at + 1)));
	}
	return out;
}
