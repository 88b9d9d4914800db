import { describe, expect, it } from "vitest";
import { LocalModel } from "../../src/adapters/local-model";
import { CircuitOpenError } from "../../src/chat/resilience";
import { attemptOutcome } from "../../src/chat/service";
import { ProviderError } from "../../src/ports/chat-model";
import { deniedSubject } from "../../src/rate-limit/stats";

describe("deniedSubject", () => {
	it("names authenticated callers by tenant/subject", () => {
		expect(deniedSubject({ tenant: "acme", subject: "client_1" }, "203.0.113.9")).toBe("acme/client_1");
	});
	it("names anonymous callers by network, never by full address", () => {
		expect(deniedSubject(undefined, "203.0.113.9")).toBe("ip:203.0.113.0/24");
		expect(deniedSubject(undefined, "2001:db8:85a3:8d3:1319:8a2e:370:7348")).toBe("ip:2001:db8:85a3::/48");
		expect(deniedSubject(undefined, "2001:db8::1")).toBe("ip:2001:db8:0::/48");
		expect(deniedSubject(undefined, "::1")).toBe("ip:0:0:0::/48");
		expect(deniedSubject(undefined, "unknown")).toBe("ip:unknown");
	});
});

describe("attemptOutcome", () => {
	it("maps provider failures to the llm_upstream_requests_total outcomes", () => {
		expect(attemptOutcome(new ProviderError("x", "rate-limited", 429))).toBe("rate_limited");
		expect(attemptOutcome(new ProviderError("x", "server", 503))).toBe("server_error");
		expect(attemptOutcome(new ProviderError("x", "network", undefined))).toBe("network_error");
		expect(attemptOutcome(new ProviderError("x", "timeout", undefined))).toBe("timeout");
		expect(attemptOutcome(new ProviderError("x", "client", 400))).toBe("client_error");
		expect(attemptOutcome(new CircuitOpenError("openai"))).toBe("circuit_open");
		expect(attemptOutcome(new TypeError("boom"))).toBe("server_error");
	});
});

describe("LocalModel fault injection", () => {
	const params = () => ({
		messages: [{ role: "user" as const, content: "hi" }],
		maxTokens: 4,
		stop: [],
		signal: new AbortController().signal,
	});
	it("fails a call with probability `rate`, as a retryable upstream 503", async () => {
		let next = 0.4;
		const model = new LocalModel({ tokenDelayMs: 0, faults: { rate: 0.5, extraLatencyMs: 0 }, random: () => next });
		const err = await model.complete(params()).catch((e: unknown) => e);
		expect(err).toBeInstanceOf(ProviderError);
		expect((err as ProviderError).status).toBe(503);
		expect((err as ProviderError).retryable).toBe(true);
		next = 0.6;
		await expect(model.complete(params())).resolves.toMatchObject({ finishReason: "length" });
		next = 0.4;
		const stream = model.stream(params())[Symbol.asyncIterator]();
		await expect(stream.next()).rejects.toBeInstanceOf(ProviderError);
	});
	it("never fails at rate 0, and an aborted request ends the injected pause", async () => {
		const model = new LocalModel({ tokenDelayMs: 0, faults: { rate: 0, extraLatencyMs: 60_000 }, random: () => 0 });
		const controller = new AbortController();
		const pending = model.complete({ ...params(), signal: controller.signal });
		controller.abort(new Error("client gone"));
		await expect(pending).rejects.toThrow("client gone");
	});
});
