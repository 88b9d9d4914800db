/**
 * The operations of an OpenAPI 3.x document, with every `$ref` resolved: what the fuzzer needs to build requests
 * (parameters, request bodies per media type, security, streaming responses) without a hard-coded route list.
 */

/** The subset of JSON Schema (OpenAPI 3.0 and 3.1 flavours) the generators understand. */
export type Schema = {
	$ref?: string;
	type?: string | string[];
	properties?: Record<string, Schema>;
	required?: string[];
	items?: Schema;
	additionalProperties?: boolean | Schema;
	enum?: unknown[];
	const?: unknown;
	anyOf?: Schema[];
	oneOf?: Schema[];
	allOf?: Schema[];
	nullable?: boolean;
	minimum?: number;
	maximum?: number;
	exclusiveMinimum?: number | boolean;
	exclusiveMaximum?: number | boolean;
	minLength?: number;
	maxLength?: number;
	pattern?: string;
	minItems?: number;
	maxItems?: number;
	format?: string;
	default?: unknown;
};

export type Parameter = { name: string; in: "path" | "query" | "header" | "cookie"; required: boolean; schema: Schema };

export type Operation = {
	/** `METHOD /path/{param}`, as printed in reports. */
	key: string;
	method: string;
	path: string;
	tags: string[];
	/** Whether the operation declares a non-empty `security` requirement. */
	secured: boolean;
	/** OAuth scopes its `security` requirement names (any scheme). */
	scopes: string[];
	/**
	 * The scope sets that open it: one per distinct requirement of its `security` list (OpenAPI: any one requirement
	 * suffices; within one, every scope is needed). Empty sets mean "authenticated, no scope".
	 */
	scopeAlternatives: string[][];
	parameters: Parameter[];
	body: { required: boolean; contents: { mediaType: string; schema: Schema }[] } | undefined;
	/** A 2xx response may be `text/event-stream`. */
	streaming: boolean;
	/** The path is the `tokenUrl` of a client-credentials flow of the document's security schemes. */
	tokenEndpoint: boolean;
	/** Status codes the document lists for it. */
	documented: string[];
};

type RawOperation = {
	tags?: string[];
	security?: Record<string, string[]>[];
	parameters?: unknown[];
	requestBody?: unknown;
	responses?: Record<string, { content?: Record<string, unknown> }>;
};

export type OpenApiDocument = {
	openapi: string;
	paths: Record<string, Record<string, unknown>>;
	components?: {
		securitySchemes?: Record<string, { type: string; flows?: Record<string, { tokenUrl?: string; scopes?: object }> }>;
	};
};

const METHODS = ["get", "put", "post", "delete", "patch", "head", "options", "trace"];

/** Replaces every `{"$ref": "#/…"}` by a copy of its target (cycles are cut off after `depth` levels). */
export function dereference<T>(doc: OpenApiDocument, value: T, depth = 0): T {
	if (depth > 32 || value === null || typeof value !== "object") return value;
	if (Array.isArray(value)) return value.map((v) => dereference(doc, v, depth + 1)) as T;
	const ref = (value as { $ref?: unknown }).$ref;
	if (typeof ref === "string" && ref.startsWith("#/")) {
		const target = ref
			.slice(2)
			.split("/")
			.map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"))
			.reduce<unknown>((node, segment) => (node as Record<string, unknown> | undefined)?.[segment], doc);
		if (target === undefined) throw new Error(`unresolvable $ref ${ref}`);
		return dereference(doc, target as T, depth + 1);
	}
	return Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, dereference(doc, v, depth + 1)])) as T;
}

/** Every client-credentials `tokenUrl` of the document's OAuth schemes. */
export function tokenUrls(doc: OpenApiDocument): string[] {
	return Object.values(doc.components?.securitySchemes ?? {}).flatMap((s) =>
		Object.values(s.flows ?? {})
			.map((f) => f.tokenUrl)
			.filter((u): u is string => typeof u === "string"),
	);
}

/** Every OAuth scope the document's security schemes define. */
export function oauthScopes(doc: OpenApiDocument): string[] {
	return [
		...new Set(
			Object.values(doc.components?.securitySchemes ?? {}).flatMap((s) =>
				Object.values(s.flows ?? {}).flatMap((f) => Object.keys(f.scopes ?? {})),
			),
		),
	];
}

/** The document's operations, in document order. */
export function listOperations(doc: OpenApiDocument): Operation[] {
	const tokenPaths = new Set(tokenUrls(doc));
	const operations: Operation[] = [];
	for (const [path, item] of Object.entries(doc.paths)) {
		const shared = dereference(doc, (item.parameters ?? []) as Parameter[]);
		for (const method of METHODS) {
			const raw = item[method] as RawOperation | undefined;
			if (!raw) continue;
			const own = dereference(doc, (raw.parameters ?? []) as Parameter[]);
			const parameters = [...shared.filter((p) => !own.some((o) => o.name === p.name && o.in === p.in)), ...own];
			const body = dereference(
				doc,
				raw.requestBody as { required?: boolean; content?: Record<string, { schema?: Schema }> } | undefined,
			);
			const responses = raw.responses ?? {};
			operations.push({
				key: `${method.toUpperCase()} ${path}`,
				method: method.toUpperCase(),
				path,
				tags: raw.tags ?? [],
				secured: (raw.security ?? []).length > 0,
				scopes: [...new Set((raw.security ?? []).flatMap((req) => Object.values(req).flat()))],
				scopeAlternatives: [
					...new Map(
						(raw.security ?? []).map((req) => {
							const set = [...new Set(Object.values(req).flat())].sort();
							return [set.join(" "), set] as const;
						}),
					).values(),
				],
				parameters: parameters.map((p) => ({
					...p,
					required: p.required === true || p.in === "path",
					schema: p.schema ?? {},
				})),
				body: body?.content
					? {
							required: body.required === true,
							contents: Object.entries(body.content).map(([mediaType, c]) => ({ mediaType, schema: c.schema ?? {} })),
						}
					: undefined,
				streaming: Object.entries(responses).some(
					([status, r]) => status.startsWith("2") && Object.keys(r.content ?? {}).includes("text/event-stream"),
				),
				tokenEndpoint: tokenPaths.has(path) && method === "post",
				documented: Object.keys(responses),
			});
		}
	}
	return operations;
}

/** `/v1/documents/{id}` with `{ id: "a%2Fb" }` → `/v1/documents/a%2Fb` (values are inserted as given). */
export function fillPath(template: string, values: Record<string, string>): string {
	return template.replace(/\{([^}]+)\}/g, (_, name: string) => values[name] ?? "");
}
