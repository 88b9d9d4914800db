/**
 * A tenant's own usage (docs/usage.md), scope `usage:read`: `GET /v1/usage` — model requests, input and output tokens
 * and cost per time bucket, grouped by model (and route or subject), in the shape of OpenAI's usage API — from the
 * tenant's exact ledger; and `GET /v1/usage/storage` — documents, chunks and bytes against the tenant's quotas.
 * Operators (principals of the operator tenant with `admin`) may name another `tenant`.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { IDENTIFIER } from "../auth/principal";
import { AppError, validationFailed } from "../http/app-error";
import { requireAnyScope } from "../middleware/auth";
import { storageOf } from "../rag/store";
import { alignDown, DAY_MS, HOUR_MS } from "../usage/buckets";
import type { UsageGroupBy } from "../usage/contract";
import { ledgerOf } from "../usage/ledger";
import { createRouter, problem } from "./router";
import { securedByAny } from "./security";

/** What usage can be grouped by (`group_by`). */
const GROUPS = ["model", "route", "subject"] as const;
const WIDTHS = {
	"1h": { ms: HOUR_MS, defaultLimit: 24, maxLimit: 168 },
	"1d": { ms: DAY_MS, defaultLimit: 7, maxLimit: 31 },
};

const list = (allowed: readonly string[]) =>
	z
		.union([z.string().max(256), z.array(z.string().max(256)).max(16)])
		.transform((v) => (Array.isArray(v) ? v : [v]).flatMap((s) => s.split(",")).filter(Boolean))
		.pipe(z.array(allowed.length > 0 ? z.enum(allowed as [string, ...string[]]) : z.string().min(1).max(128)));

const UsageQuerySchema = z.object({
	start_time: z.coerce
		.number()
		.int()
		.min(0)
		.optional()
		.openapi({ description: "Unix seconds, inclusive; default: the start of the bucket `limit` buckets ago" }),
	end_time: z.coerce.number().int().min(0).optional().openapi({ description: "Unix seconds, exclusive; default now" }),
	bucket_width: z.enum(["1h", "1d"]).default("1d"),
	group_by: list(GROUPS)
		.optional()
		.openapi({ description: "model, route, subject (comma-separated or repeated); default model", type: "string" }),
	models: list([]).optional().openapi({ description: "Only these model ids", type: "string" }),
	limit: z.coerce.number().int().min(1).optional().openapi({ description: "Buckets per page (1d: ≤ 31, 1h: ≤ 168)" }),
	page: z
		.string()
		.regex(/^\d{1,16}$/)
		.optional()
		.openapi({ description: "next_page of the previous page" }),
	tenant: z.string().regex(IDENTIFIER).optional().openapi({ description: "Operators only: another tenant" }),
});

const Result = z.object({
	object: z.literal("usage.completions.result"),
	model: z.string().nullable(),
	route: z.string().nullable(),
	subject: z.string().nullable(),
	num_model_requests: z.number().int(),
	input_tokens: z.number().int(),
	output_tokens: z.number().int(),
	cost: z.object({ value: z.number(), currency: z.literal("usd") }),
});
const UsagePage = z
	.object({
		object: z.literal("page"),
		data: z.array(
			z.object({
				object: z.literal("bucket"),
				start_time: z.number().int(),
				end_time: z.number().int(),
				results: z.array(Result),
			}),
		),
		has_more: z.boolean(),
		next_page: z.string().nullable(),
	})
	.openapi("UsagePage");

const Quota = z.object({ used: z.number().int(), limit: z.number().int() });
const StorageUsage = z
	.object({ object: z.literal("storage_usage"), tenant: z.string(), documents: Quota, chunks: Quota, bytes: Quota })
	.openapi("StorageUsage");

// Tenants read their usage with `usage:read`; operators with `admin` (and may name a tenant). Either scope does.
const common = {
	tags: ["Usage"],
	security: securedByAny(["usage:read"], ["admin"]),
	middleware: requireAnyScope("usage:read", "admin"),
};
const denied = {
	401: problem("Missing or invalid credentials"),
	403: problem("The usage:read scope is required (and admin to name another tenant)"),
};

const usageRoute = createRoute({
	...common,
	method: "get",
	path: "/v1/usage",
	summary: "The tenant's model usage per time bucket (OpenAI usage API shape)",
	request: { query: UsageQuerySchema },
	responses: {
		200: { description: "A page of buckets, oldest first", content: { "application/json": { schema: UsagePage } } },
		...denied,
		422: problem("Invalid query"),
	},
});

