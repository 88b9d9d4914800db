import { createHmac } from "node:crypto";
import fc from "fast-check";
import { encode, HOSTILE_QUERY_VALUES, headerSafe, hostilePathSegment, rawBodies, rawUtf8 } from "./hostile-values";
import { mutatedJson } from "./mutate-json";
import { fillPath, type Operation, type Schema } from "./openapi-operations";
import type { WireRequest } from "./raw-http";
import { valueArbitrary } from "./schema-arbitrary";

/**
 * Requests for one operation: mostly valid ones (so handlers are reached), and ones with a single hostile aspect —
 * path parameters, query, headers, credentials, a mutated or raw body, the method — or all of them at once.
 */
export type Credential = "valid" | "wrong-scope" | "invalid";

export type FuzzRequest = WireRequest & {
	/** Which part was made hostile (`valid`: none), and how. */
	aspect: string;
	detail: string;
	credential: Credential;
	/** Path and method are the operation's, so the request is routed to it. */
	routed: boolean;
};

type Header = [string, string];
type Query = [string, string | null][];
type LabeledHeaders = { label: string; headers: Header[] };

export type RequestContext = {
	words: readonly string[];
	/** Values parameters and strings should try (objects and tenants of this caller and of the other tenant). */
	knownIds: readonly string[];
	/** Credential header sets the operation accepts. */
	valid: readonly Header[][];
	/** Valid credentials that lack the operation's scope. */
	wrongScope: readonly Header[][];
	/** A credential of the caller to corrupt and forge from. */
	apiKey: string;
	jwt: string;
	/** The other tenant's id, and its API key's public prefix (never its secret). */
	otherTenant: string;
	otherKeyPrefix: string;
	/** For an OAuth token endpoint: the client whose credentials are valid. */
	client?: { id: string; secret: string; scopes: readonly string[] };
};

type Body = { mediaType: string; value: unknown };

/** The parts of a valid request, before any aspect is made hostile. */
type Draft = {
	method: string;
	path: Record<string, string>;
	pathSuffix: string;
	/** Encoded names and values; a `null` value leaves out the `=` (`?limit`). */
	query: Query;
	credentials: Header[];
	headers: Header[];
	body: Body | undefined;
	/** A body as bytes, overriding `body`, with its Content-Type (undefined: none sent). */
	raw?: { contentType: string | undefined; bytes: Buffer };
	aspect: string;
	detail: string;
	credential: Credential;
	routed: boolean;
};

const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64url");

function scalar(value: unknown): string {
	return typeof value === "string" ? value : JSON.stringify(value);
}

function encodeBody(body: Body): Buffer {
	if (body.mediaType === "application/x-www-form-urlencoded" && body.value && typeof body.value === "object") {
		const form = new URLSearchParams();
		for (const [k, v] of Object.entries(body.value)) form.append(k, scalar(v));
		return Buffer.from(form.toString());
	}
	return Buffer.from(JSON.stringify(body.value) ?? "");
}

function finish(op: Operation, d: Draft): FuzzRequest {
	const query = d.query.map(([k, v]) => (v === null ? k : `${k}=${v}`)).join("&");
	const target = `${fillPath(op.path, d.path)}${d.pathSuffix}${query ? `?${query}` : ""}`;
	const headers: Header[] = [...d.credentials, ...d.headers];
	let body: Buffer | undefined;
	if (d.raw) {
		body = d.raw.bytes;
		if (d.raw.contentType !== undefined) headers.push(["Content-Type", d.raw.contentType]);
	} else if (d.body) {
		body = encodeBody(d.body);
		headers.push(["Content-Type", d.body.mediaType]);
	}
	return {
		method: d.method,
		target,
		headers,
		body,
		aspect: d.aspect,
		detail: d.detail,
		credential: d.credential,
		routed: d.routed,
	};
}

