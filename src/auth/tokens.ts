/**
 * Access tokens (RFC 9068 `at+jwt`) signed and verified with jose.
 *
 * Our tokens: HS256 from `JWT_SIGNING_SECRET`, or EdDSA/ES256 from `JWT_PRIVATE_JWK` (its public key served at
 * `/.well-known/jwks.json`). Verification pins the algorithm list to the configured mode, so `alg: none` and
 * HS/asymmetric confusion (an HS256 token "signed" with our public key) are refused before any key is used.
 * External tokens (an IdP's, when `JWT_JWKS_URL` is set) are verified against its remote key set, which jose
 * caches and refetches on an unknown `kid` (rotation), with asymmetric algorithms only.
 *
 * @module
 */
import {
	createLocalJWKSet,
	createRemoteJWKSet,
	decodeJwt,
	errors,
	importJWK,
	type JWK,
	type JWTPayload,
	type JWTVerifyGetKey,
	jwtVerify,
	SignJWT,
} from "jose";
import { z } from "zod";
import type { AuthConfig } from "../config";
import type { PrivateJwk } from "../config/schema";
import { AppError } from "../http/app-error";
import { sha256Hex } from "../lib/encoding";
import { unauthorized } from "./errors";
import { IDENTIFIER, type Principal, parseScopes, type Scope } from "./principal";

/** The `typ` header of our access tokens (RFC 9068 §2.1). */
export const TOKEN_TYPE = "at+jwt";
const HS_PREFIX = "hs256-";

type Verifier = { algorithms: string[]; key: JWTVerifyGetKey };

type KeyMaterial = {
	alg: "HS256" | "EdDSA" | "ES256";
	kid: string;
	signingKey: CryptoKey | Uint8Array;
	verifier: Verifier;
	/** Public keys for `/.well-known/jwks.json`; empty in HS256 mode. */
	publicJwks: { keys: JWK[] };
};

const materials = new WeakMap<AuthConfig, Promise<KeyMaterial>>();

async function hsKid(secret: string): Promise<string> {
	// A short digest identifies which secret signed a token (rotation) without revealing anything usable.
	return HS_PREFIX + (await sha256Hex(secret)).slice(0, 12);
}

function algOf(jwk: PrivateJwk): "EdDSA" | "ES256" {
	return jwk.kty === "OKP" ? "EdDSA" : "ES256";
}

async function buildMaterial(auth: AuthConfig): Promise<KeyMaterial> {
	const signing = auth.signing;
	if (signing.kind === "hs256") {
		const enc = new TextEncoder();
		const secrets = new Map<string, Uint8Array>([[await hsKid(signing.secret), enc.encode(signing.secret)]]);
		if (signing.previousSecret) secrets.set(await hsKid(signing.previousSecret), enc.encode(signing.previousSecret));
		const [kid, current] = [...secrets.entries()][0] ?? [];
		if (!kid || !current) throw new Error("no signing secret");
		return {
			alg: "HS256",
			kid,
			signingKey: current,
			verifier: {
				algorithms: ["HS256"],
				key: (header) => {
					const secret = header.kid ? secrets.get(header.kid) : current;
					if (!secret) throw new errors.JWKSNoMatchingKey();
					return secret;
				},
			},
			publicJwks: { keys: [] },
		};
	}
	const alg = algOf(signing.privateJwk);
	const { d: _private, ...publicPart } = signing.privateJwk;
	const signingKey = await importJWK({ ...signing.privateJwk, alg }, alg);
	if (!(signingKey instanceof CryptoKey)) throw new Error("JWT_PRIVATE_JWK did not import as a key");
	const current: JWK = { ...publicPart, alg, use: "sig" };
	const previous = (signing.previousPublicJwks?.keys ?? []).map((k) => k as JWK);
	const keys = [current, ...previous];
	const algorithms = [...new Set(keys.map((k) => (k.kty === "OKP" ? "EdDSA" : "ES256")))];
	return {
		alg,
		kid: signing.privateJwk.kid,
		signingKey,
		verifier: { algorithms, key: createLocalJWKSet({ keys }) },
		publicJwks: { keys },
	};
}

function keyMaterial(auth: AuthConfig): Promise<KeyMaterial> {
	let m = materials.get(auth);
	if (!m) {
		m = buildMaterial(auth);
		materials.set(auth, m);
	}
	return m;
}

/** The public keys to publish (empty in HS256 mode). */
export async function publicJwks(auth: AuthConfig): Promise<{ keys: JWK[] }> {
	return (await keyMaterial(auth)).publicJwks;
}

export type IssuedToken = { token: string; expiresIn: number; jti: string };

/** Signs an access token for a client at the time `now` gives (ms since epoch; tests inject a clock). */
export async function issueAccessToken(
	auth: AuthConfig,
	claims: { subject: string; tenant: string; scopes: readonly Scope[] },
	now: () => number = Date.now,
): Promise<IssuedToken> {
	const nowS = Math.floor(now() / 1000);
	const m = await keyMaterial(auth);
	const jti = crypto.randomUUID();
	const token = await new SignJWT({ tenant: claims.tenant, scope: claims.scopes.join(" "), client_id: claims.subject })
		.setProtectedHeader({ alg: m.alg, kid: m.kid, typ: TOKEN_TYPE })
		.setIssuer(auth.issuer)
		.setAudience(auth.audience)
		.setSubject(claims.subject)
		.setIssuedAt(nowS)
		.setNotBefore(nowS)
		.setExpirationTime(nowS + auth.ttlS)
		.setJti(jti)
		.sign(m.signingKey);
	return { token, expiresIn: auth.ttlS, jti };
}

