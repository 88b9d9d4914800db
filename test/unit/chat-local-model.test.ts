import { describe, expect, it } from "vitest";
import { LocalModel } from "../../src/adapters/local-model";
import { ProviderError } from "../../src/ports/chat-model";

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