/** Values for a parameter: from its schema, or (a string with a pattern) one of the known ids it admits. */
function parameterValue(schema: Schema, ctx: RequestContext): fc.Arbitrary<string> {
	// A parameter cannot be null: `null` in a query string is the text "null".
	const types = Array.isArray(schema.type) ? schema.type.filter((t) => t !== "null") : schema.type;
	const generated = valueArbitrary(
		{ ...schema, type: types, nullable: false },
		{ words: ctx.words, known: ctx.knownIds },
	).map(scalar);
	if (!schema.pattern || schema.enum) return generated;
	const pattern = new RegExp(schema.pattern);
	const known = ctx.knownIds.filter((id) => pattern.test(id));
	return known.length > 0
		? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...known) }, { weight: 2, arbitrary: generated })
		: generated;
}

function pathValues(op: Operation, ctx: RequestContext): fc.Arbitrary<Record<string, string>> {
	const params = op.parameters.filter((p) => p.in === "path");
	return fc.record(Object.fromEntries(params.map((p) => [p.name, parameterValue(p.schema, ctx).map(encode)])));
}

/** Declared query parameters: the required ones, and each optional one a third of the time. */
function queryValues(op: Operation, ctx: RequestContext): fc.Arbitrary<Query> {
	const params = op.parameters.filter((p) => p.in === "query");
	return fc
		.tuple(
			...params.map((p) =>
				p.required
					? parameterValue(p.schema, ctx)
					: fc.oneof(
							{ weight: 2, arbitrary: fc.constant(undefined) },
							{ weight: 1, arbitrary: parameterValue(p.schema, ctx) },
						),
			),
		)
		.map((values) =>
			params.flatMap((p, i): Query => (values[i] === undefined ? [] : [[encode(p.name), encode(values[i] as string)]])),
		);
}

function headerValues(op: Operation, ctx: RequestContext): fc.Arbitrary<Header[]> {
	const params = op.parameters.filter((p) => p.in === "header");
	return fc
		.record(Object.fromEntries(params.map((p) => [p.name, parameterValue(p.schema, ctx)])), {
			requiredKeys: params.filter((p) => p.required).map((p) => p.name),
		})
		.map((values) => Object.entries(values).map(([k, v]): Header => [k, headerSafe(v)]));
}

/** A valid body and the credentials to send with it (a token endpoint may take the client's in the body). */
function bodyAndCredentials(
	op: Operation,
	ctx: RequestContext,
): fc.Arbitrary<{ body: Body | undefined; credentials: Header[] }> {
	const credentials = ctx.valid.length > 0 ? fc.constantFrom(...ctx.valid) : fc.constant<Header[]>([]);
	const contents = op.body?.contents ?? [];
	if (contents.length === 0) return credentials.map((c) => ({ body: undefined, credentials: c }));
	const mediaType = fc.constantFrom(...contents.map((c) => c.mediaType));
	if (op.tokenEndpoint && ctx.client) {
		const client = ctx.client;
		const scope = fc.option(
			fc.subarray([...client.scopes], { minLength: 1 }).map((s) => s.join(" ")),
			{ nil: undefined },
		);
		const basic: Header = ["Authorization", `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString("base64")}`];
		return fc.tuple(mediaType, scope, fc.boolean()).map(([m, s, inBody]) => ({
			body: {
				mediaType: m,
				value: {
					grant_type: "client_credentials",
					...(s ? { scope: s } : {}),
					...(inBody ? { client_id: client.id, client_secret: client.secret } : {}),
				},
			},
			credentials: inBody ? [] : [basic],
		}));
	}
	const body = mediaType.chain((m) => {
		const schema = contents.find((c) => c.mediaType === m)?.schema ?? {};
		return valueArbitrary(schema, { words: ctx.words, known: ctx.knownIds }).map(
			(value): Body => ({ mediaType: m, value }),
		);
	});
	const optional = op.body?.required ? body : fc.option(body, { nil: undefined, freq: 4 });
	return fc.tuple(optional, credentials).map(([b, c]) => ({ body: b, credentials: c }));
}

