import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeBookmark, encodeBookmark } from "../../src/rag/bookmark";
import { RagError } from "../../src/rag/errors";

function refused(raw: string): unknown {
	try {
		decodeBookmark(raw);
	} catch (err) {
		return err;
	}
	return null;
}

describe("bookmark codec", () => {
	it("round-trips every bookmark an ingest can issue", () => {
		fc.assert(
			fc.property(fc.nat(), fc.nat(), (seq, at) => {
				expect(decodeBookmark(encodeBookmark({ seq, at }))).toEqual({ seq, at });
			}),
			{ numRuns: 300 },
		);
		const max = Number.MAX_SAFE_INTEGER;
		expect(decodeBookmark(encodeBookmark({ seq: max, at: max }))).toEqual({ seq: max, at: max });
	});

	it("keeps its wire format: rb1. and unpadded base64url of {s, t} (bookmarks outlive a deployment)", () => {
		const raw = encodeBookmark({ seq: 42, at: 1_700_000_000_000 });
		expect(raw).toBe("rb1.eyJzIjo0MiwidCI6MTcwMDAwMDAwMDAwMH0");
		expect(decodeBookmark("rb1.eyJzIjo0MiwidCI6MTcwMDAwMDAwMDAwMH0")).toEqual({ seq: 42, at: 1_700_000_000_000 });
		// Padding, as a client might add it, is accepted.
		expect(decodeBookmark("rb1.eyJzIjoxLCJ0IjoyfQ==")).toEqual({ seq: 1, at: 2 });
		fc.assert(
			fc.property(fc.nat(), fc.nat(), (seq, at) => {
				expect(encodeBookmark({ seq, at })).toMatch(/^rb1\.[A-Za-z0-9_-]+$/);
			}),
		);
	});

	it.each([
		["empty", ""],
		["no prefix", "eyJzIjoxLCJ0IjoyfQ"],
		["another version", "rb2.eyJzIjoxLCJ0IjoyfQ"],
		["nothing after the prefix", "rb1."],
		["not base64url", "rb1.!!!"],
		["not JSON", `rb1.${btoa("seq=1")}`],
		["JSON null", "rb1.bnVsbA"],
		["a fractional seq", "rb1.eyJzIjoxLjUsInQiOjJ9"],
		["no time", "rb1.eyJzIjoxfQ"],
		["an unsafe integer", "rb1.eyJzIjo5MDA3MTk5MjU0NzQwOTkyLCJ0IjoxfQ"],
		["a string seq", "rb1.eyJzIjoiMSIsInQiOjF9"],
		["over 200 characters", `rb1.eyJzIjoxLCJ0IjoyfQ${"A".repeat(200)}`],
	])("refuses %s as invalid-bookmark", (_, raw) => {
		const err = refused(raw);
		expect(err).toBeInstanceOf(RagError);
		expect((err as RagError).reason).toEqual({ code: "invalid-bookmark" });
	});

	it("refuses any string it did not issue, and never throws anything but a RagError", () => {
		fc.assert(
			fc.property(fc.string({ maxLength: 240 }), (s) => {
				const raw = `rb1.${s}`;
				const err = refused(raw);
				if (err !== null) expect(err).toBeInstanceOf(RagError);
			}),
			{ numRuns: 500 },
		);
	});
});
