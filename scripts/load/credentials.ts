// Credentials of one load run, created through the admin API (docs/auth.md#clients-keys-and-revocation-admin-api)
// and revoked when the run ends: a tenant of its own (`load-<run id>`), an API client for the token route, and
// one API key per subject. Nothing is shared with the demo credentials or with another run, so a run's limiter
// logs, documents and conversations start empty.
//
// `/metrics` and `/v1/slo` need the operator scope `metrics:read`, which only credentials of the operator tenant
// hold (docs/security.md#operator-scopes; the admin API answers 422 when asked to grant it to another tenant). A run
// that calls them asks for one more key (`operator: true`): in the operator tenant, scope `metrics:read` only.

/** The scopes of the run's tenant keys and client: every tenant route, no operator scope. */
export const TENANT_SCOPES = ["chat", "rag:read", "rag:write", "usage:read"];
/** The scopes of the run's operator key: reading every tenant's metrics and SLOs, nothing else. */
export const OPERATOR_KEY_SCOPES = ["metrics:read"];
/** The service's default operator tenant (`OPERATOR_TENANT`). */
export const DEFAULT_OPERATOR_TENANT = "platform";

/** `res` when it is a 2xx; otherwise throws with `what`, the status and the start of the body. */
export async function expectOk(res: Response, what: string): Promise<Response> {
	if (res.ok) return res;
	throw new Error(`${what}: ${res.status} ${(await res.text()).slice(0, 400)}`);
}

