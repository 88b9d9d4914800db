/**
 * Who is calling: resolves a request's credential (an API key, or a bearer JWT reconciled with its client's row) to a
 * {@link Principal}, caching D1's answers per isolate for AUTH_REVOCATION_CACHE_S and counting invalid credentials
 * against the caller's address (src/auth/failed-attempts.ts).
 *
 * @module
 */
import type { AuthConfig } from "../config";
import { AppError } from "../http/app-error";
import { utf8Length } from "../lib/encoding";
import type { Logger } from "../telemetry/logger";
import { keyMatches, keyPrefix, looksLikeApiKey } from "./api-key";
import { unauthorized } from "./errors";
import { credentialThrottle } from "./failed-attempts";
import { effectiveScopes, type Principal, type Scope } from "./principal";
import { type ApiKeyRecord, findClient, findKeyByPrefix, touchKey } from "./store";
import { verifyAccessToken } from "./tokens";
import { TtlCache } from "./ttl-cache";

/** RFC 6750 §2.1 b64token after "Bearer ". */
const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;

/** What a token is reconciled with: its client's current tenant, scopes and revocation (null: no such client). */
type ClientState = { tenant: string; scopes: readonly Scope[]; revoked: boolean } | null;

// Per isolate: how long D1's answer about a key or a client may be reused (AUTH_REVOCATION_CACHE_S).
const keyCache = new TtlCache<ApiKeyRecord | null>(10_000);
const clientCache = new TtlCache<ClientState>(10_000);
/**
 * Key prefixes and client ids that resolved to a valid credential in this isolate lately: their lookups go ahead even
 * from an address the invalid-credential throttle blocks, so one guesser behind a shared address (a NAT, a customer's
 * egress) does not lock out its neighbours' working keys once their cache entries expire. A guesser cannot join it
 * without a valid key or a token we signed.
 */
const knownValid = new TtlCache<true>(50_000);
const KNOWN_VALID_MS = 30 * 60_000;

export type CredentialSource = {
	authorization: string | undefined;
	apiKey: string | undefined;
	/** The caller's address (CF-Connecting-IP), for the invalid-credential throttle. */
	ip: string;
};

/** What resolving a credential may use besides D1: the throttle's limiter objects, background work, a log. */
export type ResolveDeps = {
	env: Env;
	waitUntil: (p: Promise<unknown>) => void;
	log: Logger;
	/** The clock a key's `last_used_at` is stamped with. */
	now: () => number;
};

/**
 * Forgets cached state of a key (by prefix) or a client (by id). The admin routes call it so the isolate that
 * revoked sees it at once; other isolates see it within AUTH_REVOCATION_CACHE_S.
 */
export function forgetCached(kind: "key-prefix" | "client", id: string): void {
	if (kind === "key-prefix") keyCache.delete(id);
	else clientCache.delete(id);
}

/** Forgets everything cached (tests). */
export function clearCredentialCaches(): void {
	keyCache.clear();
	clientCache.clear();
	knownValid.clear();
	credentialThrottle.clear();
}

/** What resolving one credential did: whether it cost a D1 lookup (only those failures count against the address). */
type Attempt = { lookedUp: boolean };

async function fromApiKey(
	db: D1Database,
	auth: AuthConfig,
	key: string,
	source: CredentialSource,
	attempt: Attempt,
	waitUntil: (p: Promise<unknown>) => void,
	now: () => number,
): Promise<Principal> {
	const prefix = keyPrefix(key);
	if (!prefix) throw unauthorized("The API key is malformed", "invalid_token");
	let record = keyCache.get(prefix);
	if (record === undefined) {
		// A blocked address is refused before its guess costs a D1 lookup; cached and lately valid keys still pass.
		if (!knownValid.get(`key:${prefix}`)) credentialThrottle.assertNotBlocked(source.ip);
		attempt.lookedUp = true;
		record = await findKeyByPrefix(db, prefix);
		keyCache.set(prefix, record, auth.revocationCacheS * 1000);
	}
	// One message for unknown, wrong and revoked keys: the response never says which.
	if (!record || record.revokedAt !== null || !(await keyMatches(key, record.hash))) {
		throw unauthorized("The API key is invalid or revoked", "invalid_token");
	}
	knownValid.set(`key:${prefix}`, true, KNOWN_VALID_MS);
	waitUntil(touchKey(db, record.keyId, now()));
	return {
		tenant: record.tenant,
		subject: record.subject,
		scopes: effectiveScopes(record.tenant, record.scopes, auth.operatorTenant),
		via: "api-key",
		credentialId: record.keyId,
	};
}

