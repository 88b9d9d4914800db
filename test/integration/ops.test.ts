import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { RATE_LIMITER_SCHEMA } from "../../durable-objects/rate-limiter";
import { EXPECTED_D1_MIGRATIONS } from "../../src/db/migrations";
import { callWith } from "../helpers/workers/auth";
import { call, DEMO_AUTH, expectProblem } from "../helpers/workers/http";

afterEach(() => vi.restoreAllMocks());

describe("GET /healthz", () => {
	it("answers 200 with security headers and a generated request id", async () => {
		const res = await call("/healthz");
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({ status: "ok" });
		expect(res.headers.get("X-Request-ID")).toMatch(/^[0-9a-f-]{36}$/);
		expect(res.headers.get("Strict-Transport-Security")).toBe("max-age=63072000; includeSubDomains");
		expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
		expect(res.headers.get("X-Frame-Options")).toBe("DENY");
		expect(res.headers.get("Referrer-Policy")).toBe("no-referrer");
		expect(res.headers.get("Content-Security-Policy")).toBe("default-src 'none'; frame-ancestors 'none'");
	});

	it("echoes a sane incoming X-Request-ID and replaces an unsafe one", async () => {
		const sane = await call("/healthz", { headers: { "X-Request-ID": "client-42.a:b_c" } });
		expect(sane.headers.get("X-Request-ID")).toBe("client-42.a:b_c");
		for (const bad of ['{"inject":true}', "a b", "x".repeat(129), "a\tb", ""]) {
			const res = await call("/healthz", { headers: { "X-Request-ID": bad } });
			expect(res.headers.get("X-Request-ID")).toMatch(/^[0-9a-f-]{36}$/);
		}
	});

	it("writes one structured log line with the route pattern, status, duration and version", async () => {
		const lines: string[] = [];
		vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
		await call("/healthz?token=secret-looking", { headers: { "X-Request-ID": "log-check-1" } });
		const entries = lines.map((l) => JSON.parse(l)).filter((e) => e.request_id === "log-check-1");
		expect(entries).toHaveLength(1);
		expect(entries[0]).toMatchObject({
			level: "info",
			msg: "request",
			method: "GET",
			route: "/healthz",
			status: 200,
			version: expect.any(String),
		});
		expect(typeof entries[0].duration_ms).toBe("number");
		expect(Number.isNaN(Date.parse(entries[0].time))).toBe(false);
		expect(lines.join("\n")).not.toContain("secret-looking"); // the raw URL is never logged
	});
});

describe("GET /readyz", () => {
	it("is ready with config valid, every migration applied and the DO namespace answering", async () => {
		const res = await call("/readyz");
		expect(res.status).toBe(200);
		const body = (await res.json()) as { status: string; checks: Record<string, { ok: boolean; extra?: unknown }> };
		expect(body.status).toBe("ready");
		expect(body.checks.config?.ok).toBe(true);
		expect(body.checks.d1).toMatchObject({ ok: true, extra: { applied: EXPECTED_D1_MIGRATIONS.length } });
		expect(body.checks.durable_objects).toMatchObject({
			ok: true,
			extra: { RATE_LIMITER: { ok: true, schema_version: RATE_LIMITER_SCHEMA.length } },
		});
	});

	it("checks at most once a second per isolate: the instrumented entry point's probes share one result", async () => {
		// Through the Worker's real entry point, whose tracing hands every request a new proxy of the bindings.
		const bodies = await Promise.all([1, 2, 3].map(async () => (await call("/readyz")).text()));
		const later = await (await call("/readyz")).text();
		expect(new Set([...bodies, later]).size).toBe(1); // the same check, duration_ms and all
	});

	it("answers 503 naming D1 when an expected migration is missing", async () => {
		await env.DB.prepare("DELETE FROM d1_migrations WHERE name = ?").bind(EXPECTED_D1_MIGRATIONS[0]).run();
		// A bindings object of its own: the isolate's cached result (a second old at most) is not this one's.
		const res = await callWith({}, "/readyz");
		const body = await expectProblem(res, 503, "not-ready");
		expect(body.detail).toContain("d1");
		expect(JSON.stringify(body.checks)).toContain(EXPECTED_D1_MIGRATIONS[0]);
	});

	it("the expected migration list matches migrations/", () => {
		expect(env.TEST_MIGRATIONS.map((m) => m.name)).toEqual([...EXPECTED_D1_MIGRATIONS]);
	});
});

