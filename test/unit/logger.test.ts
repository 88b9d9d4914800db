import { describe, expect, it } from "vitest";
import { createLogger, describeError } from "../../src/telemetry/logger";

describe("createLogger", () => {
	const collect = () => {
		const lines: string[] = [];
		return { lines, sink: (l: string) => lines.push(l) };
	};

	it("writes one JSON object per line with base fields, level and time from the injected clock", () => {
		const { lines, sink } = collect();
		const log = createLogger({ level: "info", base: { request_id: "r1", version: "v1" }, sink, now: () => 0 });
		log.info("request", { status: 200 });
		expect(lines).toHaveLength(1);
		expect(JSON.parse(lines[0] ?? "")).toEqual({
			time: "1970-01-01T00:00:00.000Z",
			level: "info",
			msg: "request",
			request_id: "r1",
			version: "v1",
			status: 200,
		});
	});

	it("drops lines below the level and keeps those at or above it", () => {
		const { lines, sink } = collect();
		const log = createLogger({ level: "warn", sink });
		log.debug("d");
		log.info("i");
		log.warn("w");
		log.error("e");
		expect(lines.map((l) => JSON.parse(l).msg)).toEqual(["w", "e"]);
	});

	it("child loggers add fields without losing the parent's", () => {
		const { lines, sink } = collect();
		createLogger({ level: "debug", base: { a: 1 }, sink })
			.child({ b: 2 })
			.debug("x");
		expect(JSON.parse(lines[0] ?? "")).toMatchObject({ a: 1, b: 2, level: "debug" });
	});
});

describe("describeError", () => {
	it("keeps name, message, stack and cause of an Error", () => {
		const fields = describeError(new TypeError("boom", { cause: "why" }));
		expect(fields).toMatchObject({ error_name: "TypeError", error_message: "boom", error_cause: "why" });
		expect(String(fields.error_stack)).toContain("boom");
	});

	it("stringifies non-Error throwables", () => {
		expect(describeError(42)).toEqual({ error_message: "42" });
	});
});
