import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import type { Scope } from "../../src/auth/principal";
import { issueAccessToken } from "../../src/auth/tokens";
import { loadConfig } from "../../src/config";
import { bearer, freshPrincipalToken } from "../helpers/workers/auth";
import { DEMO_AUTH, expectProblem, exposedSamples, OPS_AUTH, ORIGIN } from "../helpers/workers/http";

// Faults set on a running service through the operator endpoint (PUT /v1/admin/faults), and what users and the
// SLO counters see when the RateLimiter, SloCounter and Conversation objects, the chat model or a model stream fail
// (docs/resilience.md#fault-injection). Runtime faults are module state: this file's isolate is its own.

const app = createApp();
let n = 0;
const unique = (label: string) => `${label}-${Date.now().toString(36)}-${n++}`;

/** Calls the app as version `v` (its own SLO label) with extra bindings; for streams, read the body before `settled`. */
async function send(v: string, path: string, init: RequestInit = {}, vars: Record<string, unknown> = {}) {
	const ctx = createExecutionContext();
	const res = await app.fetch(
		new Request(ORIGIN + path, init),
		{ ...env, CF_VERSION_METADATA: { id: v, tag: "", timestamp: "" }, ...vars },
		ctx,
	);
	return { res, settled: () => waitOnExecutionContext(ctx) };
}

async function call(v: string, path: string, init: RequestInit = {}, vars: Record<string, unknown> = {}) {
	const { res, settled } = await send(v, path, init, vars);
	await settled();
	return res;
}

const json = (body: unknown, headers: Record<string, string>, method = "POST"): RequestInit => ({
	method,
	headers: { ...headers, "Content-Type": "application/json" },
	body: JSON.stringify(body),
});

async function operatorAuth(scopes: readonly Scope[] = ["admin", "metrics:read"]) {
	return bearer(await freshPrincipalToken(unique("operator"), "platform", scopes));
}

type FaultsBody = {
	environment: string;
	faults: Record<string, { rate: number; latency_ms?: number; after_tokens?: number; source: string }>;
};

async function setFaults(body: unknown): Promise<FaultsBody> {
	const res = await call("ops", "/v1/admin/faults", json(body, await operatorAuth(), "PUT"));
	expect(res.status, await res.clone().text()).toBe(200);
	return (await res.json()) as FaultsBody;
}

afterEach(async () => {
	const res = await call("ops", "/v1/admin/faults", { method: "DELETE", headers: await operatorAuth() });
	expect(res.status).toBe(200);
});

/** One SLO window of route × version from /v1/slo. */
async function sloWindow(v: string, route: string) {
	const body = (await (await call("ops", "/v1/slo", { headers: OPS_AUTH })).json()) as {
		routes: { route: string; version: string; windows: Record<string, { requests: number; errors: number }> }[];
	};
	return body.routes.find((r) => r.route === route && r.version === v)?.windows["5m"];
}

/** The samples of /metrics as `name{labels}` → value. */
async function samples(): Promise<Map<string, number>> {
	return exposedSamples(await (await call("ops", "/metrics", { headers: OPS_AUTH })).text());
}

/** The SSE events of a stream body: parsed JSON payloads, and whether `[DONE]` came. */
function events(text: string): { payloads: Record<string, unknown>[]; done: boolean } {
	const data = text
		.split("\n\n")
		.map((e) => e.trim())
		.filter((e) => e.startsWith("data: "))
		.map((e) => e.slice("data: ".length));
	return {
		payloads: data.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d) as Record<string, unknown>),
		done: data.includes("[DONE]"),
	};
}

const chatBody = (extra: Record<string, unknown> = {}) => ({
	model: "local",
	messages: [{ role: "user", content: "Tell me about sliding windows and Durable Objects in some detail." }],
	max_tokens: 40,
	...extra,
});