describe("GET /version", () => {
	it("reports version metadata and the environment", async () => {
		const res = await call("/version");
		expect(res.status).toBe(200);
		const body = (await res.json()) as Record<string, string>;
		expect(body).toEqual({
			id: expect.any(String),
			tag: expect.any(String),
			timestamp: expect.any(String),
			environment: "local",
		});
		expect(body.id?.length).toBeGreaterThan(0);
	});
});

describe("OpenAPI and docs", () => {
	it("GET /openapi.json documents every route with the problem schema", async () => {
		const res = await call("/openapi.json");
		expect(res.status).toBe(200);
		const doc = (await res.json()) as {
			openapi: string;
			paths: Record<string, Record<string, unknown>>;
			components: { schemas: Record<string, unknown> };
		};
		expect(doc.openapi).toBe("3.1.0");
		expect(Object.keys(doc.paths)).toEqual(
			expect.arrayContaining(["/healthz", "/readyz", "/version", "/v1/auth/token", "/v1/auth/me", "/v1/admin/clients"]),
		);
		expect(doc.components.schemas.Problem).toBeDefined();
	});

	it("declares the security schemes and which routes need which scope", async () => {
		const doc = (await (await call("/openapi.json")).json()) as {
			paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
			components: { securitySchemes: Record<string, { type: string }> };
		};
		expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(["apiKeyHeader", "bearerAuth", "oauth2"]);
		expect(doc.paths["/v1/admin/clients"]?.post?.security).toContainEqual({ oauth2: ["admin"] });
		expect(doc.paths["/v1/auth/me"]?.get?.security).toContainEqual({ bearerAuth: [] });
		expect(doc.paths["/healthz"]?.get?.security).toBeUndefined();
	});

	it("GET /docs renders an offline HTML reference under a nonce CSP", async () => {
		const res = await call("/docs");
		expect(res.status).toBe(200);
		expect(res.headers.get("Content-Type")).toMatch(/^text\/html/);
		const csp = res.headers.get("Content-Security-Policy") ?? "";
		const nonce = /'nonce-([0-9a-f]+)'/.exec(csp)?.[1];
		expect(nonce).toBeDefined();
		expect(csp).toContain("default-src 'none'");
		expect(csp).toContain("frame-ancestors 'none'");
		const html = await res.text();
		expect(html).toContain(`<style nonce="${nonce}">`);
		expect(html).toContain("<code>/readyz</code>");
		expect(html).not.toMatch(/<script|https?:\/\/cdn/);
	});
});

describe("routing errors", () => {
	it("unknown route → 404 problem for an authenticated caller", async () => {
		const body = await expectProblem(await call("/v1/nothing-here", { headers: DEMO_AUTH }), 404, "not-found");
		expect(body.detail).toContain("/v1/nothing-here");
	});

	it("unknown route without credentials → 401 (protected by default, nothing revealed)", async () => {
		await expectProblem(await call("/v1/nothing-here"), 401, "unauthorized");
	});

	it("wrong method → 405 problem with Allow", async () => {
		const res = await call("/healthz", { method: "POST", body: "{}" });
		expect(res.headers.get("Allow")).toBe("GET, HEAD");
		await expectProblem(res, 405, "method-not-allowed");
	});

	it("HEAD on a GET route is answered without a body", async () => {
		const res = await call("/healthz", { method: "HEAD" });
		expect(res.status).toBe(200);
		expect(await res.text()).toBe("");
	});

	it("CORS preflight is answered for an allowed origin", async () => {
		const res = await call("/healthz", {
			method: "OPTIONS",
			headers: { Origin: "http://localhost:5173", "Access-Control-Request-Method": "GET" },
		});
		expect(res.status).toBe(204);
		expect(res.headers.get("Access-Control-Allow-Origin")).toBe("*");
		expect(res.headers.get("Access-Control-Expose-Headers")).toContain("X-Request-ID");
	});
});
