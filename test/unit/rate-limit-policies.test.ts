import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config";
import { closestToExhaustion, policyField, rateLimitHeaders } from "../../src/rate-limit/headers";
import { NegativeCache } from "../../src/rate-limit/negative-cache";
import { DEFAULT_POLICIES, limitKey, PoliciesSchema, type Policy, policiesFor } from "../../src/rate-limit/policies";
import { withRateLimits } from "../../src/routes/docs/rate-limits";

const policy = (p: Partial<Policy> & Pick<Policy, "name">): Policy =>
	PoliciesSchema.parse([{ routes: ["*"], key: "subject", limit: 10, window_s: 60, ...p }])[0] as Policy;

describe("rate-limit policies", () => {
	it("a route is governed by the policies naming it, else by the '*' ones; never-limited routes by none", () => {
		const policies = [
			policy({ name: "ingest", routes: ["POST /v1/documents"] }),
			policy({ name: "docs-any", routes: ["/v1/documents/:id"] }),
			policy({ name: "default" }),
		];
		const names = (m: string, r: string) => policiesFor(policies, m, r).map((p) => p.name);
		expect(names("POST", "/v1/documents")).toEqual(["ingest"]);
		expect(names("GET", "/v1/documents")).toEqual(["default"]);
		expect(names("DELETE", "/v1/documents/:id")).toEqual(["docs-any"]);
		expect(names("GET", "/healthz")).toEqual([]);
		expect(policiesFor([policy({ name: "g", routes: ["GET /x"] })], "HEAD", "/x").map((p) => p.name)).toEqual(["g"]);
	});

	it("ships the documented defaults", () => {
		expect(DEFAULT_POLICIES.map((p) => [p.name, p.limit, p.window_s, p.unit, p.key])).toEqual([
			["chat", 30, 60, "requests", "subject"],
			["llm-tokens", 200_000, 3_600, "tokens", "subject"],
			["rag-query", 60, 60, "requests", "subject"],
			["ingest", 20, 60, "requests", "subject"],
			["token", 10, 60, "requests", "client_ip"],
			["default", 60, 60, "requests", "subject"],
		]);
	});

	it("rejects bad policies with the entry and field named", () => {
		const bad = (policies: unknown) =>
			parseConfig({ ENVIRONMENT: "local", RATE_LIMIT_POLICIES: JSON.stringify(policies) });
		const cases: [unknown, string][] = [
			[[{ name: "x", routes: ["*"], key: "subject", limit: 0, window_s: 60 }], "[0].limit"],
			[[{ name: "Bad Name", routes: ["*"], key: "subject", limit: 1, window_s: 60 }], "[0].name"],
			[[{ name: "x", routes: ["/readyz"], key: "ip", limit: 1, window_s: 60 }], "never rate limited"],
			[[{ name: "x", routes: ["FETCH /x"], key: "ip", limit: 1, window_s: 60 }], "[0].routes[0]"],
			[[{ name: "x", routes: ["*"], key: "user", limit: 1, window_s: 60 }], "[0].key"],
			[[{ name: "x", routes: ["*"], key: "ip", limit: 1, window_s: 60, burst: 3 }], "burst"],
			[
				[
					{ name: "x", routes: ["*"], key: "ip", limit: 1, window_s: 60 },
					{ name: "x", routes: ["/a"], key: "ip", limit: 1, window_s: 60 },
				],
				"duplicate name",
			],
			["not an array", "RATE_LIMIT_POLICIES"],
		];
		for (const [policies, mention] of cases) {
			const result = bad(policies);
			expect(result.ok, JSON.stringify(policies)).toBe(false);
			if (!result.ok) {
				expect(result.issues[0]?.variable).toBe("RATE_LIMIT_POLICIES");
				expect(JSON.stringify(result.issues)).toContain(mention);
			}
		}
		expect(parseConfig({ RATE_LIMIT_POLICIES: "{oops" }).ok).toBe(false);
		expect(parseConfig({ ENVIRONMENT: "local", RATE_LIMIT_POLICIES: "[]" })).toMatchObject({
			ok: true,
			config: { rateLimit: { policies: [] } },
		});
	});

	it("requires the reservation lease to outlast the longest stream", () => {
		const r = parseConfig({ ENVIRONMENT: "local", RATE_LIMIT_LEASE_S: "60", TIMEOUT_STREAM_MS: "300000" });
		expect(r.ok).toBe(false);
		if (!r.ok) expect(r.issues[0]?.variable).toBe("RATE_LIMIT_LEASE_S");
	});

	it("derives keys that cannot collide and fall back to the IP without a principal", () => {
		const principal = { tenant: "t/1", subject: "a", scopes: [], via: "jwt" as const, credentialId: "j" };
		const inputs = { principal, ip: "192.0.2.1", clientId: "c|ip:x" };
		expect(limitKey("subject", inputs)).toBe("sub:t%2F1/a");
		expect(limitKey("tenant", inputs)).toBe("tenant:t%2F1");
		expect(limitKey("ip", inputs)).toBe("ip:192.0.2.1");
		expect(limitKey("client_ip", inputs)).toBe("client:c%7Cip%3Ax|ip:192.0.2.1");
		expect(limitKey("subject", { ...inputs, principal: undefined })).toBe("ip:192.0.2.1");
	});
});

