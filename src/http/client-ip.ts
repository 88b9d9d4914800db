/**
 * The client's address, as every throttle and rate-limit key sees it (docs/security.md#client-addresses).
 *
 * Trust model: in production Cloudflare's edge sets `CF-Connecting-IP` to the address the connection came from and
 * overwrites any value a client sent, so a Worker can trust it. Under `wrangler dev` nothing sits in front of the
 * Worker: the header is whatever the client sends (miniflare fills it in only when absent), so locally it is
 * client-supplied and tests use it to play several addresses. Anything that is not a plausible IPv4/IPv6 literal
 * (≤ 45 characters of hex digits, dots and colons) counts as one address, `unknown`, so a forged header cannot
 * mint unlimited fresh keys for the limiter objects.
 *
 * @example
 * ```ts
 * clientIp(new Request("https://x", { headers: { "CF-Connecting-IP": "203.0.113.7" } })); // "203.0.113.7"
 * ```
 */
const IP_LITERAL = /^[0-9A-Fa-f:.]{2,45}$/;

export function clientIp(request: Request): string {
	const raw = request.headers.get("CF-Connecting-IP")?.trim();
	return raw && IP_LITERAL.test(raw) ? raw : "unknown";
}
