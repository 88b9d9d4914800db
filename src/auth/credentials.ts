import type { AuthConfig } from "../config";
import type { Logger } from "../telemetry/logger";
import { keyMatches, keyPrefix, looksLikeApiKey } from "./api-key";
import { unauthorized } from "./errors";
import type { Principal } from "./principal";
import { type ApiKeyRecord, findClient, findKeyByPrefix, touchKey } from "./store";
import { verifyAccessToken } from "./tokens";
import { TtlCache } from "./ttl-cache";

/** RFC 6750 §2.1 b64token after "Bearer ". */
const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;

// Per isolate: how long D1's answer about a key or a client's revocation may be reused (AUTH_REVOCATION_CACHE_S).
const keyCache = new TtlCache<ApiKeyRecord | null>(10_000);
const clientRevoked = new TtlCache<boolean>(10_000);

export type CredentialSource = { authorization: string | undefined; apiKey: string | undefined };

/**
 * Forgets cached state of a key (by prefix) or a client (by id). The admin routes call it so the isolate that
 * revoked sees it at once; other isolates see it within AUTH_REVOCATION_CACHE_S.
 */
export function forgetCached(kind: "key-prefix" | "client", id: string): void {
	if (kind === "key-prefix") keyCache.delete(id);
	else clientRevoked.delete(id);
}

async function fromApiKey(
	db: D1Database,
	auth: AuthConfig,
	key: string,
	waitUntil: (p: Promise<unknown>) => void,
): Promise<Principal> {
	const prefix = keyPrefix(key);
	if (!prefix) throw unauthorized("The API key is malformed", "invalid_token");
	let record = keyCache.get(prefix);
	if (record === undefined) {
		record = await findKeyByPrefix(db, prefix);
		keyCache.set(prefix, record, auth.revocationCacheS * 1000);
	}
	// One message for unknown, wrong and revoked keys: the response never says which.
	if (!record || record.revokedAt !== null || !(await keyMatches(key, record.hash))) {
		throw unauthorized("The API key is invalid or revoked", "invalid_token");
	}
	waitUntil(touchKey(db, record.keyId, Date.now()));
	return {
		tenant: record.tenant,
		subject: record.subject,
		scopes: record.scopes,
		via: "api-key",
		credentialId: record.keyId,
	};
}

async function isClientRevoked(db: D1Database, auth: AuthConfig, clientId: string): Promise<boolean> {
	let revoked = clientRevoked.get(clientId);
	if (revoked === undefined) {
		const client = await findClient(db, clientId);
		revoked = !client || client.revokedAt !== null;
		clientRevoked.set(clientId, revoked, auth.revocationCacheS * 1000);
	}
	return revoked;
}

/**
 * Resolves the caller from `X-API-Key` or `Authorization: Bearer` (a JWT, or an API key recognised by its
 * `eak_` prefix, which is what the OpenAI SDKs send). Throws 401 `AppError`s; never logs a credential.
 */
export async function resolvePrincipal(
	db: D1Database,
	auth: AuthConfig,
	source: CredentialSource,
	waitUntil: (p: Promise<unknown>) => void,
	log: Logger,
): Promise<Principal> {
	const { authorization, apiKey } = source;
	if (authorization === undefined && apiKey === undefined) throw unauthorized("Authentication is required");
	if (authorization !== undefined && apiKey !== undefined) {
		throw unauthorized("Send one credential: Authorization or X-API-Key, not both", "invalid_request");
	}
	const raw = (apiKey ?? authorization ?? "").trim();
	if (new TextEncoder().encode(raw).byteLength > auth.maxCredentialBytes) {
		throw unauthorized(`The credential exceeds ${auth.maxCredentialBytes} bytes`, "invalid_token");
	}
	if (apiKey !== undefined) return fromApiKey(db, auth, raw, waitUntil);

	const bearer = BEARER.exec(raw)?.[1];
	if (!bearer) throw unauthorized('The Authorization header must be "Bearer <token>"', "invalid_request");
	if (looksLikeApiKey(bearer)) return fromApiKey(db, auth, bearer, waitUntil);

	const verified = await verifyAccessToken(auth, bearer);
	if (verified.ownToken && (await isClientRevoked(db, auth, verified.principal.subject))) {
		log.info("token of a revoked client refused", { subject: verified.principal.subject });
		throw unauthorized("The token's client has been revoked", "invalid_token");
	}
	return verified.principal;
}
