/**
 * Admin API (scope `admin`): API clients and API keys for any tenant. Secrets and keys are returned once, at
 * creation, and never again. Revocation is immediate in the isolate that handles it and reaches every isolate
 * within AUTH_REVOCATION_CACHE_S (default 5 s).
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { generateApiKey } from "../auth/api-key";
import { forgetCached } from "../auth/credentials";
import { IDENTIFIER, OPERATOR_SCOPES, SCOPES, type Scope } from "../auth/principal";
import { hashSecret, randomBytes } from "../auth/secret-hash";
import {
	type ApiKeyRecord,
	type Client,
	insertClient,
	insertKey,
	listClients,
	listKeys,
	revokeClient,
	revokeKey,
} from "../auth/store";
import { AppError, validationFailed } from "../http/app-error";
import { base64url, hex } from "../lib/encoding";
import { requireScope } from "../middleware/auth";
import { BODY_PROBLEMS, createRouter, problem } from "./router";
import { securedBy } from "./security";

/** A tenant, subject or client id as the admin API accepts it (`IDENTIFIER`). */
const Identifier = z.string().regex(IDENTIFIER, "1–128 of A-Z a-z 0-9 . _ : @ -, starting alphanumeric");
const ScopeList = z.array(z.enum(SCOPES)).min(1).max(SCOPES.length);

const ClientView = z
	.object({
		client_id: z.string(),
		tenant: z.string(),
		scopes: z.array(z.enum(SCOPES)),
		created_at: z.string().openapi({ format: "date-time" }),
		revoked_at: z.string().nullable().openapi({ format: "date-time" }),
	})
	.openapi("Client");

const KeyView = z
	.object({
		id: z.string(),
		prefix: z.string().openapi({ description: "Visible start of the key, for identification" }),
		tenant: z.string(),
		subject: z.string(),
		scopes: z.array(z.enum(SCOPES)),
		name: z.string().nullable(),
		created_at: z.string().openapi({ format: "date-time" }),
		last_used_at: z.string().nullable().openapi({ format: "date-time" }),
		revoked_at: z.string().nullable().openapi({ format: "date-time" }),
	})
	.openapi("ApiKey");

const ListQuery = z.object({
	tenant: Identifier.optional(),
	limit: z.coerce.number().int().min(1).max(200).default(50),
	cursor: z.string().max(256).optional(),
});

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const clientView = (c: Client) => ({
	client_id: c.clientId,
	tenant: c.tenant,
	scopes: c.scopes,
	created_at: new Date(c.createdAt).toISOString(),
	revoked_at: iso(c.revokedAt),
});
const keyView = (k: ApiKeyRecord) => ({
	id: k.keyId,
	prefix: k.prefix,
	tenant: k.tenant,
	subject: k.subject,
	scopes: k.scopes,
	name: k.name,
	created_at: new Date(k.createdAt).toISOString(),
	last_used_at: iso(k.lastUsedAt),
	revoked_at: iso(k.revokedAt),
});

const common = { tags: ["Admin"], security: securedBy("admin"), middleware: requireScope("admin") };
const denied = { 401: problem("Missing or invalid credentials"), 403: problem("The admin scope is required") };

const createClientRoute = createRoute({
	...common,
	method: "post",
	path: "/v1/admin/clients",
	summary: "Create an API client (its secret is returned once)",
	request: {
		body: {
			required: true,
			content: {
				"application/json": {
					schema: z.object({ client_id: Identifier.optional(), tenant: Identifier, scopes: ScopeList }),
				},
			},
		},
	},
	responses: {
		...BODY_PROBLEMS,
		201: {
			description: "Created",
			content: {
				"application/json": {
					schema: ClientView.extend({ client_secret: z.string() }).openapi("CreatedClient"),
				},
			},
		},
		...denied,
		409: problem("client_id taken"),
		422: problem("Invalid body"),
	},
});

const listClientsRoute = createRoute({
	...common,
	method: "get",
	path: "/v1/admin/clients",
	summary: "List API clients",
	request: { query: ListQuery },
	responses: {
		200: {
			description: "A page of clients, ordered by id",
			content: {
				"application/json": {
					schema: z.object({ data: z.array(ClientView), next_cursor: z.string().nullable() }),
				},
			},
		},
		...denied,
		422: problem("Invalid query"),
	},
});

const revokeClientRoute = createRoute({
	...common,
	method: "delete",
	path: "/v1/admin/clients/{client_id}",
	summary: "Revoke a client: its secret and every token it holds stop working",
	request: { params: z.object({ client_id: Identifier }) },
	responses: { 204: { description: "Revoked (idempotent)" }, ...denied, 404: problem("No such client") },
});

const createKeyRoute = createRoute({
	...common,
	method: "post",
	path: "/v1/admin/api-keys",
	summary: "Create an API key (the key is returned once)",
	request: {
		body: {
			required: true,
			content: {
				"application/json": {
					schema: z.object({
						tenant: Identifier,
						subject: Identifier,
						scopes: ScopeList,
						name: z.string().min(1).max(128).optional(),
					}),
				},
			},
		},
	},
	responses: {
		...BODY_PROBLEMS,
		201: {
			description: "Created",
			content: { "application/json": { schema: KeyView.extend({ key: z.string() }).openapi("CreatedApiKey") } },
		},
		...denied,
		422: problem("Invalid body"),
	},
});

