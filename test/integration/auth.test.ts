import { env } from "cloudflare:workers";
import { decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, SignJWT } from "jose";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LOCAL_DEV_SIGNING_SECRET } from "../../src/config/schema";
import { basic, bearer, callWith, tokenFor } from "../helpers/workers/auth";
import { DEMO_API_KEY, expectProblem } from "../helpers/workers/http";

afterEach(() => vi.restoreAllMocks());

const enc = new TextEncoder();
const nowS = () => Math.floor(Date.now() / 1000);
const b64 = (o: unknown) => btoa(JSON.stringify(o)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

const me = (headers: Record<string, string>, overrides: Record<string, string> = {}) =>
	callWith(overrides, "/v1/auth/me", { headers });

/** A token shaped like ours, signed with `secret` (HS256), with claim overrides. */
async function forge(claims: Record<string, unknown>, options: { secret?: string; kid?: string; typ?: string } = {}) {
	const now = nowS();
	const header: Record<string, string> = { alg: "HS256", typ: options.typ ?? "at+jwt" };
	if (options.kid) header.kid = options.kid;
	return new SignJWT({
		iss: "edge-ai-api",
		aud: "edge-ai-api",
		sub: "demo",
		tenant: "demo",
		scope: "chat",
		jti: crypto.randomUUID(),
		iat: now,
		exp: now + 300,
		...claims,
	})
		.setProtectedHeader(header as { alg: string })
		.sign(enc.encode(options.secret ?? LOCAL_DEV_SIGNING_SECRET));
}

async function expectUnauthorized(res: Response, detailPart?: string) {
	const body = await expectProblem(res, 401, "unauthorized");
	expect(res.headers.get("WWW-Authenticate")).toMatch(/^Bearer realm="edge-ai-api"/);
	if (detailPart) expect(body.detail).toContain(detailPart);
	return body;
}

describe("POST /v1/auth/token", () => {
	it("issues an at+jwt with every claim, by HTTP Basic", async () => {
		const res = await callWith({}, "/v1/auth/token", {
			method: "POST",
			body: new URLSearchParams({ grant_type: "client_credentials" }),
			headers: { Authorization: basic("demo", "demo-secret") },
		});
		expect(res.status).toBe(200);
		expect(res.headers.get("Cache-Control")).toBe("no-store");
		const body = (await res.json()) as Record<string, unknown>;
		expect(body).toMatchObject({
			token_type: "Bearer",
			expires_in: 900,
			scope: "chat rag:read rag:write usage:read",
		});
		const token = String(body.access_token);
		expect(decodeProtectedHeader(token)).toMatchObject({
			alg: "HS256",
			typ: "at+jwt",
			kid: expect.stringMatching(/^hs256-/),
		});
		const claims = decodeJwt(token);
		expect(claims).toMatchObject({ iss: "edge-ai-api", aud: "edge-ai-api", sub: "demo", tenant: "demo" });
		expect(Number(claims.exp) - Number(claims.iat)).toBe(900);
		expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);
	});

	it("accepts the credentials in a form or JSON body too, and narrows scope", async () => {
		const form = await callWith({}, "/v1/auth/token", {
			method: "POST",
			body: new URLSearchParams({
				grant_type: "client_credentials",
				client_id: "demo",
				client_secret: "demo-secret",
				scope: "chat",
			}),
		});
		expect(((await form.json()) as { scope: string }).scope).toBe("chat");
		const json = await callWith({}, "/v1/auth/token", {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify({
				grant_type: "client_credentials",
				client_id: "demo",
				client_secret: "demo-secret",
				scope: "rag:read chat",
			}),
		});
		expect(((await json.json()) as { scope: string }).scope).toBe("chat rag:read");
	});

	it("refuses scopes the client does not hold (400 invalid_scope)", async () => {
		const res = await callWith({}, "/v1/auth/token", {
			method: "POST",
			body: new URLSearchParams({ grant_type: "client_credentials", scope: "chat admin" }),
			headers: { Authorization: basic("demo", "demo-secret") },
		});
		const body = await expectProblem(res, 400, "invalid-scope");
		expect(body.error).toBe("invalid_scope");
	});

	it("answers OAuth errors for bad grants and media types", async () => {
		const missing = await callWith({}, "/v1/auth/token", {
			method: "POST",
			body: new URLSearchParams({}),
			headers: { Authorization: basic("demo", "demo-secret") },
		});
		expect((await expectProblem(missing, 400, "bad-request")).error).toBe("invalid_request");
		const password = await callWith({}, "/v1/auth/token", {
			method: "POST",
			body: new URLSearchParams({ grant_type: "password" }),
			headers: { Authorization: basic("demo", "demo-secret") },
		});
		expect((await expectProblem(password, 400, "unsupported-grant-type")).error).toBe("unsupported_grant_type");
		const text = await callWith({}, "/v1/auth/token", {
			method: "POST",
			body: "grant_type=client_credentials",
			headers: { "Content-Type": "text/plain", Authorization: basic("demo", "demo-secret") },
		});
		await expectProblem(text, 415, "unsupported-media-type");
	});

	it("gives the same answer for an unknown client id and a wrong secret", async () => {
		const attempt = (id: string, secret: string) =>
			callWith({}, "/v1/auth/token", {
				method: "POST",
				body: new URLSearchParams({ grant_type: "client_credentials" }),
				headers: { Authorization: basic(id, secret), "CF-Connecting-IP": "198.51.100.20" },
			});
		const wrong = await attempt("demo", "not-the-secret");
		const unknown = await attempt("nobody-at-all", "whatever");
		const strip = async (r: Response) => {
			const { instance: _i, ...rest } = await expectProblem(r, 401, "invalid-client");
			return rest;
		};
		expect(wrong.headers.get("WWW-Authenticate")).toBe('Basic realm="edge-ai-api"');
		expect(await strip(wrong)).toEqual(await strip(unknown));
	});

	it("throttles failures per client id + IP, then per IP, with Retry-After; other callers are unaffected", async () => {
		const limits = { AUTH_FAILURE_LIMIT: "3", AUTH_IP_FAILURE_LIMIT: "5", AUTH_FAILURE_WINDOW_S: "60" };
		const attempt = (secret: string, ip: string, id = "demo") =>
			callWith(limits, "/v1/auth/token", {
				method: "POST",
				body: new URLSearchParams({ grant_type: "client_credentials" }),
				headers: { Authorization: basic(id, secret), "CF-Connecting-IP": ip },
			});
		for (let i = 0; i < 3; i++) expect((await attempt("wrong", "203.0.113.7")).status).toBe(401);
		const blocked = await attempt("demo-secret", "203.0.113.7"); // even the right secret waits
		const body = await expectProblem(blocked, 429, "quota-exceeded");
		expect(Number(blocked.headers.get("Retry-After"))).toBeGreaterThanOrEqual(1);
		expect(Number(blocked.headers.get("Retry-After"))).toBeLessThanOrEqual(60);
		expect(body["violated-policies"]).toEqual(["auth-failures"]);
		expect((await attempt("demo-secret", "203.0.113.8")).status).toBe(200); // another IP
		// Per IP across client ids (enumeration): 2 more failures on other ids reach the IP limit of 5.
		expect((await attempt("x", "203.0.113.7", "guess-1")).status).toBe(401);
		expect((await attempt("x", "203.0.113.7", "guess-2")).status).toBe(401);
		expect((await attempt("x", "203.0.113.7", "guess-3")).status).toBe(429);
	});
});

