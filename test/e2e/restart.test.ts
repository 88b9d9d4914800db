import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type DevServer, startDevServer } from "../helpers/node/dev-server";
import { DEMO_KEY, OPS_KEY } from "../helpers/node/local-credentials";

// The runtime dying under a stream (a crash, a restart): the real wrangler dev killed with SIGKILL mid-stream, then
// started again on the same state. What the client saw (a cut stream, no `[DONE]`) and what the service counts
// afterwards (every finished request exactly once; the cut stream open until its shard counts it abandoned) —
// docs/resilience.md#restarts-and-drain.

const persistDir = mkdtempSync(path.join(tmpdir(), "edge-ai-api-restart-"));
const servers: DevServer[] = [];
afterAll(async () => {
	for (const s of servers) await s.stop({ keepState: true }).catch(() => undefined);
	rmSync(persistDir, { recursive: true, force: true });
});

/** A slow model (200 ms a token), so a stream is surely in flight when the runtime dies. */
async function start(): Promise<DevServer> {
	const server = await startDevServer({}, { persistDir, args: ["--var", "LOCAL_MODEL_TOKEN_DELAY_MS:200"] });
	servers.push(server);
	return server;
}

/** Sum of the samples of `name` whose labels include `labels`, from /metrics. */
async function metric(base: string, name: string, labels: Record<string, string>): Promise<number> {
	const text = await (await fetch(`${base}/metrics`, { headers: { "X-API-Key": OPS_KEY } })).text();
	let sum = 0;
	for (const line of text.split("\n")) {
		if (!line.startsWith(`${name}{`)) continue;
		if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) sum += Number(line.split(" ").at(-1));
	}
	return sum;
}

/** Polls `read` until it returns `want` (recording is asynchronous) or the time is up; returns the last value. */
async function settle(read: () => Promise<number>, want: number, ms = 10_000): Promise<number> {
	const until = Date.now() + ms;
	for (;;) {
		const got = await read();
		if (got === want || Date.now() > until) return got;
		await new Promise((r) => setTimeout(r, 200));
	}
}

const me = (base: string) => fetch(`${base}/v1/auth/me`, { headers: { "X-API-Key": DEMO_KEY } });

describe("a runtime killed under a stream", () => {
	it("cuts the client's stream; afterwards every finished request is counted exactly once and the cut one is open", async () => {
		const first = await start();
		for (let i = 0; i < 3; i++) expect((await me(first.base)).status).toBe(200);
		const meCount = (base: string) =>
			metric(base, "http_server_request_duration_seconds_count", { http_route: "/v1/auth/me" });
		expect(await settle(() => meCount(first.base), 3)).toBe(3);

		const stream = await fetch(`${first.base}/v1/chat/completions`, {
			method: "POST",
			headers: { "X-API-Key": DEMO_KEY, "Content-Type": "application/json" },
			body: JSON.stringify({
				model: "local",
				stream: true,
				max_tokens: 200,
				messages: [{ role: "user", content: "Explain sliding-window rate limits at length." }],
			}),
		});
		expect(stream.status).toBe(200);
		const reader = (stream.body as ReadableStream<Uint8Array>).getReader();
		const decoder = new TextDecoder();
		let received = "";
		// Read until two tokens came: the stream is under way.
		while ((received.match(/"content":"[^"]+"/g) ?? []).length < 2) {
			const { value, done } = await reader.read();
			if (done) break;
			received += decoder.decode(value, { stream: true });
		}
		expect((received.match(/"content":"[^"]+"/g) ?? []).length).toBeGreaterThanOrEqual(2);
		const openStreams = (base: string) =>
			metric(base, "http_server_open_streams", { http_route: "/v1/chat/completions" });
		expect(await settle(() => openStreams(first.base), 1)).toBe(1);

		await first.kill();
		// The client's stream is cut: it ends (an error or an early end), never with [DONE].
		const rest = await (async () => {
			let text = "";
			try {
				for (;;) {
					const { value, done } = await reader.read();
					if (done) return text;
					text += decoder.decode(value, { stream: true });
				}
			} catch {
				return text;
			}
		})();
		expect(received + rest).not.toContain("[DONE]");

		const second = await start();
		for (let i = 0; i < 2; i++) expect((await me(second.base)).status).toBe(200);
		// Nothing lost, nothing twice: 3 before the crash and 2 after.
		expect(await settle(() => meCount(second.base), 5)).toBe(5);
		// The cut stream is neither good nor forgotten: open, until its shard counts it abandoned (after the longest
		// stream budget; test/durable-objects/slo-streams.test.ts).
		expect(await openStreams(second.base)).toBe(1);
		expect(
			await metric(second.base, "http_server_request_duration_seconds_count", { http_route: "/v1/chat/completions" }),
		).toBe(0);
	}, 240_000);
});
