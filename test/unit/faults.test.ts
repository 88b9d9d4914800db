import { describe, expect, it } from "vitest";
import { InjectedFault, withFaults } from "../../src/lib/fault";

class Port {
	readonly model = "m";
	calls = 0;
	async call(x: number): Promise<number> {
		this.calls++;
		return x * 2;
	}
}

describe("withFaults", () => {
	it("leaves the adapter itself in place when no fault is set", () => {
		const port = new Port();
		expect(withFaults(port, "port", { rate: 0, latencyMs: 0 })).toBe(port);
	});

	it("fails the calls the random source selects, before they reach the adapter, and passes the others through", async () => {
		const port = new Port();
		const draws = [0.1, 0.9, 0.29, 0.3];
		const faulty = withFaults(port, "embedder", { rate: 0.3, latencyMs: 0 }, () => draws.shift() ?? 1);
		await expect(faulty.call(1)).rejects.toBeInstanceOf(InjectedFault);
		expect(await faulty.call(2)).toBe(4);
		await expect(faulty.call(3)).rejects.toThrow("injected fault: embedder unavailable");
		// The rate is a strict bound: a draw equal to it passes.
		expect(await faulty.call(4)).toBe(8);
		expect(port.calls).toBe(2);
		// Properties pass through untouched.
		expect(faulty.model).toBe("m");
	});
});
