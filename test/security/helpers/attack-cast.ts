import { randomBytes } from "node:crypto";
import { type Answer, basic, Caller, expectOk } from "./attack-http";

/**
 * The cast of test/security/attacks.test.ts, created through the admin API of a running service: two fresh tenants,
 * A and B (random ids per run), each with two subjects holding every tenant scope, plus the admin. Every caller of a
 * tenant may never see what the other tenant stores (`secrets`, which the attacks extend with the unique markers
 * they write) nor the other tenant's keys.
 */
export const TENANT_SCOPES = ["chat", "rag:read", "rag:write", "usage:read"] as const;

export type Subject = { subject: string; key: string; keyId: string; as: Caller };
export type Tenant = {
	id: string;
	s1: Subject;
	s2: Subject;
	/** Markers and keys of this tenant: the other tenant must never see them. */
	secrets: string[];
	/** A caller of this tenant with another credential (a key of another subject or scope, a token). */
	caller(credential: { apiKey: string } | { token: string }, ip?: string): Caller;
};
export type Cast = { run: string; admin: Caller; adminToken: string; a: Tenant; b: Tenant };

/** A word no document has ever contained: keyword search finds exactly the documents it is written into. */
export const marker = (label: string) => `${label}${randomBytes(8).toString("hex")}`;

export async function adminToken(base: string, ip: string, client = { id: "admin", secret: "admin-secret" }) {
	const res = await new Caller(base, { ip, authorization: basic(client.id, client.secret) }).request(
		"POST",
		"/v1/auth/token",
		{ form: { grant_type: "client_credentials" } },
	);
	return expectOk<{ access_token: string }>(res).access_token;
}

export async function createKey(
	admin: Caller,
	tenant: string,
	subject: string,
	scopes: readonly string[],
): Promise<{ id: string; key: string }> {
	return expectOk<{ id: string; key: string }>(
		await admin.post("/v1/admin/api-keys", { tenant, subject, scopes }),
		201,
	);
}

export async function createClient(
	admin: Caller,
	tenant: string,
	scopes: readonly string[],
	clientId?: string,
): Promise<{ client_id: string; client_secret: string }> {
	const res: Answer = await admin.post("/v1/admin/clients", {
		tenant,
		scopes,
		...(clientId ? { client_id: clientId } : {}),
	});
	return expectOk<{ client_id: string; client_secret: string }>(res, 201);
}

export async function createCast(base: string, ip: string): Promise<Cast> {
	const run = randomBytes(4).toString("hex");
	const token = await adminToken(base, ip);
	const admin = new Caller(base, { ip, authorization: `Bearer ${token}` });
	const tenants: Record<"a" | "b", Tenant> = {} as Record<"a" | "b", Tenant>;
	const other = (t: "a" | "b") => () => tenants[t === "a" ? "b" : "a"].secrets;
	for (const t of ["a", "b"] as const) {
		const id = `atk-${t}-${run}`;
		const subjects: Subject[] = [];
		for (const n of [1, 2]) {
			const subject = `${t}${n}-${run}`;
			const created = await createKey(admin, id, subject, TENANT_SCOPES);
			subjects.push({
				subject,
				key: created.key,
				keyId: created.id,
				as: new Caller(base, { ip, apiKey: created.key, secrets: other(t) }),
			});
		}
		const [s1, s2] = subjects as [Subject, Subject];
		tenants[t] = {
			id,
			s1,
			s2,
			secrets: [s1.key, s2.key],
			caller: (credential, callerIp = ip) =>
				new Caller(base, {
					ip: callerIp,
					...("apiKey" in credential ? { apiKey: credential.apiKey } : { authorization: `Bearer ${credential.token}` }),
					secrets: other(t),
				}),
		};
	}
	return { run, admin, adminToken: token, a: tenants.a, b: tenants.b };
}
