import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { instrument } from "@microlabs/otel-cf-workers";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { traceConfig } from "../../src/telemetry/tracing";
import { DEMO_AUTH, ORIGIN } from "../helpers/workers/http";

// The Worker's entry is instrumented the same way (src/index.ts); here with an OTLP endpoint pointing at the
// loopback receiver, and the chat model at the fake upstream, to see spans and traceparent end to end.
const traced = instrument({ fetch: createApp().fetch }, traceConfig);

type Span = {
	traceId: string;
	spanId: string;
	name: string;
	attributes: { key: string; value: Record<string, unknown> }[];
};
type TracePayload = {
	resourceSpans: {
		resource: { attributes: { key: string; value: { stringValue?: string } }[] };
		scopeSpans: { spans: Span[] }[];
	}[];
};

describe("tracing (otel-cf-workers)", () => {
	it("exports OTLP spans, propagates traceparent to the model upstream, and puts the trace id in problems", async () => {
		const id = `s${Date.now().toString(36)}`;
		await fetch(`${env.TEST_FAKE_OPENAI_URL}/__scenario/${id}`, {
			method: "POST",
			body: JSON.stringify({ steps: [{ kind: "model", text: "traced answer from upstream" }] }),
		});
		const receiver = `ok-traces-${id}`;
		const vars = {
			...env,
			OTLP_ENDPOINT: `${env.TEST_FAKE_OPENAI_URL}/otlp/${receiver}`,
			CHAT_MODELS: JSON.stringify([
				{ id: "up", provider: "openai", base_url: `${env.TEST_FAKE_OPENAI_URL}/s/${id}/v1` },
			]),
		};
		const ctx = createExecutionContext();
		const res = await traced.fetch?.(
			new Request(`${ORIGIN}/v1/chat/completions`, {
				method: "POST",
				headers: { ...DEMO_AUTH, "Content-Type": "application/json" },
				body: JSON.stringify({ model: "up", messages: [{ role: "user", content: "hi" }], max_tokens: 5 }),
			}) as Request<unknown, IncomingRequestCfProperties>,
			vars,
			ctx,
		);
		expect(res?.status).toBe(200);
		await waitOnExecutionContext(ctx);

		const upstream = (await (await fetch(`${env.TEST_FAKE_OPENAI_URL}/__scenario/${id}`)).json()) as {
			traceparents: (string | null)[];
		};
		const traceparent = upstream.traceparents[0];
		expect(traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/);
		const traceId = traceparent?.split("-")[1];

		await expect
			.poll(
				async () =>
					((await (await fetch(`${env.TEST_FAKE_OPENAI_URL}/otlp/${receiver}`)).json()) as { bodies: TracePayload[] })
						.bodies.length,
				{ timeout: 5_000 },
			)
			.toBeGreaterThan(0);
		const { bodies } = (await (await fetch(`${env.TEST_FAKE_OPENAI_URL}/otlp/${receiver}`)).json()) as {
			bodies: TracePayload[];
		};
		const spans = bodies.flatMap((b) => b.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
		expect(spans.length).toBeGreaterThanOrEqual(2);
		expect(spans.every((s) => s.traceId === traceId)).toBe(true);
		const service = bodies[0]?.resourceSpans[0]?.resource.attributes.find((a) => a.key === "service.name");
		expect(service?.value.stringValue).toBe("edge-ai-api");

		// A problem carries the trace id of its request.
		const ctx2 = createExecutionContext();
		const bad = await traced.fetch?.(
			new Request(`${ORIGIN}/v1/chat/completions`, {
				method: "POST",
				headers: { ...DEMO_AUTH, "Content-Type": "application/json" },
				body: "{}",
			}) as Request<unknown, IncomingRequestCfProperties>,
			vars,
			ctx2,
		);
		await waitOnExecutionContext(ctx2);
		const problem = (await bad?.json()) as { trace_id?: string };
		expect(problem.trace_id).toMatch(/^[0-9a-f]{32}$/);
	});
});
