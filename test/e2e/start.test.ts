import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../helpers/node/dev-server";
import { ADMIN_CLIENT, DEMO_CLIENT, DEMO_KEY, OPS_KEY } from "../helpers/node/local-credentials";

// The README's `npm start` under test: the real wrangler dev, offline, over HTTP on loopback.
let server: DevServer;
beforeAll(async () => {
	// The launcher itself fails when /healthz does not answer within READY_TIMEOUT_MS: the 30 s promise.
	server = await startDevServer({ READY_TIMEOUT_MS: "30000" });
}, 120_000);
afterAll(async () => {
	await server?.stop();
});

async function expectProblem(res: Response, status: number, slug: string) {
	expect(res.status).toBe(status);
	expect(res.headers.get("content-type")).toBe("application/problem+json");
	const body = (await res.json()) as Record<string, unknown>;
	expect(body.type).toBe(`https://errors.edge-ai-api.dev/${slug}`);
	expect(body.instance).toBe(res.headers.get("x-request-id"));
	return body;
}

describe("npm start (scripts/dev.ts → scripts/lib/dev-server.ts → wrangler dev)", () => {
	it("prints one ready line with the URL and the docs, within READY_TIMEOUT_MS", () => {
		const ready = server
			.output()
			.split("\n")
			.filter((l: string) => l.includes("ready at"));
		expect(ready).toHaveLength(1);
		expect(ready[0]).toContain(`${server.base}/docs`);
		console.log(`cold start to ready: ${server.readyMs} ms`);
	});

	it("applied the D1 migrations before serving: /readyz is ready", async () => {
		const res = await fetch(`${server.base}/readyz`);
		expect(res.status).toBe(200);
		expect(((await res.json()) as { status: string }).status).toBe("ready");
	});

	it("serves /healthz, /version, /openapi.json and /docs", async () => {
		expect((await fetch(`${server.base}/healthz`)).status).toBe(200);
		const version = (await (await fetch(`${server.base}/version`)).json()) as Record<string, string>;
		expect(version.environment).toBe("local");
		const doc = (await (await fetch(`${server.base}/openapi.json`)).json()) as { paths: object };
		expect(Object.keys(doc.paths)).toContain("/readyz");
		const docs = await fetch(`${server.base}/docs`);
		expect(docs.headers.get("content-type")).toMatch(/^text\/html/);
	});

	it("answers errors as problem+json carrying the request id", async () => {
		const unauthenticated = await fetch(`${server.base}/nope`);
		await expectProblem(unauthenticated, 401, "unauthorized");
		const notFound = await fetch(`${server.base}/nope`, {
			headers: {
				"X-Request-ID": "e2e-404",
				"X-API-Key": DEMO_KEY,
			},
		});
		expect(notFound.headers.get("x-request-id")).toBe("e2e-404");
		await expectProblem(notFound, 404, "not-found");
		const wrongMethod = await fetch(`${server.base}/readyz`, { method: "PUT" });
		expect(wrongMethod.headers.get("allow")).toBe("GET, HEAD");
		await expectProblem(wrongMethod, 405, "method-not-allowed");
		const tooLarge = await fetch(`${server.base}/healthz`, { method: "POST", body: "x".repeat(2 * 1024 * 1024) });
		await expectProblem(tooLarge, 413, "content-too-large");
	});

	it("issues a token to the seeded demo client (curl from the README) and authenticates it", async () => {
		const res = await fetch(`${server.base}/v1/auth/token`, {
			method: "POST",
			headers: {
				Authorization: `Basic ${Buffer.from(`${DEMO_CLIENT.id}:${DEMO_CLIENT.secret}`).toString("base64")}`,
			},
			body: new URLSearchParams({ grant_type: "client_credentials" }),
		});
		expect(res.status).toBe(200);
		const { access_token } = (await res.json()) as { access_token: string };
		const me = await fetch(`${server.base}/v1/auth/me`, { headers: { Authorization: `Bearer ${access_token}` } });
		expect(await me.json()).toMatchObject({ tenant: "demo", subject: "demo", via: "jwt" });
	});

	it("accepts the documented demo API key, and an admin-created key until it is revoked", async () => {
		const me = (key: string) => fetch(`${server.base}/v1/auth/me`, { headers: { Authorization: `Bearer ${key}` } });
		expect((await me(DEMO_KEY)).status).toBe(200);
		const tokenRes = await fetch(`${server.base}/v1/auth/token`, {
			method: "POST",
			body: new URLSearchParams({
				grant_type: "client_credentials",
				client_id: ADMIN_CLIENT.id,
				client_secret: ADMIN_CLIENT.secret,
			}),
		});
		const adminToken = ((await tokenRes.json()) as { access_token: string }).access_token;
		const admin = { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" };
		const created = await fetch(`${server.base}/v1/admin/api-keys`, {
			method: "POST",
			headers: admin,
			body: JSON.stringify({ tenant: "e2e", subject: "bot", scopes: ["chat"] }),
		});
		const { id, key } = (await created.json()) as { id: string; key: string };
		expect((await me(key)).status).toBe(200);
		expect((await fetch(`${server.base}/v1/admin/api-keys/${id}`, { method: "DELETE", headers: admin })).status).toBe(
			204,
		);
		const revoked = await me(key);
		expect(revoked.status).toBe(401);
		expect(revoked.headers.get("www-authenticate")).toContain('error="invalid_token"');
	});

	it("seeds tenant scopes for the demo credentials and metrics:read only for the operator key: /metrics, /v1/slo, /v1/usage", async () => {
		const get = (path: string, key: string) =>
			fetch(`${server.base}${path}`, { headers: { Authorization: `Bearer ${key}` } });
		expect(await (await get("/v1/auth/me", DEMO_KEY)).json()).toMatchObject({
			tenant: "demo",
			scopes: ["chat", "rag:read", "rag:write", "usage:read"],
		});
		expect(await (await get("/v1/auth/me", OPS_KEY)).json()).toMatchObject({
			tenant: "platform",
			subject: "prometheus",
			scopes: ["metrics:read"],
		});
		// Operator routes: the demo tenant's key is refused, the seeded operator key (what Prometheus scrapes with) reads them.
		for (const path of ["/metrics", "/v1/slo"]) {
			const refused = await expectProblem(await get(path, DEMO_KEY), 403, "forbidden");
			expect(refused.required_scope).toBe("metrics:read");
			const read = await get(path, OPS_KEY);
			expect(read.status, path).toBe(200);
			await read.arrayBuffer();
		}
		// The demo tenant reads its own usage (scope usage:read), in the shape of OpenAI's usage API.
		const usage = await get("/v1/usage?bucket_width=1d&limit=1", DEMO_KEY);
		expect(usage.status).toBe(200);
		expect(await usage.json()).toMatchObject({
			object: "page",
			data: [{ object: "bucket", results: expect.any(Array) }],
			has_more: false,
			next_page: null,
		});
		const storage = await get("/v1/usage/storage", DEMO_KEY);
		expect(storage.status).toBe(200);
		expect(await storage.json()).toMatchObject({ object: "storage_usage", tenant: "demo" });
		// The operator key holds no tenant scope.
		await expectProblem(await get("/v1/usage", OPS_KEY), 403, "forbidden");
	});

	it("rate limits with the default policies: exactly 60 a minute per subject, then 429 with Retry-After", async () => {
		const tokenRes = await fetch(`${server.base}/v1/auth/token`, {
			method: "POST",
			headers: { Authorization: `Basic ${btoa("admin:admin-secret")}` },
			body: new URLSearchParams({ grant_type: "client_credentials" }),
		});
		const adminToken = ((await tokenRes.json()) as { access_token: string }).access_token;
		const created = await fetch(`${server.base}/v1/admin/api-keys`, {
			method: "POST",
			headers: { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" },
			body: JSON.stringify({ tenant: "e2e", subject: `limited-${Date.now()}`, scopes: ["chat"] }),
		});
		const { key } = (await created.json()) as { key: string };
		const statuses: number[] = [];
		let last: Response | undefined;
		for (let i = 0; i < 61; i++) {
			last = await fetch(`${server.base}/v1/auth/me`, { headers: { "X-API-Key": key } });
			statuses.push(last.status);
			if (i === 0) {
				expect(last.headers.get("ratelimit-policy")).toBe('"default";q=60;w=60');
				expect(last.headers.get("ratelimit")).toBe('"default";r=59;t=60');
			}
		}
		expect(statuses.filter((s) => s === 200)).toHaveLength(60);
		expect(last?.status).toBe(429);
		const body = await expectProblem(last as Response, 429, "quota-exceeded");
		expect(body["violated-policies"]).toEqual(["default"]);
		expect(Number(last?.headers.get("retry-after"))).toBeGreaterThan(0);
		// Probes are never limited.
		expect((await fetch(`${server.base}/healthz`)).headers.get("ratelimit-policy")).toBeNull();
	});

	it("runs RAG offline: ingest → search → grounded answer with citations", async () => {
		const headers = {
			"X-API-Key": DEMO_KEY,
			"Content-Type": "application/json",
		};
		const ingest = await fetch(`${server.base}/v1/documents`, {
			method: "POST",
			headers,
			body: JSON.stringify({
				documents: [
					{
						id: "e2e-runbook",
						title: "Rollback runbook",
						text: "# Rollback\n\nRoll back a failed canary with wrangler rollback.\n\n## Codes\n\nERR-9001 means the index is read-only.",
					},
				],
			}),
		});
		expect(ingest.status).toBe(201);
		const { bookmark } = (await ingest.json()) as { bookmark: string };
		const search = await fetch(`${server.base}/v1/rag/search`, {
			method: "POST",
			headers,
			body: JSON.stringify({ query: "ERR-9001", bookmark }),
		});
		const hits = ((await search.json()) as { data: { document_id: string; text: string }[] }).data;
		expect(hits[0]?.document_id).toBe("e2e-runbook");
		expect(hits[0]?.text).toContain("ERR-9001");
		const query = await fetch(`${server.base}/v1/rag/query`, {
			method: "POST",
			headers,
			body: JSON.stringify({ query: "What does ERR-9001 mean?", bookmark }),
		});
		const answer = (await query.json()) as { answer: string; citations: { document_id: string }[] };
		expect(answer.answer).toMatch(/\[1\]/);
		expect(answer.citations[0]?.document_id).toBe("e2e-runbook");
	});

	it("logs one structured line per request with the request id and route pattern", async () => {
		await fetch(`${server.base}/healthz`, { headers: { "X-Request-ID": "e2e-log-1" } });
		await expect
			.poll(() => server.logLines().filter((l: Record<string, unknown>) => l.request_id === "e2e-log-1"), {
				timeout: 5_000,
			})
			.toEqual([expect.objectContaining({ msg: "request", route: "/healthz", status: 200, method: "GET" })]);
	});
});
