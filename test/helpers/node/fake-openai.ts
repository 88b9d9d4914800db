import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";
import type { Step } from "../fake-openai-steps";

/**
 * A fake OpenAI-compatible upstream on loopback (vitest globalSetup), scripted per scenario so tests run in
 * parallel: `POST /__scenario/<id>` with `{ steps: Step[] }` sets what successive calls to
 * `/s/<id>/v1/chat/completions` get (the last step repeats); `GET /__scenario/<id>` reports the attempts, the
 * request bodies and how many calls the client aborted. Its responses follow OpenAI's real formats.
 */
export type { Step } from "../fake-openai-steps";

declare module "vitest" {
	export interface ProvidedContext {
		fakeOpenAIUrl: string;
	}
}

type Scenario = {
	steps: Step[];
	attempts: number;
	aborted: number;
	bodies: unknown[];
	traceparents: (string | null)[];
};

let server: Server | undefined;

type ModelRequest = {
	max_tokens?: number;
	stop?: string[];
	stream?: boolean;
	stream_options?: { include_usage?: boolean };
};

/** A real model's behaviour, in OpenAI's formats: words as tokens, max_tokens → "length", stop → cut. */
function model(text: string, body: ModelRequest, res: import("node:http").ServerResponse) {
	const words = text.split(" ").map((w, i) => (i === 0 ? w : ` ${w}`));
	let out: string[] = [];
	let finish = "stop";
	let acc = "";
	for (const w of words) {
		if (out.length >= (body.max_tokens ?? Number.POSITIVE_INFINITY)) {
			finish = "length";
			break;
		}
		const next = acc + w;
		const at = Math.min(
			...(body.stop ?? []).map((s) => next.indexOf(s)).filter((i) => i >= 0),
			Number.POSITIVE_INFINITY,
		);
		if (Number.isFinite(at)) {
			const part = next.slice(acc.length, at);
			if (part) out.push(part);
			break;
		}
		out.push(w);
		acc = next;
	}
	out = out.filter(Boolean);
	const usage = { prompt_tokens: 7, completion_tokens: out.length, total_tokens: 7 + out.length };
	const base = { id: "chatcmpl-fake", created: 1, model: "gpt-test" };
	if (!body.stream) {
		res.writeHead(200, { "content-type": "application/json" });
		res.end(
			JSON.stringify({
				...base,
				object: "chat.completion",
				choices: [{ index: 0, message: { role: "assistant", content: out.join("") }, finish_reason: finish }],
				usage,
			}),
		);
		return;
	}
	res.writeHead(200, { "content-type": "text/event-stream" });
	const ev = (o: unknown) => res.write(`data: ${JSON.stringify(o)}\n\n`);
	ev({
		...base,
		object: "chat.completion.chunk",
		choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }],
	});
	for (const w of out)
		ev({
			...base,
			object: "chat.completion.chunk",
			choices: [{ index: 0, delta: { content: w }, finish_reason: null }],
		});
	ev({ ...base, object: "chat.completion.chunk", choices: [{ index: 0, delta: {}, finish_reason: finish }] });
	if (body.stream_options?.include_usage) ev({ ...base, object: "chat.completion.chunk", choices: [], usage });
	res.end("data: [DONE]\n\n");
}

export default async function setup(project: TestProject) {
	const scenarios = new Map<string, Scenario>();
	const received = new Map<string, { attempts: number; bodies: unknown[] }>();
	server = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on("data", (c: Buffer) => chunks.push(c));
		req.on("end", async () => {
			const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
				res.writeHead(status, { "content-type": "application/json", ...headers });
				res.end(JSON.stringify(body));
			};
			const url = req.url ?? "";
			// A stand-in OTLP/HTTP receiver: /otlp/ok-*/v1/metrics accepts, /otlp/fail-*/v1/metrics answers 503.
			const otlp = /^\/otlp\/((ok|fail)-[\w-]+)(\/v1\/(metrics|traces))?$/.exec(url);
			if (otlp?.[1]) {
				const record = received.get(otlp[1]) ?? { attempts: 0, bodies: [] as unknown[] };
				received.set(otlp[1], record);
				if (req.method === "GET") return send(200, record);
				record.attempts++;
				if (otlp[2] === "fail") return send(503, { error: "unavailable" });
				record.bodies.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
				return send(200, {});
			}
			const control = /^\/__scenario\/([\w-]+)$/.exec(url);
			if (control?.[1]) {
				if (req.method === "POST") {
					const { steps } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { steps: Step[] };
					scenarios.set(control[1], { steps, attempts: 0, aborted: 0, bodies: [], traceparents: [] });
					return send(204, {});
				}
				const s = scenarios.get(control[1]);
				return send(
					200,
					s ? { attempts: s.attempts, aborted: s.aborted, bodies: s.bodies, traceparents: s.traceparents } : null,
				);
			}
			const call = /^\/s\/([\w-]+)\/v1\/chat\/completions$/.exec(url);
			const scenario = call?.[1] ? scenarios.get(call[1]) : undefined;
			if (!scenario) return send(404, { error: { message: "no such scenario", type: "invalid_request_error" } });
			const step = scenario.steps[Math.min(scenario.attempts, scenario.steps.length - 1)];
			scenario.attempts++;
			scenario.traceparents.push(typeof req.headers.traceparent === "string" ? req.headers.traceparent : null);
			scenario.bodies.push(JSON.parse(Buffer.concat(chunks).toString("utf8") || "null"));
			let closed = false;
			res.on("close", () => {
				if (!res.writableEnded) {
					closed = true;
					scenario.aborted++;
				}
			});
			const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
			if (!step || step.kind === "reset") return req.socket.destroy();
			if (step.kind === "hang") return;
			if (step.delayMs) await sleep(step.delayMs);
			if (closed) return;
			if (step.kind === "json") return send(step.status, step.body, step.headers);
			if (step.kind === "model") return model(step.text, scenario.bodies.at(-1) as ModelRequest, res);
			res.writeHead(200, { "content-type": "text/event-stream" });
			for (let i = 0; i < step.data.length; i++) {
				if (step.breakAfter !== undefined && i >= step.breakAfter) return req.socket.destroy();
				if (closed) return;
				res.write(`data: ${step.data[i]}\n\n`);
				if (step.chunkDelayMs) await sleep(step.chunkDelayMs);
			}
			res.end();
		});
	});
	await new Promise<void>((resolve) => server?.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;
	project.provide("fakeOpenAIUrl", `http://127.0.0.1:${port}`);
	return async () => {
		await new Promise<void>((resolve) => server?.close(() => resolve()));
	};
}
