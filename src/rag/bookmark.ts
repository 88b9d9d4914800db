/**
 * Read-your-writes bookmarks (docs/rag.md): an ingest answers with one, a search that passes it back also reads the
 * chunks written up to it that the vector index may not show yet (the fresh tail). The wire form is
 * `rb1.` + base64url of `{"s":seq,"t":ms}` — versioned, opaque to clients, at most 200 characters.
 *
 * @example
 * ```ts
 * const raw = encodeBookmark({ seq: 42, at: 1_700_000_000_000 }); // "rb1.eyJzIjo0Mi…"
 * decodeBookmark(raw); // { seq: 42, at: 1700000000000 }
 * decodeBookmark("rb1.nope"); // throws RagError invalid-bookmark
 * ```
 *
 * @module
 */
import { base64url, fromBase64url } from "../lib/encoding";
import { RagError } from "./errors";

export type Bookmark = {
	/** The highest chunk `seq` the write left behind. */
	seq: number;
	/** When the write was committed, ms since the epoch. */
	at: number;
};

const PREFIX = "rb1.";
/** Longest bookmark accepted, characters (the request schema's bound too). */
const MAX_CHARS = 200;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeBookmark(b: Bookmark): string {
	return `${PREFIX}${base64url(encoder.encode(JSON.stringify({ s: b.seq, t: b.at })))}`;
}

/** The bookmark `raw` encodes; throws {@link RagError} `invalid-bookmark` for anything this service did not issue. */
export function decodeBookmark(raw: string): Bookmark {
	if (!raw.startsWith(PREFIX) || raw.length > MAX_CHARS) throw new RagError({ code: "invalid-bookmark" });
	try {
		const json = JSON.parse(decoder.decode(fromBase64url(raw.slice(PREFIX.length)))) as { s?: unknown; t?: unknown };
		if (!Number.isSafeInteger(json.s) || !Number.isSafeInteger(json.t)) throw new Error("shape");
		return { seq: json.s as number, at: json.t as number };
	} catch (err) {
		throw new RagError({ code: "invalid-bookmark" }, { cause: err });
	}
}
