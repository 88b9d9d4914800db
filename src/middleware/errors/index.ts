/**
 * The error path of the app: {@link errorHandler} turns whatever is thrown into RFC 9457 problem+json,
 * {@link notFoundHandler} answers 404 or 405, and {@link validationHook} turns a request schema violation into 422.
 *
 * @module
 */
import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";
import { isTransientD1Error } from "../../db/d1-faults";
import { AppError, validationFailed } from "../../http/app-error";
import { type FieldError, type ProblemDetails, problemResponse } from "../../http/problem";
import { handlerRoutes, type RegisteredRoute } from "../../http/route-of";
import { describeError } from "../../telemetry/logger";
import { currentTraceId } from "../../telemetry/tracing";
import type { RequestIdVariables } from "../request-id";
import type { RequestLogVariables } from "../request-log";

/**
 * What the error path reads: the request id and logger, when the failure came after they were set. The handlers
 * take any app's context (Hono passes its own `E`), so these two are read with their types stated here.
 */
type ErrorVariables = Partial<RequestIdVariables & RequestLogVariables>;

/**
 * The one error path. Whatever is thrown (or returned as an error) ends here and leaves as RFC 9457
 * problem+json with the request id as `instance`:
 * - {@link AppError}: its status, type and detail;
 * - Hono's `HTTPException` (e.g. malformed JSON from a validator → 400): mapped to a problem with its status;
 * - anything else is a bug: an opaque 500 on the wire, the full error (stack included) in the log.
 *
 * @example
 * ```ts
 * app.onError(errorHandler());
 * ```
 */
export function errorHandler(): ErrorHandler {
	return function onAppError(err, c) {
		const instance: string = (c.get("requestId") as ErrorVariables["requestId"]) ?? "unknown";
		const log = c.get("log") as ErrorVariables["log"];
		const appError = toAppError(err);
		if (appError.status >= 500) log?.error("request failed", { status: appError.status, ...describeError(err) });
		else log?.debug("request rejected", { status: appError.status, type: appError.slug, detail: appError.detail });
		const traceId = currentTraceId();
		const body = { ...appError.toProblem(instance), ...(traceId ? { trace_id: traceId } : {}) };
		return problemResponse(openAICompatible(c.req.path) ? withOpenAIError(body, appError) : body, appError.headers);
	};
}

/** Routes the OpenAI SDKs call: their errors also carry OpenAI's `error` object, which the SDKs read. */
const OPENAI_COMPATIBLE = ["/v1/chat/", "/v1/models", "/v1/embeddings", "/v1/conversations"];

export function openAICompatible(path: string): boolean {
	return OPENAI_COMPATIBLE.some((p) => path === p || path.startsWith(p.endsWith("/") ? p : `${p}/`));
}

/**
 * Adds `error: { message, type, param, code }` (OpenAI's shape) to a problem, so `APIError.message` in the
 * official SDKs is the problem's detail; the RFC 9457 members stay as they are.
 */
function withOpenAIError(body: ProblemDetails, err: AppError): ProblemDetails {
	const param = (err.extensions.param as string | undefined) ?? err.errors?.[0]?.path ?? null;
	return { ...body, error: { message: err.detail, type: err.slug, param, code: err.slug } };
}

function toAppError(err: unknown): AppError {
	if (err instanceof AppError) return err;
	if (err instanceof HTTPException) {
		const status = err.status as ContentfulStatusCode;
		if (status === 400 && /malformed json/i.test(err.message)) {
			return new AppError({
				status: 400,
				slug: "malformed-json",
				detail: "The request body is not valid JSON",
				cause: err,
			});
		}
		if (status === 415) {
			return new AppError({
				status,
				slug: "unsupported-media-type",
				detail: "The request's Content-Type is not accepted by this route; see /openapi.json",
				cause: err,
			});
		}
		if (status >= 500) return internalError(err);
		return new AppError({ status, slug: "bad-request", detail: err.message || "The request was rejected", cause: err });
	}
	if (isTransientD1Error(err)) {
		// The database could not answer (its connection dropped, it is overloaded): a dependency's outage, not a bug.
		return new AppError({
			status: 503,
			slug: "upstream-unavailable",
			detail: "The database could not answer; retry shortly",
			headers: { "Retry-After": "1" },
			cause: err,
		});
	}
	return internalError(err);
}

function internalError(cause: unknown): AppError {
	return new AppError({
		status: 500,
		slug: "internal",
		detail: "An unexpected error occurred; quote the instance id when reporting it",
		cause,
	});
}

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] as const;

/**
 * Unknown route → 404; known path with another method → 405 with `Allow` (RFC 9110 §15.5.6). The allowed
 * methods are found by matching the path against every registered route's pattern (`:params` and `*`).
 *
 * @example
 * ```ts
 * app.notFound(notFoundHandler(() => app.routes));
 * ```
 */
export function notFoundHandler(routes: () => readonly RegisteredRoute[]): NotFoundHandler {
	let compiled: { method: string; pattern: RegExp }[] | undefined;
	return function onNotFound(c) {
		compiled ??= handlerRoutes(routes()).map((r) => ({
			method: r.method.toUpperCase(),
			pattern: patternToRegExp(r.path),
		}));
		const path = c.req.path;
		const allowed = new Set<string>();
		for (const route of compiled) if (route.pattern.test(path)) allowed.add(route.method);
		if (allowed.has("GET")) allowed.add("HEAD");
		const instance: string = (c.get("requestId") as ErrorVariables["requestId"]) ?? "unknown";
		if (allowed.size > 0) {
			const allow = METHODS.filter((m) => allowed.has(m)).join(", ");
			const err = new AppError({
				status: 405,
				slug: "method-not-allowed",
				detail: `${c.req.method} is not allowed on ${path}; allowed: ${allow}`,
				headers: { Allow: allow },
			});
			return problemResponse(err.toProblem(instance), err.headers);
		}
		const err = new AppError({ status: 404, slug: "not-found", detail: `No route matches ${c.req.method} ${path}` });
		return problemResponse(err.toProblem(instance));
	};
}

/** Hono route pattern → anchored RegExp: `:name` (optionally `{regex}`) is one segment, `*` anything. */
function patternToRegExp(path: string): RegExp {
	const source = path
		.split("/")
		.map((segment) => {
			if (segment === "*") return ".*";
			if (segment.startsWith(":")) {
				const custom = /\{(.+)\}$/.exec(segment);
				return custom ? `(?:${custom[1]})` : "[^/]+";
			}
			return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
		})
		.join("/");
	return new RegExp(`^${source}/?$`);
}

/**
 * The OpenAPI validators' hook: a schema violation becomes one 422 problem naming every failing field
 * (`errors[].path` in dotted form, e.g. `messages.0.role`).
 */
export function validationHook(
	result: { success: true } | { success: false; error: z.ZodError; target: string },
	_c: Context,
): undefined {
	if (result.success) return;
	const errors: FieldError[] = result.error.issues.map((issue) => ({
		path: [result.target, ...issue.path.map(String)].join("."),
		message: issue.message,
		code: issue.code,
	}));
	throw validationFailed(`The ${result.target} failed validation: ${errors.map((e) => e.path).join(", ")}`, errors);
}
