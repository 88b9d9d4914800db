/**
 * Client secrets at rest: PBKDF2-HMAC-SHA256 through WebCrypto with a per-client 16-byte salt, verified in constant
 * time, with a decoy hash that makes an unknown client id cost as much as a wrong secret.
 *
 * @module
 */
import { base64url, fromBase64url } from "../lib/encoding";

/**
 * The iteration count of new hashes: 100,000, the most workerd's WebCrypto accepts (it rejects higher counts).
 * OWASP's 2023 guidance for PBKDF2-SHA256 is 600,000; the shortfall is covered by secrets being server-generated
 * with 256 bits of entropy (docs/auth.md), which no dictionary attack reaches. The count is stored per client so it
 * can be raised later without invalidating existing secrets.
 */
export const PBKDF2_ITERATIONS = 100_000;
const KEY_BITS = 256;

export function randomBytes(n: number): Uint8Array {
	return crypto.getRandomValues(new Uint8Array(n));
}

/** Compares two byte strings in time independent of where they differ (workerd's timingSafeEqual). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
	if (a.byteLength !== b.byteLength) return false;
	return crypto.subtle.timingSafeEqual(a, b);
}

export type SecretHash = { hash: string; salt: string; iterations: number };

async function derive(secret: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
	const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), "PBKDF2", false, ["deriveBits"]);
	const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, KEY_BITS);
	return new Uint8Array(bits);
}

/** Hashes a secret with a fresh salt. */
export async function hashSecret(secret: string, iterations = PBKDF2_ITERATIONS): Promise<SecretHash> {
	const salt = randomBytes(16);
	return { hash: base64url(await derive(secret, salt, iterations)), salt: base64url(salt), iterations };
}

/** Verifies a secret against its stored hash in constant time. */
export async function verifySecret(secret: string, stored: SecretHash): Promise<boolean> {
	const derived = await derive(secret, fromBase64url(stored.salt), stored.iterations);
	return constantTimeEqual(derived, fromBase64url(stored.hash));
}

/** The decoy, hashed once per isolate on first use. */
let decoy: Promise<SecretHash> | undefined;
/**
 * A hash of a secret nobody knows, verified when a client id is unknown so that unknown ids cost the same
 * PBKDF2 work as wrong secrets: response time does not reveal whether a client exists.
 */
export function decoyHash(): Promise<SecretHash> {
	decoy ??= hashSecret(base64url(randomBytes(32)));
	return decoy;
}
