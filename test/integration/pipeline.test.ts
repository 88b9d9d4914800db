import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createRoute, z } from "@hono/zod-openapi";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp, createPipeline } from "../../src/app";
import { DEMO_AUTH, expectProblem, ORIGIN, type ProblemBody } from "../helpers/workers/http";

afterEach(() => vi.restoreAllMocks());

const echoRoute = createRoute({
	method: "post",
	path: "/echo",
	request: {
		body: {
			required: true,
			content: {
				"application/json": { schema: z.object({ name: z.string().min(1), count: z.number().int().positive() }) },
			},
		},
	},
	responses: { 200: { description: "echo", content: { "application/json": { schema: z.object({}).loose() } } } },
});

/** The real pipeline with probe routes that misbehave on purpose. */
function probeApp(observed: { aborted?: boolean; reason?: unknown }) {
	const app = createPipeline();
	app.openapi(echoRoute, (c) => c.json(c.req.valid("json"), 200));
	app.get("/boom", () => {
		throw new Error("database password is hunter2");
	});
	app.get("/slow", async (c) => {
		const { signal } = c.get("deadline");
		await new Promise<void>((resolve) => signal.addEventListener("abort", () => resolve()));
		observed.aborted = signal.aborted;
		observed.reason = signal.reason;
		return c.text("too late");
	});
	app.get("/stream", (c) => {
		const { signal } = c.get("deadline");
		const stream = new ReadableStream<Uint8Array>({
			start(controller) {
				controller.enqueue(new TextEncoder().encode('data: {"n":1}\n\n'));
				signal.addEventListener("abort", () => {
					observed.aborted = true;
				});
			},
		});
		return new Response(stream, { headers: { "Content-Type": "text/event-stream" } });
	});
	app.get("/extended", async (c) => {
		c.get("deadline").extend(200);
		await new Promise((r) => setTimeout(r, 60));
		return c.text("made it");
	});
	return app;
}

const testEnv = { ...env, TIMEOUT_DEFAULT_MS: "30", MAX_BODY_BYTES: "1024" };

/** Sends through the pipeline as the demo client (the probe routes are protected like every non-public route). */
async function send(app: ReturnType<typeof createPipeline>, path: string, init?: RequestInit, bindings = testEnv) {
	const ctx = createExecutionContext();
	const request = new Request(ORIGIN + path, init);
	for (const [k, v] of Object.entries(DEMO_AUTH)) request.headers.set(k, v);
	const res = await app.fetch(request, bindings, ctx);
	return { res, ctx };
}

const json = (body: string, headers: Record<string, string> = {}): RequestInit => ({
	method: "POST",
	body,
	headers: { "Content-Type": "application/json", ...headers },
});

describe("request bodies", () => {
	const app = probeApp({});

	it("valid JSON passes through", async () => {
		const { res } = await send(app, "/echo", json('{"name":"a","count":2}'));
		expect(res.status).toBe(200);
		expect(await res.json()).toEqual({ name: "a", count: 2 });
	});

	it("malformed JSON → 400", async () => {
		const { res } = await send(app, "/echo", json('{"name": "a",'));
		await expectProblem(res, 400, "malformed-json");
	});

	it("schema violation → 422 naming every failing field", async () => {
		const { res } = await send(app, "/echo", json('{"name":"","count":1.5,"extra":true}'));
		const body = await expectProblem(res, 422, "validation-failed");
		expect(body.errors?.map((e) => e.path).sort()).toEqual(["json.count", "json.name"]);
		expect(body.detail).toContain("json.name");
	});

	it("a declared Content-Length over the limit → 413 before the body is read", async () => {
		const { res } = await send(app, "/echo", json(JSON.stringify({ name: "x".repeat(2000), count: 1 })));
		const body = await expectProblem(res, 413, "content-too-large");
		expect(body.max_bytes).toBe(1024);
	});

	it("a chunked body crossing the limit → 413", async () => {
		const chunk = new TextEncoder().encode(" ".repeat(400));
		const stream = new ReadableStream<Uint8Array>({
			start(controller) {
				for (let i = 0; i < 5; i++) controller.enqueue(chunk);
				controller.close();
			},
		});
		const { res } = await send(app, "/echo", {
			method: "POST",
			body: stream,
			headers: { "Content-Type": "application/json" },
		});
		await expectProblem(res, 413, "content-too-large");
	});
});

