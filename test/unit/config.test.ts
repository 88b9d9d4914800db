import { describe, expect, it } from "vitest";
import { FALLBACK_CONFIG, loadConfig, parseConfig } from "../../src/config";

describe("parseConfig", () => {
	it("applies the documented defaults to an empty environment", () => {
		const result = parseConfig({});
		expect(result).toEqual({ ok: true, config: FALLBACK_CONFIG });
		expect(FALLBACK_CONFIG).toEqual({
			environment: "local",
			logLevel: "info",
			corsOrigins: [],
			maxBodyBytes: 1_048_576,
			timeouts: { defaultMs: 30_000, chatMs: 60_000, streamMs: 300_000, healthMs: 5_000 },
		});
	});

	it("parses every variable from strings", () => {
		const result = parseConfig({
			ENVIRONMENT: "production",
			LOG_LEVEL: "warn",
			CORS_ORIGINS: " https://a.example , http://localhost:3000 ",
			MAX_BODY_BYTES: "2048",
			TIMEOUT_DEFAULT_MS: "100",
			TIMEOUT_CHAT_MS: "200",
			TIMEOUT_STREAM_MS: "300",
			TIMEOUT_HEALTH_MS: "50",
		});
		expect(result).toEqual({
			ok: true,
			config: {
				environment: "production",
				logLevel: "warn",
				corsOrigins: ["https://a.example", "http://localhost:3000"],
				maxBodyBytes: 2048,
				timeouts: { defaultMs: 100, chatMs: 200, streamMs: 300, healthMs: 50 },
			},
		});
	});

	it.each([
		["MAX_BODY_BYTES", "abc"],
		["MAX_BODY_BYTES", "-5"],
		["MAX_BODY_BYTES", "1.5"],
		["MAX_BODY_BYTES", "10"],
		["MAX_BODY_BYTES", String(65 * 1024 * 1024)],
		["TIMEOUT_CHAT_MS", "0"],
		["TIMEOUT_DEFAULT_MS", "1e3"],
		["LOG_LEVEL", "verbose"],
		["ENVIRONMENT", "prod"],
		["CORS_ORIGINS", "ftp://x.example"],
		["CORS_ORIGINS", "not a url"],
	])("names %s when it is %j", (variable, value) => {
		const result = parseConfig({ [variable]: value });
		expect(result.ok).toBe(false);
		if (result.ok) return;
		expect(result.issues.map((i) => i.variable)).toEqual([variable]);
		expect(result.issues[0]?.message.length).toBeGreaterThan(0);
	});

	it("reports every invalid variable at once", () => {
		const result = parseConfig({ MAX_BODY_BYTES: "x", LOG_LEVEL: "loud" });
		expect(result.ok).toBe(false);
		if (!result.ok) expect(result.issues.map((i) => i.variable).sort()).toEqual(["LOG_LEVEL", "MAX_BODY_BYTES"]);
	});
});

describe("loadConfig", () => {
	it("parses once per bindings object", () => {
		const env = { MAX_BODY_BYTES: "4096" };
		const first = loadConfig(env);
		env.MAX_BODY_BYTES = "8192"; // a later change to the same object is not re-read: one parse per isolate
		expect(loadConfig(env)).toBe(first);
		expect(loadConfig({ MAX_BODY_BYTES: "8192" })).not.toBe(first);
	});
});