describe("rate-limit headers", () => {
	const minute = policy({ name: "minute", limit: 30 });
	const tokens = policy({ name: "tokens", limit: 1000, window_s: 3600, unit: "tokens" });

	it("formats RateLimit-Policy as a Structured Fields list", () => {
		expect(policyField([minute, tokens])).toBe('"minute";q=30;w=60, "tokens";q=1000;qu="tokens";w=3600');
	});

	it("reports the policy with the least remaining share; a violated one on denial; seconds rounded up", () => {
		const states = [
			{ policy: minute, allowed: true, remaining: 15, resetMs: 1_200 },
			{ policy: tokens, allowed: true, remaining: 100, resetMs: 59_001 },
		];
		expect(closestToExhaustion(states)?.policy.name).toBe("tokens");
		expect(rateLimitHeaders([minute, tokens], states)).toMatchObject({
			RateLimit: '"tokens";r=100;t=60',
			"X-RateLimit-Limit": "1000",
			"X-RateLimit-Remaining": "100",
			"X-RateLimit-Reset": "60",
		});
		const denied = [...states, { policy: minute, allowed: false, remaining: 0, resetMs: 10 }];
		expect(rateLimitHeaders([minute, tokens], denied).RateLimit).toBe('"minute";r=0;t=1');
		expect(rateLimitHeaders([minute], [])).toEqual({ "RateLimit-Policy": '"minute";q=30;w=60' });
	});
});

describe("NegativeCache", () => {
	it("blocks costs at least as large until the time, and evicts the least recently used", () => {
		const cache = new NegativeCache(2);
		cache.block("k", "p", 5, 1_000);
		expect(cache.blockedUntil("k", "p", 5, 999)).toBe(1_000);
		expect(cache.blockedUntil("k", "p", 9, 999)).toBe(1_000);
		expect(cache.blockedUntil("k", "p", 4, 999)).toBeNull();
		expect(cache.blockedUntil("k", "p", 5, 1_000)).toBeNull();
		cache.block("a", "p", 1, 5_000);
		cache.block("b", "p", 1, 5_000);
		expect(cache.blockedUntil("a", "p", 1, 0)).toBe(5_000);
		cache.block("c", "p", 1, 5_000);
		expect(cache.size).toBe(2);
		expect(cache.blockedUntil("b", "p", 1, 0)).toBeNull();
		expect(new NegativeCache(0).blockedUntil("a", "p", 1, 0)).toBeNull();
	});
});

describe("OpenAPI document with rate limits", () => {
	it("adds a 429 (and a 503 for fail-closed policies) to governed operations only", () => {
		const doc = {
			paths: {
				"/healthz": { get: { responses: { 200: {} } } },
				"/v1/documents/{id}": { get: { responses: { 200: {} } }, delete: { responses: { 204: {} } } },
				"/v1/chat/completions": { post: { responses: { 200: {} } } },
			},
		};
		const out = withRateLimits(doc, [
			policy({ name: "chat", routes: ["POST /v1/chat/completions"], unit: "tokens", fail: "closed" }),
			policy({ name: "docs", routes: ["DELETE /v1/documents/:id"] }),
		]);
		const responses = (path: string, method: string) =>
			Object.keys(
				((out.paths as Record<string, Record<string, { responses: object }>>)[path]?.[method]?.responses ??
					{}) as object,
			);
		expect(responses("/healthz", "get")).toEqual(["200"]);
		expect(responses("/v1/documents/{id}", "get")).toEqual(["200"]);
		expect(responses("/v1/documents/{id}", "delete")).toEqual(["204", "429"]);
		expect(responses("/v1/chat/completions", "post")).toEqual(["200", "429", "503"]);
		expect(doc.paths["/v1/chat/completions"].post.responses).toEqual({ 200: {} });
	});
});
