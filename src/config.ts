import { z } from "zod";

/**
 * Runtime configuration, validated once per isolate with zod.
 *
 * Every variable is a string in `Env` (wrangler `[vars]`, `.dev.vars`, secrets); this schema turns them into
 * typed values with documented defaults. A bad value never crashes the isolate: {@link loadConfig} returns a
 * tagged result, `/readyz` reports the issues, and every other route answers 503 naming the variable.
 *
 * @example
 * ```ts
 * const result = loadConfig(env);
 * if (!result.ok) console.log(result.issues); // [{ variable: "MAX_BODY_BYTES", message: "..." }]
 * ```
 */

/** An integer in a string, within [min, max]; the unit is in the variable's name (`_MS`, `_BYTES`). */
const intString = (min: number, max: number, fallback: number) =>
	z
		.string()
		.trim()
		.regex(/^\d+$/, "must be a whole number")
		.transform(Number)
		.pipe(z.number().int().min(min).max(max))
		.optional()
		.transform((v) => v ?? fallback);

const corsOrigins = z
	.string()
	.optional()
	.transform((raw) =>
		(raw ?? "")
			.split(",")
			.map((s) => s.trim())
			.filter((s) => s.length > 0),
	)
	.pipe(z.array(z.union([z.literal("*"), z.url({ protocol: /^https?$/, error: "must be '*' or an http(s) origin" })])));

export const ConfigSchema = z.object({
	ENVIRONMENT: z.enum(["local", "test", "staging", "production"]).default("local"),
	LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
	/** Comma-separated allowed origins for CORS, or `*`; empty disables CORS headers. */
	CORS_ORIGINS: corsOrigins,
	/** Largest accepted request body in bytes (413 above it). 1 KiB .. 64 MiB; default 1 MiB. */
	MAX_BODY_BYTES: intString(1024, 64 * 1024 * 1024, 1024 * 1024),
	/** Per-route timeouts in ms (504 when exceeded). Defaults follow the product's seeds. */
	TIMEOUT_DEFAULT_MS: intString(1, 900_000, 30_000),
	TIMEOUT_CHAT_MS: intString(1, 900_000, 60_000),
	TIMEOUT_STREAM_MS: intString(1, 900_000, 300_000),
	TIMEOUT_HEALTH_MS: intString(1, 900_000, 5_000),
});

export type Config = {
	environment: z.infer<typeof ConfigSchema>["ENVIRONMENT"];
	logLevel: z.infer<typeof ConfigSchema>["LOG_LEVEL"];
	corsOrigins: string[];
	maxBodyBytes: number;
	timeouts: { defaultMs: number; chatMs: number; streamMs: number; healthMs: number };
};

export type ConfigIssue = { variable: string; message: string };
export type ConfigResult = { ok: true; config: Config } | { ok: false; issues: ConfigIssue[] };

/** Defaults used by the pipeline itself (logging, timeouts) while the configuration is invalid. */
export const FALLBACK_CONFIG: Config = toConfig(ConfigSchema.parse({}));

function toConfig(v: z.infer<typeof ConfigSchema>): Config {
	return {
		environment: v.ENVIRONMENT,
		logLevel: v.LOG_LEVEL,
		corsOrigins: v.CORS_ORIGINS,
		maxBodyBytes: v.MAX_BODY_BYTES,
		timeouts: {
			defaultMs: v.TIMEOUT_DEFAULT_MS,
			chatMs: v.TIMEOUT_CHAT_MS,
			streamMs: v.TIMEOUT_STREAM_MS,
			healthMs: v.TIMEOUT_HEALTH_MS,
		},
	};
}

/** Parses the environment's variables; pure, no caching. */
export function parseConfig(vars: Record<string, unknown>): ConfigResult {
	const parsed = ConfigSchema.safeParse(vars);
	if (parsed.success) return { ok: true, config: toConfig(parsed.data) };
	return {
		ok: false,
		issues: parsed.error.issues.map((issue) => ({
			variable: String(issue.path[0] ?? "(env)"),
			message: issue.message,
		})),
	};
}

// Bindings objects are stable for the life of an isolate, so one parse per env object is one parse per isolate.
const cache = new WeakMap<object, ConfigResult>();

/** Parses `env` once per isolate (cached by identity of the bindings object). */
export function loadConfig(env: object): ConfigResult {
	let result = cache.get(env);
	if (!result) {
		result = parseConfig(env as Record<string, unknown>);
		cache.set(env, result);
	}
	return result;
}
