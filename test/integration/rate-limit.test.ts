import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { parseList } from "structured-headers";
import { describe, expect, it, vi } from "vitest";
import { createApp, createPipeline } from "../../src/app";
import type { RateLimitOptions } from "../../src/middleware/rate-limit";
import { type LimiterLookup, type LimiterStub, limiterLookup } from "../../src/rate-limit/limiter";
import { NegativeCache } from "../../src/rate-limit/negative-cache";
import { DEFAULT_POLICIES, type Policy } from "../../src/rate-limit/policies";
import { basic, bearer, freshPrincipalToken } from "../helpers/workers/auth";
import { expectProblem, ORIGIN } from "../helpers/workers/http";

type PolicyInput = Omit<Policy, "unit" | "fail"> & Partial<Pick<Policy, "unit" | "fail">>;

let seq = 0;
/** A subject nobody else uses, so each test starts from empty limit keys. */
const fresh = (label: string) => `${label}-${Date.now().toString(36)}-${seq++}`;

/** A pipeline with probe routes: GET /probe, POST /v1/chat/completions and /v1/rag/query (model routes, the only ones a `tokens` policy may name: they commit `actual` from their body), and friends. */
function probeApp(options: RateLimitOptions = {}) {
	const app = createPipeline({
		rateLimit: {
			tokenCost: {
				"/v1/chat/completions": async (c) => ((await c.req.json()) as { max_tokens: number }).max_tokens,
				"/v1/rag/query": async (c) => ((await c.req.json()) as { max_tokens: number }).max_tokens,
			},
			...options,
		},
	});
	app.get("/probe", (c) => c.json({ ok: true }));
	app.get("/probe/other", (c) => c.json({ ok: true }));
	app.post("/v1/chat/completions", async (c) => {
		const body = (await c.req.json()) as { actual?: number; fail?: boolean };
		if (body.fail) throw new Error("model call failed");
		await c.get("tokenBudget")?.commit(body.actual ?? 0);
		return c.json({ reserved: c.get("tokenBudget")?.reserved ?? 0 });
	});
	app.post("/v1/rag/query", async (c) => {
		const body = (await c.req.json()) as { actual: number };
		const budget = c.get("tokenBudget");
		budget?.detach();
		// The stream ends after the response started; its usage is committed then.
		c.executionCtx.waitUntil(new Promise((r) => setTimeout(r, 200)).then(() => budget?.commit(body.actual)));
		return c.json({ streaming: true });
	});
	return app;
}

type App = ReturnType<typeof probeApp>;

async function send(
	app: App | ReturnType<typeof createApp>,
	policies: PolicyInput[] | undefined,
	path: string,
	init: RequestInit = {},
	extraVars: Record<string, string> = {},
): Promise<Response> {
	const ctx = createExecutionContext();
	const vars: Record<string, unknown> = { RATE_LIMIT_TIMEOUT_MS: "5000", ...extraVars };
	vars.RATE_LIMIT_POLICIES = policies === undefined ? undefined : JSON.stringify(policies);
	const res = await app.fetch(new Request(ORIGIN + path, init), { ...env, ...vars }, ctx);
	await waitOnExecutionContext(ctx);
	return res;
}

const json = (token: string, body: unknown): RequestInit => ({
	method: "POST",
	headers: { ...bearer(token), "Content-Type": "application/json" },
	body: JSON.stringify(body),
});

/** What a policy of a key has used, read from its object without charging it. */
async function usedOf(key: string, policy: string, limit: number, windowS: number): Promise<number> {
	const stub = limiterLookup(env.RATE_LIMITER)(key);
	const r = await stub.consume([{ policy, limit, windowMs: windowS * 1000, cost: 0 }], { dryRun: true });
	return r.decisions[0]?.used ?? -1;
}

function params(field: string | null) {
	return parseList(field ?? "").map(([item, p]) => ({ item, params: Object.fromEntries(p) }));
}