describe("the operator fault endpoint", () => {
	it("shows the configuration's faults, sets runtime ones for the next requests, and clears them", async () => {
		const ops = await operatorAuth();
		const before = (await (await call("ops", "/v1/admin/faults", { headers: ops })).json()) as FaultsBody;
		expect(before.environment).toBe("local");
		expect(Object.keys(before.faults).sort()).toEqual(
			[
				"chat_model",
				"chat_stream",
				"conversation",
				"d1",
				"embedder",
				"otlp",
				"rate_limiter",
				"slo_counter",
				"vector_index",
			].sort(),
		);
		expect(before.faults.chat_model).toEqual({ rate: 0, latency_ms: 0, source: "configuration" });

		const set = await setFaults({ chat_model: { rate: 1 } });
		expect(set.faults.chat_model).toEqual({ rate: 1, latency_ms: 0, source: "runtime" });
		expect(set.faults.embedder?.source).toBe("configuration");

		// Every model call fails like an upstream 503; without retries the answer is a 502 problem.
		const v = unique("v");
		const failed = await call(v, "/v1/chat/completions", json(chatBody(), DEMO_AUTH), { CHAT_MAX_RETRIES: "0" });
		await expectProblem(failed, 502, "bad-gateway");

		const cleared = (await (
			await call("ops", "/v1/admin/faults", { method: "DELETE", headers: ops })
		).json()) as FaultsBody;
		expect(cleared.faults.chat_model).toEqual({ rate: 0, latency_ms: 0, source: "configuration" });
		expect((await call(v, "/v1/chat/completions", json(chatBody(), DEMO_AUTH))).status).toBe(200);
	});

	it("a runtime fault replaces the configured one for its dependency only", async () => {
		const ops = await operatorAuth();
		const vars = { FAULT_EMBEDDER_RATE: "0.25", FAULT_D1_LATENCY_MS: "5" };
		const put = await call("ops", "/v1/admin/faults", json({ d1: { rate: 0 } }, ops, "PUT"), vars);
		const body = (await put.json()) as FaultsBody;
		expect(body.faults.embedder).toEqual({ rate: 0.25, latency_ms: 0, source: "configuration" });
		// Named: replaced whole, so the configured latency no longer applies.
		expect(body.faults.d1).toEqual({ rate: 0, latency_ms: 0, source: "runtime" });
	});

	it("is never subject to the faults it sets: a hung D1 and failing limiter cannot lock the operator out", async () => {
		const ops = await operatorAuth();
		await setFaults({ d1: { latency_ms: 600_000 }, rate_limiter: { rate: 1 } });
		const limited = {
			RATE_LIMIT_POLICIES: JSON.stringify([
				{ name: unique("all"), routes: ["*"], key: "subject", limit: 100, window_s: 60, fail: "closed" },
			]),
		};
		// Everyone else waits on the hung database; the switchboard answers and clears it.
		const cleared = await call("ops", "/v1/admin/faults", { method: "DELETE", headers: ops }, limited);
		expect(cleared.status).toBe(200);
		expect(((await cleared.json()) as FaultsBody).faults.d1).toEqual({
			rate: 0,
			latency_ms: 0,
			source: "configuration",
		});
		expect((await call("ops", "/v1/auth/me", { headers: DEMO_AUTH })).status).toBe(200);
	});

	it("refuses unknown dependencies, unknown fields and out-of-range values with 422, changing nothing", async () => {
		const ops = await operatorAuth();
		for (const bad of [
			{ database: { rate: 1 } },
			{ chat_model: { rate: 1.5 } },
			{ chat_model: { rate: 0.5, percent: 50 } },
			{ rate_limiter: { latency_ms: -1 } },
			{ chat_stream: { rate: 1, after_tokens: 1.5 } },
			{ otlp: { latency_ms: 600_001 } },
		]) {
			const res = await call("ops", "/v1/admin/faults", json(bad, ops, "PUT"));
			await expectProblem(res, 422, "validation-failed");
		}
		const now = (await (await call("ops", "/v1/admin/faults", { headers: ops })).json()) as FaultsBody;
		expect(Object.values(now.faults).every((f) => f.source === "configuration" && f.rate === 0)).toBe(true);
	});

	it("is for operators only: 401 without credentials, 403 without the admin scope", async () => {
		await expectProblem(await call("ops", "/v1/admin/faults"), 401, "unauthorized");
		const put = await call("ops", "/v1/admin/faults", json({ chat_model: { rate: 1 } }, DEMO_AUTH, "PUT"));
		await expectProblem(put, 403, "forbidden");
		const metricsOnly = await operatorAuth(["metrics:read"]);
		await expectProblem(await call("ops", "/v1/admin/faults", { headers: metricsOnly }), 403, "forbidden");
	});

	it("is refused in staging even for an admin", async () => {
		const staging = {
			ENVIRONMENT: "staging",
			JWT_SIGNING_SECRET: "a-staging-secret-that-is-long-enough-0123456789",
		};
		const loaded = loadConfig({ ...env, ...staging } as Env);
		if (!loaded.ok) throw new Error(JSON.stringify(loaded.issues));
		const subject = unique("staging-admin");
		await env.DB.prepare(
			"INSERT INTO api_clients (client_id, tenant, scopes, secret_hash, secret_salt, secret_iter, created_at) VALUES (?, 'platform', 'admin', 'x', 'x', 1, ?)",
		)
			.bind(subject, Date.now())
			.run();
		const { token } = await issueAccessToken(loaded.config.auth, { subject, tenant: "platform", scopes: ["admin"] });
		const res = await call("ops", "/v1/admin/faults", json({ chat_model: { rate: 1 } }, bearer(token), "PUT"), staging);
		const problem = await expectProblem(res, 403, "forbidden");
		expect(problem.detail).toContain("staging");
	});
});

