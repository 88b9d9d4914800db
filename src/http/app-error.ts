/**
 * The service's one exception type, {@link AppError}, with the stable problem types it can carry
 * ({@link ProblemSlug}) and constructors for two problems raised across modules (`validation-failed`,
 * `model-not-found`). The error handler (src/middleware/errors) turns it into problem+json.
 *
 * @module
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type FieldError, PROBLEM_BASE, type ProblemDetails, STATUS_TITLES } from "./problem";

/** The stable problem types this service answers with; the slug is the last segment of `type`. */
export type ProblemSlug =
	| "bad-request"
	| "malformed-json"
	| "validation-failed"
	| "unauthorized"
	| "forbidden"
	| "invalid-client"
	| "invalid-scope"
	| "unsupported-grant-type"
	| "quota-exceeded"
	| "storage-quota-exceeded"
	| "conflict"
	| "upstream-unavailable"
	| "limiter-unavailable"
	| "bad-gateway"
	| "upstream-rejected"
	| "model-not-found"
	| "not-found"
	| "method-not-allowed"
	| "content-too-large"
	| "unsupported-media-type"
	| "request-header-fields-too-large"
	| "timeout"
	| "misconfigured"
	| "not-ready"
	| "internal";

export type AppErrorInit = {
	status: ContentfulStatusCode;
	slug: ProblemSlug;
	detail: string;
	title?: string;
	errors?: FieldError[];
	headers?: Record<string, string>;
	extensions?: Record<string, unknown>;
	cause?: unknown;
};

/**
 * The one exception type of the service: anything that should reach the client as a problem is thrown as an
 * `AppError`, and the single `onError` handler turns it into RFC 9457 problem+json. Everything else thrown is a
 * bug, answered as an opaque 500 and logged in full.
 *
 * @example
 * ```ts
 * throw new AppError({ status: 413, slug: "content-too-large", detail: "Body exceeds 1048576 bytes" });
 * ```
 */
export class AppError extends Error {
	readonly status: ContentfulStatusCode;
	readonly slug: ProblemSlug;
	readonly detail: string;
	readonly title: string;
	readonly errors: FieldError[] | undefined;
	readonly headers: Record<string, string>;
	readonly extensions: Record<string, unknown>;

	constructor(init: AppErrorInit) {
		super(init.detail, { cause: init.cause });
		this.name = "AppError";
		this.status = init.status;
		this.slug = init.slug;
		this.detail = init.detail;
		this.title = init.title ?? STATUS_TITLES[init.status] ?? "Error";
		this.errors = init.errors;
		this.headers = init.headers ?? {};
		this.extensions = init.extensions ?? {};
	}

	/** The wire representation; `instance` is the request id. */
	toProblem(instance: string): ProblemDetails {
		return {
			...this.extensions,
			type: PROBLEM_BASE + this.slug,
			title: this.title,
			status: this.status,
			detail: this.detail,
			instance,
			...(this.errors ? { errors: this.errors } : {}),
		};
	}
}

/**
 * 422 `validation-failed`: the request was well-formed but a value is not acceptable. `errors` name each field
 * (dotted paths, e.g. `query.start_time`); the validators' hook and every handler-level check use this one shape.
 */
export function validationFailed(detail: string, errors?: FieldError[], cause?: unknown): AppError {
	return new AppError({ status: 422, slug: "validation-failed", detail, errors, cause });
}

/** 404 `model-not-found` for the request's `model` field (OpenAI's `param`), with what to do instead. */
export function modelNotFound(detail: string): AppError {
	return new AppError({ status: 404, slug: "model-not-found", detail, extensions: { param: "model" } });
}