describe("rate limiting: headers and 429", () => {
	const perMinute: PolicyInput[] = [{ name: "probe", routes: ["/probe"], key: "subject", limit: 3, window_s: 60 }];

	it("sets RateLimit-Policy, RateLimit and the legacy headers, parseable as Structured Fields", async () => {
		const app = probeApp();
		const token = await freshPrincipalToken(fresh("hdr"));
		const res = await send(app, perMinute, "/probe", { headers: bearer(token) });
		expect(res.status).toBe(200);
		expect(params(res.headers.get("RateLimit-Policy"))).toEqual([{ item: "probe", params: { q: 3, w: 60 } }]);
		expect(params(res.headers.get("RateLimit"))).toEqual([{ item: "probe", params: { r: 2, t: 60 } }]);
		expect(res.headers.get("X-RateLimit-Limit")).toBe("3");
		expect(res.headers.get("X-RateLimit-Remaining")).toBe("2");
		expect(res.headers.get("X-RateLimit-Reset")).toBe("60");
	});

	it("admits exactly the limit, then answers 429 problem+json with Retry-After never earlier than t", async () => {
		const app = probeApp();
		const token = await freshPrincipalToken(fresh("deny"));
		for (let i = 0; i < 3; i++)
			expect((await send(app, perMinute, "/probe", { headers: bearer(token) })).status).toBe(200);
		const denied = await send(app, perMinute, "/probe", { headers: bearer(token) });
		const retryAfter = Number(denied.headers.get("Retry-After"));
		const t = params(denied.headers.get("RateLimit"))[0]?.params.t;
		const body = await expectProblem(denied, 429, "quota-exceeded");
		expect(body["violated-policies"]).toEqual(["probe"]);
		expect(typeof t).toBe("number");
		expect(retryAfter).toBeGreaterThanOrEqual(t as number);
		expect(retryAfter).toBeGreaterThan(0);
		expect(retryAfter).toBeLessThanOrEqual(60);
		expect(params(denied.headers.get("RateLimit"))[0]).toMatchObject({ item: "probe", params: { r: 0 } });
	});

	it("keys by subject: another subject of the same tenant has its own quota", async () => {
		const app = probeApp();
		const one = await freshPrincipalToken(fresh("a"));
		const two = await freshPrincipalToken(fresh("b"));
		for (let i = 0; i < 3; i++) await send(app, perMinute, "/probe", { headers: bearer(one) });
		expect((await send(app, perMinute, "/probe", { headers: bearer(one) })).status).toBe(429);
		expect((await send(app, perMinute, "/probe", { headers: bearer(two) })).status).toBe(200);
	});

	it("reports the policy closest to exhaustion in RateLimit and all of them in RateLimit-Policy", async () => {
		const app = probeApp();
		const token = await freshPrincipalToken(fresh("closest"));
		const two: PolicyInput[] = [
			{ name: "burst", routes: ["/probe"], key: "subject", limit: 10, window_s: 1 },
			{ name: "minute", routes: ["/probe"], key: "subject", limit: 4, window_s: 60 },
		];
		const res = await send(app, two, "/probe", { headers: bearer(token) });
		expect(params(res.headers.get("RateLimit-Policy")).map((p) => p.item)).toEqual(["burst", "minute"]);
		expect(params(res.headers.get("RateLimit"))).toEqual([{ item: "minute", params: { r: 3, t: 60 } }]);
	});

	it("puts the headers on error responses of limited routes too", async () => {
		const app = probeApp();
		const token = await freshPrincipalToken(fresh("err"));
		const policies: PolicyInput[] = [
			{ name: "llm", routes: ["/v1/chat/completions"], key: "subject", limit: 5, window_s: 60 },
		];
		const res = await send(app, policies, "/v1/chat/completions", json(token, { fail: true }));
		expect(res.status).toBe(500);
		expect(res.headers.get("RateLimit")).toBe('"llm";r=4;t=60');
	});

	it("never limits health, docs and version routes, and rejects policies that name them", async () => {
		const app = createApp();
		const all: PolicyInput[] = [{ name: "all", routes: ["*"], key: "ip", limit: 1, window_s: 60 }];
		for (const path of ["/healthz", "/version", "/openapi.json", "/healthz", "/version"]) {
			const res = await send(app, all, path, { headers: { "CF-Connecting-IP": "192.0.2.50" } });
			expect(res.status, path).toBe(200);
			expect(res.headers.get("RateLimit-Policy")).toBeNull();
		}
		const bad = await send(app, [{ name: "h", routes: ["/healthz"], key: "ip", limit: 1, window_s: 1 }], "/v1/auth/me");
		const problem = await expectProblem(bad, 503, "misconfigured");
		expect(JSON.stringify(problem)).toContain("never rate limited");
	});
});