describe("the RateLimiter objects failing", () => {
	const policies = (name: string, fail: "open" | "closed") => ({
		RATE_LIMIT_POLICIES: JSON.stringify([
			{ name, routes: ["GET /v1/models"], key: "subject", limit: 100, window_s: 60, fail },
		]),
		RATE_LIMIT_TIMEOUT_MS: "200",
	});

	it("a fail-open policy admits and says so in the metrics; a fail-closed one answers 503 with Retry-After", async () => {
		await setFaults({ rate_limiter: { rate: 1 } });
		const v = unique("v");
		const [openPolicy, closedPolicy] = [unique("open"), unique("closed")];
		const open = await call(v, "/v1/models", { headers: DEMO_AUTH }, policies(openPolicy, "open"));
		expect(open.status).toBe(200);
		const closed = await call(v, "/v1/models", { headers: DEMO_AUTH }, policies(closedPolicy, "closed"));
		const problem = await expectProblem(closed, 503, "limiter-unavailable");
		expect(problem["unavailable-policies"]).toEqual([closedPolicy]);
		expect(closed.headers.get("Retry-After")).toBe("1");
		const s = await samples();
		const decisions = (policy: string, outcome: string) =>
			s.get(`rate_limit_decisions_total{http_route="/v1/models",outcome="${outcome}",policy="${policy}"}`);
		expect(decisions(openPolicy, "fail_open")).toBe(1);
		expect(decisions(closedPolicy, "fail_closed")).toBe(1);
	});

	it("an object hanging past the limiter's timeout is a failure too, not a hung request", async () => {
		await setFaults({ rate_limiter: { latency_ms: 60_000 } });
		const v = unique("v");
		expect((await call(v, "/v1/models", { headers: DEMO_AUTH }, policies(unique("open"), "open"))).status).toBe(200);
		await expectProblem(
			await call(v, "/v1/models", { headers: DEMO_AUTH }, policies(unique("closed"), "closed")),
			503,
			"limiter-unavailable",
		);
	});
});

describe("the Conversation objects failing", () => {
	it("a chat turn with a conversation and the conversation's reads answer 503 with Retry-After, never 500", async () => {
		const auth = bearer(await freshPrincipalToken(unique("conv"), unique("conv-tenant"), ["chat"]));
		const id = unique("conversation");
		const v = unique("v");
		expect((await call(v, "/v1/chat/completions", json(chatBody({ conversation_id: id }), auth))).status).toBe(200);
		await setFaults({ conversation: { rate: 1 } });
		const turn = await call(v, "/v1/chat/completions", json(chatBody({ conversation_id: id }), auth));
		const problem = await expectProblem(turn, 503, "upstream-unavailable");
		expect(problem.detail).toBe("Conversation memory is unavailable; retry shortly");
		expect(turn.headers.get("Retry-After")).toBe("1");
		await expectProblem(await call(v, `/v1/conversations/${id}`, { headers: auth }), 503, "upstream-unavailable");
		// Back up: the conversation holds the first turn only (the refused one never reached the model or memory).
		await call("ops", "/v1/admin/faults", { method: "DELETE", headers: await operatorAuth() });
		const history = (await (await call(v, `/v1/conversations/${id}`, { headers: auth })).json()) as {
			messages: unknown[];
		};
		expect(history.messages).toHaveLength(2);
	});
});