function validDraft(op: Operation, ctx: RequestContext): fc.Arbitrary<Draft> {
	return fc
		.record({
			path: pathValues(op, ctx),
			query: queryValues(op, ctx),
			headers: headerValues(op, ctx),
			rest: bodyAndCredentials(op, ctx),
		})
		.map(
			({ path, query, headers, rest }): Draft => ({
				method: op.method,
				path,
				pathSuffix: "",
				query,
				credentials: rest.credentials,
				headers,
				body: rest.body,
				aspect: "valid",
				detail: "",
				credential: "valid",
				routed: true,
			}),
		);
}

function jwt(header: object, payload: object, secret: string | undefined): string {
	const unsigned = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`;
	return `${unsigned}.${secret === undefined ? "" : createHmac("sha256", secret).update(unsigned).digest("base64url")}`;
}

/** Credentials that must not authenticate as anyone. */
function invalidCredentials(ctx: RequestContext): fc.Arbitrary<LabeledHeaders> {
	const now = Math.floor(Date.now() / 1000);
	const claims = {
		iss: "edge-ai-api",
		aud: "edge-ai-api",
		sub: "admin",
		client_id: "admin",
		tenant: ctx.otherTenant,
		scope: "admin chat rag:read rag:write metrics:read",
		iat: now,
		exp: now + 3600,
	};
	const [jwtHead, , jwtSig] = ctx.jwt.split(".");
	const tampered = `${jwtHead}.${b64(JSON.stringify(claims))}.${jwtSig}`;
	const keySecret = ctx.apiKey.slice(ctx.apiKey.lastIndexOf("_") + 1);
	const flipped = `${ctx.apiKey.slice(0, -1)}${ctx.apiKey.endsWith("A") ? "B" : "A"}`;
	const bearer = (t: string): Header[] => [["Authorization", `Bearer ${t}`]];
	return fc.oneof(
		fc.constantFrom<LabeledHeaders>(
			{ label: "none", headers: [] },
			{ label: "jwt-alg-none", headers: bearer(jwt({ alg: "none", typ: "at+jwt" }, claims, undefined)) },
			{ label: "jwt-wrong-secret", headers: bearer(jwt({ alg: "HS256", typ: "at+jwt" }, claims, "x".repeat(40))) },
			{ label: "jwt-empty-secret", headers: bearer(jwt({ alg: "HS256", typ: "at+jwt" }, claims, "")) },
			{ label: "jwt-tampered-claims", headers: bearer(tampered) },
			{ label: "jwt-unsigned-own", headers: bearer(`${jwtHead}.${ctx.jwt.split(".")[1]}.`) },
			{ label: "huge-authorization", headers: bearer("A".repeat(100_000)) },
			{ label: "large-authorization", headers: bearer(`eak_${"a".repeat(5_000)}`) },
			{
				label: "basic-admin",
				headers: [["Authorization", `Basic ${Buffer.from("admin:admin-secret").toString("base64")}`]],
			},
			{ label: "bearer-empty", headers: [["Authorization", "Bearer "]] },
			{ label: "bearer-only", headers: [["Authorization", "Bearer"]] },
			{ label: "token-scheme", headers: [["Authorization", `Token ${ctx.apiKey}`]] },
			{ label: "bearer-two-tokens", headers: [["Authorization", `Bearer ${ctx.apiKey} ${ctx.apiKey}`]] },
			{ label: "key-flipped", headers: [["X-API-Key", flipped]] },
			{ label: "key-truncated", headers: [["X-API-Key", ctx.apiKey.slice(0, -1)]] },
			{ label: "key-extended", headers: [["X-API-Key", `${ctx.apiKey}x`]] },
			{ label: "key-foreign-prefix", headers: [["X-API-Key", `${ctx.otherKeyPrefix}_${keySecret}`]] },
			{ label: "key-empty", headers: [["X-API-Key", ""]] },
			{ label: "key-prefix-only", headers: [["X-API-Key", "eak_"]] },
			{ label: "key-sql", headers: [["X-API-Key", "eak_' OR 1=1 --"]] },
			{
				label: "key-and-authorization",
				headers: [
					["Authorization", `Bearer ${ctx.apiKey}`],
					["X-API-Key", ctx.apiKey],
				],
			},
			{
				label: "key-twice",
				headers: [
					["X-API-Key", ctx.apiKey],
					["X-API-Key", ctx.apiKey],
				],
			},
		),
		fc
			.string({ unit: "binary", minLength: 1, maxLength: 200 })
			.map((s) => ({ label: "bearer-garbage", headers: bearer(headerSafe(s)) })),
		fc.base64String({ minLength: 4, maxLength: 400 }).map((s) => ({ label: "bearer-base64", headers: bearer(s) })),
	);
}

/** Headers a client, proxy or attacker may add; the request stays valid otherwise. */
function junkHeaders(): fc.Arbitrary<LabeledHeaders> {
	const requestIds = [
		"a".repeat(10_000),
		"../../etc/passwd",
		"<script>alert(1)</script>",
		'{"level":"error","msg":"forged"}',
		"%0d%0aX-Injected: 1",
		rawUtf8("ïd-😀"),
		" ",
		"",
		"id with spaces",
	];
	return fc.oneof(
		fc
			.constantFrom(...requestIds)
			.map((v): LabeledHeaders => ({ label: "request-id", headers: [["X-Request-ID", v]] })),
		fc.constantFrom<LabeledHeaders>(
			{ label: "accept-sse", headers: [["Accept", "text/event-stream"]] },
			{ label: "accept-xml", headers: [["Accept", "application/xml"]] },
			{ label: "accept-none", headers: [["Accept", "*/*;q=0"]] },
			{ label: "accept-garbage", headers: [["Accept", ";;;,,,/"]] },
			{ label: "accept-encoding", headers: [["Accept-Encoding", "gzip, br, deflate, zstd, x-garbage;q=2"]] },
			{ label: "origin", headers: [["Origin", "https://evil.example"]] },
			{ label: "origin-null", headers: [["Origin", "null"]] },
			{ label: "origin-long", headers: [["Origin", `https://${"a".repeat(5_000)}.example`]] },
			{
				label: "origin-preflight-headers",
				headers: [
					["Origin", "https://evil.example"],
					["Access-Control-Request-Method", "DELETE"],
					["Access-Control-Request-Headers", "x-api-key, authorization"],
				],
			},
			{ label: "connection-close", headers: [["Connection", "close"]] },
			{ label: "connection-list", headers: [["Connection", "keep-alive, X-API-Key, Authorization"]] },
			{ label: "keep-alive", headers: [["Keep-Alive", "timeout=1, max=1"]] },
			{ label: "te-trailers", headers: [["TE", "trailers, deflate"]] },
			{
				label: "upgrade-h2c",
				headers: [
					["Connection", "Upgrade, HTTP2-Settings"],
					["Upgrade", "h2c"],
					["HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA"],
				],
			},
			{ label: "proxy-connection", headers: [["Proxy-Connection", "keep-alive"]] },
			{ label: "proxy-authorization", headers: [["Proxy-Authorization", "Basic Zm9vOmJhcg=="]] },
			{ label: "content-encoding-gzip", headers: [["Content-Encoding", "gzip"]] },
			{ label: "content-encoding-garbage", headers: [["Content-Encoding", "x-unknown, br"]] },
			{
				label: "forwarded",
				headers: [
					["X-Forwarded-For", "127.0.0.1, ::1, ' OR 1=1"],
					["X-Forwarded-Host", "evil.example"],
					["Forwarded", "for=unknown;host=evil.example;proto=gopher"],
					["X-Real-IP", "999.999.999.999"],
				],
			},
			{ label: "cf-connecting-ip", headers: [["CF-Connecting-IP", "not-an-ip"]] },
			{
				label: "x-tenant",
				headers: [
					["X-Tenant", "platform"],
					["X-Tenant-ID", "platform"],
				],
			},
			{ label: "cookie", headers: [["Cookie", "session=../../; __proto__=1; a=%ZZ"]] },
			{ label: "range", headers: [["Range", "bytes=0-0,-1"]] },
			{
				label: "conditional",
				headers: [
					["If-None-Match", "*"],
					["If-Modified-Since", "yesterday"],
				],
			},
			{ label: "huge-header", headers: [["X-Junk", "j".repeat(30_000)]] },
			{
				label: "many-headers",
				headers: Array.from({ length: 90 }, (_, i): Header => [`X-Junk-${i}`, `${i}`]),
			},
			{ label: "method-override", headers: [["X-HTTP-Method-Override", "DELETE"]] },
		),
		fc
			.tuple(
				fc.constantFrom("X-Request-ID", "User-Agent", "Accept-Language", "X-Junk"),
				fc.string({ unit: "binary", maxLength: 100 }),
			)
			.map(
				([name, value]): LabeledHeaders => ({
					label: `random-${name.toLowerCase()}`,
					headers: [[name, headerSafe(value)]],
				}),
			),
	);
}

