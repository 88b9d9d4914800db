import { describe, expect, it } from "vitest";
import { generateApiKey, keyFromParts, keyMatches, keyPrefix, looksLikeApiKey } from "../../src/auth/api-key";
import { parseScopes } from "../../src/auth/principal";
import { hashSecret, PBKDF2_ITERATIONS, verifySecret } from "../../src/auth/secret-hash";
import { TtlCache } from "../../src/auth/ttl-cache";
import { addressKey } from "../../src/http/client-ip";
import { base64url, fromBase64url } from "../../src/lib/encoding";

describe("client secret hashing (PBKDF2-SHA256)", () => {
	it("verifies the right secret only, with a fresh salt per hash", async () => {
		const a = await hashSecret("correct horse", 1000);
		const b = await hashSecret("correct horse", 1000);
		expect(a.salt).not.toBe(b.salt);
		expect(a.hash).not.toBe(b.hash);
		expect(await verifySecret("correct horse", a)).toBe(true);
		expect(await verifySecret("correct horsE", a)).toBe(false);
		expect(await verifySecret("", a)).toBe(false);
	});

	it("uses workerd's maximum iteration count by default and a 256-bit output", async () => {
		const h = await hashSecret("x");
		expect(h.iterations).toBe(PBKDF2_ITERATIONS);
		expect(fromBase64url(h.hash)).toHaveLength(32);
		expect(fromBase64url(h.salt)).toHaveLength(16);
	});

	it("base64url round-trips arbitrary bytes", () => {
		const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
		expect(fromBase64url(base64url(bytes))).toEqual(bytes);
	});
});

describe("API keys", () => {
	it("are eak_<12 hex>_<43 base64url>, with a visible prefix and a SHA-256 hash", async () => {
		const k = await generateApiKey();
		expect(k.key).toMatch(/^eak_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
		expect(k.prefix).toBe(k.key.slice(0, 16));
		expect(k.keyId).toBe(`key_${k.key.slice(4, 16)}`);
		expect(k.hash).toMatch(/^[0-9a-f]{64}$/);
		expect(await keyMatches(k.key, k.hash)).toBe(true);
		expect(await keyMatches(`${k.key.slice(0, -1)}x`, k.hash)).toBe(false);
	});

	it("recognises keys by prefix and rejects malformed ones", async () => {
		expect(looksLikeApiKey("eak_anything")).toBe(true);
		expect(looksLikeApiKey("eyJhbGciOiJIUzI1NiJ9.e30.x")).toBe(false);
		expect(keyPrefix("eak_00000000d3e0_short")).toBeUndefined();
		await expect(keyFromParts("xyz", "short")).rejects.toThrow();
	});
});

describe("scopes", () => {
	it("keep known scopes once, in canonical order", () => {
		expect(parseScopes("rag:write chat chat unknown admin")).toEqual(["chat", "rag:write", "admin"]);
		expect(parseScopes(["metrics:read", "rag:read"])).toEqual(["rag:read", "metrics:read"]);
		expect(parseScopes("")).toEqual([]);
	});
});

describe("TtlCache", () => {
	it("expires entries after their ttl and evicts the oldest beyond its size", () => {
		let now = 0;
		const cache = new TtlCache<number>(2, () => now);
		cache.set("a", 1, 100);
		cache.set("b", 2, 100);
		now = 99;
		expect(cache.get("a")).toBe(1);
		cache.set("c", 3, 100); // evicts a (oldest)
		expect(cache.get("a")).toBeUndefined();
		now = 100;
		expect(cache.get("b")).toBeUndefined(); // set at 0 with ttl 100
		expect(cache.get("c")).toBe(3);
		cache.set("z", 9, 0); // ttl 0: not cached
		expect(cache.get("z")).toBeUndefined();
	});
});

describe("client addresses (CF-Connecting-IP)", () => {
	it("keys IPv4 as itself, IPv6 by its /64 (mapped IPv4 as IPv4), anything else as one 'unknown'", () => {
		expect(addressKey("203.0.113.7")).toBe("203.0.113.7");
		expect(addressKey("2001:db8:1:2:3:4:5:6")).toBe("2001:db8:1:2::/64");
		expect(addressKey("2001:DB8:0001:0002:ffff::1")).toBe("2001:db8:1:2::/64");
		expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
		expect(addressKey("::1")).toBe("0:0:0:0::/64");
		expect(addressKey("::ffff:198.51.100.4")).toBe("198.51.100.4");
		// Every address of one /64 is one key: a guesser cannot mint fresh allowances inside its subnet.
		const keys = new Set(Array.from({ length: 50 }, (_, i) => addressKey(`2001:db8:aa:bb:${i.toString(16)}::${i}`)));
		expect(keys).toEqual(new Set(["2001:db8:aa:bb::/64"]));
		for (const junk of [
			"",
			"x",
			"1.2.3",
			"2001:db8::1::2",
			"2001:db8:1:2:3:4:5:6:7",
			"g::1",
			"1.2.3.4; DROP",
			"a".repeat(60),
		]) {
			expect(addressKey(junk)).toBe("unknown");
		}
	});
});
