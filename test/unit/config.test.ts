import { describe, expect, it } from "vitest";
import { FALLBACK_CONFIG, loadConfig, parseConfig } from "../../src/config";
import { bindingsIdentity } from "../../src/config/bindings";
import { LOCAL_DEV_SIGNING_SECRET } from "../../src/config/schema";

const STRONG_SECRET = "s".repeat(48);

describe("parseConfig", () => {
	it("applies the documented defaults to an environment that names only ENVIRONMENT", () => {
		const result = parseConfig({ ENVIRONMENT: "local" });
		expect(result).toEqual({ ok: true, config: FALLBACK_CONFIG });
		expect(FALLBACK_CONFIG).toMatchObject({
			environment: "local",
			logLevel: "info",
			corsOrigins: [],
			maxBodyBytes: 1_048_576,
			timeouts: { defaultMs: 30_000, chatMs: 60_000, streamMs: 300_000, healthMs: 5_000 },
			auth: {
				issuer: "edge-ai-api",
				audience: "edge-ai-api",
				ttlS: 900,
				clockToleranceS: 30,
				signing: { kind: "hs256", secret: LOCAL_DEV_SIGNING_SECRET },
				external: undefined,
				maxCredentialBytes: 4096,
				revocationCacheS: 5,
			},
		});
	});

	it("parses every variable from strings", () => {
		const result = parseConfig({
			ENVIRONMENT: "production",
			LOG_LEVEL: "warn",
			CORS_ORIGINS: " https://a.example , http://localhost:3000 ",
			MAX_BODY_BYTES: "2048",
			TIMEOUT_DEFAULT_MS: "100",
			TIMEOUT_CHAT_MS: "200",
			TIMEOUT_STREAM_MS: "300",
			TIMEOUT_HEALTH_MS: "50",
			JWT_SIGNING_SECRET: STRONG_SECRET,
		});
		expect(result).toMatchObject({
			ok: true,
			config: {
				environment: "production",
				logLevel: "warn",
				corsOrigins: ["https://a.example", "http://localhost:3000"],
				maxBodyBytes: 2048,
				timeouts: { defaultMs: 100, chatMs: 200, streamMs: 300, healthMs: 50 },
				auth: { signing: { kind: "hs256", secret: STRONG_SECRET } },
			},
		});
	});

	it.each([
		["MAX_BODY_BYTES", "abc"],
		["MAX_BODY_BYTES", "-5"],
		["MAX_BODY_BYTES", "1.5"],
		["MAX_BODY_BYTES", "10"],
		["MAX_BODY_BYTES", String(65 * 1024 * 1024)],
		["TIMEOUT_CHAT_MS", "0"],
		["TIMEOUT_DEFAULT_MS", "1e3"],
		["LOG_LEVEL", "verbose"],
		["ENVIRONMENT", "prod"],
		["CORS_ORIGINS", "ftp://x.example"],
		["CORS_ORIGINS", "not a url"],
	])("names %s when it is %j", (variable, value) => {
		const result = parseConfig({ [variable]: value });
		expect(result.ok).toBe(false);
		if (result.ok) return;
		expect(result.issues.map((i) => i.variable)).toEqual([variable]);
		expect(result.issues[0]?.message.length).toBeGreaterThan(0);
	});

	it("reports every invalid variable at once", () => {
		const result = parseConfig({ MAX_BODY_BYTES: "x", LOG_LEVEL: "loud" });
		expect(result.ok).toBe(false);
		if (!result.ok) expect(result.issues.map((i) => i.variable).sort()).toEqual(["LOG_LEVEL", "MAX_BODY_BYTES"]);
	});
});

