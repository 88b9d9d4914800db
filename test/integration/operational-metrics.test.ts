import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { DEMO_AUTH, OPS_AUTH, ORIGIN } from "../helpers/workers/http";

// The metrics behind the operational alerts and dashboards (docs/metrics.md): model provider attempts and
// fallbacks, injected local-model faults, ingest outcomes, retrieval time by mode, denials by subject.
const app = createApp();
let n = 0;
const json = { ...DEMO_AUTH, "Content-Type": "application/json" };

async function call(version: string, path: string, init: RequestInit = {}, vars: Record<string, unknown> = {}) {
	const ctx = createExecutionContext();
	const res = await app.fetch(
		new Request(ORIGIN + path, init),
		{ ...env, CF_VERSION_METADATA: { id: version, tag: "", timestamp: "" }, ...vars },
		ctx,
	);
	await waitOnExecutionContext(ctx);
	return res;
}

/** The exposition's samples of one metric whose labels include all of `labels`, summed. */
async function sample(version: string, metric: string, labels: Record<string, string>): Promise<number> {
	const text = await (await call(version, "/metrics", { headers: OPS_AUTH })).text();
	let total = 0;
	for (const line of text.split("\n")) {
		if (!line.startsWith(`${metric}{`)) continue;
		const at = line.lastIndexOf(" ");
		const series = line.slice(0, at);
		// The request histogram has the caller's version; the other counters are version-free.
		const wanted = metric.startsWith("http_server_") ? { ...labels, version } : labels;
		if (Object.entries(wanted).every(([k, v]) => series.includes(`${k}="${v}"`))) total += Number(line.slice(at + 1));
	}
	return total;
}

const chat = (version: string, model: string, vars: Record<string, unknown>) =>
	call(
		version,
		"/v1/chat/completions",
		{
			method: "POST",
			headers: json,
			body: JSON.stringify({ model, messages: [{ role: "user", content: `hello ${n++}` }], max_tokens: 4 }),
		},
		vars,
	);

describe("model provider metrics", () => {
	it("counts every attempt by provider, model and outcome, and completions served by a fallback", async () => {
		const v = `v-${Date.now()}-${n++}`;
		const primary = `primary-${n}`;
		// Nothing listens on port 9 of loopback: every attempt at the primary fails as a network error.
		const vars = {
			CHAT_MODELS: JSON.stringify([
				{ id: primary, provider: "openai", base_url: "http://127.0.0.1:9/v1", fallbacks: ["local"] },
				{ id: "local", provider: "local" },
			]),
			CHAT_MAX_RETRIES: "1",
			CHAT_RETRY_BASE_MS: "0",
			CHAT_RETRY_MAX_MS: "0",
			CHAT_BREAKER_MIN_CALLS: "10000",
		};
		const res = await chat(v, primary, vars);
		expect(res.status).toBe(200);
		expect(((await res.json()) as { model: string }).model).toBe("local");
		expect(await sample(v, "llm_upstream_requests_total", { model: primary, outcome: "network_error" })).toBe(2);
		expect(await sample(v, "llm_upstream_requests_total", { provider: "local", model: "local", outcome: "ok" })).toBe(
			1,
		);
		expect(await sample(v, "llm_fallbacks_total", { requested_model: primary, served_model: "local" })).toBe(1);
	});

	it("injects local model faults (LOCAL_MODEL_FAULT_RATE) as upstream 5xx: 502, counted as server errors", async () => {
		const v = `v-${Date.now()}-${n++}`;
		const vars = { LOCAL_MODEL_FAULT_RATE: "1", CHAT_MAX_RETRIES: "0", CHAT_BREAKER_MIN_CALLS: "10000" };
		const before = await sample(v, "llm_upstream_requests_total", { model: "local", outcome: "server_error" });
		for (let i = 0; i < 3; i++) {
			const res = await chat(v, "local", vars);
			expect(res.status).toBe(502);
			expect(res.headers.get("content-type")).toBe("application/problem+json");
		}
		expect(await sample(v, "llm_upstream_requests_total", { model: "local", outcome: "server_error" })).toBe(
			before + 3,
		);
		expect(
			await sample(v, "http_server_request_duration_seconds_count", {
				http_route: "/v1/chat/completions",
				http_response_status_code: "502",
			}),
		).toBe(3);
		// Rate 0 (the default) never fails.
		expect((await chat(v, "local", { LOCAL_MODEL_FAULT_RATE: "0" })).status).toBe(200);
	});

	it("adds LOCAL_MODEL_EXTRA_LATENCY_MS before the first token (recorded in the request histogram)", async () => {
		const v = `v-${Date.now()}-${n++}`;
		expect((await chat(v, "local", { LOCAL_MODEL_EXTRA_LATENCY_MS: "120" })).status).toBe(200);
		const labels = { http_route: "/v1/chat/completions", http_response_status_code: "200" };
		// A lower bound only (never an upper one): the request cannot have been faster than the injected pause.
		expect(await sample(v, "http_server_request_duration_seconds_bucket", { ...labels, le: "0.1" })).toBe(0);
		expect(await sample(v, "http_server_request_duration_seconds_count", labels)).toBe(1);
	});

	it("refuses a bad fault setting like every other variable (503 naming it)", async () => {
		const res = await chat(`v-${n++}`, "local", { LOCAL_MODEL_FAULT_RATE: "1.5" });
		expect(res.status).toBe(503);
		expect(await res.text()).toContain("LOCAL_MODEL_FAULT_RATE");
	});
});