describe("unexpected exceptions", () => {
	it("answer an opaque 500 and log the full error with the request id", async () => {
		const lines: string[] = [];
		vi.spyOn(console, "log").mockImplementation((l: unknown) => void lines.push(String(l)));
		const { res } = await send(probeApp({}), "/boom", { headers: { "X-Request-ID": "boom-1" } });
		const body = await expectProblem(res, 500, "internal");
		expect(JSON.stringify(body)).not.toContain("hunter2");
		const logged = lines.map((l) => JSON.parse(l)).filter((e) => e.request_id === "boom-1");
		const failure = logged.find((e) => e.msg === "request failed");
		expect(failure?.error_message).toBe("database password is hunter2");
		expect(failure?.error_stack).toContain("Error");
		expect(logged.find((e) => e.msg === "request")).toMatchObject({ level: "error", status: 500, route: "/boom" });
	});
});

describe("timeouts", () => {
	it("answer 504 at the deadline and abort the handler's upstream work", async () => {
		const observed: { aborted?: boolean; reason?: unknown } = {};
		const { res, ctx } = await send(probeApp(observed), "/slow");
		const body = await expectProblem(res, 504, "timeout");
		expect(body.detail).toContain("30 ms");
		await waitOnExecutionContext(ctx);
		await vi.waitFor(() => expect(observed.aborted).toBe(true));
		expect((observed.reason as DOMException).name).toBe("TimeoutError");
	});

	it("a streaming response gets an in-stream error event at the deadline, then closes", async () => {
		const observed: { aborted?: boolean } = {};
		const { res } = await send(probeApp(observed), "/stream");
		expect(res.status).toBe(200);
		const text = await res.text(); // resolves only because the deadline closes the stream
		expect(text.startsWith('data: {"n":1}\n\n')).toBe(true);
		expect(text).toContain('"type":"timeout"');
		expect(observed.aborted).toBe(true);
	});

	it("a handler can extend its budget (streaming routes move to the streaming timeout)", async () => {
		const { res } = await send(probeApp({}), "/extended");
		expect(res.status).toBe(200);
		expect(await res.text()).toBe("made it");
	});
});

describe("invalid configuration", () => {
	const broken = { ...env, MAX_BODY_BYTES: "lots", LOG_LEVEL: "chatty" };
	const app = createApp();

	it("keeps liveness up", async () => {
		const { res } = await send(app, "/healthz", undefined, broken);
		expect(res.status).toBe(200);
	});

	it("readiness reports the invalid variables", async () => {
		const { res } = await send(app, "/readyz", undefined, broken);
		const body = (await expectProblem(res, 503, "not-ready")) as ProblemBody & {
			checks: { config: { ok: boolean; extra: { issues: { variable: string }[] } } };
		};
		expect(body.checks.config.ok).toBe(false);
		expect(body.checks.config.extra.issues.map((i) => i.variable).sort()).toEqual(["LOG_LEVEL", "MAX_BODY_BYTES"]);
	});

	it("every other route answers 503 naming each variable", async () => {
		const { res } = await send(app, "/version", undefined, broken);
		expect(res.headers.get("Retry-After")).toBe("30");
		const body = await expectProblem(res, 503, "misconfigured");
		expect(body.detail).toContain("MAX_BODY_BYTES");
		expect(body.detail).toContain("LOG_LEVEL");
		expect(body.errors?.map((e) => e.path).sort()).toEqual(["LOG_LEVEL", "MAX_BODY_BYTES"]);
	});
});

describe("CORS", () => {
	it("is off when CORS_ORIGINS is empty, and answers only listed origins when set", async () => {
		const app = createApp();
		const off = await send(app, "/healthz", { headers: { Origin: "https://a.example" } }, { ...env, CORS_ORIGINS: "" });
		expect(off.res.headers.get("Access-Control-Allow-Origin")).toBeNull();
		const listed = { ...env, CORS_ORIGINS: "https://a.example" };
		const ok = await send(app, "/healthz", { headers: { Origin: "https://a.example" } }, listed);
		expect(ok.res.headers.get("Access-Control-Allow-Origin")).toBe("https://a.example");
		const other = await send(app, "/healthz", { headers: { Origin: "https://evil.example" } }, listed);
		expect(other.res.headers.get("Access-Control-Allow-Origin")).toBeNull();
	});
});