const storageRoute = createRoute({
	...common,
	method: "get",
	path: "/v1/usage/storage",
	summary: "The tenant's stored documents, chunks and bytes against its quotas",
	request: { query: z.object({ tenant: UsageQuerySchema.shape.tenant }) },
	responses: {
		200: { description: "Storage usage", content: { "application/json": { schema: StorageUsage } } },
		...denied,
		422: problem("Invalid query"),
	},
});

/** The tenant a usage request reads: the caller's, or — operators only — the one it names. */
function tenantOf(c: Context<AppEnv>, named: string | undefined): string {
	const principal = c.get("principal");
	if (named === undefined || named === principal.tenant) return principal.tenant;
	if (!principal.scopes.includes("admin")) {
		throw new AppError({
			status: 403,
			slug: "forbidden",
			detail: "Only operators may read another tenant's usage",
			extensions: { required_scope: "admin" },
		});
	}
	return named;
}

function invalid(path: string, message: string): AppError {
	return validationFailed(`${path} ${message}`, [{ path: `query.${path}`, message }]);
}

export const usage = createRouter()
	.openapi(usageRoute, async (c) => {
		const q = c.req.valid("query");
		const tenant = tenantOf(c, q.tenant);
		const width = WIDTHS[q.bucket_width];
		const limit = q.limit ?? width.defaultLimit;
		if (limit > width.maxLimit)
			throw invalid("limit", `must be ≤ ${width.maxLimit} for bucket_width ${q.bucket_width}`);
		const nowMs = Date.now();
		const endMs = q.end_time !== undefined ? q.end_time * 1000 : nowMs;
		const startMs = alignDown(
			// The last bucket is the one holding the last instant before end_time (end_time itself is exclusive).
			q.start_time !== undefined ? q.start_time * 1000 : alignDown(endMs - 1, width.ms) - (limit - 1) * width.ms,
			width.ms,
		);
		if (startMs >= endMs) throw invalid("start_time", "must be before end_time");
		const retentionMs = c.get("config").usage.retentionDays * DAY_MS;
		if (startMs < nowMs - retentionMs - DAY_MS) {
			throw invalid("start_time", `is older than the retention (${c.get("config").usage.retentionDays} days)`);
		}
		const pageStart = q.page !== undefined ? Number(q.page) : startMs;
		if (pageStart < startMs || pageStart >= endMs || (pageStart - startMs) % width.ms !== 0) {
			throw invalid("page", "is not a page of this query");
		}
		const pageEnd = Math.min(endMs, pageStart + limit * width.ms);
		const groupBy = (q.group_by && q.group_by.length > 0 ? q.group_by : ["model"]) as UsageGroupBy[];
		const buckets = await ledgerOf(c.env, tenant).query(tenant, {
			startMs: pageStart,
			endMs: pageEnd,
			bucketMs: width.ms,
			groupBy,
			...(q.models ? { models: q.models } : {}),
		});
		const s = (ms: number) => Math.floor(ms / 1000);
		return c.json(
			{
				object: "page" as const,
				data: buckets.map((b) => ({
					object: "bucket" as const,
					start_time: s(b.startMs),
					end_time: s(b.endMs),
					results: b.results.map((r) => ({
						object: "usage.completions.result" as const,
						model: r.model,
						route: r.route,
						subject: r.subject,
						num_model_requests: r.requests,
						input_tokens: r.inputTokens,
						output_tokens: r.outputTokens,
						cost: { value: Math.round(r.costUsd * 1e9) / 1e9, currency: "usd" as const },
					})),
				})),
				has_more: pageEnd < endMs,
				next_page: pageEnd < endMs ? String(pageEnd) : null,
			},
			200,
			{ "Cache-Control": "no-store" },
		);
	})
	.openapi(storageRoute, async (c) => {
		const tenant = tenantOf(c, c.req.valid("query").tenant);
		const used = await storageOf(c.env.DB, tenant);
		const quotas = c.get("config").rag.quotas;
		return c.json(
			{
				object: "storage_usage" as const,
				tenant,
				documents: { used: used.documents, limit: quotas.documents },
				chunks: { used: used.chunks, limit: quotas.chunks },
				bytes: { used: used.bytes, limit: quotas.bytes },
			},
			200,
			{ "Cache-Control": "no-store" },
		);
	});
