/**
 * What every resource router is built with: {@link createRouter}, and the problem responses its operations declare
 * in the OpenAPI document ({@link problem}, {@link BODY_PROBLEMS}).
 *
 * @module
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../app-env";
import { PROBLEM_CONTENT_TYPE } from "../http/problem";
import { validationHook } from "../middleware/errors";

/**
 * A sub-app whose routes join the OpenAPI document and whose validation failures become 422 problems.
 *
 * @example
 * ```ts
 * export const ops = createRouter();
 * ops.openapi(healthRoute, (c) => c.json({ status: "ok" }, 200));
 * ```
 */
export function createRouter(): OpenAPIHono<AppEnv> {
	return new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
}

export const ProblemSchema = z
	.object({
		type: z.string().openapi({ example: "https://errors.edge-ai-api.dev/validation-failed" }),
		title: z.string().openapi({ example: "Unprocessable Content" }),
		status: z.number().int().openapi({ example: 422 }),
		detail: z.string().optional(),
		instance: z.string().optional().openapi({ description: "The request id (also in X-Request-ID)" }),
		errors: z
			.array(z.object({ path: z.string(), message: z.string(), code: z.string().optional() }))
			.optional()
			.openapi({ description: "Field errors of a validation failure" }),
	})
	.openapi("Problem", { description: "RFC 9457 problem details" });

/** An OpenAPI response entry for a problem status. */
export function problem(description: string) {
	return { description, content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } } };
}

/**
 * The problems any operation with a request body can answer before its handler runs: malformed JSON (400), a body
 * over `MAX_BODY_BYTES` (413), a Content-Type it does not accept (415). Spread first, so an operation's own entry
 * for the same status wins.
 */
export const BODY_PROBLEMS = {
	400: problem("The body is not valid JSON"),
	413: problem("The body exceeds MAX_BODY_BYTES"),
	415: problem("A Content-Type this operation does not accept"),
};
