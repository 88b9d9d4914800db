import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { versionOf } from "../../src/telemetry/version";
import { DEMO_AUTH, ORIGIN } from "../helpers/workers/http";

// `X-Worker-Version` on every response (docs/canary.md): the canary smoke test checks it, so a version override the
// platform did not apply cannot pass on stable's answers.
const app = createApp();
async function call(path: string, vars: Record<string, unknown>, init: RequestInit = {}) {
	const ctx = createExecutionContext();
	const res = await app.fetch(new Request(ORIGIN + path, init), { ...env, ...vars }, ctx);
	// Read the body before waiting on the context: a stream's recording ends with the stream.
	const body = await res.text();
	await waitOnExecutionContext(ctx);
	return { status: res.status, headers: res.headers, body };
}
const meta = (id: string) => ({ CF_VERSION_METADATA: { id, tag: "t", timestamp: "2026-01-01T00:00:00Z" } });

describe("X-Worker-Version", () => {
	it("names the answering version on successes, problems, 404s and streams", async () => {
		const vars = meta("11111111-2222-4333-8444-555555555555");
		const ok = await call("/healthz", vars);
		expect(ok.headers.get("X-Worker-Version")).toBe("11111111-2222-4333-8444-555555555555");
		const unauthorized = await call("/v1/models", vars);
		expect(unauthorized.status).toBe(401);
		expect(unauthorized.headers.get("X-Worker-Version")).toBe("11111111-2222-4333-8444-555555555555");
		const missing = await call("/nope", vars, { headers: DEMO_AUTH });
		expect(missing.status).toBe(404);
		expect(missing.headers.get("X-Worker-Version")).toBe("11111111-2222-4333-8444-555555555555");
		const stream = await call("/v1/chat/completions", vars, {
			method: "POST",
			headers: { ...DEMO_AUTH, "Content-Type": "application/json" },
			body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], stream: true, max_tokens: 4 }),
		});
		expect(stream.headers.get("Content-Type")).toMatch(/^text\/event-stream/);
		expect(stream.headers.get("X-Worker-Version")).toBe("11111111-2222-4333-8444-555555555555");
		expect(stream.body).toContain("data: [DONE]");
		// Browsers may read it (CORS exposes it).
		const cors = await call("/healthz", { ...vars, CORS_ORIGINS: "*" }, { headers: { Origin: "https://app.example" } });
		expect(cors.headers.get("Access-Control-Expose-Headers")).toMatch(/X-Worker-Version/);
		// …and send the version key that keeps a conversation on one version (a preflight allows it).
		const preflight = await call(
			"/v1/chat/completions",
			{ ...vars, CORS_ORIGINS: "*" },
			{
				method: "OPTIONS",
				headers: {
					Origin: "https://app.example",
					"Access-Control-Request-Method": "POST",
					"Access-Control-Request-Headers": "cloudflare-workers-version-key",
				},
			},
		);
		expect(preflight.headers.get("Access-Control-Allow-Headers")).toMatch(/Cloudflare-Workers-Version-Key/i);
	});

	it("takes VERSION_ID / VERSION_TAG locally only; staging and production keep the platform's id", async () => {
		const local = await call("/version", { ...meta("platform-id"), VERSION_ID: "local-b", VERSION_TAG: "candidate" });
		expect(local.headers.get("X-Worker-Version")).toBe("local-b");
		expect(JSON.parse(local.body)).toMatchObject({ id: "local-b", tag: "candidate" });
		for (const ENVIRONMENT of ["staging", "production"]) {
			expect(versionOf({ ...meta("platform-id"), ENVIRONMENT, VERSION_ID: "spoofed" }).id).toBe("platform-id");
		}
		expect(versionOf({ ENVIRONMENT: "test", VERSION_ID: "x" }).id).toBe("x");
		expect(versionOf({ CF_VERSION_METADATA: { id: "", tag: "", timestamp: "" } })).toEqual({
			id: "dev",
			tag: "dev",
			timestamp: "dev",
		});
	});
});
