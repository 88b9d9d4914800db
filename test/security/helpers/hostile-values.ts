import fc from "fast-check";

/**
 * Hostile inputs shared by every part of a request. None of them looks like a stack trace or contains a secret
 * marker, so an echo of one in a response (an error detail quoting the bad id) never trips the leak checks.
 */

/** Strings that break naive parsers, SQL, paths, logs and templates. */
export const HOSTILE_STRINGS: readonly string[] = [
	"",
	" ",
	"\u0000",
	"a\u0000b",
	"\t\r\n",
	"' OR 1=1 --",
	'" OR ""="',
	"'; DROP TABLE documents; --",
	"1; SELECT * FROM api_keys",
	"%",
	"%00",
	"%ZZ",
	"../../../../etc/passwd",
	"..\\..\\windows\\win.ini",
	// biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell-style payload, literally.
	"${jndi:ldap://127.0.0.1/a}",
	"{{7*7}}",
	"<script>alert(1)</script>",
	"\u202e\u0645\u0631\u062d\u0628\u0627",
	"\ud800",
	"\udfff\ud800",
	"\ufeff",
	"\uffff",
	"💩🏳️‍🌈👨‍👩‍👧‍👦",
	"Z̸̢͍̤̦̈́̅a̶̢͚̓l̷̰̀g̵̰̈́o̶̝͑",
	"null",
	"undefined",
	"NaN",
	"-0",
	"1e308",
	"__proto__",
	"constructor",
	"prototype",
	"toString",
	"hasOwnProperty",
	"*",
	"$eq",
	"\\",
	"/",
	"?",
	"#",
	"&",
	"=",
	";",
];

/** Numbers (as JSON number literals or their string spellings) that strain number handling. */
export const EXTREME_NUMBERS: readonly string[] = [
	"0",
	"-0",
	"-1",
	"1.5",
	"1e308",
	"-1e308",
	"1e999",
	"-1e999",
	"5e-324",
	"1e-400",
	"9007199254740993",
	"-9007199254740993",
	"123456789012345678901234567890",
	"0.30000000000000004",
	"2147483648",
	"4294967296",
];

/** Query values: the extreme numbers, hostile strings and spellings JSON would not accept. */
export const HOSTILE_QUERY_VALUES: readonly string[] = [
	...EXTREME_NUMBERS,
	...HOSTILE_STRINGS,
	"NaN",
	"Infinity",
	"-Infinity",
	"0x10",
	"1_000",
	" 5 ",
	"5abc",
	"true",
	"[]",
	"{}",
	"9".repeat(400),
];

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

/**
 * Percent-encodes the UTF-8 bytes of everything but unreserved characters (so a value can go in a path or query as
 * is); lone surrogates become U+FFFD, as any client would send them.
 */