describe("Bearer verification", () => {
	it("accepts our token and returns the principal", async () => {
		const token = await tokenFor("demo", "demo-secret");
		const res = await me(bearer(token));
		expect(res.status).toBe(200);
		expect(await res.json()).toMatchObject({
			tenant: "demo",
			subject: "demo",
			scopes: ["chat", "rag:read", "rag:write", "usage:read"],
			via: "jwt",
		});
	});

	it("without credentials: 401 with a bare Bearer challenge (RFC 6750 §3.1)", async () => {
		const res = await me({});
		await expectUnauthorized(res);
		expect(res.headers.get("WWW-Authenticate")).toBe('Bearer realm="edge-ai-api"');
	});

	it.each([
		[
			"alg none",
			async () =>
				`${b64({ alg: "none", typ: "at+jwt" })}.${b64({ iss: "edge-ai-api", aud: "edge-ai-api", sub: "demo", tenant: "demo", scope: "admin", jti: "x", iat: nowS(), exp: nowS() + 60 })}.`,
		],
		["expired", () => forge({ iat: nowS() - 3600, exp: nowS() - 60 })],
		["nbf in the future", () => forge({ nbf: nowS() + 600 })],
		["wrong iss", () => forge({ iss: "someone-else" })],
		["wrong aud", () => forge({ aud: "another-api" })],
		["wrong typ", () => forge({}, { typ: "JWT" })],
		["wrong secret", () => forge({}, { secret: "x".repeat(48) })],
		["unknown kid", () => forge({}, { kid: "hs256-000000000000" })],
		["missing jti", () => forge({ jti: undefined })],
		["tenant not an identifier", () => forge({ tenant: "../other" })],
	])("rejects a token with %s", async (_name, make) => {
		const res = await me(bearer(await make()));
		const body = await expectUnauthorized(res);
		expect(res.headers.get("WWW-Authenticate")).toContain('error="invalid_token"');
		expect(body.detail.length).toBeGreaterThan(0);
	});

	it("rejects a tampered payload and a tampered signature", async () => {
		const token = await tokenFor("demo", "demo-secret", { scope: "chat" });
		const [h, p, s] = token.split(".");
		const payload = JSON.parse(atob(String(p).replaceAll("-", "+").replaceAll("_", "/")));
		await expectUnauthorized(await me(bearer(`${h}.${b64({ ...payload, scope: "admin" })}.${s}`)), "signature");
		const flipped = `${String(s).slice(0, -2)}${String(s).endsWith("AA") ? "BB" : "AA"}`;
		await expectUnauthorized(await me(bearer(`${h}.${p}.${flipped}`)), "signature");
	});

	it.each([
		["Bearer"],
		["Bearer "],
		["Bearer a b"],
		["Bearer ***"],
		["Token abc"],
		["Basic ZGVtbzpkZW1vLXNlY3JldA=="],
		["Bearer eyJhbGciOi.broken"],
	])("rejects the malformed Authorization header %j", async (header) => {
		await expectUnauthorized(await me({ Authorization: header }));
	});

	it("rejects an oversized credential before parsing it", async () => {
		await expectUnauthorized(await me({ Authorization: `Bearer ${"a".repeat(5000)}` }), "exceeds 4096 bytes");
		await expectUnauthorized(await me({ "X-API-Key": `eak_${"a".repeat(5000)}` }), "exceeds");
	});

	it("rejects two credentials at once", async () => {
		const token = await tokenFor("demo", "demo-secret");
		await expectUnauthorized(await me({ ...bearer(token), "X-API-Key": DEMO_API_KEY }), "one credential");
	});

	it("answers 403 insufficient_scope naming the scope", async () => {
		const token = await tokenFor("demo", "demo-secret");
		const res = await callWith({}, "/v1/admin/clients", { headers: bearer(token) });
		const body = await expectProblem(res, 403, "forbidden");
		expect(body.required_scope).toBe("admin");
		expect(res.headers.get("WWW-Authenticate")).toBe(
			'Bearer realm="edge-ai-api", error="insufficient_scope", scope="admin"',
		);
	});

	it("HS256 rotation: the previous secret still verifies while configured, not after", async () => {
		const oldSecret = "o".repeat(40);
		const newSecret = "n".repeat(40);
		const oldToken = await tokenFor("demo", "demo-secret", { overrides: { JWT_SIGNING_SECRET: oldSecret } });
		const rotating = { JWT_SIGNING_SECRET: newSecret, JWT_PREVIOUS_SIGNING_SECRET: oldSecret };
		expect((await me(bearer(oldToken), rotating)).status).toBe(200);
		const newToken = await tokenFor("demo", "demo-secret", { overrides: rotating });
		expect((await me(bearer(newToken), rotating)).status).toBe(200);
		await expectUnauthorized(await me(bearer(oldToken), { JWT_SIGNING_SECRET: newSecret }), "key id");
	});
});

