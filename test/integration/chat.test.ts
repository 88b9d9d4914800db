import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { sseData } from "../../src/chat/sse";
import { bearer, callStreaming, callWith, freshPrincipalToken } from "../helpers/workers/auth";
import { DEMO_AUTH, expectProblem } from "../helpers/workers/http";

const post = (body: unknown, headers: Record<string, string> = DEMO_AUTH): RequestInit => ({
	method: "POST",
	headers: { ...headers, "Content-Type": "application/json" },
	body: JSON.stringify(body),
});

async function events(res: Response): Promise<string[]> {
	const out: string[] = [];
	if (res.body) for await (const d of sseData(res.body)) out.push(d);
	return out;
}

describe("POST /v1/chat/completions with the local model", () => {
	it("answers a chat.completion with usage, deterministically", async () => {
		const body = { model: "local", messages: [{ role: "user", content: "Hello edge" }], max_tokens: 12 };
		const a = await callWith({}, "/v1/chat/completions", post(body));
		expect(a.status).toBe(200);
		const json = (await a.json()) as {
			object: string;
			model: string;
			choices: { message: { role: string; content: string }; finish_reason: string }[];
			usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
		};
		expect(json).toMatchObject({ object: "chat.completion", model: "local" });
		expect(json.choices[0]?.message.content).toMatch(/^\[local model\] You said: Hello edge/);
		expect(json.choices[0]?.finish_reason).toBe("length");
		expect(json.usage.completion_tokens).toBe(12);
		expect(json.usage.total_tokens).toBe(json.usage.prompt_tokens + 12);
		const b = (await (await callWith({}, "/v1/chat/completions", post(body))).json()) as typeof json;
		expect(b.choices[0]?.message.content).toBe(json.choices[0]?.message.content);
	});

	it("honours stop sequences (finish_reason stop, the sequence not included)", async () => {
		const res = await callWith(
			{},
			"/v1/chat/completions",
			post({ messages: [{ role: "user", content: "one two" }], stop: ["said:"], max_tokens: 50 }),
		);
		const json = (await res.json()) as { choices: { message: { content: string }; finish_reason: string }[] };
		expect(json.choices[0]).toMatchObject({ message: { content: "[local model] You " }, finish_reason: "stop" });
	});

	it("streams chat.completion.chunk events, a usage chunk when asked, then [DONE]", async () => {
		const { res, settled } = await callStreaming(
			{},
			"/v1/chat/completions",
			post({
				messages: [{ role: "user", content: "stream please" }],
				stream: true,
				stream_options: { include_usage: true },
				max_tokens: 5,
			}),
		);
		expect(res.status).toBe(200);
		expect(res.headers.get("Content-Type")).toMatch(/^text\/event-stream/);
		const data = await events(res);
		await settled();
		expect(data.at(-1)).toBe("[DONE]");
		const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
		expect(chunks[0].choices[0].delta).toEqual({ role: "assistant", content: "" });
		const text = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
		expect(text.split(" ").length).toBe(5);
		const finish = chunks.find((c) => c.choices[0]?.finish_reason);
		expect(finish.choices[0].finish_reason).toBe("length");
		const usage = chunks.at(-1);
		expect(usage.choices).toEqual([]);
		expect(usage.usage).toMatchObject({ completion_tokens: 5 });
	});

	it("rejects invalid requests with 422 and unknown models with 404, in problem+json with OpenAI's error object", async () => {
		const bad = await callWith({}, "/v1/chat/completions", post({ messages: [], temperature: 7 }));
		const problem = await expectProblem(bad, 422, "validation-failed");
		expect(problem.error).toMatchObject({ type: "validation-failed" });
		const unknown = await callWith(
			{},
			"/v1/chat/completions",
			post({ model: "nope", messages: [{ role: "user", content: "x" }] }),
		);
		const p404 = await expectProblem(unknown, 404, "model-not-found");
		expect(p404.error).toMatchObject({ param: "model", message: expect.stringContaining("nope") });
		const tooMany = await callWith(
			{},
			"/v1/chat/completions",
			post({ messages: [{ role: "user", content: "x" }], max_tokens: 10_000_000 }),
		);
		await expectProblem(tooMany, 422, "validation-failed");
	});

	it("ignores unknown fields and requires the chat scope", async () => {
		const ok = await callWith(
			{},
			"/v1/chat/completions",
			post({ messages: [{ role: "user", content: "x" }], frobnicate: 1, max_tokens: 2 }),
		);
		expect(ok.status).toBe(200);
		const noChat = await freshPrincipalToken(`nochat-${Date.now()}`, "rl-tests", ["rag:read"]);
		const denied = await callWith(
			{},
			"/v1/chat/completions",
			post({ messages: [{ role: "user", content: "x" }] }, bearer(noChat)),
		);
		await expectProblem(denied, 403, "forbidden");
	});

	it("lists the configured models", async () => {
		const res = await callWith(
			{
				CHAT_MODELS: JSON.stringify([
					{ id: "local", provider: "local" },
					{ id: "big", provider: "workers-ai", model: "@cf/x" },
				]),
			},
			"/v1/models",
			{ headers: DEMO_AUTH },
		);
		expect(await res.json()).toEqual({
			object: "list",
			data: [
				{ id: "local", object: "model", created: 0, owned_by: "local" },
				{ id: "big", object: "model", created: 0, owned_by: "workers-ai" },
			],
		});
	});
});