/** An access token of an admin client (scope `admin`), by OAuth client credentials. */
export async function adminToken(base: string, clientId: string, secret: string): Promise<string> {
	const res = await fetch(`${base}/v1/auth/token`, {
		method: "POST",
		headers: {
			Authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString("base64")}`,
		},
		body: new URLSearchParams({ grant_type: "client_credentials", scope: "admin" }),
	});
	await expectOk(res, "admin token");
	return ((await res.json()) as { access_token: string }).access_token;
}

export type RunKey = { id: string; key: string; subject: string };
export type RunCredentials = {
	tenant: string;
	clientId?: string;
	clientSecret?: string;
	keys: RunKey[];
	opsKey?: RunKey & { tenant: string };
	revoke(): Promise<void>;
};
export type RunCredentialOptions = {
	runId: string;
	keys: number;
	client: boolean;
	operator?: boolean;
	operatorTenant?: string;
	tenant?: string;
	label: string;
	renew?: () => Promise<string>;
};

/**
 * Creates the run's credentials: `keys` API keys of the run's tenant (subjects `<tenant>-<i>`, {@link TENANT_SCOPES}),
 * with `client` an API client of that tenant, and with `operator` one API key of the operator tenant
 * (`operatorTenant`, default `platform`; subject `<tenant>-ops`, {@link OPERATOR_KEY_SCOPES}) for `/metrics` and
 * `/v1/slo`. `revoke()` deletes them all (best effort: it reports, never throws), with a token from `options.renew`
 * when given: a long run outlives the admin token it started with. `token` is an admin access token.
 */
export async function createRunCredentials(
	base: string,
	token: string,
	options: RunCredentialOptions,
): Promise<RunCredentials> {
	const tenant = options.tenant ?? `load-${options.runId}`;
	const operatorTenant = options.operatorTenant ?? DEFAULT_OPERATOR_TENANT;
	if (options.operator && tenant === operatorTenant) {
		// The run's tenant keys would then hold operator scopes' reach and share the operator tenant's data.
		throw new Error(`the run's tenant must not be the operator tenant "${operatorTenant}"`);
	}
	const headers = { Authorization: `Bearer ${token}`, "Content-Type": "application/json" };
	const keys: RunKey[] = [];
	let opsKey: RunCredentials["opsKey"];
	let clientId: string | undefined;
	let clientSecret: string | undefined;
	const revoke = async () => {
		const renewed = options.renew ? await options.renew().catch(() => null) : null;
		const auth = renewed ? { ...headers, Authorization: `Bearer ${renewed}` } : headers;
		const deletes = [...keys, ...(opsKey ? [opsKey] : [])].map(
			(k) => `${base}/v1/admin/api-keys/${encodeURIComponent(k.id)}`,
		);
		if (clientId) deletes.push(`${base}/v1/admin/clients/${encodeURIComponent(clientId)}`);
		for (const url of deletes) {
			const res = await fetch(url, { method: "DELETE", headers: auth }).catch((err: unknown) => ({
				ok: false,
				status: String(err),
			}));
			if (!res.ok && res.status !== 404) console.error(`load: could not revoke ${url} (${res.status})`);
		}
	};
	try {
		for (let i = 0; i < options.keys; i++) {
			const subject = `${tenant}-${i}`;
			const res = await fetch(`${base}/v1/admin/api-keys`, {
				method: "POST",
				headers,
				body: JSON.stringify({ tenant, subject, scopes: TENANT_SCOPES, name: options.label }),
			});
			await expectOk(res, "creating an API key");
			const created = (await res.json()) as { id: string; key: string };
			keys.push({ id: created.id, key: created.key, subject });
		}
		if (options.client) {
			const res = await fetch(`${base}/v1/admin/clients`, {
				method: "POST",
				headers,
				body: JSON.stringify({ client_id: tenant, tenant, scopes: TENANT_SCOPES }),
			});
			await expectOk(res, "creating an API client");
			const created = (await res.json()) as { client_id: string; client_secret: string };
			clientId = created.client_id;
			clientSecret = created.client_secret;
		}
		if (options.operator) {
			const subject = `${tenant}-ops`;
			const res = await fetch(`${base}/v1/admin/api-keys`, {
				method: "POST",
				headers,
				body: JSON.stringify({
					tenant: operatorTenant,
					subject,
					scopes: OPERATOR_KEY_SCOPES,
					name: `${options.label} (operator)`,
				}),
			});
			if (res.status === 422) {
				throw new Error(
					`creating the operator key: 422 ${(await res.text()).slice(0, 300)} — is "${operatorTenant}" the service's OPERATOR_TENANT? (--operator-tenant / LOAD_OPERATOR_TENANT)`,
				);
			}
			await expectOk(res, "creating the operator key");
			const created = (await res.json()) as { id: string; key: string };
			opsKey = { id: created.id, key: created.key, subject, tenant: operatorTenant };
		}
	} catch (err) {
		await revoke();
		throw err;
	}
	return { tenant, clientId, clientSecret, keys, opsKey, revoke };
}

/**
 * The rate-limit policy that governs `GET <route>` for a fresh subject, read from the `RateLimit-Policy` and
 * `RateLimit` headers of one request with a throwaway key of another subject (so the subject under test keeps its
 * whole quota): a tenant key, or with `operator` (routes that need `metrics:read`) an operator key. Null when the
 * route is not limited. `token` is an admin access token.
 */
export async function probePolicy(
	base: string,
	token: string,
	route: string,
	runId: string,
	options: { operator?: boolean; operatorTenant?: string } = {},
): Promise<{ name: string; limit: number; windowS: number } | null> {
	const probe = await createRunCredentials(base, token, {
		runId: `${runId}-probe`,
		keys: options.operator ? 0 : 1,
		client: false,
		operator: options.operator ?? false,
		operatorTenant: options.operatorTenant,
		label: "npm run load: policy probe",
	});
	try {
		const key = options.operator ? probe.opsKey?.key : probe.keys[0]?.key;
		const res = await fetch(`${base}${route}`, { headers: { Authorization: `Bearer ${key}` } });
		await res.arrayBuffer();
		const reported = /^"([^"]+)";r=\d+;t=\d+$/.exec(res.headers.get("ratelimit") ?? "");
		if (!reported) return null;
		const name = reported[1] ?? "";
		for (const item of (res.headers.get("ratelimit-policy") ?? "").split(",")) {
			const m = /^\s*"([^"]+)"((?:;[a-z]+=(?:\d+|"[^"]*"))*)\s*$/.exec(item);
			if (!m || m[1] !== name) continue;
			const params = Object.fromEntries(
				[...(m[2] ?? "").matchAll(/;([a-z]+)=("?)([^;"]*)\2/g)].map((p) => [p[1], p[3]]),
			);
			return { name, limit: Number(params.q), windowS: Number(params.w) };
		}
		return null;
	} finally {
		await probe.revoke();
	}
}