describe("asymmetric signing (JWT_PRIVATE_JWK)", () => {
	async function keypair(alg: "EdDSA" | "ES256", kid: string) {
		const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
		const priv = { ...(await exportJWK(privateKey)), kid };
		const pub = { ...(await exportJWK(publicKey)), kid };
		return { priv, pub, overrides: { JWT_PRIVATE_JWK: JSON.stringify(priv) } };
	}

	it.each(["EdDSA", "ES256"] as const)("%s: issues, verifies and publishes only the public key", async (alg) => {
		const { overrides, pub } = await keypair(alg, `${alg}-1`);
		const token = await tokenFor("demo", "demo-secret", { overrides });
		expect(decodeProtectedHeader(token)).toMatchObject({ alg, kid: `${alg}-1`, typ: "at+jwt" });
		expect((await me(bearer(token), overrides)).status).toBe(200);
		const jwks = (await (await callWith(overrides, "/.well-known/jwks.json")).json()) as {
			keys: Record<string, unknown>[];
		};
		expect(jwks.keys).toEqual([{ ...pub, alg, use: "sig" }]);
		expect(JSON.stringify(jwks)).not.toContain('"d"');
	});

	it("rejects an HS256 token whose 'secret' is our public key (algorithm confusion)", async () => {
		const { overrides, pub } = await keypair("EdDSA", "ed-confusion");
		const forged = await forge({}, { secret: JSON.stringify(pub), kid: "ed-confusion" });
		await expectUnauthorized(await me(bearer(forged), overrides), "algorithm");
		const forgedX = await forge({}, { secret: String(pub.x).padEnd(32, "A"), kid: "ed-confusion" });
		await expectUnauthorized(await me(bearer(forgedX), overrides), "algorithm");
	});

	it("rotation: tokens of the previous key verify while it is listed in JWT_PREVIOUS_PUBLIC_JWKS", async () => {
		const first = await keypair("EdDSA", "ed-old");
		const second = await keypair("EdDSA", "ed-new");
		const oldToken = await tokenFor("demo", "demo-secret", { overrides: first.overrides });
		const rotated = { ...second.overrides, JWT_PREVIOUS_PUBLIC_JWKS: JSON.stringify({ keys: [first.pub] }) };
		expect((await me(bearer(oldToken), rotated)).status).toBe(200);
		await expectUnauthorized(await me(bearer(oldToken), second.overrides), "key id");
	});
});

