/**
 * RFC 9457 problem details: the one error shape on the wire.
 *
 * `type` is a stable URI under {@link PROBLEM_BASE} that clients may switch on; `instance` is the request id,
 * so a user quoting an error hands us the key to its log line.
 *
 * @module
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** The base URI of every problem `type`; the problem's slug follows it. */
export const PROBLEM_BASE = "https://errors.edge-ai-api.dev/";
export const PROBLEM_CONTENT_TYPE = "application/problem+json";

export type FieldError = { path: string; message: string; code?: string };

export type ProblemDetails = {
	type: string;
	title: string;
	status: number;
	detail?: string;
	instance?: string;
	errors?: FieldError[];
	[extension: string]: unknown;
};

/** Builds the problem+json `Response` for a problem (RFC 9457 §3). */
export function problemResponse(problem: ProblemDetails, headers?: HeadersInit): Response {
	const h = new Headers(headers);
	h.set("Content-Type", PROBLEM_CONTENT_TYPE);
	h.set("Cache-Control", "no-store");
	return new Response(JSON.stringify(problem), { status: problem.status, headers: h });
}

/** Titles for the statuses we answer, so no caller invents wording. */
export const STATUS_TITLES: Partial<Record<ContentfulStatusCode, string>> = {
	400: "Bad Request",
	401: "Unauthorized",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	408: "Request Timeout",
	409: "Conflict",
	413: "Content Too Large",
	415: "Unsupported Media Type",
	422: "Unprocessable Content",
	429: "Too Many Requests",
	431: "Request Header Fields Too Large",
	500: "Internal Server Error",
	502: "Bad Gateway",
	503: "Service Unavailable",
	504: "Gateway Timeout",
};