describe("conversation memory", () => {
	it("keeps an ordered history per tenant, prepends it, trims it, and forgets it", async () => {
		const id = `conv-${Date.now()}`;
		const ask = (content: string, headers = DEMO_AUTH) =>
			callWith(
				{},
				"/v1/chat/completions",
				post({ conversation_id: id, messages: [{ role: "user", content }], max_tokens: 3 }, headers),
			);
		expect((await ask("first")).status).toBe(200);
		expect((await ask("second")).status).toBe(200);
		const got = (await (await callWith({}, `/v1/conversations/${id}`, { headers: DEMO_AUTH })).json()) as {
			messages: { role: string; content: string }[];
		};
		expect(got.messages.map((m) => m.role)).toEqual(["user", "assistant", "user", "assistant"]);
		expect(got.messages.map((m) => m.content).filter((_, i) => i % 2 === 0)).toEqual(["first", "second"]);

		// Another tenant cannot see or delete it.
		const other = bearer(await freshPrincipalToken(`other-${Date.now()}`, "other-tenant", ["chat"]));
		await expectProblem(await callWith({}, `/v1/conversations/${id}`, { headers: other }), 404, "not-found");
		expect((await callWith({}, `/v1/conversations/${id}`, { method: "DELETE", headers: other })).status).toBe(404);

		// Caps trim the oldest messages.
		expect(
			(
				await callWith(
					{ CONVERSATION_MAX_MESSAGES: "4" },
					"/v1/chat/completions",
					post({ conversation_id: id, messages: [{ role: "user", content: "third" }], max_tokens: 3 }),
				)
			).status,
		).toBe(200);
		const trimmed = (await (
			await callWith({}, `/v1/conversations/${id}`, { headers: DEMO_AUTH })
		).json()) as typeof got;
		expect(trimmed.messages.map((m) => m.content)[0]).toBe("second");
		expect(trimmed.messages).toHaveLength(4);

		expect((await callWith({}, `/v1/conversations/${id}`, { method: "DELETE", headers: DEMO_AUTH })).status).toBe(204);
		expect((await callWith({}, `/v1/conversations/${id}`, { headers: DEMO_AUTH })).status).toBe(404);
	});
});

describe("token budgets with the rate limiter", () => {
	it("reserves prompt estimate + max_tokens and commits the real usage", async () => {
		const subject = `chat-tokens-${Date.now()}`;
		const token = await freshPrincipalToken(subject, "rl-tests", ["chat"]);
		const policies = JSON.stringify([
			{
				name: "chat-tokens",
				routes: ["POST /v1/chat/completions"],
				key: "subject",
				limit: 1000,
				window_s: 3600,
				unit: "tokens",
			},
		]);
		const vars = { RATE_LIMIT_POLICIES: policies, RATE_LIMIT_TIMEOUT_MS: "5000" };
		const res = await callWith(
			vars,
			"/v1/chat/completions",
			post({ messages: [{ role: "user", content: "hi" }], max_tokens: 600 }, bearer(token)),
		);
		expect(res.status).toBe(200);
		const { usage } = (await res.json()) as { usage: { total_tokens: number } };
		// The decision saw the worst case…
		expect(Number(res.headers.get("X-RateLimit-Remaining"))).toBeLessThan(1000 - 600);
		// …and the commit left only the real usage charged.
		const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(`rl:sub:rl-tests/${subject}`));
		const peek = await stub.consume([{ policy: "chat-tokens", limit: 1000, windowMs: 3_600_000, cost: 0 }], {
			dryRun: true,
		});
		expect(peek.decisions[0]?.used).toBe(usage.total_tokens);
		// Streams commit when they end.
		const { res: streamed, settled } = await callStreaming(
			vars,
			"/v1/chat/completions",
			post(
				{
					messages: [{ role: "user", content: "hi" }],
					max_tokens: 300,
					stream: true,
					stream_options: { include_usage: true },
				},
				bearer(token),
			),
		);
		const data = await events(streamed);
		await settled();
		const streamUsage = JSON.parse(data.at(-2) ?? "{}").usage as { total_tokens: number };
		await expect
			.poll(
				async () =>
					(await stub.consume([{ policy: "chat-tokens", limit: 1000, windowMs: 3_600_000, cost: 0 }], { dryRun: true }))
						.decisions[0]?.used,
			)
			.toBe(usage.total_tokens + streamUsage.total_tokens);
	});
});