describe("the SloCounter objects failing", () => {
	it("no request fails; the lost records are reported on /metrics; reads report unreadable shards", async () => {
		const v = unique("v");
		const dropped = async () => (await samples()).get("slo_flush_dropped_requests_isolate") ?? Number.NaN;
		const before = await dropped();
		await setFaults({ slo_counter: { rate: 1 } });
		for (let i = 0; i < 3; i++) expect((await call(v, "/v1/auth/me", { headers: DEMO_AUTH })).status).toBe(200);
		// Reads fail too, and say so rather than answering with silently missing routes.
		const slo = (await (await call("ops", "/v1/slo", { headers: OPS_AUTH })).json()) as { unreadable_shards: number };
		expect(slo.unreadable_shards).toBeGreaterThan(0);
		const scrape = await samples();
		expect(scrape.get("slo_scrape_shards")).toBe(0);
		expect(scrape.get("slo_scrape_shard_failures")).toBeGreaterThan(0);
		await call("ops", "/v1/admin/faults", { method: "DELETE", headers: await operatorAuth() });
		// Lost after every retry: the three requests and the /v1/slo read; the fault endpoint is never subject to the
		// faults it sets, and /metrics is never recorded.
		expect((await dropped()) - before).toBe(4);
		expect(await sloWindow(v, "/v1/auth/me")).toBeUndefined();
	});

	it("a third of calls failing loses nothing: flushes are retried with the same batch id", async () => {
		const v = unique("v");
		const dropped = async () => (await samples()).get("slo_flush_dropped_requests_isolate") ?? Number.NaN;
		const before = await dropped();
		await setFaults({ slo_counter: { rate: 0.3 } });
		for (let i = 0; i < 10; i++) expect((await call(v, "/v1/auth/me", { headers: DEMO_AUTH })).status).toBe(200);
		await call("ops", "/v1/admin/faults", { method: "DELETE", headers: await operatorAuth() });
		// A flush fails for good only when all four attempts do (0.3⁴ ≈ 1 %): then the loss is reported, request
		// for request: counted + reported = 10.
		const counted = (await sloWindow(v, "/v1/auth/me"))?.requests ?? 0;
		expect(counted + ((await dropped()) - before)).toBe(10);
	});
});

