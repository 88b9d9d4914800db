import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../helpers/node/dev-server";
import { DEMO_KEY } from "../helpers/node/local-credentials";

// The official OpenAI SDK, as users run it, against `npm start` (real wrangler dev, local model, offline).
let server: DevServer;
let client: OpenAI;
beforeAll(async () => {
	server = await startDevServer({ READY_TIMEOUT_MS: "30000" });
	client = new OpenAI({ baseURL: `${server.base}/v1`, apiKey: DEMO_KEY, maxRetries: 0 });
}, 120_000);
afterAll(async () => {
	await server?.stop();
});

describe("the openai npm SDK against the local service", () => {
	it("creates a plain completion with usage", async () => {
		const completion = await client.chat.completions.create({
			model: "local",
			messages: [{ role: "user", content: "Hello from the SDK" }],
			max_tokens: 16,
		});
		expect(completion.object).toBe("chat.completion");
		expect(completion.model).toBe("local");
		expect(completion.choices[0]?.message.content).toMatch(/^\[local model\] You said: Hello from the SDK/);
		expect(completion.choices[0]?.finish_reason).toBe("length");
		expect(completion.usage?.completion_tokens).toBe(16);
	});

	it("streams a completion chunk by chunk, with usage at the end", async () => {
		const stream = await client.chat.completions.create({
			model: "local",
			messages: [{ role: "user", content: "Stream to me" }],
			max_tokens: 8,
			stream: true,
			stream_options: { include_usage: true },
		});
		let text = "";
		let chunks = 0;
		let usage: OpenAI.CompletionUsage | null | undefined;
		let finish: string | null | undefined;
		for await (const chunk of stream) {
			chunks++;
			text += chunk.choices[0]?.delta?.content ?? "";
			finish ??= chunk.choices[0]?.finish_reason;
			if (chunk.usage) usage = chunk.usage;
		}
		expect(chunks).toBeGreaterThanOrEqual(10);
		expect(text).toMatch(/^\[local model\]/);
		expect(finish).toBe("length");
		expect(usage?.completion_tokens).toBe(8);
	});

	it("surfaces errors as the SDK's APIError subclasses with our message", async () => {
		const notFound = await client.chat.completions
			.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] })
			.catch((e: unknown) => e);
		expect(notFound).toBeInstanceOf(OpenAI.NotFoundError);
		expect((notFound as InstanceType<typeof OpenAI.APIError>).message).toContain("no-such-model");
		const invalid = await client.chat.completions
			.create({ model: "local", messages: [{ role: "user", content: "x" }], temperature: 9 })
			.catch((e: unknown) => e);
		expect(invalid).toBeInstanceOf(OpenAI.UnprocessableEntityError);
		const unauthenticated = await new OpenAI({ baseURL: `${server.base}/v1`, apiKey: "wrong", maxRetries: 0 }).models
			.list()
			.catch((e: unknown) => e);
		expect(unauthenticated).toBeInstanceOf(OpenAI.AuthenticationError);
	});

	it("creates embeddings", async () => {
		const res = await client.embeddings.create({ model: "local-hash-768", input: ["edge workers", "durable objects"] });
		expect(res.data).toHaveLength(2);
		expect(res.data[0]?.embedding).toHaveLength(768);
		expect(res.model).toBe("local-hash-768");
	});

	it("lists the models", async () => {
		const models = await client.models.list();
		expect(models.data.map((m) => m.id)).toContain("local");
	});
});
