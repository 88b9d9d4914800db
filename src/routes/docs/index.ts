/**
 * The API's description of itself: `GET /openapi.json`, generated from the routers' schemas with this deployment's
 * rate limits, and `GET /docs`, the reference page rendered from it.
 *
 * @module
 */
import type { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../app-env";
import { loadConfig } from "../../config";
import type { Policy } from "../../rate-limit/policies";
import { withRateLimits } from "./rate-limits";
import { renderReference } from "./render-reference";

export const OPENAPI_INFO = {
	title: "Edge AI API",
	version: "0.1.0",
	description:
		"OpenAI-compatible chat and RAG at the edge, on Cloudflare Workers and Durable Objects. Every error is RFC 9457 application/problem+json; every response carries X-Request-ID.",
};

/** CSP of the reference page: its own nonce'd stylesheet, nothing else may load, run, frame or submit. */
function docsCsp(nonce: string): string {
	return `default-src 'none'; style-src 'nonce-${nonce}'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
}

/**
 * Mounts `GET /openapi.json` (OpenAPI 3.1, generated from the route schemas of every router mounted on `app`)
 * and `GET /docs` (an offline HTML reference rendered from it), with the configured rate limits as 429s. Call after
 * all routes are mounted. The document is built once per isolate.
 */
export function mountDocs(app: OpenAPIHono<AppEnv>): void {
	type Doc = ReturnType<OpenAPIHono<AppEnv>["getOpenAPI31Document"]>;
	let doc: Doc | undefined;
	const document = (): Doc => {
		doc ??= app.getOpenAPI31Document({
			openapi: "3.1.0",
			info: OPENAPI_INFO,
			servers: [{ url: "/", description: "This deployment" }],
		});
		return doc;
	};
	// With this deployment's rate limits (429s per governed operation), once per policy set.
	const limited = new WeakMap<readonly Policy[], Doc>();
	const documentFor = (c: Context<AppEnv>): Doc => {
		const loaded = loadConfig(c.env);
		if (!loaded.ok) return document();
		const policies = loaded.config.rateLimit.policies;
		let d = limited.get(policies);
		if (!d) {
			d = withRateLimits(document(), policies);
			limited.set(policies, d);
		}
		return d;
	};
	app.get("/openapi.json", (c) => c.json(documentFor(c), 200, { "Cache-Control": "public, max-age=60" }));
	app.get("/docs", (c) => {
		const nonce = crypto.randomUUID().replaceAll("-", "");
		const html = renderReference(JSON.parse(JSON.stringify(documentFor(c))), nonce);
		return c.html(html, 200, { "Content-Security-Policy": docsCsp(nonce), "Cache-Control": "no-store" });
	});
}
