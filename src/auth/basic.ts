/**
 * HTTP Basic client credentials as OAuth 2.0 sends them (RFC 6749 §2.3.1): `client_id:client_secret`,
 * form-urlencoded before base64. One parser for the token endpoint (which authenticates with them) and the rate
 * limiter (which keys failed attempts by the client id presented), so both read the same id from the same header.
 *
 * @example
 * ```ts
 * parseBasicCredentials("Basic ZGVtbzpzM2NyZXQ="); // { clientId: "demo", clientSecret: "s3cret" }
 * parseBasicCredentials("Bearer x"); // null
 * ```
 *
 * @module
 */

export type BasicCredentials = { clientId: string; clientSecret: string };

/** The credentials of an `Authorization: Basic …` header; null when it is not one or cannot be decoded. */
export function parseBasicCredentials(header: string): BasicCredentials | null {
	const m = /^Basic ([A-Za-z0-9+/]+=*)$/.exec(header.trim());
	if (!m?.[1]) return null;
	try {
		const decoded = atob(m[1]);
		const colon = decoded.indexOf(":");
		if (colon < 1) return null;
		const formDecode = (s: string) => decodeURIComponent(s.replaceAll("+", " "));
		return { clientId: formDecode(decoded.slice(0, colon)), clientSecret: formDecode(decoded.slice(colon + 1)) };
	} catch {
		return null;
	}
}
