import { describe, expect, it } from "vitest";
import { CircuitOpenError } from "../../src/chat/breaker";
import { attemptOutcome } from "../../src/chat/service";
import { ProviderError } from "../../src/ports/chat-model";

describe("attemptOutcome", () => {
	it("maps provider failures to the llm_upstream_requests_total outcomes", () => {
		expect(attemptOutcome(new ProviderError("x", "rate-limited", 429))).toBe("rate_limited");
		expect(attemptOutcome(new ProviderError("x", "server", 503))).toBe("server_error");
		expect(attemptOutcome(new ProviderError("x", "network", undefined))).toBe("network_error");
		expect(attemptOutcome(new ProviderError("x", "timeout", undefined))).toBe("timeout");
		expect(attemptOutcome(new ProviderError("x", "client", 400))).toBe("client_error");
		expect(attemptOutcome(new CircuitOpenError("openai", 30_000))).toBe("circuit_open");
		expect(attemptOutcome(new TypeError("boom"))).toBe("server_error");
	});
});