describe("signing keys per environment", () => {
	it.each(["staging", "production"])("%s refuses to run without a signing secret", (environment) => {
		const result = parseConfig({ ENVIRONMENT: environment });
		expect(result.ok).toBe(false);
		if (!result.ok) expect(result.issues).toEqual([expect.objectContaining({ variable: "JWT_SIGNING_SECRET" })]);
	});

	it.each(["staging", "production"])("%s refuses the public local default secret", (environment) => {
		const result = parseConfig({ ENVIRONMENT: environment, JWT_SIGNING_SECRET: LOCAL_DEV_SIGNING_SECRET });
		expect(result.ok).toBe(false);
		if (!result.ok) expect(result.issues[0]?.message).toContain("local default");
	});

	it("production runs with a strong secret, or with a private JWK instead", () => {
		expect(parseConfig({ ENVIRONMENT: "production", JWT_SIGNING_SECRET: STRONG_SECRET }).ok).toBe(true);
		const jwk = JSON.stringify({ kty: "OKP", crv: "Ed25519", x: "x", d: "d", kid: "k1" });
		const result = parseConfig({ ENVIRONMENT: "production", JWT_PRIVATE_JWK: jwk });
		expect(result.ok && result.config.auth.signing.kind).toBe("jwk");
	});

	it("rejects a short secret, a JWK without kid and a JWKS URL without issuer/audience", () => {
		const vars = (extra: Record<string, string>) => {
			const r = parseConfig({ ENVIRONMENT: "local", ...extra });
			return r.ok ? [] : r.issues.map((i) => i.variable).sort();
		};
		expect(vars({ JWT_SIGNING_SECRET: "short" })).toEqual(["JWT_SIGNING_SECRET"]);
		expect(vars({ JWT_PRIVATE_JWK: JSON.stringify({ kty: "OKP", crv: "Ed25519", x: "x", d: "d" }) })).toEqual([
			"JWT_PRIVATE_JWK",
		]);
		expect(vars({ JWT_PRIVATE_JWK: "{not json" })).toEqual(["JWT_PRIVATE_JWK"]);
		expect(vars({ JWT_JWKS_URL: "https://idp.example/jwks.json" })).toEqual(["JWT_JWKS_AUDIENCE", "JWT_JWKS_ISSUER"]);
		expect(vars({ JWT_JWKS_ALGORITHMS: "HS256" })).toEqual(["JWT_JWKS_ALGORITHMS"]);
	});
});

describe("loadConfig", () => {
	it("parses once per bindings object", () => {
		const env = { MAX_BODY_BYTES: "4096" };
		const first = loadConfig(env);
		env.MAX_BODY_BYTES = "8192"; // a later change to the same object is not re-read: one parse per isolate
		expect(loadConfig(env)).toBe(first);
		expect(loadConfig({ MAX_BODY_BYTES: "8192" })).not.toBe(first);
	});
});

