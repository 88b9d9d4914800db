/**
 * API keys: `eak_<12 hex id>_<43 base64url chars>` (256 random bits). The `eak_<id>` prefix is stored and shown
 * in listings so a leaked key can be identified and revoked; the whole key is stored only as its SHA-256 (a
 * fast hash is right here: the key is uniformly random, so there is nothing to brute-force). The prefix also lets
 * `Authorization: Bearer eak_…` be told apart from a JWT, which is what the OpenAI SDKs send.
 *
 * @module
 */
import { base64url, hex, sha256Hex } from "../lib/encoding";
import { constantTimeEqual, randomBytes } from "./secret-hash";

/** The prefix every API key starts with, which tells a key apart from a JWT. */
export const API_KEY_MARKER = "eak_";
const KEY_PATTERN = /^eak_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export type GeneratedKey = { key: string; keyId: string; prefix: string; hash: string };

/** The visible prefix of a well-formed key (`eak_<id>`), or undefined. */
export function keyPrefix(key: string): string | undefined {
	const m = KEY_PATTERN.exec(key);
	return m ? `${API_KEY_MARKER}${m[1]}` : undefined;
}

export function looksLikeApiKey(credential: string): boolean {
	return credential.startsWith(API_KEY_MARKER);
}

/** Builds a key from a given id and secret part (the local seed's documented key uses fixed ones). */
export async function keyFromParts(idHex: string, secretPart: string): Promise<GeneratedKey> {
	const key = `${API_KEY_MARKER}${idHex}_${secretPart}`;
	const prefix = keyPrefix(key);
	if (!prefix) throw new Error("malformed API key parts");
	return { key, keyId: `key_${idHex}`, prefix, hash: await sha256Hex(key) };
}

export async function generateApiKey(): Promise<GeneratedKey> {
	const idHex = hex(randomBytes(6));
	return keyFromParts(idHex, base64url(randomBytes(32)));
}

/** Constant-time comparison of a presented key's hash with the stored hex hash. */
export async function keyMatches(presented: string, storedHexHash: string): Promise<boolean> {
	const enc = new TextEncoder();
	return constantTimeEqual(enc.encode(await sha256Hex(presented)), enc.encode(storedHexHash));
}