type QueryChange = { label: string; apply: (q: Query) => Query };

/** Query strings with hostile values for the declared parameters, duplicates and unknown parameters. */
function hostileQuery(op: Operation): fc.Arbitrary<QueryChange> {
	const declared = op.parameters.filter((p) => p.in === "query").map((p) => p.name);
	const names = declared.length > 0 ? declared : ["limit"];
	const value = fc.oneof(
		fc.constantFrom(...HOSTILE_QUERY_VALUES).map(encode),
		fc.constantFrom("%ZZ", "%", "%00", "%C3%28", "a%26b%3Dc", "+", "a".repeat(10_000)),
		fc.string({ unit: "binary", maxLength: 50 }).map(encode),
	);
	const without = (q: Query, name: string) => q.filter(([k]) => k !== name);
	return fc.oneof(
		fc
			.tuple(fc.constantFrom(...names), value)
			.map(([name, v]): QueryChange => ({ label: "hostile-value", apply: (q) => [...without(q, name), [name, v]] })),
		fc
			.tuple(fc.constantFrom(...names), value)
			.map(([name, v]): QueryChange => ({ label: "duplicate", apply: (q) => [...q, [name, "1"], [name, v]] })),
		fc
			.constantFrom(...names)
			.map((name): QueryChange => ({ label: "no-value", apply: (q) => [...without(q, name), [name, null]] })),
		fc
			.constantFrom<[string, string]>(
				["__proto__", "1"],
				["constructor%5Bprototype%5D%5Badmin%5D", "1"],
				["limit%5B%5D", "1"],
				["", "x"],
				["%00", "%00"],
				["tenant", "platform"],
				["a".repeat(5_000), "b"],
			)
			.map((extra): QueryChange => ({ label: "unknown", apply: (q) => [...q, extra] })),
		fc
			.array(fc.tuple(fc.string({ maxLength: 10 }).map(encode), fc.string({ maxLength: 10 }).map(encode)), {
				minLength: 1,
				maxLength: 30,
			})
			.map((extra): QueryChange => ({ label: "random-params", apply: (q) => [...q, ...extra] })),
	);
}

