/**
 * Documents for RAG (docs/rag.md): `POST /v1/documents` ingests a batch (scope `rag:write`), `GET` lists and
 * shows them with their indexing status (scope `rag:read`), `DELETE` removes one everywhere (scope `rag:write`).
 *
 * @example
 * ```ts
 * await fetch("/v1/documents", { method: "POST", headers, body: JSON.stringify({ documents: [{ id: "runbook-7", text }] }) });
 * // 201 { object: "list", data: [{ id: "runbook-7", status: "created", chunks: 1, stored_bytes: 6810 }], bookmark: "rb1.…" }
 * ```
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { AppError, validationFailed } from "../http/app-error";
import { base64, fromBase64, sha256Hex, utf8Length } from "../lib/encoding";
import { requireScope } from "../middleware/auth";
import { FIELD } from "../rag/filter";
import { processedUpTo } from "../rag/indexing";
import { deleteDocument, ingest } from "../rag/ingest";
import { chunksOfDocument, findDocument, listDocuments, storedIngest } from "../rag/store";
import { ragDeps } from "./rag-deps";
import { orProblem } from "./rag-problems";
import { BODY_PROBLEMS, createRouter, problem } from "./router";
import { securedBy } from "./security";

const DocumentId = z
	.string()
	.regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/, "1-64 of letters, digits, . _ : - (starting alphanumeric)");
const Metadata = z
	.record(
		z.string().regex(FIELD, "metadata keys are 1-64 of A-Z a-z 0-9 _ . -"),
		z.union([z.string().max(512), z.number(), z.boolean()]),
	)
	.refine((m) => Object.keys(m).length <= 20, "at most 20 metadata fields");

const IngestDocumentSchema = z.object({
	id: DocumentId.optional().openapi({
		description: "Your id; one is generated when absent. Re-ingesting an id replaces the document.",
	}),
	title: z.string().max(512).optional(),
	text: z.string().min(1).openapi({ description: "Plain text or markdown (headings and paragraphs guide chunking)" }),
	metadata: Metadata.optional(),
});
const IngestRequest = z.object({ documents: z.array(IngestDocumentSchema).min(1) }).openapi("IngestRequest");
const IngestResponse = z
	.object({
		object: z.literal("list"),
		data: z.array(
			z.object({
				id: z.string(),
				status: z.enum(["created", "replaced", "unchanged"]),
				chunks: z.number().int(),
				stored_bytes: z
					.number()
					.int()
					.openapi({ description: "What the document costs against the tenant's byte quota" }),
			}),
		),
		bookmark: z.string().openapi({ description: "Pass to /v1/rag/search or /v1/rag/query to read this write at once" }),
	})
	.openapi("IngestResponse");

const DocumentSchema = z
	.object({
		id: z.string(),
		object: z.literal("document"),
		title: z.string().nullable(),
		metadata: z.record(z.string(), z.unknown()),
		chars: z.number().int(),
		chunks: z.number().int(),
		stored_bytes: z.number().int().openapi({ description: "Bytes counted against the tenant's storage quota" }),
		embedding_model: z.string(),
		status: z.enum(["indexed", "fresh"]).openapi({
			description:
				"`indexed`: the vector index has processed it; `fresh`: keyword search and bookmark reads see it, plain vector search may not yet",
		}),
		created_at: z.string(),
		updated_at: z.string(),
	})
	.openapi("Document");

const read = { tags: ["RAG"], security: securedBy("rag:read"), middleware: requireScope("rag:read") };
const write = { tags: ["RAG"], security: securedBy("rag:write"), middleware: requireScope("rag:write") };
const auth = { 401: problem("Missing or invalid credentials"), 403: problem("Scope missing") };
const Params = z.object({ id: DocumentId.openapi({ param: { name: "id", in: "path" } }) });

const ingestRoute = createRoute({
	...write,
	method: "post",
	path: "/v1/documents",
	summary: "Ingest documents (chunk, embed, index)",
	description:
		"All or nothing: a failed request stores nothing, so retrying is safe; send `Idempotency-Key` to make a retry return the first answer (for IDEMPOTENCY_TTL_S). Limits: RAG_MAX_DOCUMENT_BYTES per text, RAG_MAX_METADATA_BYTES of metadata per document, RAG_MAX_BATCH_DOCUMENTS per request, RAG_MAX_CHUNKS_PER_REQUEST chunks (413 above). Per-tenant quotas on documents, chunks and stored bytes: 429 `storage-quota-exceeded` naming the quota (413 when the request alone exceeds it).",
	request: {
		headers: z.object({ "idempotency-key": z.string().min(1).max(256).optional() }),
		body: { required: true, content: { "application/json": { schema: IngestRequest } } },
	},
	responses: {
		...BODY_PROBLEMS,
		201: { description: "Ingested", content: { "application/json": { schema: IngestResponse } } },
		...auth,
		409: problem("Index built with another embedding model"),
		413: problem("A limit was exceeded (document size, metadata size, batch size, chunk count, or a quota by itself)"),
		429: problem("A rate limit, or the tenant's storage quota (`quota` names it)"),
		422: problem("Invalid documents, or an Idempotency-Key reused with another body"),
		503: problem("Embedding or the vector index failed; nothing was stored"),
	},
});

const listRoute = createRoute({
	...read,
	method: "get",
	path: "/v1/documents",
	summary: "List documents, newest first",
	request: {
		query: z.object({
			limit: z.coerce.number().int().min(1).max(100).default(20),
			cursor: z.string().max(200).optional(),
		}),
	},
	responses: {
		200: {
			description: "A page",
			content: {
				"application/json": {
					schema: z.object({
						object: z.literal("list"),
						data: z.array(DocumentSchema),
						next_cursor: z.string().nullable(),
					}),
				},
			},
		},
		...auth,
		422: problem("Invalid query"),
	},
});

const getRoute = createRoute({
	...read,
	method: "get",
	path: "/v1/documents/{id}",
	summary: "A document and its indexing status",
	request: { params: Params },
	responses: {
		200: { description: "The document", content: { "application/json": { schema: DocumentSchema } } },
		...auth,
		404: problem("No such document"),
	},
});

const chunksRoute = createRoute({
	...read,
	method: "get",
	path: "/v1/documents/{id}/chunks",
	summary: "A document's chunks, in order (how it was split)",
	request: { params: Params },
	responses: {
		200: {
			description: "The chunks",
			content: {
				"application/json": {
					schema: z.object({
						object: z.literal("list"),
						data: z.array(
							z.object({ id: z.string(), position: z.number().int(), heading: z.string(), text: z.string() }),
						),
					}),
				},
			},
		},
		...auth,
		404: problem("No such document"),
	},
});

const deleteRoute = createRoute({
	...write,
	method: "delete",
	path: "/v1/documents/{id}",
	summary: "Delete a document (chunks, vectors, keyword index)",
	request: { params: Params },
	responses: { 204: { description: "Deleted" }, ...auth, 404: problem("No such document") },
});

function view(d: Awaited<ReturnType<typeof findDocument>> & object, processed: number) {
	return {
		id: d.id,
		object: "document" as const,
		title: d.title,
		metadata: d.metadata,
		chars: d.chars,
		chunks: d.chunk_count,
		stored_bytes: d.stored_bytes,
		embedding_model: d.embedding_model,
		status: d.updated_at <= processed ? ("indexed" as const) : ("fresh" as const),
		created_at: new Date(d.created_at).toISOString(),
		updated_at: new Date(d.updated_at).toISOString(),
	};
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A page's cursor: standard base64 of `[created_at, id]` (opaque to clients). */
const cursorOf = (d: { created_at: number; id: string }) =>
	base64(encoder.encode(JSON.stringify([d.created_at, d.id])));
