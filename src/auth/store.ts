/**
 * D1 access for API clients and API keys (tables in migrations/0001_auth.sql, docs/storage-schema.md). Rows are
 * validated with zod on the way out: storage is a boundary too. Every statement is parameterised.
 *
 * @module
 */
import { z } from "zod";
import { parseScopes, type Scope } from "./principal";
import type { SecretHash } from "./secret-hash";

/** An `api_clients` row as D1 returns it. */
const ClientRow = z.object({
	client_id: z.string(),
	tenant: z.string(),
	scopes: z.string(),
	secret_hash: z.string(),
	secret_salt: z.string(),
	secret_iter: z.number().int().positive(),
	created_at: z.number(),
	revoked_at: z.number().nullable(),
});

const KeyRow = z.object({
	key_id: z.string(),
	prefix: z.string(),
	key_hash: z.string(),
	tenant: z.string(),
	subject: z.string(),
	scopes: z.string(),
	name: z.string().nullable(),
	created_at: z.number(),
	last_used_at: z.number().nullable(),
	revoked_at: z.number().nullable(),
});

export type Client = {
	clientId: string;
	tenant: string;
	scopes: Scope[];
	secret: SecretHash;
	createdAt: number;
	revokedAt: number | null;
};

export type ApiKeyRecord = {
	keyId: string;
	prefix: string;
	hash: string;
	tenant: string;
	subject: string;
	scopes: Scope[];
	name: string | null;
	createdAt: number;
	lastUsedAt: number | null;
	revokedAt: number | null;
};

const toClient = (r: z.infer<typeof ClientRow>): Client => ({
	clientId: r.client_id,
	tenant: r.tenant,
	scopes: parseScopes(r.scopes),
	secret: { hash: r.secret_hash, salt: r.secret_salt, iterations: r.secret_iter },
	createdAt: r.created_at,
	revokedAt: r.revoked_at,
});

const toKey = (r: z.infer<typeof KeyRow>): ApiKeyRecord => ({
	keyId: r.key_id,
	prefix: r.prefix,
	hash: r.key_hash,
	tenant: r.tenant,
	subject: r.subject,
	scopes: parseScopes(r.scopes),
	name: r.name,
	createdAt: r.created_at,
	lastUsedAt: r.last_used_at,
	revokedAt: r.revoked_at,
});

export type Page<T> = { items: T[]; nextCursor: string | null };

export async function findClient(db: D1Database, clientId: string): Promise<Client | null> {
	const row = await db.prepare("SELECT * FROM api_clients WHERE client_id = ?").bind(clientId).first();
	return row ? toClient(ClientRow.parse(row)) : null;
}

/** Inserts a client; false when the id is taken. */
export async function insertClient(
	db: D1Database,
	c: { clientId: string; tenant: string; scopes: readonly Scope[]; secret: SecretHash; now: number },
): Promise<boolean> {
	const res = await db
		.prepare(
			`INSERT INTO api_clients (client_id, tenant, scopes, secret_hash, secret_salt, secret_iter, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(client_id) DO NOTHING`,
		)
		.bind(c.clientId, c.tenant, c.scopes.join(" "), c.secret.hash, c.secret.salt, c.secret.iterations, c.now)
		.run();
	return res.meta.changes === 1;
}

type PageQuery = { tenant?: string | undefined; limit: number; cursor?: string | undefined };

/**
 * One keyset page of `table` ordered by `idColumn`, after `q.cursor` (an id), optionally for one tenant: reads one
 * row more than the limit to know whether another page follows.
 */
async function pageOf<T>(
	db: D1Database,
	table: "api_clients" | "api_keys",
	idColumn: "client_id" | "key_id",
	q: PageQuery,
	toItem: (row: unknown) => T,
	idOf: (item: T) => string,
): Promise<Page<T>> {
	const { results } = await db
		.prepare(
			`SELECT * FROM ${table} WHERE (?1 IS NULL OR tenant = ?1) AND (?2 IS NULL OR ${idColumn} > ?2)
			 ORDER BY ${idColumn} LIMIT ?3`,
		)
		.bind(q.tenant ?? null, q.cursor ?? null, q.limit + 1)
		.all();
	const items = results.map(toItem);
	const page = items.slice(0, q.limit);
	const last = page[page.length - 1];
	return { items: page, nextCursor: items.length > q.limit && last ? idOf(last) : null };
}

/** Clients ordered by id, after `cursor` (an id), optionally for one tenant. */
export function listClients(db: D1Database, q: PageQuery): Promise<Page<Client>> {
	return pageOf(
		db,
		"api_clients",
		"client_id",
		q,
		(r) => toClient(ClientRow.parse(r)),
		(c) => c.clientId,
	);
}

/** Marks a client revoked (idempotent: the first revocation time stays). False when it does not exist. */
export async function revokeClient(db: D1Database, clientId: string, now: number): Promise<boolean> {
	const res = await db
		.prepare("UPDATE api_clients SET revoked_at = COALESCE(revoked_at, ?) WHERE client_id = ?")
		.bind(now, clientId)
		.run();
	return res.meta.changes === 1;
}

export async function findKeyByPrefix(db: D1Database, prefix: string): Promise<ApiKeyRecord | null> {
	const row = await db.prepare("SELECT * FROM api_keys WHERE prefix = ?").bind(prefix).first();
	return row ? toKey(KeyRow.parse(row)) : null;
}

export async function insertKey(
	db: D1Database,
	k: {
		keyId: string;
		prefix: string;
		hash: string;
		tenant: string;
		subject: string;
		scopes: readonly Scope[];
		name: string | null;
		now: number;
	},
): Promise<boolean> {
	const res = await db
		.prepare(
			`INSERT INTO api_keys (key_id, prefix, key_hash, tenant, subject, scopes, name, created_at)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		)
		.bind(k.keyId, k.prefix, k.hash, k.tenant, k.subject, k.scopes.join(" "), k.name, k.now)
		.run();
	return res.meta.changes === 1;
}

/** API keys ordered by id, after `cursor` (an id), optionally for one tenant. */
export function listKeys(db: D1Database, q: PageQuery): Promise<Page<ApiKeyRecord>> {
	return pageOf(
		db,
		"api_keys",
		"key_id",
		q,
		(r) => toKey(KeyRow.parse(r)),
		(k) => k.keyId,
	);
}

/** Revokes a key (idempotent); returns its prefix (the cache key of lookups), or null when it does not exist. */
export async function revokeKey(db: D1Database, keyId: string, now: number): Promise<string | null> {
	const row = await db
		.prepare("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE key_id = ? RETURNING prefix")
		.bind(now, keyId)
		.first<{ prefix: string }>();
	return row?.prefix ?? null;
}

/** Records use at most once a minute per key, so a hot key does not turn every request into a D1 write. */
export async function touchKey(db: D1Database, keyId: string, now: number): Promise<void> {
	await db
		.prepare("UPDATE api_keys SET last_used_at = ? WHERE key_id = ? AND (last_used_at IS NULL OR last_used_at < ?)")
		.bind(now, keyId, now - 60_000)
		.run();
}
