import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { TestProject } from "vitest/node";

/**
 * A fake OpenAI-compatible upstream on loopback (vitest globalSetup), scripted per scenario so tests run in
 * parallel: `POST /__scenario/<id>` with `{ steps: Step[] }` sets what successive calls to
 * `/s/<id>/v1/chat/completions` get (the last step repeats); `GET /__scenario/<id>` reports the attempts, the
 * request bodies and how many calls the client aborted. Its responses follow OpenAI's real formats.
 */
export type Step =
	| { kind: "json"; status: number; body: unknown; headers?: Record<string, string>; delayMs?: number }
	| { kind: "stream"; data: string[]; delayMs?: number; chunkDelayMs?: number; breakAfter?: number }
	| { kind: "hang" }
	| { kind: "reset" };

declare module "vitest" {
	export interface ProvidedContext {
		fakeOpenAIUrl: string;
	}
}

type Scenario = { steps: Step[]; attempts: number; aborted: number; bodies: unknown[] };

let server: Server | undefined;

export default async function setup(project: TestProject) {
	const scenarios = new Map<string, Scenario>();
	server = createServer((req, res) => {
		const chunks: Buffer[] = [];
		req.on("data", (c: Buffer) => chunks.push(c));
		req.on("end", async () => {
			const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
				res.writeHead(status, { "content-type": "application/json", ...headers });
				res.end(JSON.stringify(body));
			};
			const url = req.url ?? "";
			const control = /^\/__scenario\/([\w-]+)$/.exec(url);
			if (control?.[1]) {
				if (req.method === "POST") {
					const { steps } = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { steps: Step[] };
					scenarios.set(control[1], { steps, attempts: 0, aborted: 0, bodies: [] });
					return send(204, {});
				}
				const s = scenarios.get(control[1]);
				return send(200, s ? { attempts: s.attempts, aborted: s.aborted, bodies: s.bodies } : null);
			}
			const call = /^\/s\/([\w-]+)\/v1\/chat\/completions$/.exec(url);
			const scenario = call?.[1] ? scenarios.get(call[1]) : undefined;
			if (!scenario) return send(404, { error: { message: "no such scenario", type: "invalid_request_error" } });
			const step = scenario.steps[Math.min(scenario.attempts, scenario.steps.length - 1)];
			scenario.attempts++;
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