export function encode(value: string): string {
	return [...Buffer.from(value, "utf8")]
		.map((b) => {
			const ch = String.fromCharCode(b);
			return UNRESERVED.test(ch) ? ch : `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
		})
		.join("");
}

/** A string's UTF-8 bytes as a latin1 string: node:http writes that to the wire byte for byte. */
export function rawUtf8(value: string): string {
	return Buffer.from(value, "utf8").toString("latin1");
}

/** Path segments, already in wire form (encoded or deliberately raw). */
export function hostilePathSegment(): fc.Arbitrary<{ label: string; value: string }> {
	return fc.oneof(
		fc.constantFrom(
			{ label: "empty", value: "" },
			{ label: "long", value: "a".repeat(10_000) },
			{ label: "dot-dot", value: ".." },
			{ label: "dot-dot-slash", value: "../" },
			{ label: "traversal", value: "../../../../etc/passwd" },
			{ label: "encoded-traversal", value: "..%2F..%2F..%2Fetc%2Fpasswd" },
			{ label: "double-encoded", value: "%252e%252e%252f" },
			{ label: "dot-encoded", value: "%2e%2e" },
			{ label: "nul", value: "%00" },
			{ label: "nul-suffix", value: "doc%00.json" },
			{ label: "bad-percent", value: "%ZZ" },
			{ label: "lone-percent", value: "%" },
			{ label: "invalid-utf8", value: "%C3%28" },
			{ label: "overlong-utf8", value: "%C0%AF" },
			{ label: "high-bytes", value: "%FF%FE%FD" },
			{ label: "sql", value: encode("' OR 1=1 --") },
			{ label: "sql-raw", value: "'OR'1'='1" },
			{ label: "unicode", value: encode("dökümän-😀-ß") },
			{ label: "unicode-raw-bytes", value: rawUtf8("dökümän-😀") },
			{ label: "rtl", value: encode("\u202etxt.exe") },
			{ label: "slash", value: "a/b" },
			{ label: "encoded-slash", value: "a%2Fb" },
			{ label: "backslash", value: "a%5Cb" },
			{ label: "question", value: "a%3Fb" },
			{ label: "hash", value: "a%23b" },
			{ label: "semicolon", value: "a;b=c" },
			{ label: "crlf-encoded", value: "a%0D%0ASet-Cookie:%20x=1" },
			{ label: "proto", value: "__proto__" },
			{ label: "glob", value: "*" },
			{ label: "space-encoded", value: "%20" },
		),
		fc.string({ unit: "binary", maxLength: 40 }).map((s) => ({ label: "random-encoded", value: encode(s) })),
	);
}

/** Raw request bodies (bytes) with the Content-Type to send them with (undefined: none). */
export type RawBody = { label: string; contentType: string | undefined; body: Buffer };

const json = "application/json";
const utf8 = (s: string) => Buffer.from(s, "utf8");

/** `validJson` with `bytes` inserted at the start of its first string value (or appended when it has none). */
function insideFirstString(validJson: string, bytes: Buffer): Buffer {
	const at = validJson.indexOf(':"');
	if (at < 0) return Buffer.concat([utf8(validJson), bytes]);
	return Buffer.concat([utf8(validJson.slice(0, at + 2)), bytes, utf8(validJson.slice(at + 2))]);
}

/** Hostile bodies that do not depend on the operation. */
const CONSTANT_BODIES: RawBody[] = [
	{ label: "empty", contentType: json, body: Buffer.alloc(0) },
	{ label: "empty-no-type", contentType: undefined, body: Buffer.alloc(0) },
	{ label: "whitespace", contentType: json, body: utf8(" \n\t ") },
	{ label: "open-brace", contentType: json, body: utf8("{") },
	{ label: "trailing-comma", contentType: json, body: utf8('{"a":1,}') },
	{ label: "single-quotes", contentType: json, body: utf8("{'a':1}") },
	{ label: "nan-literal", contentType: json, body: utf8('{"a":NaN}') },
	{ label: "undefined-literal", contentType: json, body: utf8("undefined") },
	{ label: "bad-escape", contentType: json, body: utf8('{"a":"\\x41"}') },
	{ label: "raw-control-char", contentType: json, body: utf8('{"a":"\u0001"}') },
	{ label: "nul-byte", contentType: json, body: Buffer.from([0]) },
	{ label: "invalid-utf8", contentType: json, body: Buffer.from([0xff, 0xfe, 0xfd]) },
	{
		label: "overlong-utf8",
		contentType: json,
		body: Buffer.concat([utf8('{"a":"'), Buffer.from([0xc0, 0xaf]), utf8('"}')]),
	},
	{
		label: "cesu-surrogate",
		contentType: json,
		body: Buffer.concat([utf8('{"a":"'), Buffer.from([0xed, 0xa0, 0x80]), utf8('"}')]),
	},
	{ label: "deep-array", contentType: json, body: utf8(`${"[".repeat(100_000)}${"]".repeat(100_000)}`) },
	{ label: "deep-object", contentType: json, body: utf8(`${'{"a":'.repeat(20_000)}1${"}".repeat(20_000)}`) },
	{ label: "over-body-limit", contentType: json, body: utf8(`{"a":"${"x".repeat(2 * 1024 * 1024)}"}`) },
	{ label: "form", contentType: "application/x-www-form-urlencoded", body: utf8("a=1&b=%ZZ&c[]=2&__proto__[x]=1") },
	{
		label: "multipart",
		contentType: "multipart/form-data; boundary=XyZ",
		body: utf8('--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--XyZ--\r\n'),
	},
	{ label: "multipart-no-boundary", contentType: "multipart/form-data", body: utf8("--\r\n") },
];

/** Bodies that are not (valid) JSON, given a valid JSON text of the operation to corrupt. */
export function rawBodies(validJson: string): fc.Arbitrary<RawBody> {
	const fixed: RawBody[] = [
		...CONSTANT_BODIES,
		{ label: "two-documents", contentType: json, body: utf8(`${validJson}${validJson}`) },
		{ label: "trailing-garbage", contentType: json, body: utf8(`${validJson}}]`) },
		{
			label: "invalid-utf8-in-string",
			contentType: json,
			body: insideFirstString(validJson, Buffer.from([0xc3, 0x28, 0xff])),
		},
		{ label: "bom", contentType: json, body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8(validJson)]) },
		{ label: "utf16", contentType: "application/json; charset=utf-16", body: Buffer.from(validJson, "utf16le") },
		{ label: "valid-as-text-plain", contentType: "text/plain", body: utf8(validJson) },
		{ label: "valid-no-type", contentType: undefined, body: utf8(validJson) },
		{ label: "valid-as-xml", contentType: "application/xml", body: utf8(validJson) },
		{ label: "valid-as-form", contentType: "application/x-www-form-urlencoded", body: utf8(validJson) },
		{ label: "valid-vendor-json", contentType: "application/vnd.api+json", body: utf8(validJson) },
		{ label: "valid-uppercase-type", contentType: "APPLICATION/JSON", body: utf8(validJson) },
		{ label: "valid-latin1-charset", contentType: "application/json; charset=iso-8859-1", body: utf8(validJson) },
		{ label: "valid-garbage-type", contentType: ";;;/", body: utf8(validJson) },
		{ label: "valid-long-type", contentType: `application/json; x=${"a".repeat(10_000)}`, body: utf8(validJson) },
	];
	return fc.oneof(
		{ weight: 6, arbitrary: fc.constantFrom(...fixed) },
		{
			weight: 2,
			arbitrary: fc
				.integer({ min: 1, max: Math.max(1, validJson.length - 1) })
				.map((n): RawBody => ({ label: "truncated", contentType: json, body: utf8(validJson.slice(0, n)) })),
		},
		{
			weight: 1,
			arbitrary: fc
				.uint8Array({ maxLength: 256 })
				.map((b): RawBody => ({ label: "random-bytes", contentType: json, body: Buffer.from(b) })),
		},
		{
			weight: 1,
			arbitrary: fc
				.string({ unit: "binary", maxLength: 200 })
				.map((s): RawBody => ({ label: "random-text", contentType: json, body: utf8(s) })),
		},
	);
}

/** Header values node:http can send: printable latin1 (raw UTF-8 bytes for non-ASCII). */
export function headerSafe(value: string): string {
	return rawUtf8(value).replace(/[^\t\x20-\x7e\x80-\xff]/g, "");
}
