import type { OpenAPIHono } from "@hono/zod-openapi";
import type { AppEnv } from "../../app-env";
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
 * and `GET /docs` (an offline HTML reference rendered from it). Call after all routes are mounted. The document
 * is built once per isolate.
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
	app.get("/openapi.json", (c) => c.json(document(), 200, { "Cache-Control": "public, max-age=60" }));
	app.get("/docs", (c) => {
		const nonce = crypto.randomUUID().replaceAll("-", "");
		const html = renderReference(JSON.parse(JSON.stringify(document())), nonce);
		return c.html(html, 200, { "Content-Security-Policy": docsCsp(nonce), "Cache-Control": "no-store" });
	});
}
