import { randomBytes } from "node:crypto";

/**
 * Two fresh tenants on a running service, created with the seeded admin client:
 * - A, the fuzzer's tenant: an API key with every scope a tenant may hold, an OAuth client (for the token endpoint) and its
 *   access token, documents and conversations for read operations to find;
 * - B, the victim: documents and conversations carrying a unique secret marker that A must never see, and an
 *   idempotent ingest whose stored answer carries a second one;
 * plus an admin token, an operator key (the admin's tenant) for scopes tenants may not hold, and "victim" clients
 * and keys that admin DELETE operations may revoke.
 */
export type FuzzFixture = {
	adminToken: string;
	/** The scopes a tenant's credentials may hold (A's have them all). */
	tenantScopes: string[];
	/** A key of the admin's own (operator) tenant with the scopes tenants may not be granted, if there are any. */
	operator: { key: string; scopes: string[] } | undefined;
	a: { tenant: string; key: string; keyId: string; clientId: string; clientSecret: string; token: string };
	b: { tenant: string; key: string };
	/** Strings no answer to A (or to the admin) may contain: B's markers and B's API key. */
	secrets: string[];
	/** Words the seeded documents are written in; valid generated text is mostly made of them. */
	words: string[];
	/** Ids of objects path parameters should try: A's, B's, ids both tenants use. */
	tenantIds: string[];
	/** Ids admin operations may revoke without breaking the run, and both tenant ids. */
	adminIds: string[];
	/** Puts A's documents and conversations back (DELETE operations remove them). */
	restore(): Promise<void>;
};

const WORDS = [
	"canary",
	"rollback",
	"runbook",
	"edge",
	"worker",
	"durable",
	"object",
	"tenant",
	"index",
	"vector",
	"search",
	"ERR-9001",
	"latency",
	"deploy",
	"secret",
	"quota",
];

async function call(base: string, path: string, init: RequestInit & { expect: number[] }): Promise<Response> {
	const res = await fetch(`${base}${path}`, init);
	if (!init.expect.includes(res.status)) {
		throw new Error(`fixture: ${init.method ?? "GET"} ${path} → ${res.status}: ${await res.text()}`);
	}
	return res;
}

async function json<T>(res: Response): Promise<T> {
	return (await res.json()) as T;
}