async function clientState(
	db: D1Database,
	auth: AuthConfig,
	clientId: string,
	source: CredentialSource,
	attempt: Attempt,
): Promise<ClientState> {
	let state = clientCache.get(clientId);
	if (state === undefined) {
		if (!knownValid.get(`client:${clientId}`)) credentialThrottle.assertNotBlocked(source.ip);
		attempt.lookedUp = true;
		const client = await findClient(db, clientId);
		state = client ? { tenant: client.tenant, scopes: client.scopes, revoked: client.revokedAt !== null } : null;
		clientCache.set(clientId, state, auth.revocationCacheS * 1000);
	}
	return state;
}

/**
 * Our own token, reconciled with its client's row as it is now (at most AUTH_REVOCATION_CACHE_S old): a revoked or
 * deleted client's tokens stop working, a client moved to another tenant loses its old tokens, and a client whose
 * scopes were narrowed keeps only what its token and its row both grant.
 */
async function reconcile(
	db: D1Database,
	auth: AuthConfig,
	principal: Principal,
	source: CredentialSource,
	attempt: Attempt,
	log: Logger,
): Promise<Principal> {
	const client = await clientState(db, auth, principal.subject, source, attempt);
	if (!client || client.revoked) {
		log.info("token of a revoked client refused", { subject: principal.subject });
		throw unauthorized("The token's client has been revoked", "invalid_token");
	}
	if (client.tenant !== principal.tenant) {
		log.warn("token tenant differs from its client's", { subject: principal.subject });
		throw unauthorized("The token no longer matches its client", "invalid_token");
	}
	knownValid.set(`client:${principal.subject}`, true, KNOWN_VALID_MS);
	const scopes = principal.scopes.filter((s) => client.scopes.includes(s));
	return { ...principal, scopes: effectiveScopes(principal.tenant, scopes, auth.operatorTenant) };
}

/**
 * Resolves the caller from `X-API-Key` or `Authorization: Bearer` (a JWT, or an API key recognised by its
 * `eak_` prefix, which is what the OpenAI SDKs send). Throws 401 `AppError`s — or 429 once the caller's address
 * has presented too many invalid credentials; never logs a credential.
 */
export async function resolvePrincipal(
	db: D1Database,
	auth: AuthConfig,
	source: CredentialSource,
	deps: ResolveDeps,
): Promise<Principal> {
	const attempt: Attempt = { lookedUp: false };
	try {
		return await resolve(db, auth, source, attempt, deps);
	} catch (err) {
		const presented = source.authorization !== undefined || source.apiKey !== undefined;
		if (err instanceof AppError && err.status === 401 && presented) {
			// A blocked address gets 429 for any invalid credential, without I/O.
			credentialThrottle.assertNotBlocked(source.ip);
			// Only a failure that cost a D1 lookup counts (a malformed key or a bad signature costs no I/O to refuse).
			if (attempt.lookedUp) {
				throw (await credentialThrottle.recordInvalid(deps.env, auth, source.ip, deps.log)) ?? err;
			}
		}
		throw err;
	}
}

async function resolve(
	db: D1Database,
	auth: AuthConfig,
	source: CredentialSource,
	attempt: Attempt,
	{ waitUntil, log, now }: ResolveDeps,
): Promise<Principal> {
	const { authorization, apiKey } = source;
	if (authorization === undefined && apiKey === undefined) throw unauthorized("Authentication is required");
	if (authorization !== undefined && apiKey !== undefined) {
		throw unauthorized("Send one credential: Authorization or X-API-Key, not both", "invalid_request");
	}
	const raw = (apiKey ?? authorization ?? "").trim();
	if (utf8Length(raw) > auth.maxCredentialBytes) {
		throw unauthorized(`The credential exceeds ${auth.maxCredentialBytes} bytes`, "invalid_token");
	}
	if (apiKey !== undefined) return fromApiKey(db, auth, raw, source, attempt, waitUntil, now);

	const bearer = BEARER.exec(raw)?.[1];
	if (!bearer) throw unauthorized('The Authorization header must be "Bearer <token>"', "invalid_request");
	if (looksLikeApiKey(bearer)) return fromApiKey(db, auth, bearer, source, attempt, waitUntil, now);

	const verified = await verifyAccessToken(auth, bearer);
	if (verified.ownToken) return reconcile(db, auth, verified.principal, source, attempt, log);
	return {
		...verified.principal,
		scopes: effectiveScopes(verified.principal.tenant, verified.principal.scopes, auth.operatorTenant),
	};
}