describe("safe by default outside local environments (docs/security.md#configuration)", () => {
	const issues = (vars: Record<string, string>) => {
		const r = parseConfig(vars);
		return r.ok ? [] : r.issues;
	};
	const prod = { ENVIRONMENT: "production", JWT_SIGNING_SECRET: STRONG_SECRET };

	it("requires ENVIRONMENT to be named (an [env.*] does not inherit the top level's vars)", () => {
		expect(issues({})).toEqual([expect.objectContaining({ variable: "ENVIRONMENT" })]);
		expect(issues({ JWT_SIGNING_SECRET: STRONG_SECRET })).toEqual([
			expect.objectContaining({ variable: "ENVIRONMENT" }),
		]);
		expect(issues({ ENVIRONMENT: "local" })).toEqual([]);
	});

	it.each(["staging", "production"])("%s refuses the public dev secret in the previous-secret slot too", (env) => {
		expect(
			issues({
				ENVIRONMENT: env,
				JWT_SIGNING_SECRET: STRONG_SECRET,
				JWT_PREVIOUS_SIGNING_SECRET: LOCAL_DEV_SIGNING_SECRET,
			}),
		).toEqual([expect.objectContaining({ variable: "JWT_PREVIOUS_SIGNING_SECRET" })]);
		expect(issues({ ENVIRONMENT: "local", JWT_PREVIOUS_SIGNING_SECRET: LOCAL_DEV_SIGNING_SECRET })).toEqual([]);
	});

	it("refuses http:// upstreams, key sets and collectors outside local; allows them locally", () => {
		const plain = {
			JWT_JWKS_URL: "http://idp.example/jwks.json",
			JWT_JWKS_ISSUER: "https://idp.example",
			JWT_JWKS_AUDIENCE: "api",
			OTLP_ENDPOINT: "http://collector.example:4318",
			CHAT_MODELS: JSON.stringify([{ id: "gpt", provider: "openai", base_url: "http://gateway.example/v1" }]),
		};
		expect(
			issues({ ...prod, ...plain })
				.map((i) => i.variable)
				.sort(),
		).toEqual(["CHAT_MODELS", "JWT_JWKS_URL", "OTLP_ENDPOINT"]);
		expect(issues({ ENVIRONMENT: "staging", JWT_SIGNING_SECRET: STRONG_SECRET, ...plain })).toHaveLength(3);
		expect(issues({ ENVIRONMENT: "test", ...plain })).toEqual([]);
		const https = { ...plain, JWT_JWKS_URL: "https://idp.example/jwks.json", OTLP_ENDPOINT: "https://c.example" };
		expect(issues({ ...prod, ...https, CHAT_MODELS: plain.CHAT_MODELS.replace("http://", "https://") })).toEqual([]);
	});

	it("refuses CORS_ORIGINS=* in production only", () => {
		expect(issues({ ...prod, CORS_ORIGINS: "*" })).toEqual([expect.objectContaining({ variable: "CORS_ORIGINS" })]);
		expect(issues({ ...prod, CORS_ORIGINS: "https://app.example" })).toEqual([]);
		expect(issues({ ENVIRONMENT: "staging", JWT_SIGNING_SECRET: STRONG_SECRET, CORS_ORIGINS: "*" })).toEqual([]);
	});

	it("refuses a tokens policy on a route that calls no model", () => {
		const policies = (routes: string[]) =>
			JSON.stringify([{ name: "t", routes, key: "subject", limit: 1000, window_s: 60, unit: "tokens" }]);
		expect(issues({ ENVIRONMENT: "local", RATE_LIMIT_POLICIES: policies(["POST /v1/rag/query"]) })).toEqual([]);
		expect(issues({ ENVIRONMENT: "local", RATE_LIMIT_POLICIES: policies(["/v1/chat/completions"]) })).toEqual([]);
		for (const bad of [["*"], ["POST /v1/documents"], ["GET /v1/rag/query"], ["/v1/embeddings"]]) {
			const found = issues({ ENVIRONMENT: "local", RATE_LIMIT_POLICIES: policies(bad) });
			expect(found).toEqual([expect.objectContaining({ variable: "RATE_LIMIT_POLICIES" })]);
			expect(found[0]?.message).toContain("calls no model");
		}
	});

	it("validates the operator tenant and the scopes an IdP may grant", () => {
		expect(issues({ ENVIRONMENT: "local", OPERATOR_TENANT: "ops team" })).toEqual([
			expect.objectContaining({ variable: "OPERATOR_TENANT" }),
		]);
		expect(issues({ ENVIRONMENT: "local", JWT_JWKS_ALLOWED_SCOPES: "chat root" })).toEqual([
			expect.objectContaining({ variable: "JWT_JWKS_ALLOWED_SCOPES" }),
		]);
	});
});

describe("bindingsIdentity", () => {
	it("is the same for every proxy of one bindings object, and its own for a copy", () => {
		const env = { ENVIRONMENT: "local" };
		const a = new Proxy(env, {});
		const b = new Proxy(env, { get: (t, p) => Reflect.get(t, p) });
		expect(bindingsIdentity(a)).toBe(bindingsIdentity(b));
		expect(bindingsIdentity(a)).toBe(bindingsIdentity(env));
		expect(bindingsIdentity({ ...env })).not.toBe(bindingsIdentity(env));
		expect(loadConfig(a)).toBe(loadConfig(b)); // one parse per isolate, even behind per-request proxies
		expect(Object.keys(env)).toEqual(["ENVIRONMENT"]); // the key is not enumerable: spreads do not copy it
	});
});