describe("streams that fail after their first byte are bad events", () => {
	const STREAM_ROUTE = "/v1/chat/completions";
	// Labels of recorded histograms are exposed in name order.
	const failedStreams = async (v: string, errorType: string) =>
		(await samples()).get(
			`http_server_failed_stream_duration_seconds_count{error_type="${errorType}",http_request_method="POST",http_route="${STREAM_ROUTE}",version="${v}"}`,
		) ?? 0;
	const requests200 = async (v: string) =>
		(await samples()).get(
			`http_server_request_duration_seconds_count{http_route="${STREAM_ROUTE}",http_request_method="POST",http_response_status_code="200",version="${v}"}`,
		) ?? 0;

	it("a model dying after k tokens: the client gets k deltas then an in-stream error; the SLO counts one bad event", async () => {
		await setFaults({ chat_stream: { rate: 1, after_tokens: 3 } });
		const v = unique("v");
		const { res, settled } = await send(v, STREAM_ROUTE, json(chatBody({ stream: true }), DEMO_AUTH));
		expect(res.status).toBe(200);
		const { payloads, done } = events(await res.text());
		await settled();
		expect(done).toBe(false);
		const deltas = payloads.filter(
			(p) => (p.choices as { delta?: { content?: string } }[] | undefined)?.[0]?.delta?.content,
		);
		expect(deltas).toHaveLength(3);
		expect(payloads.at(-1)).toMatchObject({ error: { code: "upstream_error" } });
		expect(await sloWindow(v, STREAM_ROUTE)).toMatchObject({ requests: 1, errors: 1 });
		expect(await failedStreams(v, "model_error")).toBe(1);
		expect(await requests200(v)).toBe(1);
	});

	it("a stream outliving its budget is a bad event of type timeout", async () => {
		const v = unique("v");
		const { res, settled } = await send(v, STREAM_ROUTE, json(chatBody({ stream: true }), DEMO_AUTH), {
			LOCAL_MODEL_TOKEN_DELAY_MS: "50",
			TIMEOUT_STREAM_MS: "120",
		});
		const { payloads, done } = events(await res.text());
		await settled();
		expect(done).toBe(false);
		expect(payloads.at(-1)).toMatchObject({ error: { code: "timeout" } });
		expect(await sloWindow(v, STREAM_ROUTE)).toMatchObject({ requests: 1, errors: 1 });
		expect(await failedStreams(v, "timeout")).toBe(1);
	});

	it("a stream that finishes, and one the client leaves, are good events", async () => {
		const v = unique("v");
		const whole = await send(v, STREAM_ROUTE, json(chatBody({ stream: true }), DEMO_AUTH));
		expect(events(await whole.res.text()).done).toBe(true);
		await whole.settled();
		const left = await send(v, STREAM_ROUTE, json(chatBody({ stream: true }), DEMO_AUTH), {
			LOCAL_MODEL_TOKEN_DELAY_MS: "20",
		});
		const reader = left.res.body?.getReader();
		await reader?.read();
		await reader?.cancel();
		await left.settled();
		expect(await sloWindow(v, STREAM_ROUTE)).toMatchObject({ requests: 2, errors: 0 });
		expect(await failedStreams(v, "model_error")).toBe(0);
	});

	it("a model failing before its first token is retried, then answered as a problem, counted by its status", async () => {
		await setFaults({ chat_stream: { rate: 1, after_tokens: 0 } });
		const v = unique("v");
		const res = await call(v, STREAM_ROUTE, json(chatBody({ stream: true }), DEMO_AUTH), { CHAT_MAX_RETRIES: "1" });
		await expectProblem(res, 502, "bad-gateway");
		expect(await sloWindow(v, STREAM_ROUTE)).toMatchObject({ requests: 1, errors: 1 });
		expect(await failedStreams(v, "model_error")).toBe(0);
	});
});

describe("which statuses are bad events", () => {
	it("4xx answers — 401, 403, 404, 422 and 429 — are good events; 5xx are bad", async () => {
		const v = unique("v");
		const limited = {
			RATE_LIMIT_POLICIES: JSON.stringify([
				{ name: unique("one"), routes: ["GET /v1/models"], key: "subject", limit: 1, window_s: 60 },
			]),
			RATE_LIMIT_TIMEOUT_MS: "5000",
		};
		expect((await call(v, "/v1/models", { headers: DEMO_AUTH }, limited)).status).toBe(200);
		expect((await call(v, "/v1/models", { headers: DEMO_AUTH }, limited)).status).toBe(429);
		expect((await call(v, "/v1/models")).status).toBe(401);
		expect((await call(v, "/metrics", { headers: DEMO_AUTH })).status).toBe(403);
		expect((await call(v, "/v1/chat/completions", json({}, DEMO_AUTH))).status).toBe(422);
		expect((await call(v, "/v1/conversations/none-such", { headers: DEMO_AUTH })).status).toBe(404);
		expect(await sloWindow(v, "/v1/models")).toMatchObject({ requests: 3, errors: 0 });
		await setFaults({ chat_model: { rate: 1 } });
		const failed = await call(v, "/v1/chat/completions", json(chatBody(), DEMO_AUTH), { CHAT_MAX_RETRIES: "0" });
		expect(failed.status).toBe(502);
		expect(await sloWindow(v, "/v1/chat/completions")).toMatchObject({ requests: 2, errors: 1 });
	});
});