describe("external identity provider (JWT_JWKS_URL)", () => {
	const idp = {
		JWT_JWKS_URL: env.TEST_JWKS_URL,
		JWT_JWKS_ISSUER: "https://idp.test",
		JWT_JWKS_AUDIENCE: "edge-ai-api-clients",
		JWT_JWKS_COOLDOWN_S: "0",
	};
	const base = env.TEST_JWKS_URL.replace(/\/jwks\.json$/, "");
	const idpToken = async (claims: Record<string, unknown>) =>
		(
			(await (await fetch(`${base}/sign`, { method: "POST", body: JSON.stringify(claims) })).json()) as {
				token: string;
			}
		).token;

	it("accepts IdP tokens with tenant and scopes from their claims", async () => {
		const token = await idpToken({ sub: "alice", tenant: "acme", scope: "chat rag:read", aud: "edge-ai-api-clients" });
		const res = await me(bearer(token), idp);
		expect(res.status, await res.clone().text()).toBe(200);
		expect(await res.json()).toMatchObject({
			tenant: "acme",
			subject: "alice",
			scopes: ["chat", "rag:read"],
			via: "jwt",
		});
		const scp = await idpToken({ sub: "bob", tenant: "acme", scp: ["rag:write"], aud: "edge-ai-api-clients" });
		expect(await (await me(bearer(scp), idp)).json()).toMatchObject({ scopes: ["rag:write"] });
	});

	it("grants no operator scope unless JWT_JWKS_ALLOWED_SCOPES lists it, and then only in the operator tenant", async () => {
		const claims = { sub: "ops", scope: "admin metrics:read chat", aud: "edge-ai-api-clients" };
		const asPlatform = await idpToken({ ...claims, tenant: "platform" });
		// Default allow-list: the IdP cannot mint operators.
		expect(await (await me(bearer(asPlatform), idp)).json()).toMatchObject({ scopes: ["chat"] });
		const allowing = { ...idp, JWT_JWKS_ALLOWED_SCOPES: "chat metrics:read admin" };
		expect(await (await me(bearer(asPlatform), allowing)).json()).toMatchObject({
			scopes: ["chat", "metrics:read", "admin"],
		});
		// Even when allowed, a token of another tenant holds no operator scope.
		const asTenant = await idpToken({ ...claims, tenant: "acme" });
		expect(await (await me(bearer(asTenant), allowing)).json()).toMatchObject({ tenant: "acme", scopes: ["chat"] });
	});

	it("follows key rotation: a new kid is fetched; the retired key's tokens stop verifying", async () => {
		const before = await idpToken({ sub: "alice", tenant: "acme", scope: "chat", aud: "edge-ai-api-clients" });
		expect((await me(bearer(before), idp)).status).toBe(200);
		await fetch(`${base}/rotate`, { method: "POST" });
		const after = await idpToken({ sub: "alice", tenant: "acme", scope: "chat", aud: "edge-ai-api-clients" });
		expect(decodeProtectedHeader(after).kid).not.toBe(decodeProtectedHeader(before).kid);
		expect((await me(bearer(after), idp)).status).toBe(200);
		await expectUnauthorized(await me(bearer(before), idp), "key id");
	});

	it("rejects IdP tokens without a tenant, for another audience, or HS256-signed with the IdP's issuer", async () => {
		await expectUnauthorized(
			await me(bearer(await idpToken({ sub: "alice", aud: "edge-ai-api-clients" })), idp),
			"tenant",
		);
		await expectUnauthorized(
			await me(bearer(await idpToken({ sub: "alice", tenant: "acme", aud: "someone-else" })), idp),
			"aud",
		);
		const hs = await forge({ iss: "https://idp.test", aud: "edge-ai-api-clients" }, { typ: "JWT" });
		await expectUnauthorized(await me(bearer(hs), idp), "algorithm");
	});
});

