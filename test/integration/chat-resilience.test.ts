import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { sseData } from "../../src/chat/sse";
import { FALLBACK_CONFIG } from "../../src/config";
import type { Step } from "../helpers/fake-openai-steps";
import { callStreaming, callWith } from "../helpers/workers/auth";
import { DEMO_AUTH, expectProblem } from "../helpers/workers/http";

let n = 0;
/** A fresh scenario on the fake upstream, and the variables that route model "up" (then "local") to it. */
async function scenario(steps: Step[], vars: Record<string, string> = {}) {
	const id = `s${Date.now().toString(36)}${n++}`;
	await fetch(`${env.TEST_FAKE_OPENAI_URL}/__scenario/${id}`, { method: "POST", body: JSON.stringify({ steps }) });
	const models = [
		{
			id: "up",
			provider: "openai",
			base_url: `${env.TEST_FAKE_OPENAI_URL}/s/${id}/v1`,
			model: "gpt-test",
			fallbacks: vars.FALLBACK ? ["local"] : [],
		},
		{ id: "local", provider: "local" },
	];
	const { FALLBACK: _f, ...rest } = vars;
	return {
		vars: {
			CHAT_MODELS: JSON.stringify(models),
			CHAT_RETRY_BASE_MS: "1",
			CHAT_RETRY_MAX_MS: "20",
			CHAT_MAX_RETRIES: "2",
			CHAT_ATTEMPT_TIMEOUT_MS: "2000",
			...rest,
		},
		stats: async () =>
			(await (await fetch(`${env.TEST_FAKE_OPENAI_URL}/__scenario/${id}`)).json()) as {
				attempts: number;
				aborted: number;
				bodies: Record<string, unknown>[];
			},
	};
}

const completion = (content: string) => ({
	kind: "json" as const,
	status: 200,
	body: {
		id: "chatcmpl-x",
		object: "chat.completion",
		created: 1,
		model: "gpt-test",
		choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
		usage: { prompt_tokens: 9, completion_tokens: 2, total_tokens: 11 },
	},
});
const failure = (status: number, headers: Record<string, string> = {}) => ({
	kind: "json" as const,
	status,
	headers,
	body: { error: { message: `upstream says ${status}`, type: "server_error" } },
});
const chunk = (content: string | null, finish: string | null = null) =>
	JSON.stringify({
		id: "c",
		object: "chat.completion.chunk",
		created: 1,
		model: "gpt-test",
		choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finish }],
	});

const ask = (vars: Record<string, string>, extra: object = {}) =>
	callWith(vars, "/v1/chat/completions", {
		method: "POST",
		headers: { ...DEMO_AUTH, "Content-Type": "application/json" },
		body: JSON.stringify({ model: "up", messages: [{ role: "user", content: "hi" }], max_tokens: 20, ...extra }),
	});

afterEach(() => vi.restoreAllMocks());