describe("RAG metrics", () => {
	it("counts ingested documents by outcome and times retrieval by mode", async () => {
		const v = `v-${Date.now()}-${n++}`;
		const id = `metrics-doc-${Date.now()}`;
		const docs = {
			documents: [{ id, title: "Runbook", text: "The cobalt vault rotates its keys every ninety days." }],
		};
		const ingest = () => call(v, "/v1/documents", { method: "POST", headers: json, body: JSON.stringify(docs) });
		expect((await ingest()).status).toBe(201);
		expect((await ingest()).status).toBe(201);
		expect(await sample(v, "rag_ingest_documents_total", { outcome: "created" })).toBeGreaterThanOrEqual(1);
		expect(await sample(v, "rag_ingest_documents_total", { outcome: "unchanged" })).toBeGreaterThanOrEqual(1);
		for (const mode of ["keyword", "vector", "hybrid"]) {
			const res = await call(v, "/v1/rag/search", {
				method: "POST",
				headers: json,
				body: JSON.stringify({ query: "cobalt vault keys", mode }),
			});
			expect(res.status).toBe(200);
		}
		for (const mode of ["keyword", "vector", "hybrid"]) {
			expect(await sample(v, "rag_retrieval_duration_seconds_count", { mode, outcome: "ok" })).toBeGreaterThanOrEqual(
				1,
			);
			expect(await sample(v, "rag_retrieval_duration_seconds_bucket", { mode, le: "+Inf" })).toBe(
				await sample(v, "rag_retrieval_duration_seconds_count", { mode }),
			);
		}
		const om = await call(v, "/metrics", {
			headers: { ...OPS_AUTH, Accept: "application/openmetrics-text; version=1.0.0" },
		});
		const text = await om.text();
		expect(text).toContain("# TYPE rag_retrieval_duration_seconds histogram");
		expect(text).toContain("# UNIT rag_retrieval_duration_seconds seconds");
	});

	it("counts a batch that fails on the server as failed documents, and a refused one as rejected", async () => {
		const v = `v-${Date.now()}-${n++}`;
		const before = {
			failed: await sample(v, "rag_ingest_documents_total", { outcome: "failed" }),
			rejected: await sample(v, "rag_ingest_documents_total", { outcome: "rejected" }),
		};
		const body = JSON.stringify({
			documents: [
				{ id: `f-${n}-a`, text: "alpha" },
				{ id: `f-${n}-b`, text: "beta" },
			],
		});
		// No Vectorize binding in tests: the vector upsert fails, so the whole batch does.
		const failed = await call(
			v,
			"/v1/documents",
			{ method: "POST", headers: json, body },
			{ RAG_VECTOR_INDEX: "vectorize" },
		);
		expect(failed.status).toBeGreaterThanOrEqual(500);
		expect(failed.headers.get("content-type")).toBe("application/problem+json");
		const dup = JSON.stringify({
			documents: [
				{ id: "same", text: "a" },
				{ id: "same", text: "b" },
			],
		});
		expect((await call(v, "/v1/documents", { method: "POST", headers: json, body: dup })).status).toBe(422);
		expect(await sample(v, "rag_ingest_documents_total", { outcome: "failed" })).toBe(before.failed + 2);
		expect(await sample(v, "rag_ingest_documents_total", { outcome: "rejected" })).toBe(before.rejected + 2);
	});
});

describe("rate-limit denials by subject", () => {
	it("attributes each denial to the principal's tenant/subject", async () => {
		const v = `v-${Date.now()}-${n++}`;
		const policy = `subj-${n}`;
		const vars = {
			RATE_LIMIT_POLICIES: JSON.stringify([
				{ name: policy, routes: ["GET /v1/models"], key: "subject", limit: 1, window_s: 60 },
			]),
			RATE_LIMIT_TIMEOUT_MS: "5000",
		};
		expect((await call(v, "/v1/models", { headers: DEMO_AUTH }, vars)).status).toBe(200);
		expect((await call(v, "/v1/models", { headers: DEMO_AUTH }, vars)).status).toBe(429);
		expect((await call(v, "/v1/models", { headers: DEMO_AUTH }, vars)).status).toBe(429);
		const me = (await (await call(v, "/v1/auth/me", { headers: DEMO_AUTH })).json()) as {
			tenant: string;
			subject: string;
		};
		expect(await sample(v, "rate_limit_denied_subjects_total", { policy, subject: `${me.tenant}/${me.subject}` })).toBe(
			2,
		);
	});
});