describe("API keys", () => {
	it("authenticate by X-API-Key and by Authorization: Bearer (what the OpenAI SDKs send)", async () => {
		for (const headers of [{ "X-API-Key": DEMO_API_KEY }, bearer(DEMO_API_KEY)]) {
			const res = await me(headers);
			expect(res.status).toBe(200);
			expect(await res.json()).toMatchObject({
				tenant: "demo",
				subject: "demo",
				via: "api-key",
				credential_id: "key_00000000d3e0",
			});
		}
	});

	it("reject unknown, malformed and wrong-secret keys alike", async () => {
		for (const key of [
			"eak_0123456789ab_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
			"eak_short",
			DEMO_API_KEY.replace(/0000$/, "0001"),
		]) {
			await expectUnauthorized(await me({ "X-API-Key": key }));
		}
	});
});

describe("admin API and revocation", () => {
	const adminHeaders = async () => ({
		...bearer(await tokenFor("admin", "admin-secret")),
		"Content-Type": "application/json",
	});

	it("creates a client whose secret works once shown, lists it without secrets, and revokes it with its tokens", async () => {
		const headers = await adminHeaders();
		const created = await callWith({}, "/v1/admin/clients", {
			method: "POST",
			headers,
			body: JSON.stringify({ client_id: "svc-reports", tenant: "acme", scopes: ["rag:read"] }),
		});
		expect(created.status).toBe(201);
		const client = (await created.json()) as { client_id: string; client_secret: string };
		expect(client.client_secret.length).toBeGreaterThanOrEqual(43);
		const token = await tokenFor("svc-reports", client.client_secret);
		expect(await (await me(bearer(token))).json()).toMatchObject({ tenant: "acme", scopes: ["rag:read"] });

		const list = (await (await callWith({}, "/v1/admin/clients?tenant=acme", { headers })).json()) as {
			data: Record<string, unknown>[];
		};
		expect(list.data.map((c) => c.client_id)).toContain("svc-reports");
		expect(JSON.stringify(list)).not.toMatch(/secret|hash|salt/);

		const dup = await callWith({}, "/v1/admin/clients", {
			method: "POST",
			headers,
			body: JSON.stringify({ client_id: "svc-reports", tenant: "acme", scopes: ["chat"] }),
		});
		await expectProblem(dup, 409, "conflict");

		expect((await callWith({}, "/v1/admin/clients/svc-reports", { method: "DELETE", headers })).status).toBe(204);
		await expectUnauthorized(await me(bearer(token)), "revoked");
		const again = await callWith({}, "/v1/auth/token", {
			method: "POST",
			body: new URLSearchParams({ grant_type: "client_credentials" }),
			headers: { Authorization: basic("svc-reports", client.client_secret), "CF-Connecting-IP": "198.51.100.30" },
		});
		await expectProblem(again, 401, "invalid-client");
		await expectProblem(
			await callWith({}, "/v1/admin/clients/nobody", { method: "DELETE", headers }),
			404,
			"not-found",
		);
	});

	it("creates an API key shown once, lists its prefix only, and revokes it", async () => {
		const headers = await adminHeaders();
		const created = await callWith({}, "/v1/admin/api-keys", {
			method: "POST",
			headers,
			body: JSON.stringify({ tenant: "acme", subject: "ci-bot", scopes: ["chat"], name: "CI" }),
		});
		expect(created.status).toBe(201);
		const key = (await created.json()) as { id: string; key: string; prefix: string };
		expect(key.key).toMatch(/^eak_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
		expect(key.key.startsWith(key.prefix)).toBe(true);
		expect(await (await me({ "X-API-Key": key.key })).json()).toMatchObject({ tenant: "acme", subject: "ci-bot" });

		const list = await (await callWith({}, "/v1/admin/api-keys?tenant=acme", { headers })).text();
		expect(list).toContain(key.prefix);
		expect(list).not.toContain(key.key);

		expect((await callWith({}, `/v1/admin/api-keys/${key.id}`, { method: "DELETE", headers })).status).toBe(204);
		await expectUnauthorized(await me({ "X-API-Key": key.key }), "revoked");
	});

	it("validates bodies (422 naming fields) and paginates", async () => {
		const headers = await adminHeaders();
		const bad = await callWith({}, "/v1/admin/api-keys", {
			method: "POST",
			headers,
			body: JSON.stringify({ tenant: "acme", subject: "a b", scopes: ["root"] }),
		});
		const body = await expectProblem(bad, 422, "validation-failed");
		expect(body.errors?.map((e) => e.path).sort()).toEqual(["json.scopes.0", "json.subject"]);
		for (const id of ["page-a", "page-b", "page-c"]) {
			await callWith({}, "/v1/admin/clients", {
				method: "POST",
				headers,
				body: JSON.stringify({ client_id: id, tenant: "paging", scopes: ["chat"] }),
			});
		}
		const first = (await (await callWith({}, "/v1/admin/clients?tenant=paging&limit=2", { headers })).json()) as {
			data: { client_id: string }[];
			next_cursor: string | null;
		};
		expect(first.data.map((c) => c.client_id)).toEqual(["page-a", "page-b"]);
		const second = (await (
			await callWith({}, `/v1/admin/clients?tenant=paging&limit=2&cursor=${first.next_cursor}`, { headers })
		).json()) as { data: { client_id: string }[]; next_cursor: string | null };
		expect(second).toEqual({ data: [expect.objectContaining({ client_id: "page-c" })], next_cursor: null });
	});
});

describe("deployed environments without a signing key", () => {
	it.each(["staging", "production"])(
		"%s answers 503 naming JWT_SIGNING_SECRET instead of issuing tokens",
		async (environment) => {
			const res = await callWith({ ENVIRONMENT: environment, CORS_ORIGINS: "" }, "/v1/auth/token", {
				method: "POST",
				body: new URLSearchParams({ grant_type: "client_credentials" }),
				headers: { Authorization: basic("demo", "demo-secret") },
			});
			const body = await expectProblem(res, 503, "misconfigured");
			expect(body.errors?.map((e) => e.path)).toEqual(["JWT_SIGNING_SECRET"]);
			expect((await callWith({ ENVIRONMENT: environment, CORS_ORIGINS: "" }, "/healthz")).status).toBe(200);
		},
	);
});

describe("secrets never reach the logs", () => {
	it("no client secret, token, API key or Authorization value appears in any log line", async () => {
		const lines: string[] = [];
		vi.spyOn(console, "log").mockImplementation((l: unknown) => void lines.push(String(l)));
		const token = await tokenFor("demo", "demo-secret");
		await me(bearer(token));
		await me({ "X-API-Key": DEMO_API_KEY });
		await me(bearer(`${token}x`));
		const adminToken = await tokenFor("admin", "admin-secret");
		const created = await callWith({}, "/v1/admin/clients", {
			method: "POST",
			headers: { ...bearer(adminToken), "Content-Type": "application/json" },
			body: JSON.stringify({ tenant: "logs", scopes: ["chat"] }),
		});
		const secret = ((await created.json()) as { client_secret: string }).client_secret;
		const all = lines.join("\n");
		expect(lines.length).toBeGreaterThan(5);
		for (const s of ["demo-secret", "admin-secret", token, adminToken, DEMO_API_KEY, secret, "ZGVtbzpkZW1v"]) {
			expect(all).not.toContain(s);
		}
	});
});
