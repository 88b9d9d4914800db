import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { LocalModel } from "../../src/adapters/local-model";
import { OpenAICompatibleModel } from "../../src/adapters/openai-upstream";
import { type AiBinding, WorkersAiModel } from "../../src/adapters/workers-ai";
import { type ChatModel, type ChatParams, type ChatStreamEvent, ProviderError } from "../../src/ports/chat-model";

/**
 * One contract for every ChatModel adapter. The remote ones run against stand-ins that reproduce their real
 * formats and quirks: the fake OpenAI upstream (a real HTTP server) and a Workers AI binding stub that answers
 * `{ response, usage }`, streams `data: {"response":…,"p":…}` lines (empty first, usage last) and ignores `stop`.
 */
const REPLY = "The quick brown fox jumps over the lazy dog while the edge answers every request in time";

/** Workers AI's behaviour as observed: words as tokens, max_tokens honoured, stop ignored, native formats. */
function workersAiStub(): AiBinding {
	return {
		async run(_model, inputs) {
			const words = REPLY.split(" ").slice(0, Number(inputs.max_tokens ?? 256));
			const text = words.join(" ");
			const usage = { prompt_tokens: 11, completion_tokens: words.length, total_tokens: 11 + words.length };
			if (!inputs.stream) return { response: text, tool_calls: [], usage };
			const enc = new TextEncoder();
			const lines = [
				{ response: "", p: "abc" },
				...words.map((w, i) => ({ response: i === 0 ? w : ` ${w}`, p: "abcdef".slice(0, (i % 5) + 1) })),
				{ response: null, p: "x" },
				{ response: "", usage },
			];
			return new ReadableStream<Uint8Array>({
				start(controller) {
					// Split mid-line, as the network does.
					const all = `${lines.map((l) => `data: ${JSON.stringify(l)}\n\n`).join("")}data: [DONE]\n\n`;
					for (let i = 0; i < all.length; i += 37) controller.enqueue(enc.encode(all.slice(i, i + 37)));
					controller.close();
				},
			});
		},
	};
}

let n = 0;
async function openAIUpstream(): Promise<ChatModel> {
	const id = `contract${Date.now().toString(36)}${n++}`;
	await fetch(`${env.TEST_FAKE_OPENAI_URL}/__scenario/${id}`, {
		method: "POST",
		body: JSON.stringify({ steps: [{ kind: "model", text: REPLY }] }),
	});
	return new OpenAICompatibleModel({
		baseUrl: `${env.TEST_FAKE_OPENAI_URL}/s/${id}/v1`,
		apiKey: "sk-test",
		model: "gpt-test",
	});
}

const providers: [string, () => Promise<ChatModel>][] = [
	["local", async () => new LocalModel({ tokenDelayMs: 0 })],
	["openai-compatible", openAIUpstream],
	["workers-ai", async () => new WorkersAiModel(workersAiStub(), "@cf/meta/llama-3.1-8b-instruct")],
];

const params = (over: Partial<ChatParams> = {}): ChatParams => ({
	messages: [
		{ role: "system", content: "Be brief." },
		{ role: "user", content: "Tell me about the edge" },
	],
	maxTokens: 200,
	stop: [],
	signal: new AbortController().signal,
	...over,
});

async function collect(stream: AsyncIterable<ChatStreamEvent>): Promise<ChatStreamEvent[]> {
	const out: ChatStreamEvent[] = [];
	for await (const e of stream) out.push(e);
	return out;
}

describe.each(providers)("ChatModel contract: %s", (_name, make) => {
	it("completes with content, a finish reason and usage", async () => {
		const r = await (await make()).complete(params());
		expect(r.content.length).toBeGreaterThan(0);
		expect(r.finishReason).toBe("stop");
		expect(r.usage.promptTokens).toBeGreaterThan(0);
		expect(r.usage.completionTokens).toBeGreaterThan(0);
	});

	it("streams deltas then exactly one finish, adding up to the same completion", async () => {
		const model = await make();
		const whole = await model.complete(params());
		const events = await collect(model.stream(params()));
		const finishes = events.filter((e) => e.type === "finish");
		expect(finishes).toHaveLength(1);
		expect(events.at(-1)?.type).toBe("finish");
		const text = events.map((e) => (e.type === "delta" ? e.content : "")).join("");
		expect(text).toBe(whole.content);
		expect(events.every((e) => e.type !== "delta" || e.content.length > 0)).toBe(true);
		expect(finishes[0]).toMatchObject({ finishReason: "stop", usage: whole.usage });
	});

	it("honours max_tokens: finish_reason length, no more tokens than asked", async () => {
		const model = await make();
		const r = await model.complete(params({ maxTokens: 3 }));
		expect(r.finishReason).toBe("length");
		expect(r.usage.completionTokens).toBeLessThanOrEqual(3);
		const events = await collect(model.stream(params({ maxTokens: 3 })));
		expect(events.at(-1)).toMatchObject({ type: "finish", finishReason: "length" });
	});

	it("honours stop: the output ends before the stop sequence, streamed or not", async () => {
		const model = await make();
		const full = (await model.complete(params())).content;
		const words = full.split(" ");
		const stop = ` ${words[3]}`;
		const expected = full.slice(0, full.indexOf(stop));
		const r = await model.complete(params({ stop: [stop] }));
		expect(r).toMatchObject({ content: expected, finishReason: "stop" });
		const streamed = (await collect(model.stream(params({ stop: [stop] }))))
			.map((e) => (e.type === "delta" ? e.content : ""))
			.join("");
		expect(streamed).toBe(expected);
	});

	it("rejects when its signal is aborted", async () => {
		const controller = new AbortController();
		controller.abort(new Error("client gone"));
		const model = await make();
		await expect(model.complete(params({ signal: controller.signal }))).rejects.toThrow();
		await expect(collect(model.stream(params({ signal: controller.signal })))).rejects.toThrow();
	});
});

describe("provider error classification", () => {
	it("Workers AI: capacity is retryable, invalid input is the client's", async () => {
		const failing = (message: string): AiBinding => ({
			run: async () => {
				throw new Error(message);
			},
		});
		const capacity = new WorkersAiModel(
			failing("AiError: 3040: Capacity temporarily exceeded, please try again."),
			"@cf/m",
		);
		await expect(capacity.complete(params())).rejects.toMatchObject({ kind: "rate-limited", retryable: true });
		const invalid = new WorkersAiModel(
			failing("AiError: 5006: Error: required properties at '/' are 'messages'"),
			"@cf/m",
		);
		const err = await invalid.complete(params()).catch((e: unknown) => e);
		expect(err).toBeInstanceOf(ProviderError);
		expect((err as ProviderError).retryable).toBe(false);
		const other = new WorkersAiModel(failing("InferenceUpstreamError: upstream connect error"), "@cf/m");
		await expect(other.complete(params())).rejects.toMatchObject({ kind: "server", retryable: true });
	});
});