const OwnClaims = z.object({
	sub: z.string().regex(IDENTIFIER),
	tenant: z.string().regex(IDENTIFIER),
	scope: z.string(),
	jti: z.string().min(1),
});

/** What a verified token says; `ownToken` tokens are checked against client revocation by the caller. */
export type VerifiedToken = { principal: Principal; ownToken: boolean };

const remoteSets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

function remoteSet(ext: NonNullable<AuthConfig["external"]>) {
	const cacheKey = `${ext.jwksUrl}|${ext.cacheS}|${ext.cooldownS}`;
	let set = remoteSets.get(cacheKey);
	if (!set) {
		set = createRemoteJWKSet(new URL(ext.jwksUrl), {
			cacheMaxAge: ext.cacheS * 1000,
			cooldownDuration: ext.cooldownS * 1000,
			timeoutDuration: 2_000,
		});
		remoteSets.set(cacheKey, set);
	}
	return set;
}

/** Maps jose's failures to a 401 description (or 503 when the IdP's key set cannot be fetched). */
function rejection(err: unknown): AppError {
	if (err instanceof AppError) return err;
	if (err instanceof errors.JWTExpired) return unauthorized("The token has expired", "invalid_token");
	if (err instanceof errors.JWTClaimValidationFailed) {
		return unauthorized(`The token's "${err.claim}" claim is invalid`, "invalid_token");
	}
	if (err instanceof errors.JOSEAlgNotAllowed)
		return unauthorized("The token's algorithm is not allowed", "invalid_token");
	if (err instanceof errors.JWKSNoMatchingKey) return unauthorized("The token's key id is unknown", "invalid_token");
	if (err instanceof errors.JWSSignatureVerificationFailed) {
		return unauthorized("The token's signature is invalid", "invalid_token");
	}
	if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid || err instanceof TypeError) {
		return new AppError({
			status: 503,
			slug: "upstream-unavailable",
			detail: "The identity provider's key set could not be fetched",
			headers: { "Retry-After": "5" },
			cause: err,
		});
	}
	return unauthorized("The token is malformed", "invalid_token");
}

/**
 * Verifies a bearer JWT: ours (exact `iss`/`aud`, `typ: at+jwt`, pinned algorithms) or the configured IdP's.
 * Throws a 401 `AppError` for any invalid token.
 */
export async function verifyAccessToken(
	auth: AuthConfig,
	token: string,
	now: Date = new Date(),
): Promise<VerifiedToken> {
	let unverified: JWTPayload;
	try {
		unverified = decodeJwt(token);
	} catch {
		throw unauthorized("The token is malformed", "invalid_token");
	}
	try {
		if (unverified.iss === auth.issuer) {
			const m = await keyMaterial(auth);
			const { payload } = await jwtVerify(token, m.verifier.key, {
				issuer: auth.issuer,
				audience: auth.audience,
				algorithms: m.verifier.algorithms,
				typ: TOKEN_TYPE,
				clockTolerance: auth.clockToleranceS,
				currentDate: now,
				requiredClaims: ["iss", "aud", "sub", "iat", "exp", "jti"],
			});
			const claims = OwnClaims.safeParse(payload);
			if (!claims.success) throw unauthorized("The token's claims are malformed", "invalid_token");
			return {
				ownToken: true,
				principal: {
					tenant: claims.data.tenant,
					subject: claims.data.sub,
					scopes: parseScopes(claims.data.scope),
					via: "jwt",
					credentialId: claims.data.jti,
				},
			};
		}
		const ext = auth.external;
		if (ext && unverified.iss === ext.issuer) {
			const { payload } = await jwtVerify(token, remoteSet(ext), {
				issuer: ext.issuer,
				audience: ext.audience,
				algorithms: ext.algorithms,
				clockTolerance: auth.clockToleranceS,
				currentDate: now,
				requiredClaims: ["iss", "aud", "sub", "exp"],
			});
			return { ownToken: false, principal: externalPrincipal(payload, ext.tenantClaim, ext.allowedScopes) };
		}
	} catch (err) {
		throw rejection(err);
	}
	throw unauthorized("The token's issuer is not trusted", "invalid_token");
}

/** An IdP's principal; its scopes are limited to JWT_JWKS_ALLOWED_SCOPES (no operator scope unless listed there). */
function externalPrincipal(payload: JWTPayload, tenantClaim: string, allowed: readonly Scope[]): Principal {
	const sub = z.string().regex(IDENTIFIER).safeParse(payload.sub);
	const tenant = z.string().regex(IDENTIFIER).safeParse(payload[tenantClaim]);
	if (!sub.success || !tenant.success) {
		throw unauthorized(`The token needs "sub" and "${tenantClaim}" identifiers`, "invalid_token");
	}
	// IdPs put scopes in `scope` (space-separated, RFC 8693) or `scp` (array or string).
	const raw = payload.scope ?? payload.scp ?? "";
	const scopes = parseScopes(Array.isArray(raw) ? raw.map(String) : String(raw)).filter((s) => allowed.includes(s));
	return {
		tenant: tenant.data,
		subject: sub.data,
		scopes,
		via: "jwt",
		credentialId: typeof payload.jti === "string" ? payload.jti : "external",
	};
}