const listKeysRoute = createRoute({
	...common,
	method: "get",
	path: "/v1/admin/api-keys",
	summary: "List API keys (prefixes only)",
	request: { query: ListQuery },
	responses: {
		200: {
			description: "A page of keys, ordered by id",
			content: {
				"application/json": { schema: z.object({ data: z.array(KeyView), next_cursor: z.string().nullable() }) },
			},
		},
		...denied,
		422: problem("Invalid query"),
	},
});

const revokeKeyRoute = createRoute({
	...common,
	method: "delete",
	path: "/v1/admin/api-keys/{key_id}",
	summary: "Revoke an API key",
	request: { params: z.object({ key_id: z.string().regex(/^key_[0-9a-f]{12}$/) }) },
	responses: { 204: { description: "Revoked (idempotent)" }, ...denied, 404: problem("No such key") },
});

/**
 * Operator scopes (`admin`, `metrics:read`) are granted only to credentials of the operator tenant: an admin cannot
 * mint a tenant credential that reaches across tenants (docs/security.md#operator-scopes).
 */
function assertGrantable(tenant: string, scopes: readonly Scope[], operatorTenant: string): void {
	const refused = scopes.filter((s) => OPERATOR_SCOPES.has(s));
	if (tenant === operatorTenant || refused.length === 0) return;
	throw validationFailed(
		`${refused.join(" and ")} ${refused.length === 1 ? "is an operator scope" : "are operator scopes"}: only credentials of the operator tenant '${operatorTenant}' may hold ${refused.length === 1 ? "it" : "them"}`,
		[{ path: "scopes", message: `not grantable to tenant '${tenant}': ${refused.join(", ")}` }],
	);
}

export const admin = createRouter()
	.openapi(createClientRoute, async (c) => {
		const body = c.req.valid("json");
		assertGrantable(body.tenant, body.scopes, c.get("config").auth.operatorTenant);
		const clientId = body.client_id ?? `cli_${hex(randomBytes(8))}`;
		// 256-bit server-generated secret: PBKDF2 guards it at rest, its entropy guards it against guessing.
		const clientSecret = base64url(randomBytes(32));
		const now = Date.now();
		const created = await insertClient(c.env.DB, {
			clientId,
			tenant: body.tenant,
			scopes: body.scopes,
			secret: await hashSecret(clientSecret),
			now,
		});
		if (!created) throw new AppError({ status: 409, slug: "conflict", detail: `Client ${clientId} already exists` });
		c.get("log").info("client created", { client_id: clientId, tenant: body.tenant, by: c.get("principal").subject });
		const view = clientView({
			clientId,
			tenant: body.tenant,
			scopes: body.scopes,
			secret: { hash: "", salt: "", iterations: 0 },
			createdAt: now,
			revokedAt: null,
		});
		return c.json({ ...view, client_secret: clientSecret }, 201, { "Cache-Control": "no-store" });
	})
	.openapi(listClientsRoute, async (c) => {
		const q = c.req.valid("query");
		const page = await listClients(c.env.DB, q);
		return c.json({ data: page.items.map(clientView), next_cursor: page.nextCursor }, 200);
	})
	.openapi(revokeClientRoute, async (c) => {
		const { client_id } = c.req.valid("param");
		if (!(await revokeClient(c.env.DB, client_id, Date.now()))) {
			throw new AppError({ status: 404, slug: "not-found", detail: `No client ${client_id}` });
		}
		forgetCached("client", client_id);
		c.get("log").info("client revoked", { client_id, by: c.get("principal").subject });
		return c.body(null, 204);
	})
	.openapi(createKeyRoute, async (c) => {
		const body = c.req.valid("json");
		assertGrantable(body.tenant, body.scopes, c.get("config").auth.operatorTenant);
		const generated = await generateApiKey();
		const record = {
			keyId: generated.keyId,
			prefix: generated.prefix,
			hash: generated.hash,
			tenant: body.tenant,
			subject: body.subject,
			scopes: body.scopes,
			name: body.name ?? null,
			createdAt: Date.now(),
			lastUsedAt: null,
			revokedAt: null,
		};
		await insertKey(c.env.DB, { ...record, now: record.createdAt });
		c.get("log").info("api key created", {
			key_id: generated.keyId,
			tenant: body.tenant,
			by: c.get("principal").subject,
		});
		const view = keyView(record);
		return c.json({ ...view, key: generated.key }, 201, { "Cache-Control": "no-store" });
	})
	.openapi(listKeysRoute, async (c) => {
		const page = await listKeys(c.env.DB, c.req.valid("query"));
		return c.json({ data: page.items.map(keyView), next_cursor: page.nextCursor }, 200);
	})
	.openapi(revokeKeyRoute, async (c) => {
		const { key_id } = c.req.valid("param");
		const prefix = await revokeKey(c.env.DB, key_id, Date.now());
		if (!prefix) throw new AppError({ status: 404, slug: "not-found", detail: `No API key ${key_id}` });
		forgetCached("key-prefix", prefix);
		c.get("log").info("api key revoked", { key_id, by: c.get("principal").subject });
		return c.body(null, 204);
	});