async function token(base: string, clientId: string, secret: string): Promise<string> {
	const res = await call(base, "/v1/auth/token", {
		method: "POST",
		headers: { Authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}` },
		body: new URLSearchParams({ grant_type: "client_credentials" }),
		expect: [200],
	});
	return (await json<{ access_token: string }>(res)).access_token;
}

export async function createFixture(
	base: string,
	options: { scopes: string[]; admin: { clientId: string; secret: string } },
): Promise<FuzzFixture> {
	const run = randomBytes(4).toString("hex");
	const marker = `MRK${randomBytes(12).toString("hex")}`;
	// Only in B's idempotent ingest answer (a document id): seen by A only if that answer were replayed to A.
	const replayMarker = `RPL${randomBytes(12).toString("hex")}`;
	const adminToken = await token(base, options.admin.clientId, options.admin.secret);
	const admin = { Authorization: `Bearer ${adminToken}`, "Content-Type": "application/json" };
	const createKey = async (tenant: string, scopes: string[]) =>
		json<{ id: string; key: string }>(
			await call(base, "/v1/admin/api-keys", {
				method: "POST",
				headers: admin,
				body: JSON.stringify({ tenant, subject: "fuzzer", scopes }),
				expect: [201],
			}),
		);
	const createClient = async (tenant: string, scopes: string[]) =>
		json<{ client_id: string; client_secret: string }>(
			await call(base, "/v1/admin/clients", {
				method: "POST",
				headers: admin,
				body: JSON.stringify({ tenant, scopes }),
				expect: [201],
			}),
		);

	const tenantA = `fuzz-a-${run}`;
	const tenantB = `fuzz-b-${run}`;
	// Which scopes a tenant may hold: the service refuses some (operator scopes) to every tenant but the admin's own.
	const tenantScopes: string[] = [];
	for (const scope of options.scopes) {
		const res = await fetch(`${base}/v1/admin/api-keys`, {
			method: "POST",
			headers: admin,
			body: JSON.stringify({ tenant: `fuzz-probe-${run}`, subject: "probe", scopes: [scope] }),
		});
		await res.body?.cancel();
		if (res.status === 201) tenantScopes.push(scope);
	}
	const operatorScopes = options.scopes.filter((s) => !tenantScopes.includes(s));
	const operatorTenant = (
		await json<{ tenant: string }>(
			await call(base, "/v1/auth/me", { headers: { Authorization: `Bearer ${adminToken}` }, expect: [200] }),
		)
	).tenant;
	const operator =
		operatorScopes.length > 0
			? { key: (await createKey(operatorTenant, operatorScopes)).key, scopes: operatorScopes }
			: undefined;
	const keyA = await createKey(tenantA, tenantScopes);
	const keyB = await createKey(tenantB, tenantScopes);
	const clientA = await createClient(tenantA, tenantScopes);
	const tokenA = await token(base, clientA.client_id, clientA.client_secret);
	const victimKeys = await Promise.all([1, 2].map(() => createKey(`fuzz-victim-${run}`, ["chat"])));
	const victimClients = await Promise.all([1, 2].map(() => createClient(`fuzz-victim-${run}`, ["chat"])));

	const ids = {
		docA: [`doc-a-${run}`, `doc-a2-${run}`],
		docB: `doc-b-${run}`,
		docShared: `doc-shared-${run}`,
		convA: `conv-a-${run}`,
		convB: `conv-b-${run}`,
		convShared: `conv-shared-${run}`,
	};
	const ingest = (key: string, documents: object[], headers: Record<string, string> = {}) =>
		call(base, "/v1/documents", {
			method: "POST",
			headers: { "X-API-Key": key, "Content-Type": "application/json", ...headers },
			body: JSON.stringify({ documents }),
			expect: [201],
		});
	const converse = (key: string, conversationId: string, content: string) =>
		call(base, "/v1/chat/completions", {
			method: "POST",
			headers: { "X-API-Key": key, "Content-Type": "application/json" },
			body: JSON.stringify({ conversation_id: conversationId, max_tokens: 8, messages: [{ role: "user", content }] }),
			expect: [200],
		});

	// B: the marker in titles, text, metadata and conversation history.
	const secretText = `canary ${marker} rollback runbook: the secret deploy code of tenant B is ${marker}. ERR-9001 means ${marker}.`;
	const { bookmark: bookmarkB } = await json<{ bookmark: string }>(
		await ingest(keyB.key, [
			{ id: ids.docB, title: `canary ${marker}`, text: secretText, metadata: { owner: marker, tier: "gold" } },
			{
				id: ids.docShared,
				title: `shared ${marker}`,
				text: `# Shared id\n\n${secretText}`,
				metadata: { owner: marker },
			},
		]),
	);
	const idempotencyKeyB = `idem-${run}`;
	await ingest(keyB.key, [{ id: `doc-${replayMarker}`, text: "canary" }], { "Idempotency-Key": idempotencyKeyB });
	await converse(keyB.key, ids.convB, `remember the canary secret ${marker}`);
	await converse(keyB.key, ids.convShared, `shared conversation secret ${marker}`);

	// A: the same vocabulary, no marker.
	const documentsA = [
		{
			id: ids.docA[0],
			title: "Rollback runbook",
			text: `# Rollback\n\n${WORDS.join(" ")}.\n\n## Codes\n\nERR-9001 means the index is read-only.`,
			metadata: { tier: "gold", year: 2026 },
		},
		{
			id: ids.docA[1],
			title: "Canary",
			text: "Canary deploys shift latency budgets at the edge; a durable object keeps the quota.",
			metadata: { tier: "free" },
		},
		{
			id: ids.docShared,
			title: "Shared id (tenant A)",
			text: "Tenant A's own document under an id tenant B uses too: search the vector index.",
		},
	];
	const restore = async () => {
		await ingest(keyA.key, documentsA);
		for (const id of [ids.convA, ids.convShared]) {
			const res = await fetch(`${base}/v1/conversations/${id}`, { headers: { "X-API-Key": keyA.key } });
			await res.body?.cancel();
			if (res.status === 404) await converse(keyA.key, id, "canary rollback runbook for tenant A");
		}
	};
	await restore();

	// The leak checks are only meaningful if B can read its marker back and A's documents are found.
	const own = await call(base, `/v1/conversations/${ids.convB}`, { headers: { "X-API-Key": keyB.key }, expect: [200] });
	if (!(await own.text()).includes(marker)) throw new Error("fixture: B's conversation does not hold the marker");
	const search = await call(base, "/v1/rag/search", {
		method: "POST",
		headers: { "X-API-Key": keyB.key, "Content-Type": "application/json" },
		body: JSON.stringify({ query: "canary secret deploy code", mode: "keyword" }),
		expect: [200],
	});
	if (!(await search.text()).includes(marker)) throw new Error("fixture: B's search does not find the marker");

	// Model names, so that generated requests sometimes name one that exists.
	const keyed = { headers: { "X-API-Key": keyA.key, "Content-Type": "application/json" } };
	const models = (
		await json<{ data: { id: string }[] }>(await call(base, "/v1/models", { ...keyed, expect: [200] }))
	).data.map((m) => m.id);
	const embedder = (
		await json<{ model: string }>(
			await call(base, "/v1/embeddings", { ...keyed, method: "POST", body: '{"input":"x"}', expect: [200] }),
		)
	).model;
	const names = [...models, embedder];

	return {
		adminToken,
		tenantScopes,
		operator,
		a: {
			tenant: tenantA,
			key: keyA.key,
			keyId: keyA.id,
			clientId: clientA.client_id,
			clientSecret: clientA.client_secret,
			token: tokenA,
		},
		b: { tenant: tenantB, key: keyB.key },
		secrets: [marker, marker.toLowerCase(), replayMarker, keyB.key],
		words: WORDS,
		tenantIds: [
			...ids.docA,
			ids.docB,
			ids.docShared,
			ids.convA,
			ids.convB,
			ids.convShared,
			tenantA,
			tenantB,
			...names,
			bookmarkB,
			idempotencyKeyB,
		],
		adminIds: [...victimKeys.map((k) => k.id), ...victimClients.map((c) => c.client_id), tenantA, tenantB],
		restore,
	};
}
