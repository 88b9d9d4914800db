import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cosine } from "../../src/lib/cosine";
import {
	base64,
	base64url,
	decodeVector,
	encodeVector,
	fromBase64,
	fromBase64url,
	hex,
	sha256Hex,
} from "../../src/lib/encoding";

describe("encoding", () => {
	it("hashes UTF-8 with SHA-256 as lowercase hex (FIPS 180-2 vectors)", async () => {
		expect(await sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
		expect(await sha256Hex("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
		expect(await sha256Hex("é")).toBe(await sha256Hex("\u00e9"));
		expect(hex(new Uint8Array([0, 15, 255]))).toBe("000fff");
	});

	it("writes base64 padded and base64url unpadded (RFC 4648 §4, §5), and reads both back", () => {
		const bytes = new Uint8Array([251, 255, 191]);
		expect(base64(bytes)).toBe("+/+/");
		expect(base64url(bytes)).toBe("-_-_");
		expect(base64(new Uint8Array([1]))).toBe("AQ==");
		expect(base64url(new Uint8Array([1]))).toBe("AQ");
		fc.assert(
			fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
				expect(fromBase64(base64(b))).toEqual(b);
				expect(fromBase64url(base64url(b))).toEqual(b);
				expect(base64url(b)).toMatch(/^[A-Za-z0-9_-]*$/);
			}),
		);
		expect(() => fromBase64url("!!")).toThrow();
	});

	it("stores a vector as its Float32 bytes and reads it back from any form the driver returns", () => {
		const values = [0.5, -1, 0.25, 3];
		const blob = encodeVector(values);
		expect(blob.byteLength).toBe(16);
		expect(Array.from(decodeVector(blob))).toEqual(values);
		expect(Array.from(decodeVector(blob.buffer))).toEqual(values);
		expect(Array.from(decodeVector(Array.from(blob)))).toEqual(values);
		// A view into a larger buffer at an odd offset still decodes (it is copied first).
		const padded = new Uint8Array(17);
		padded.set(blob, 1);
		expect(Array.from(decodeVector(padded.subarray(1)))).toEqual(values);
		expect(decodeVector(null)).toHaveLength(0);
		expect(Array.from(decodeVector(encodeVector(new Float32Array([0.1]))))).toEqual([Math.fround(0.1)]);
	});

	it("scores cosine similarity, 0 for a zero vector", () => {
		expect(cosine([1, 0], [1, 0])).toBe(1);
		expect(cosine([1, 0], [-1, 0])).toBe(-1);
		expect(cosine([1, 0], [0, 1])).toBe(0);
		expect(cosine([1, 0], [1, 1])).toBeCloseTo(Math.SQRT1_2, 12);
		expect(cosine([0, 0], [1, 1])).toBe(0);
	});
});
