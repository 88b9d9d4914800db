/**
 * Renders an OpenAPI 3.1 document as one self-contained HTML page: no scripts, no fonts, no CDN, so `/docs`
 * works offline and under a CSP that only allows the page's own nonce'd stylesheet.
 *
 * Deliberately small: operations grouped by tag, each with parameters, request body and responses (schemas
 * shown as JSON with `$ref`s named). Tools that want the full document read `/openapi.json`.
 *
 * @module
 */

/** A JSON value, as the OpenAPI document is read here. */
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const HTTP_METHODS = ["get", "post", "put", "patch", "delete", "head", "options"] as const;

export function escapeHtml(s: string): string {
	return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

const isObj = (v: Json | undefined): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: Json | undefined): string => (typeof v === "string" ? v : "");

/** `$ref: "#/components/schemas/Problem"` → `Problem`; other schemas as indented JSON. */
function schemaText(schema: Json | undefined): string {
	if (!isObj(schema)) return "";
	const ref = str(schema.$ref);
	if (ref) return ref.split("/").pop() ?? ref;
	return JSON.stringify(schema, null, 2);
}

function renderContent(content: Json | undefined): string {
	if (!isObj(content)) return "";
	return Object.entries(content)
		.map(([type, media]) => {
			const schema = isObj(media) ? schemaText(media.schema) : "";
			return `<div class="media"><code>${escapeHtml(type)}</code>${schema ? `<pre>${escapeHtml(schema)}</pre>` : ""}</div>`;
		})
		.join("");
}

function renderOperation(method: string, path: string, op: Obj): string {
	const id = `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, "-");
	const params = Array.isArray(op.parameters) ? op.parameters.filter(isObj) : [];
	const paramRows = params
		.map(
			(p) =>
				`<tr><td><code>${escapeHtml(str(p.name))}</code></td><td>${escapeHtml(str(p.in))}</td><td>${p.required === true ? "yes" : "no"}</td><td>${escapeHtml(str(p.description))}</td></tr>`,
		)
		.join("");
	const body = isObj(op.requestBody) ? op.requestBody : undefined;
	const responses = isObj(op.responses) ? Object.entries(op.responses) : [];
	const security = Array.isArray(op.security)
		? op.security
				.filter(isObj)
				.flatMap((s) => Object.entries(s).map(([k, v]) => (Array.isArray(v) && v.length ? `${k} (${v.join(" ")})` : k)))
		: [];
	return `<section class="op" id="${escapeHtml(id)}">
<h3><span class="method ${method}">${method.toUpperCase()}</span> <code>${escapeHtml(path)}</code> ${escapeHtml(str(op.summary))}</h3>
${op.description ? `<p>${escapeHtml(str(op.description))}</p>` : ""}
${security.length ? `<p class="sec">Auth: ${escapeHtml(security.join(" or "))}</p>` : ""}
${paramRows ? `<table><tr><th>Parameter</th><th>In</th><th>Required</th><th>Description</th></tr>${paramRows}</table>` : ""}
${body ? `<h4>Request body</h4>${renderContent(body.content)}` : ""}
<h4>Responses</h4>
${responses
	.map(
		([status, r]) =>
			`<div class="resp"><b>${escapeHtml(status)}</b> ${isObj(r) ? escapeHtml(str(r.description)) : ""}${isObj(r) ? renderContent(r.content) : ""}</div>`,
	)
	.join("")}
</section>`;
}

/** The whole page; `nonce` authorises the inline stylesheet under the page's CSP. */
export function renderReference(doc: Obj, nonce: string): string {
	const info = isObj(doc.info) ? doc.info : {};
	const paths = isObj(doc.paths) ? doc.paths : {};
	const byTag = new Map<string, string[]>();
	const toc: string[] = [];
	for (const [path, item] of Object.entries(paths)) {
		if (!isObj(item)) continue;
		for (const method of HTTP_METHODS) {
			const op = item[method];
			if (!isObj(op)) continue;
			const tag = Array.isArray(op.tags) && typeof op.tags[0] === "string" ? op.tags[0] : "Other";
			const list = byTag.get(tag) ?? [];
			list.push(renderOperation(method, path, op));
			byTag.set(tag, list);
			toc.push(
				`<li><a href="#${escapeHtml(`${method}-${path}`.replace(/[^A-Za-z0-9]+/g, "-"))}">${method.toUpperCase()} ${escapeHtml(path)}</a></li>`,
			);
		}
	}
	const sections = [...byTag.entries()].map(([tag, ops]) => `<h2>${escapeHtml(tag)}</h2>${ops.join("\n")}`).join("\n");
	return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(str(info.title))} — API reference</title>
<style nonce="${escapeHtml(nonce)}">
body{font:15px/1.5 system-ui,sans-serif;margin:0;display:flex;color:#1d2330}
nav{width:18rem;padding:1rem;border-right:1px solid #ddd;height:100vh;overflow:auto;position:sticky;top:0;font-size:13px}
nav ul{list-style:none;padding:0}main{padding:1rem 2rem;max-width:60rem}
.op{border:1px solid #e3e3e3;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.method{font-weight:700;padding:0 .4rem;border-radius:4px;color:#fff;background:#555}
.get{background:#2f7d32}.post{background:#1565c0}.put,.patch{background:#ef6c00}.delete{background:#c62828}
pre{background:#f6f8fa;padding:.5rem;overflow:auto;font-size:12px}table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}.sec{color:#6a1b9a}
</style></head>
<body><nav><b>${escapeHtml(str(info.title))}</b> <small>${escapeHtml(str(info.version))}</small>
<p><a href="/openapi.json">openapi.json</a></p><ul>${toc.join("")}</ul></nav>
<main><h1>${escapeHtml(str(info.title))}</h1><p>${escapeHtml(str(info.description))}</p>
${sections}</main></body></html>`;
}
