import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { basic, bearer, callWith, freshPrincipalToken } from "../helpers/workers/auth";
import { DEMO_API_KEY, expectProblem, ORIGIN } from "../helpers/workers/http";

/**
 * Credentials stretched further than they should reach, and guessing (docs/security.md#throttles): tokens follow
 * their client's row, secret guesses are counted atomically, invalid credentials from one address get 429 before
 * they cost a D1 lookup, and /readyz cannot be used to amplify load onto D1.
 */
const app = createApp();
let seq = 0;
const unique = (label: string) => `${label}-${Date.now().toString(36)}-${seq++}`;
/** A TEST-NET-3 address of its own per test, so throttles never see another test's traffic. */
const freshIp = () => `203.0.113.${(Date.now() + seq++) % 250}`;

/** Bindings with some replaced (a D1 that counts or refuses its calls); one object, as an isolate has. */
const bindingsWith = (replaced: Record<string, unknown>) => ({ ...env, ...replaced });

/** Calls the app with these bindings. */
async function callEnv(bindings: object, path: string, init?: RequestInit): Promise<Response> {
	const ctx = createExecutionContext();
	const res = await app.fetch(new Request(ORIGIN + path, init), bindings, ctx);
	await waitOnExecutionContext(ctx);
	return res;
}

/** A D1 binding that counts `prepare` calls and answers like the real one, or refuses every call. */
function countingDb(refuse = false) {
	const counter = { prepared: 0 };
	const db = new Proxy(env.DB, {
		get(target, prop, receiver) {
			if (prop === "prepare") {
				return (sql: string) => {
					counter.prepared++;
					if (refuse) throw new Error("D1 must not be called here");
					return target.prepare(sql);
				};
			}
			const value = Reflect.get(target, prop, receiver);
			return typeof value === "function" ? value.bind(target) : value;
		},
	});
	return { db, counter };
}

describe("tokens follow their client's row", () => {
	it("narrowed scopes, a moved tenant and a revocation reach tokens already issued (AUTH_REVOCATION_CACHE_S)", async () => {
		const tenant = unique("recon");
		const subject = `${tenant}-client`;
		const token = bearer(await freshPrincipalToken(subject, tenant, ["chat", "rag:read", "rag:write"]));
		const fresh = { AUTH_REVOCATION_CACHE_S: "0" };
		const me = async () => callWith(fresh, "/v1/auth/me", { headers: token });
		expect(((await (await me()).json()) as { scopes: string[] }).scopes).toEqual(["chat", "rag:read", "rag:write"]);
		await env.DB.prepare("UPDATE api_clients SET scopes = 'chat' WHERE client_id = ?").bind(subject).run();
		expect(((await (await me()).json()) as { scopes: string[] }).scopes).toEqual(["chat"]);
		await expectProblem(
			await callWith(fresh, "/v1/rag/search", {
				method: "POST",
				headers: { ...token, "Content-Type": "application/json" },
				body: JSON.stringify({ query: "x" }),
			}),
			403,
			"forbidden",
		);
		await env.DB.prepare("UPDATE api_clients SET tenant = 'elsewhere' WHERE client_id = ?").bind(subject).run();
		await expectProblem(await me(), 401, "unauthorized");
		await env.DB.prepare("UPDATE api_clients SET tenant = ?, revoked_at = ? WHERE client_id = ?")
			.bind(tenant, Date.now(), subject)
			.run();
		await expectProblem(await me(), 401, "unauthorized");
	});
});

describe("client secret guessing", () => {
	it("counts concurrent wrong guesses atomically: never more than the limit are verified in a window", async () => {
		const ip = freshIp();
		const vars = { AUTH_FAILURE_LIMIT: "3", AUTH_IP_FAILURE_LIMIT: "1000" };
		const guesses = await Promise.all(
			Array.from({ length: 12 }, (_, i) =>
				callWith(vars, "/v1/auth/token", {
					method: "POST",
					headers: { Authorization: basic("demo", `guess-${i}`), "CF-Connecting-IP": ip },
					body: new URLSearchParams({ grant_type: "client_credentials" }),
				}),
			),
		);
		const statuses = guesses.map((r) => r.status);
		expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(3);
		expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(9);
		expect(statuses.every((s) => s === 401 || s === 429)).toBe(true);
	});

	it("a successful attempt gives its charge back: only failures count", async () => {
		const ip = freshIp();
		const vars = { AUTH_FAILURE_LIMIT: "2", AUTH_IP_FAILURE_LIMIT: "1000" };
		const attempt = (secret: string) =>
			callWith(vars, "/v1/auth/token", {
				method: "POST",
				headers: { Authorization: basic("demo", secret), "CF-Connecting-IP": ip },
				body: new URLSearchParams({ grant_type: "client_credentials" }),
			});
		for (let i = 0; i < 5; i++) expect((await attempt("demo-secret")).status).toBe(200);
		expect((await attempt("wrong-1")).status).toBe(401);
		expect((await attempt("wrong-2")).status).toBe(401);
		await expectProblem(await attempt("wrong-3"), 429, "quota-exceeded");
	});
});

