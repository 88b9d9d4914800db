/**
 * The authentication and authorisation failures as `AppError`s carrying their `WWW-Authenticate: Bearer` challenge
 * (RFC 6750 §3): 401 for a missing or invalid credential, 403 for a missing scope.
 *
 * @module
 */
import { AppError } from "../http/app-error";

export const REALM = "edge-ai-api";

/** Quotes a value for an auth-param (RFC 9110 §11.2): backslash-escape `"` and `\`, drop control characters. */
function quoted(s: string): string {
	const printable = [...s].filter((ch) => ch >= " " && ch !== "\u007f").join("");
	return `"${printable.replace(/["\\]/g, "\\$&")}"`;
}

/**
 * 401 with `WWW-Authenticate: Bearer` (RFC 6750 §3). Without `code` (no credentials sent) the challenge carries
 * no error, as §3.1 asks; otherwise `error="invalid_token"` and a description that says what was wrong with the
 * credential, never whether an account exists.
 */
export function unauthorized(description: string, code?: "invalid_token" | "invalid_request"): AppError {
	const params = [`realm=${quoted(REALM)}`];
	if (code) params.push(`error=${quoted(code)}`, `error_description=${quoted(description)}`);
	return new AppError({
		status: 401,
		slug: "unauthorized",
		detail: description,
		headers: { "WWW-Authenticate": `Bearer ${params.join(", ")}` },
	});
}

/** 403 `insufficient_scope` naming the scope the route needs (RFC 6750 §3.1). */
export function insufficientScope(scope: string): AppError {
	return new AppError({
		status: 403,
		slug: "forbidden",
		detail: `This route requires the "${scope}" scope`,
		headers: {
			"WWW-Authenticate": `Bearer realm=${quoted(REALM)}, error="insufficient_scope", scope=${quoted(scope)}`,
		},
		extensions: { required_scope: scope },
	});
}
