/**
 * The client's address, as every throttle and rate-limit key sees it (docs/security.md#client-addresses).
 *
 * Trust model: in production Cloudflare's edge sets `CF-Connecting-IP` to the address the connection came from and
 * overwrites any value a client sent, so a Worker can trust it. Under `wrangler dev` nothing sits in front of the
 * Worker: the header is whatever the client sends (miniflare fills it in only when absent), so locally it is
 * client-supplied and tests use it to play several addresses.
 *
 * An IPv4 address counts as itself. An IPv6 address counts as its /64: one subscriber is usually given a whole /64,
 * so per-address keys on full IPv6 addresses would hand a guesser 2^64 fresh allowances (IPv4-mapped addresses count
 * as their IPv4). Anything that is not a plausible IP literal counts as one address, `unknown`, so a forged header
 * cannot mint unlimited fresh keys for the limiter objects.
 *
 * @example
 * ```ts
 * clientIp(new Request("https://x", { headers: { "CF-Connecting-IP": "203.0.113.7" } })); // "203.0.113.7"
 * clientIp(new Request("https://x", { headers: { "CF-Connecting-IP": "2001:db8:1:2:3:4:5:6" } })); // "2001:db8:1:2::/64"
 * ```
 *
 * @module
 */

/** A dotted-quad IPv4 literal (octet values are not range-checked). */
const IPV4 = /^(?:\d{1,3}\.){3}\d{1,3}$/;
const HEX_GROUP = /^[0-9a-f]{1,4}$/;

/** The throttling key of the request's `CF-Connecting-IP`: the address, its IPv6 /64, or `unknown`. */
export function clientIp(request: Request): string {
	return addressKey(request.headers.get("CF-Connecting-IP")?.trim() ?? "");
}

/** The throttling key of an address literal (see {@link clientIp}). */
export function addressKey(raw: string): string {
	if (IPV4.test(raw)) return raw;
	const v6 = ipv6Network(raw.toLowerCase());
	return v6 ?? "unknown";
}

/** The /64 of an IPv6 literal (`2001:db8:1:2::/64`), its IPv4 when IPv4-mapped, or null when it is not IPv6. */
function ipv6Network(raw: string): string | null {
	if (raw.length < 2 || raw.length > 45 || !raw.includes(":")) return null;
	const mapped = /^::ffff:((?:\d{1,3}\.){3}\d{1,3})$/.exec(raw);
	if (mapped?.[1]) return mapped[1];
	const halves = raw.split("::");
	if (halves.length > 2) return null;
	const head = halves[0] ? halves[0].split(":") : [];
	const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
	const missing = 8 - head.length - tail.length;
	if ((halves.length === 2 && missing < 1) || (halves.length === 1 && missing !== 0)) return null;
	const groups = [...head, ...new Array(Math.max(0, missing)).fill("0"), ...tail];
	if (groups.length !== 8 || !groups.every((g) => HEX_GROUP.test(g))) return null;
	return `${groups
		.slice(0, 4)
		.map((g) => g.replace(/^0+(?=.)/, ""))
		.join(":")}::/64`;
}