function parseCursor(raw: string): { createdAt: number; id: string } {
	try {
		const [createdAt, id] = JSON.parse(decoder.decode(fromBase64(raw))) as [unknown, unknown];
		if (typeof createdAt === "number" && typeof id === "string") return { createdAt, id };
	} catch {
		// fall through
	}
	throw validationFailed("cursor is not one this service issued", [{ path: "cursor", message: "invalid" }]);
}

export const documents = createRouter()
	.openapi(ingestRoute, async (c) => {
		const { documents: docs } = c.req.valid("json");
		const limits = c.get("config").rag.limits;
		if (docs.length > limits.batchDocuments) {
			throw new AppError({
				status: 413,
				slug: "content-too-large",
				detail: `At most ${limits.batchDocuments} documents per request; got ${docs.length}`,
				extensions: { max_documents: limits.batchDocuments },
			});
		}
		const tooBig = docs.map((d, i) => ({ i, bytes: utf8Length(d.text) })).filter((x) => x.bytes > limits.documentBytes);
		if (tooBig.length > 0) {
			throw new AppError({
				status: 413,
				slug: "content-too-large",
				detail: `Document text may be at most ${limits.documentBytes} bytes`,
				errors: tooBig.map((x) => ({ path: `documents.${x.i}.text`, message: `${x.bytes} bytes` })),
				extensions: { max_document_bytes: limits.documentBytes },
			});
		}
		// Metadata is copied into every one of a document's vectors: its size is bounded like the text's.
		const fatMetadata = docs
			.map((d, i) => ({ i, bytes: utf8Length(JSON.stringify(d.metadata ?? {})) }))
			.filter((x) => x.bytes > limits.metadataBytes);
		if (fatMetadata.length > 0) {
			throw new AppError({
				status: 413,
				slug: "content-too-large",
				detail: `Document metadata may be at most ${limits.metadataBytes} bytes of JSON`,
				errors: fatMetadata.map((x) => ({ path: `documents.${x.i}.metadata`, message: `${x.bytes} bytes` })),
				extensions: { max_metadata_bytes: limits.metadataBytes },
			});
		}
		const deps = ragDeps(c);
		const key = c.req.header("Idempotency-Key");
		let idempotency: { key: string; requestHash: string } | null = null;
		if (key) {
			const requestHash = await sha256Hex(JSON.stringify(docs));
			const stored = await storedIngest(deps.db, deps.tenant, key, deps.now() - c.get("config").rag.idempotencyTtlMs);
			if (stored) {
				if (stored.request_hash !== requestHash) {
					throw validationFailed("This Idempotency-Key was used with a different request body", [
						{ path: "Idempotency-Key", message: "reused with another body" },
					]);
				}
				return c.json(JSON.parse(stored.response), 201, { "Idempotent-Replayed": "true" });
			}
			idempotency = { key, requestHash };
		}
		const metrics = c.get("metrics");
		let result: Awaited<ReturnType<typeof ingest>>;
		try {
			result = await orProblem(() => ingest(deps, docs, idempotency));
		} catch (err) {
			// All or nothing: a failed batch ingested none of its documents. A refused one (4xx: a conflict, a bad batch)
			// is the caller's to fix and does not count as an ingestion failure.
			const refused = err instanceof AppError && err.status < 500;
			metrics?.count("rag_ingest_documents", { outcome: refused ? "rejected" : "failed" }, docs.length);
			throw err;
		}
		for (const d of result.data) metrics?.count("rag_ingest_documents", { outcome: d.status });
		c.get("log").info("documents ingested", {
			documents: result.data.length,
			chunks: result.data.reduce((s, d) => s + d.chunks, 0),
		});
		return c.json(result, 201);
	})
	.openapi(listRoute, async (c) => {
		const { limit, cursor } = c.req.valid("query");
		const deps = ragDeps(c);
		const rows = await listDocuments(deps.db, deps.tenant, limit + 1, cursor ? parseCursor(cursor) : null);
		const processed = await processedUpTo(deps.index, deps.log);
		const page = rows.slice(0, limit);
		const last = page[page.length - 1];
		return c.json(
			{
				object: "list" as const,
				data: page.map((d) => view(d, processed)),
				next_cursor: rows.length > limit && last ? cursorOf(last) : null,
			},
			200,
		);
	})
	.openapi(getRoute, async (c) => {
		const { id } = c.req.valid("param");
		const deps = ragDeps(c);
		const doc = await findDocument(deps.db, deps.tenant, id);
		if (!doc) throw new AppError({ status: 404, slug: "not-found", detail: `No document '${id}'` });
		return c.json(view(doc, await processedUpTo(deps.index, deps.log)), 200);
	})
	.openapi(chunksRoute, async (c) => {
		const { id } = c.req.valid("param");
		const deps = ragDeps(c);
		if (!(await findDocument(deps.db, deps.tenant, id)))
			throw new AppError({ status: 404, slug: "not-found", detail: `No document '${id}'` });
		return c.json({ object: "list" as const, data: await chunksOfDocument(deps.db, deps.tenant, id) }, 200);
	})
	.openapi(deleteRoute, async (c) => {
		const { id } = c.req.valid("param");
		const deps = ragDeps(c);
		if (!(await deleteDocument(deps, id)))
			throw new AppError({ status: 404, slug: "not-found", detail: `No document '${id}'` });
		return c.body(null, 204);
	});
