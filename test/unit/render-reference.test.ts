import { describe, expect, it } from "vitest";
import { escapeHtml, renderReference } from "../../src/routes/docs/render-reference";

describe("renderReference", () => {
	const doc = {
		info: { title: "T <script>", version: "1", description: "d" },
		paths: {
			"/items/{id}": {
				get: {
					tags: ["Items"],
					summary: "Get <b>item</b>",
					parameters: [{ name: "id", in: "path", required: true, description: "the id" }],
					responses: {
						"200": {
							description: "ok",
							content: { "application/json": { schema: { $ref: "#/components/schemas/Item" } } },
						},
					},
				},
				delete: { responses: { "204": { description: "gone" } } },
			},
		},
	};

	it("renders every operation grouped by tag, with parameters and named schema refs", () => {
		const html = renderReference(doc, "n0nce");
		expect(html).toContain("<h2>Items</h2>");
		expect(html).toContain("<h2>Other</h2>");
		expect(html).toContain(">GET</span> <code>/items/{id}</code>");
		expect(html).toContain(">DELETE</span>");
		expect(html).toContain("<td><code>id</code></td><td>path</td><td>yes</td>");
		expect(html).toContain("<pre>Item</pre>");
		expect(html).toContain('<style nonce="n0nce">');
	});

	it("escapes everything taken from the document and loads no script", () => {
		const html = renderReference(doc, "n");
		expect(html).not.toContain("<script");
		expect(html).not.toContain("<b>item</b>");
		expect(html).toContain("T &#60;script&#62;");
	});

	it("escapeHtml covers the five HTML-significant characters", () => {
		expect(escapeHtml(`<a href="x" title='y'>&</a>`)).toBe(
			"&#60;a href=&#34;x&#34; title=&#39;y&#39;&#62;&#38;&#60;/a&#62;",
		);
	});
});