describe("rate limiting: policies and keys", () => {
	it("applies the '*' policies to routes no policy names", async () => {
		const app = probeApp();
		const token = await freshPrincipalToken(fresh("star"));
		const policies: PolicyInput[] = [
			{ name: "named", routes: ["GET /probe"], key: "subject", limit: 5, window_s: 60 },
			{ name: "fallback", routes: ["*"], key: "subject", limit: 7, window_s: 60 },
		];
		const named = await send(app, policies, "/probe", { headers: bearer(token) });
		expect(named.headers.get("RateLimit-Policy")).toBe('"named";q=5;w=60');
		const other = await send(app, policies, "/probe/other", { headers: bearer(token) });
		expect(other.headers.get("RateLimit-Policy")).toBe('"fallback";q=7;w=60');
	});

	it("keys unauthenticated routes by CF-Connecting-IP, and the token endpoint by client id and IP", async () => {
		const app = createApp();
		const policies: PolicyInput[] = [
			{ name: "token", routes: ["POST /v1/auth/token"], key: "client_ip", limit: 2, window_s: 60 },
			{ name: "open", routes: ["*"], key: "subject", limit: 1, window_s: 60 },
		];
		const ip = `203.0.113.${seq++ % 250}`;
		const token = (id: string, from: string) =>
			send(app, policies, "/v1/auth/token", {
				method: "POST",
				headers: { Authorization: basic(id, "wrong"), "CF-Connecting-IP": from },
				body: new URLSearchParams({ grant_type: "client_credentials" }),
			});
		const clientId = fresh("client");
		expect((await token(clientId, ip)).status).toBe(401);
		expect((await token(clientId, ip)).status).toBe(401);
		await expectProblem(await token(clientId, ip), 429, "quota-exceeded");
		// Another client id from the same IP, and the same client id from another IP, have their own quota.
		expect((await token(fresh("client"), ip)).status).toBe(401);
		expect((await token(clientId, `${ip}9`)).status).toBe(401);
		// The client id in a form body counts like the Basic one.
		const formBody = await send(app, policies, "/v1/auth/token", {
			method: "POST",
			headers: { "CF-Connecting-IP": ip, "Content-Type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: "x" }),
		});
		expect(formBody.status).toBe(429);

		// A public GET route: the subject key falls back to the IP.
		const jwks = (from: string) =>
			send(app, policies, "/.well-known/jwks.json", { headers: { "CF-Connecting-IP": from } });
		expect((await jwks(ip)).status).toBe(200);
		expect((await jwks(ip)).status).toBe(429);
		expect((await jwks(`${ip}8`)).status).toBe(200);
	});

	it("runs the defaults when RATE_LIMIT_POLICIES is unset", async () => {
		const app = createApp();
		const token = await freshPrincipalToken(fresh("defaults"));
		const res = await send(app, undefined, "/v1/auth/me", { headers: bearer(token) });
		expect(res.status).toBe(200);
		const def = DEFAULT_POLICIES.find((p) => p.name === "default");
		expect(res.headers.get("RateLimit-Policy")).toBe(`"default";q=${def?.limit};w=${def?.window_s}`);
		expect(res.headers.get("X-RateLimit-Remaining")).toBe(String((def?.limit ?? 0) - 1));
	});

	it("N parallel requests through the Worker for one key: exactly the limit is admitted", async () => {
		const app = probeApp();
		const token = await freshPrincipalToken(fresh("parallel"));
		const policies: PolicyInput[] = [{ name: "p", routes: ["/probe"], key: "subject", limit: 25, window_s: 60 }];
		const results = await Promise.all(
			Array.from({ length: 80 }, () => send(app, policies, "/probe", { headers: bearer(token) })),
		);
		const statuses = results.map((r) => r.status);
		expect(statuses.filter((s) => s === 200)).toHaveLength(25);
		expect(statuses.filter((s) => s === 429)).toHaveLength(55);
	});

	it("is atomic across keys: a deny on the tenant policy leaves the subject policy's count unchanged", async () => {
		const app = probeApp();
		const tenant = fresh("tenant");
		const subject = fresh("atomic");
		const token = await freshPrincipalToken(subject, tenant);
		const policies: PolicyInput[] = [
			{ name: "mine", routes: ["/probe"], key: "subject", limit: 10, window_s: 60 },
			{ name: "ours", routes: ["/probe"], key: "tenant", limit: 2, window_s: 60 },
		];
		for (let i = 0; i < 2; i++)
			expect((await send(app, policies, "/probe", { headers: bearer(token) })).status).toBe(200);
		const denied = await send(app, policies, "/probe", { headers: bearer(token) });
		expect((await expectProblem(denied, 429, "quota-exceeded"))["violated-policies"]).toEqual(["ours"]);
		// The subject's object admitted its part, then the cancellation took it back (after the response).
		expect(await usedOf(`sub:${tenant}/${subject}`, "mine", 10, 60)).toBe(2);
		expect(await usedOf(`tenant:${tenant}`, "ours", 2, 60)).toBe(2);
	});

	it("validates RATE_LIMIT_POLICIES and names the offending entry", async () => {
		const res = await send(
			createApp(),
			[{ name: "x", routes: ["*"], key: "subject", limit: 0, window_s: 60 }],
			"/readyz",
		);
		const body = await expectProblem(res, 503, "not-ready");
		expect(JSON.stringify(body)).toContain("RATE_LIMIT_POLICIES");
		expect(JSON.stringify(body)).toContain("[0].limit");
	});
});

describe("rate limiting: token budgets", () => {
	const tokenPolicies: PolicyInput[] = [
		{ name: "llm", routes: ["/v1/chat/completions", "/v1/rag/query"], key: "subject", limit: 100, window_s: 60 },
		{
			name: "llm-tokens",
			routes: ["/v1/chat/completions", "/v1/rag/query"],
			key: "subject",
			limit: 1_000,
			window_s: 3_600,
			unit: "tokens",
			fail: "closed",
		},
	];

	it("reserves the worst case before the call, commits the actual usage and refunds the rest", async () => {
		const app = probeApp();
		const subject = fresh("tokens");
		const token = await freshPrincipalToken(subject);
		const res = await send(app, tokenPolicies, "/v1/chat/completions", json(token, { max_tokens: 600, actual: 150 }));
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({ reserved: 600 });
		expect(params(res.headers.get("RateLimit-Policy"))[1]).toEqual({
			item: "llm-tokens",
			params: { q: 1_000, qu: "tokens", w: 3_600 },
		});
		// The headers describe the decision (600 reserved); the commit then refunded 450.
		expect(res.headers.get("RateLimit")).toBe('"llm-tokens";r=400;t=3600');
		expect(await usedOf(`sub:rl-tests/${subject}`, "llm-tokens", 1_000, 3_600)).toBe(150);
	});

	it("denies a request whose worst case does not fit, with the token policy named", async () => {
		const app = probeApp();
		const subject = fresh("tokens-deny");
		const token = await freshPrincipalToken(subject);
		expect(
			(await send(app, tokenPolicies, "/v1/chat/completions", json(token, { max_tokens: 700, actual: 700 }))).status,
		).toBe(200);
		const denied = await send(app, tokenPolicies, "/v1/chat/completions", json(token, { max_tokens: 400 }));
		expect((await expectProblem(denied, 429, "quota-exceeded"))["violated-policies"]).toEqual(["llm-tokens"]);
		expect(params(denied.headers.get("RateLimit"))[0]?.item).toBe("llm-tokens");
		// The request policy was not charged for the denied request.
		expect(await usedOf(`sub:rl-tests/${subject}`, "llm", 100, 60)).toBe(1);
		const small = await send(app, tokenPolicies, "/v1/chat/completions", json(token, { max_tokens: 300, actual: 10 }));
		expect(small.headers.get("X-RateLimit-Remaining")).toBe("0");
	});

	it("a request larger than the whole budget is told it can never fit (no Retry-After)", async () => {
		const app = probeApp();
		const token = await freshPrincipalToken(fresh("tokens-huge"));
		const res = await send(app, tokenPolicies, "/v1/chat/completions", json(token, { max_tokens: 5_000 }));
		const body = await expectProblem(res, 429, "quota-exceeded");
		expect(body.detail).toContain("lower max_tokens");
		expect(res.headers.get("Retry-After")).toBeNull();
	});

	it("releases the reservation when the handler fails before committing", async () => {
		const app = probeApp();
		const subject = fresh("tokens-fail");
		const token = await freshPrincipalToken(subject);
		expect(
			(await send(app, tokenPolicies, "/v1/chat/completions", json(token, { max_tokens: 900, fail: true }))).status,
		).toBe(500);
		expect(await usedOf(`sub:rl-tests/${subject}`, "llm-tokens", 1_000, 3_600)).toBe(0);
	});

	it("keeps a detached reservation open until the stream commits, and concurrent streams share the budget", async () => {
		const app = probeApp();
		const subject = fresh("tokens-stream");
		const token = await freshPrincipalToken(subject);
		const [a, b, c] = await Promise.all([
			send(app, tokenPolicies, "/v1/rag/query", json(token, { max_tokens: 400, actual: 40 })),
			send(app, tokenPolicies, "/v1/rag/query", json(token, { max_tokens: 400, actual: 60 })),
			send(app, tokenPolicies, "/v1/rag/query", json(token, { max_tokens: 400, actual: 80 })),
		]);
		// Two worst cases fit in 1 000; the third had to wait for a commit that came after the decisions.
		expect([a, b, c].map((r) => r.status).sort()).toEqual([200, 200, 429]);
		const committed = [a, b, c].filter((r) => r.status === 200).length;
		expect(committed).toBe(2);
		const used = await usedOf(`sub:rl-tests/${subject}`, "llm-tokens", 1_000, 3_600);
		expect([100, 120, 140]).toContain(used);
	});
});

describe("rate limiting: failure modes and the negative cache", () => {
	const hanging: LimiterLookup = () => ({
		consume: () => new Promise(() => {}),
		commit: () => new Promise(() => {}),
		cancel: async () => false,
	});
	const throwing: LimiterLookup = () => ({
		consume: async () => {
			throw new Error("Durable Object reset because its code was updated");
		},
		commit: async () => {
			throw new Error("unavailable");
		},
		cancel: async () => false,
	});

	it.each([
		["hangs", hanging],
		["throws", throwing],
	])("a limiter that %s: 'open' admits (logged), 'closed' answers 503, and nothing hangs", async (_what, lookup) => {
		const app = probeApp({ lookup: () => lookup });
		const token = await freshPrincipalToken(fresh("fail"));
		const open: PolicyInput[] = [
			{ name: "o", routes: ["/probe"], key: "subject", limit: 1, window_s: 60, fail: "open" },
		];
		const closed: PolicyInput[] = [
			{ name: "c", routes: ["/probe"], key: "subject", limit: 1, window_s: 60, fail: "closed" },
		];
		const log = vi.spyOn(console, "log");
		const admitted = await send(app, open, "/probe", { headers: bearer(token) }, { RATE_LIMIT_TIMEOUT_MS: "50" });
		expect(admitted.status).toBe(200);
		expect(admitted.headers.get("RateLimit-Policy")).toBe('"o";q=1;w=60');
		expect(admitted.headers.get("RateLimit")).toBeNull();
		const lines = log.mock.calls.map((c) => String(c[0]));
		expect(lines.some((l) => l.includes('"msg":"rate limiter unavailable"'))).toBe(true);
		expect(lines.some((l) => l.includes('"rate_limit":"fail_open"'))).toBe(true);
		log.mockRestore();

		const refused = await send(app, closed, "/probe", { headers: bearer(token) }, { RATE_LIMIT_TIMEOUT_MS: "50" });
		const body = await expectProblem(refused, 503, "limiter-unavailable");
		expect(body["unavailable-policies"]).toEqual(["c"]);
		expect(refused.headers.get("Retry-After")).toBe("1");
	});

	it("answers known-blocked keys from the isolate's cache without calling the object, until the wait is over", async () => {
		let clock = Date.now();
		let calls = 0;
		const real = limiterLookup(env.RATE_LIMITER);
		const counting: LimiterLookup = (key) => {
			const stub = real(key);
			return {
				consume: (charges, options) => {
					calls++;
					return stub.consume(charges, options);
				},
				commit: (e, a) => stub.commit(e, a),
				cancel: (e) => stub.cancel(e),
			} satisfies LimiterStub;
		};
		const cache = new NegativeCache(100);
		const app = probeApp({ lookup: () => counting, cache, now: () => clock });
		const token = await freshPrincipalToken(fresh("negcache"));
		const policies: PolicyInput[] = [{ name: "short", routes: ["/probe"], key: "subject", limit: 1, window_s: 1 }];
		expect((await send(app, policies, "/probe", { headers: bearer(token) })).status).toBe(200);
		expect((await send(app, policies, "/probe", { headers: bearer(token) })).status).toBe(429);
		expect(calls).toBe(2);
		expect(cache.size).toBe(1);
		for (let i = 0; i < 5; i++) {
			const res = await send(app, policies, "/probe", { headers: bearer(token) });
			expect(res.status).toBe(429);
			expect(Number(res.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
		}
		expect(calls).toBe(2);
		// Once the isolate's clock passes the blocked-until time, the object decides again.
		clock += 1_001;
		await new Promise((r) => setTimeout(r, 1_050));
		expect((await send(app, policies, "/probe", { headers: bearer(token) })).status).toBe(200);
		expect(calls).toBe(3);
	});
});
