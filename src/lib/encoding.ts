/**
 * Bytes ↔ text and vectors ↔ bytes, written once for the Worker and the Durable Objects: SHA-256 as lowercase hex
 * (content hashes, key hashes, ids), base64 (RFC 4648 §4) and base64url without padding (§5; ids, salts, bookmarks),
 * and the Float32 BLOB codec that stores embeddings (D1's `chunks.embedding`, the local vector index's `vals`).
 *
 * A low layer: it imports nothing of the service, so domain code, adapters and objects can all use it.
 *
 * @example
 * ```ts
 * await sha256Hex("abc"); // "ba7816bf…"
 * base64url(new Uint8Array([251, 255])); // "-_8"
 * decodeVector(encodeVector([0.5, -1])); // Float32Array [0.5, -1]
 * ```
 *
 * @module
 */

const encoder = new TextEncoder();

/** The length of a string's UTF-8 encoding, in bytes (what every byte limit measures). */
export function utf8Length(text: string): number {
	return encoder.encode(text).length;
}

/** SHA-256 of a string's UTF-8, as 64 lowercase hex characters. */
export async function sha256Hex(text: string): Promise<string> {
	const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
	return hex(new Uint8Array(digest));
}

/** Bytes as lowercase hex, two characters each. */
export function hex(bytes: Uint8Array): string {
	return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Bytes as standard base64, padded (RFC 4648 §4). */
export function base64(bytes: Uint8Array): string {
	let bin = "";
	for (const b of bytes) bin += String.fromCharCode(b);
	return btoa(bin);
}

/** Standard base64 (padding optional) to bytes; throws on characters outside the alphabet. */
export function fromBase64(s: string): Uint8Array {
	return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
}

/** Bytes as base64url without padding (RFC 4648 §5): safe in URLs, headers and ids. */
export function base64url(bytes: Uint8Array): string {
	return base64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

/** Base64url (padding optional) to bytes; throws on characters outside the alphabet. */
export function fromBase64url(s: string): Uint8Array {
	return fromBase64(s.replaceAll("-", "+").replaceAll("_", "/"));
}

/** A vector as the bytes of its Float32 values (little-endian on every platform Workers run on): 4 bytes a value. */
export function encodeVector(values: ArrayLike<number>): Uint8Array {
	return new Uint8Array(Float32Array.from(values).buffer);
}

/**
 * The vector a BLOB holds, whichever form the driver hands it back in (`ArrayBuffer`, `Uint8Array`, an array of
 * byte values); anything else is the empty vector. Copied first, so the result is aligned and owns its memory.
 */
export function decodeVector(blob: unknown): Float32Array {
	const bytes =
		blob instanceof ArrayBuffer
			? new Uint8Array(blob)
			: blob instanceof Uint8Array
				? blob
				: Array.isArray(blob)
					? Uint8Array.from(blob as number[])
					: new Uint8Array();
	const copy = new Uint8Array(bytes.byteLength);
	copy.set(bytes);
	return new Float32Array(copy.buffer);
}
