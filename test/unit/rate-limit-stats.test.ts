import { describe, expect, it } from "vitest";
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