describe("invalid API keys and tokens from one address", () => {
	it("get 429 once the address used its allowance, then without any D1 lookup; cached valid keys still pass", async () => {
		const ip = freshIp();
		const vars = bindingsWith({ AUTH_INVALID_CREDENTIAL_LIMIT: "3" });
		// The demo key, looked up once: this isolate caches it (AUTH_REVOCATION_CACHE_S).
		expect((await callEnv(vars, "/v1/auth/me", { headers: { "X-API-Key": DEMO_API_KEY } })).status).toBe(200);
		const wrong = (i: number) => `eak_${(0xabc000000000 + i).toString(16)}_${"x".repeat(43)}`;
		const guess = (i: number, bindings: object = vars) =>
			callEnv(bindings, "/v1/auth/me", { headers: { "X-API-Key": wrong(i), "CF-Connecting-IP": ip } });
		for (let i = 0; i < 3; i++) await expectProblem(await guess(i), 401, "unauthorized");
		// The allowance is per window and address: the 4th invalid key is the one past it.
		const blocked = await expectProblem(await guess(3), 429, "quota-exceeded");
		expect(blocked["violated-policies"]).toEqual(["auth-invalid"]);
		// From now on this isolate answers 429 before D1: a D1 that refuses every call is never reached.
		const { db, counter } = countingDb(true);
		const noD1 = bindingsWith({ AUTH_INVALID_CREDENTIAL_LIMIT: "3", DB: db });
		await expectProblem(await guess(4, noD1), 429, "quota-exceeded");
		await expectProblem(
			await callEnv(noD1, "/v1/auth/me", { headers: { ...bearer("not.a.jwt"), "CF-Connecting-IP": ip } }),
			429,
			"quota-exceeded",
		);
		expect(counter.prepared).toBe(0);
		// A key this isolate already knows costs nothing to check: it still passes from the blocked address.
		const known = await callEnv(noD1, "/v1/auth/me", {
			headers: { "X-API-Key": DEMO_API_KEY, "CF-Connecting-IP": ip },
		});
		expect(known.status).toBe(200);
		// Another address is not affected.
		await expectProblem(
			await callEnv(vars, "/v1/auth/me", { headers: { "X-API-Key": wrong(5), "CF-Connecting-IP": freshIp() } }),
			401,
			"unauthorized",
		);
	});
});

describe("a blocked address and its neighbours' working keys", () => {
	it("a key lately valid in this isolate still passes after its cache entry expired; an unknown one waits", async () => {
		const ip = freshIp();
		// No caching of D1's answers at all: every request of a key looks it up.
		const vars = bindingsWith({ AUTH_INVALID_CREDENTIAL_LIMIT: "2", AUTH_REVOCATION_CACHE_S: "0" });
		const neighbour = { "X-API-Key": DEMO_API_KEY, "CF-Connecting-IP": ip };
		expect((await callEnv(vars, "/v1/auth/me", { headers: neighbour })).status).toBe(200);
		const wrong = (i: number) => `eak_${(0xdef000000000 + i).toString(16)}_${"y".repeat(43)}`;
		for (let i = 0; i < 2; i++) {
			await expectProblem(
				await callEnv(vars, "/v1/auth/me", { headers: { "X-API-Key": wrong(i), "CF-Connecting-IP": ip } }),
				401,
				"unauthorized",
			);
		}
		await expectProblem(
			await callEnv(vars, "/v1/auth/me", { headers: { "X-API-Key": wrong(2), "CF-Connecting-IP": ip } }),
			429,
			"quota-exceeded",
		);
		// The neighbour's key is looked up again (no cache) and passes: the guesser did not lock it out.
		expect((await callEnv(vars, "/v1/auth/me", { headers: neighbour })).status).toBe(200);
		// A malformed key or a forged token costs no lookup: from another address it is a plain 401, never counted.
		const other = freshIp();
		for (let i = 0; i < 5; i++) {
			await expectProblem(
				await callEnv(vars, "/v1/auth/me", { headers: { "X-API-Key": "eak_not-a-key", "CF-Connecting-IP": other } }),
				401,
				"unauthorized",
			);
		}
	});
});

describe("/readyz is not an amplifier", () => {
	it("runs its dependency checks at most once per second per isolate, however many probes arrive", async () => {
		const { db, counter } = countingDb();
		const bindings = bindingsWith({ DB: db });
		const probes = await Promise.all(Array.from({ length: 25 }, () => callEnv(bindings, "/readyz")));
		expect(probes.every((r) => r.status === 200)).toBe(true);
		for (let i = 0; i < 10; i++) expect((await callEnv(bindings, "/readyz")).status).toBe(200);
		// 35 probes, one check (each check prepares one D1 statement).
		expect(counter.prepared).toBe(1);
	});
});