describe("chat resilience against a real HTTP upstream", () => {
	it("retries 5xx and succeeds: exactly three attempts; sends OpenAI's request format", async () => {
		const s = await scenario([failure(500), failure(503), completion("Hello!")]);
		const res = await ask(s.vars);
		expect(res.status).toBe(200);
		expect(((await res.json()) as { choices: { message: { content: string } }[] }).choices[0]?.message.content).toBe(
			"Hello!",
		);
		const stats = await s.stats();
		expect(stats.attempts).toBe(3);
		expect(stats.bodies[0]).toMatchObject({
			model: "gpt-test",
			max_tokens: 20,
			stream: false,
			messages: [{ role: "user", content: "hi" }],
		});
	});

	it("never retries a 4xx: one attempt, passed through with its status and code — never the upstream's message", async () => {
		const s = await scenario([failure(400)]);
		const body = await expectProblem(await ask(s.vars), 400, "upstream-rejected");
		expect(body.detail).not.toContain("upstream says 400");
		expect(body.upstream_status).toBe(400);
		expect((await s.stats()).attempts).toBe(1);
		// A provider that echoes our key: status and code reach the client, the message only the (redacted) log.
		const lines: string[] = [];
		const log = vi.spyOn(console, "log").mockImplementation((l: unknown) => void lines.push(String(l)));
		const leaky = await scenario([
			{
				kind: "json",
				status: 401,
				body: {
					error: {
						message: "Incorrect API key provided: sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD.",
						type: "invalid_request_error",
						code: "invalid_api_key",
					},
				},
			},
		]);
		const res = await ask(leaky.vars);
		const text = await res.clone().text();
		const problem = await expectProblem(res, 401, "upstream-rejected");
		expect(problem).toMatchObject({ upstream_status: 401, upstream_code: "invalid_api_key" });
		expect(text).not.toContain("sk-proj");
		expect(text).not.toContain("Incorrect API key");
		log.mockRestore();
		const logged = lines.find((l) => l.includes("model provider rejected the request")) ?? "";
		expect(logged).toContain("Incorrect API key provided");
		expect(logged).not.toContain("abcdefghijklmnopqrstuvwxyz0123456789");
	});

	it("honours Retry-After on 429 before retrying", async () => {
		const log = vi.spyOn(console, "log");
		const s = await scenario([failure(429, { "Retry-After": "1" }), completion("ok")], { CHAT_RETRY_MAX_MS: "1000" });
		expect((await ask(s.vars)).status).toBe(200);
		expect((await s.stats()).attempts).toBe(2);
		const retry = log.mock.calls.map((c) => String(c[0])).find((l) => l.includes('"msg":"model call retried"'));
		expect(JSON.parse(retry ?? "{}").delay_ms).toBeGreaterThanOrEqual(1000);
	});

	it("gives up after the retries with 502, and retries network failures", async () => {
		const s = await scenario([failure(500)]);
		await expectProblem(await ask(s.vars), 502, "bad-gateway");
		expect((await s.stats()).attempts).toBe(3);
		const reset = await scenario([{ kind: "reset" }, completion("back")]);
		expect((await ask(reset.vars)).status).toBe(200);
		expect((await reset.stats()).attempts).toBe(2);
	});

	it("opens the circuit when its failure rate reaches the threshold: later calls do not reach the upstream", async () => {
		const s = await scenario([failure(500)], {
			CHAT_MAX_RETRIES: "0",
			CHAT_BREAKER_MIN_CALLS: "2",
			CHAT_BREAKER_FAILURE_RATE: "1",
			CHAT_BREAKER_COOLDOWN_MS: "60000",
		});
		await expectProblem(await ask(s.vars), 502, "bad-gateway");
		await expectProblem(await ask(s.vars), 502, "bad-gateway");
		const refused = await ask(s.vars);
		await expectProblem(refused, 503, "upstream-unavailable");
		// The cooldown left, rounded up to seconds: about 60.
		expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(55);
		expect(Number(refused.headers.get("Retry-After"))).toBeLessThanOrEqual(60);
		expect((await s.stats()).attempts).toBe(2);
	});

	it("stays at least 99 % available with the default retries when 30 % of upstream calls fail, runs of failures included", async () => {
		// A fixed sequence (a seeded generator): 30 % failures, with runs of five and more that a breaker counting
		// consecutive failures would open on.
		let seed = 42;
		const random = () => {
			seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
			return seed / 2 ** 31;
		};
		const fails = Array.from({ length: 1_000 }, () => random() < 0.3);
		let longestRun = 0;
		let run = 0;
		for (const failed of fails) {
			run = failed ? run + 1 : 0;
			longestRun = Math.max(longestRun, run);
		}
		expect(longestRun).toBeGreaterThanOrEqual(5);
		expect(fails.filter(Boolean).length / fails.length).toBeCloseTo(0.3, 1);
		const s = await scenario(
			fails.map((f) => (f ? failure(503) : completion("ok"))),
			// The defaults of retries and breaker; only the backoff is shortened so the test is quick.
			{ CHAT_MAX_RETRIES: String(FALLBACK_CONFIG.chat.retry.maxRetries) },
		);
		// What clients must see, worked out from the sequence: each request takes attempts until one succeeds or
		// 1 + CHAT_MAX_RETRIES have failed.
		const attemptsPerRequest = 1 + FALLBACK_CONFIG.chat.retry.maxRetries;
		const requests = 150;
		let cursor = 0;
		let expectedOk = 0;
		for (let r = 0; r < requests; r++) {
			for (let a = 0; a < attemptsPerRequest; a++) {
				const failed = fails[cursor++];
				if (!failed) {
					expectedOk++;
					break;
				}
			}
		}
		const statuses: number[] = [];
		for (let r = 0; r < requests; r++) {
			const res = await ask(s.vars);
			statuses.push(res.status);
			await res.body?.cancel();
		}
		expect(statuses.filter((x) => x === 200).length).toBe(expectedOk);
		expect(expectedOk / requests).toBeGreaterThanOrEqual(0.99);
		// The breaker never opened: no request was refused without reaching the upstream.
		expect(statuses).not.toContain(503);
		expect((await s.stats()).attempts).toBe(cursor);
	});

	it("opens when every call fails, answers fast with 503 and Retry-After, and closes by itself once the model recovers", async () => {
		const s = await scenario([...Array.from({ length: 10 }, () => failure(500)), completion("back")], {
			CHAT_MAX_RETRIES: "4",
			CHAT_BREAKER_MIN_CALLS: "10",
			CHAT_BREAKER_FAILURE_RATE: "0.5",
			CHAT_BREAKER_COOLDOWN_MS: "300",
			CHAT_BREAKER_PROBES: "2",
		});
		// Two requests of five failed attempts each: ten calls, all failed.
		await expectProblem(await ask(s.vars), 502, "bad-gateway");
		await expectProblem(await ask(s.vars), 502, "bad-gateway");
		const refused = await ask(s.vars);
		await expectProblem(refused, 503, "upstream-unavailable");
		expect(refused.headers.get("Retry-After")).toBe("1");
		expect((await s.stats()).attempts).toBe(10);
		await new Promise((r) => setTimeout(r, 350));
		// Half-open: two probes that succeed close it.
		for (let i = 0; i < 3; i++) expect((await ask(s.vars)).status).toBe(200);
		expect((await s.stats()).attempts).toBe(13);
	});

	it("falls back to the next model of the list", async () => {
		const s = await scenario([failure(502)], { FALLBACK: "1" });
		const res = await ask(s.vars);
		expect(res.status).toBe(200);
		expect(((await res.json()) as { model: string }).model).toBe("local");
		expect((await s.stats()).attempts).toBe(3);
	});

	it("times out each attempt and aborts it upstream", async () => {
		const s = await scenario([{ kind: "hang" }], { CHAT_ATTEMPT_TIMEOUT_MS: "200", CHAT_MAX_RETRIES: "1" });
		await expectProblem(await ask(s.vars), 504, "timeout");
		await expect.poll(async () => (await s.stats()).aborted).toBe(2);
		expect((await s.stats()).attempts).toBe(2);
	});

	it("normalises an upstream stream and reports a mid-stream failure in-stream", async () => {
		const good = await scenario([
			{
				kind: "stream",
				data: [
					chunk("Hel"),
					chunk("lo"),
					chunk(null, "stop"),
					JSON.stringify({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } }),
					"[DONE]",
				],
			},
		]);
		const { res, settled } = await callStreaming(good.vars, "/v1/chat/completions", {
			method: "POST",
			headers: { ...DEMO_AUTH, "Content-Type": "application/json" },
			body: JSON.stringify({
				model: "up",
				messages: [{ role: "user", content: "hi" }],
				stream: true,
				stream_options: { include_usage: true },
			}),
		});
		const data: string[] = [];
		for await (const d of sseData(res.body as ReadableStream<Uint8Array>)) data.push(d);
		await settled();
		const parsed = data.slice(0, -1).map((d) => JSON.parse(d));
		expect(parsed.map((c) => c.choices[0]?.delta?.content ?? "").join("")).toBe("Hello");
		expect(parsed.at(-1).usage).toEqual({ prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 });
		expect(good.stats).toBeDefined();
		expect((await good.stats()).bodies[0]).toMatchObject({ stream: true, stream_options: { include_usage: true } });

		const broken = await scenario([
			{ kind: "stream", data: [chunk("Hel"), chunk("lo"), chunk(" world")], breakAfter: 2, chunkDelayMs: 20 },
		]);
		const b = await callStreaming(broken.vars, "/v1/chat/completions", {
			method: "POST",
			headers: { ...DEMO_AUTH, "Content-Type": "application/json" },
			body: JSON.stringify({ model: "up", messages: [{ role: "user", content: "hi" }], stream: true }),
		});
		const out: string[] = [];
		for await (const d of sseData(b.res.body as ReadableStream<Uint8Array>)) out.push(d);
		await b.settled();
		expect(out.some((d) => d.includes('"content":"lo"'))).toBe(true);
		expect(JSON.parse(out.at(-1) ?? "{}").error).toMatchObject({
			type: expect.any(String),
			message: expect.any(String),
		});
		expect(out).not.toContain("[DONE]");
		expect((await broken.stats()).attempts).toBe(1);
	});

	it("aborts the upstream call when the client goes away mid-stream", async () => {
		const s = await scenario([
			{ kind: "stream", data: Array.from({ length: 50 }, (_, i) => chunk(`t${i} `)), chunkDelayMs: 100 },
		]);
		const { res, settled } = await callStreaming(s.vars, "/v1/chat/completions", {
			method: "POST",
			headers: { ...DEMO_AUTH, "Content-Type": "application/json" },
			body: JSON.stringify({ model: "up", messages: [{ role: "user", content: "hi" }], stream: true }),
		});
		const reader = (res.body as ReadableStream<Uint8Array>).getReader();
		await reader.read();
		await reader.cancel();
		await settled();
		await expect.poll(async () => (await s.stats()).aborted, { timeout: 4_000 }).toBe(1);
	});

	it("sends keep-alive comments while the model is quiet, before the first token and between tokens", async () => {
		const s = await scenario(
			[
				{
					kind: "stream",
					delayMs: 350,
					chunkDelayMs: 250,
					data: [chunk("a"), chunk("b"), chunk(null, "stop"), "[DONE]"],
				},
			],
			{ CHAT_KEEPALIVE_MS: "100" },
		);
		const { res, settled } = await callStreaming(s.vars, "/v1/chat/completions", {
			method: "POST",
			headers: { ...DEMO_AUTH, "Content-Type": "application/json" },
			body: JSON.stringify({ model: "up", messages: [{ role: "user", content: "hi" }], stream: true }),
		});
		const raw = await res.text();
		await settled();
		const beforeFirst = raw.slice(0, raw.indexOf("data:"));
		expect(beforeFirst).toContain(": keep-alive");
		const afterFirst = raw.slice(raw.indexOf('"content":"a"'));
		expect(afterFirst).toContain(": keep-alive");
		expect(raw.trimEnd().endsWith("data: [DONE]")).toBe(true);
	});

	it("answers 504 when the route's deadline passes, and aborts the upstream call", async () => {
		const s = await scenario([{ kind: "hang" }], { TIMEOUT_CHAT_MS: "300", CHAT_ATTEMPT_TIMEOUT_MS: "60000" });
		await expectProblem(await ask(s.vars), 504, "timeout");
		await expect.poll(async () => (await s.stats()).aborted).toBe(1);
	});
});