const PATH_SUFFIXES = [
	"/",
	"//",
	"/.",
	"/..",
	"/x",
	"/%2e%2e",
	";a=b",
	"%2F",
	"/%00",
	"%20",
	"#frag",
	"/../../healthz",
];

function withAspect(d: Draft, aspect: string, detail: string, changes: Partial<Draft>): Draft {
	return { ...d, ...changes, aspect, detail };
}

/** Every request shape for `op`, weighted so that most requests reach its handler. */
export function requestArbitrary(op: Operation, ctx: RequestContext): fc.Arbitrary<FuzzRequest> {
	const valid = validDraft(op, ctx);
	const pathNames = op.parameters.filter((p) => p.in === "path").map((p) => p.name);
	const hasBody = (op.body?.contents.length ?? 0) > 0;
	const sampleJson = valid.map((d) => (d.body ? JSON.stringify(d.body.value) : "{}"));

	const path: fc.Arbitrary<Draft> =
		pathNames.length > 0
			? fc
					.tuple(valid, fc.constantFrom(...pathNames), hostilePathSegment())
					.map(([d, name, seg]) =>
						withAspect(d, "path", seg.label, { path: { ...d.path, [name]: seg.value }, routed: false }),
					)
			: fc
					.tuple(valid, fc.constantFrom(...PATH_SUFFIXES))
					.map(([d, suffix]) => withAspect(d, "path", `suffix ${suffix}`, { pathSuffix: suffix, routed: false }));
	const query = fc
		.tuple(valid, hostileQuery(op))
		.map(([d, q]) => withAspect(d, "query", q.label, { query: q.apply(d.query) }));
	const headers = fc
		.tuple(valid, junkHeaders())
		.map(([d, h]) => withAspect(d, "headers", h.label, { headers: [...d.headers, ...h.headers] }));
	const credentials = fc
		.tuple(
			valid,
			ctx.wrongScope.length > 0
				? fc.oneof(
						{ weight: 3, arbitrary: invalidCredentials(ctx).map((c) => ({ ...c, kind: "invalid" as const })) },
						{
							weight: 1,
							arbitrary: fc
								.constantFrom(...ctx.wrongScope)
								.map((h) => ({ label: "wrong-scope", headers: h, kind: "wrong-scope" as const })),
						},
					)
				: invalidCredentials(ctx).map((c) => ({ ...c, kind: "invalid" as const })),
		)
		.map(([d, c]) => withAspect(d, "credentials", c.label, { credentials: c.headers, credential: c.kind }));
	const body = fc.tuple(valid, mutatedJson(valid.map((d) => d.body?.value ?? {}))).map(([d, m]) =>
		withAspect(d, "body", m.label, {
			raw: {
				contentType:
					d.body?.mediaType === "application/x-www-form-urlencoded"
						? "application/json"
						: (d.body?.mediaType ?? "application/json"),
				bytes: Buffer.from(m.text),
			},
		}),
	);
	const raw = fc
		.tuple(
			valid,
			sampleJson.chain((json) => rawBodies(json)),
		)
		.map(([d, r]) => withAspect(d, "raw-body", r.label, { raw: { contentType: r.contentType, bytes: r.body } }));
	const method = fc
		.tuple(
			valid,
			fc.constantFrom(
				...["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE"].filter((m) => m !== op.method),
			),
		)
		.map(([d, m]) => withAspect(d, "method", m, { method: m, routed: false }));
	const chaos = fc.tuple(path, query, headers, credentials, hasBody ? body : raw).map(([p, q, h, c, b]) =>
		withAspect(b, "chaos", `${p.detail} | ${q.detail} | ${h.detail} | ${c.detail} | ${b.detail}`, {
			path: p.path,
			pathSuffix: p.pathSuffix,
			query: q.query,
			headers: h.headers,
			credentials: c.credentials,
			credential: c.credential,
			routed: false,
		}),
	);

	const shapes: { weight: number; arbitrary: fc.Arbitrary<Draft> }[] = [
		{ weight: 6, arbitrary: valid },
		{ weight: 2, arbitrary: path },
		{ weight: 2, arbitrary: query },
		{ weight: 3, arbitrary: headers },
		{ weight: op.secured || op.tokenEndpoint ? 3 : 1, arbitrary: credentials },
		...(hasBody ? [{ weight: 4, arbitrary: body }] : []),
		{ weight: 2, arbitrary: raw },
		{ weight: 1, arbitrary: method },
		{ weight: 1, arbitrary: chaos },
	];
	return fc.oneof(...shapes).map((d) => finish(op, d));
}
