import { describe, expect, it } from "vitest";
import { LABEL_VALUE_CAP, LabelCap, OVERFLOW_VALUE } from "../../src/slo/label-cap";

/** A cap over an in-memory "storage" that records how often it was read. */
function capWith(stored: Record<string, string[]> = {}, caps: Record<string, number> = { tenant: 2 }) {
	const loads: string[] = [];
	const cap = new LabelCap((metric, label) => {
		loads.push(`${metric}/${label}`);
		return new Set(stored[`${metric}/${label}`] ?? []);
	}, caps);
	return { cap, loads };
}

describe("LabelCap", () => {
	it("keeps the first `cap` distinct values of a label per metric, then counts new ones as the overflow value", () => {
		const { cap } = capWith();
		expect(cap.apply("llm_tokens", { tenant: "a", model: "m" })).toEqual({ tenant: "a", model: "m" });
		expect(cap.apply("llm_tokens", { tenant: "b", model: "m" })).toEqual({ tenant: "b", model: "m" });
		expect(cap.apply("llm_tokens", { tenant: "c", model: "m" })).toEqual({ tenant: OVERFLOW_VALUE, model: "m" });
		// Values seen before the cap filled keep their own series.
		expect(cap.apply("llm_tokens", { tenant: "a", model: "m" })).toEqual({ tenant: "a", model: "m" });
		// Each metric has its own budget.
		expect(cap.apply("llm_cost_usd", { tenant: "c" })).toEqual({ tenant: "c" });
	});

	it("counts the values already in storage, read once per metric and label", () => {
		const { cap, loads } = capWith({ "llm_tokens/tenant": ["x", "y"] });
		expect(cap.apply("llm_tokens", { tenant: "y" })).toEqual({ tenant: "y" });
		expect(cap.apply("llm_tokens", { tenant: "z" })).toEqual({ tenant: OVERFLOW_VALUE });
		expect(cap.apply("llm_tokens", { tenant: "w" })).toEqual({ tenant: OVERFLOW_VALUE });
		expect(loads).toEqual(["llm_tokens/tenant"]);
	});

	it("leaves labels without a cap, absent capped labels and the overflow value itself alone", () => {
		const { cap, loads } = capWith({}, { tenant: 0 });
		const labels = { model: "m", route: "/v1/chat/completions" };
		expect(cap.apply("llm_tokens", labels)).toBe(labels);
		expect(cap.apply("llm_tokens", { tenant: OVERFLOW_VALUE })).toEqual({ tenant: OVERFLOW_VALUE });
		expect(loads).toEqual([]);
	});

	it("does not change the caller's labels", () => {
		const { cap } = capWith({}, { tenant: 0 });
		const labels = { tenant: "t" };
		expect(cap.apply("m", labels)).toEqual({ tenant: OVERFLOW_VALUE });
		expect(labels).toEqual({ tenant: "t" });
	});

	it("caps tenants and subjects by default", () => {
		expect(Object.keys(LABEL_VALUE_CAP).sort()).toEqual(["subject", "tenant"]);
		const cap = new LabelCap(() => new Set());
		for (let i = 0; i < (LABEL_VALUE_CAP.subject ?? 0); i++) cap.apply("m", { subject: `s${i}` });
		expect(cap.apply("m", { subject: "one-more", tenant: "t" })).toEqual({ subject: OVERFLOW_VALUE, tenant: "t" });
	});
});
