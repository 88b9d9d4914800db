/**
 * The operator's fault switchboard (scope `admin`; local and test environments only): `GET`, `PUT` and `DELETE
 * /v1/admin/faults` read, replace and clear the faults injected into a running service, so a chaos run changes
 * faults without a restart (docs/resilience.md#fault-injection). Runtime faults replace the configuration's
 * `FAULT_*` values for the dependencies they name and live in the isolate's memory (src/config/runtime-faults.ts).
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { isLocalEnvironment, loadConfig } from "../config";
import { runtimeFaults, setRuntimeFaults, withRuntimeFaults } from "../config/runtime-faults";
import { AppError } from "../http/app-error";
import { FAULT_POINTS, type Fault, type FaultPoint, type Faults, type StreamFault } from "../lib/fault";
import { requireScope } from "../middleware/auth";
import { BODY_PROBLEMS, createRouter, problem } from "./router";
import { securedBy } from "./security";

/** The endpoint's name of each dependency (snake_case, like the rest of the API). */
const WIRE_NAMES: Record<FaultPoint, string> = {
	chatModel: "chat_model",
	embedder: "embedder",
	vectorIndex: "vector_index",
	d1: "d1",
	rateLimiter: "rate_limiter",
	sloCounter: "slo_counter",
	conversation: "conversation",
	otlp: "otlp",
};

const Rate = z.number().min(0).max(1).openapi({ description: "Share of calls that fail, 0–1" });
const LatencyMs = z
	.number()
	.int()
	.min(0)
	.max(600_000)
	.openapi({ description: "Pause before each call, ms (longer than the route's budget: a hang)" });
const FaultInput = z.strictObject({ rate: Rate.optional(), latency_ms: LatencyMs.optional() });
const StreamFaultInput = z.strictObject({
	rate: Rate.optional(),
	after_tokens: z
		.number()
		.int()
		.min(0)
		.max(100_000)
		.optional()
		.openapi({ description: "Content tokens sent before the stream dies (0: it fails before its first token)" }),
});

const FaultsInput = z
	.strictObject({
		...Object.fromEntries(FAULT_POINTS.map((p) => [WIRE_NAMES[p], FaultInput.optional()])),
		chat_stream: StreamFaultInput.optional(),
	})
	.openapi("FaultsInput");

const Source = z.enum(["configuration", "runtime"]);
const FaultView = z.object({ rate: z.number(), latency_ms: z.number(), source: Source });
const StreamFaultView = z.object({ rate: z.number(), after_tokens: z.number(), source: Source });
const FaultsView = z
	.object({
		environment: z.string(),
		faults: z.object({
			...Object.fromEntries(FAULT_POINTS.map((p) => [WIRE_NAMES[p], FaultView])),
			chat_stream: StreamFaultView,
		}),
	})
	.openapi("Faults");

const common = { tags: ["Admin"], security: securedBy("admin"), middleware: requireScope("admin") };
const responses = {
	200: { description: "The faults now in effect", content: { "application/json": { schema: FaultsView } } },
	401: problem("Missing or invalid credentials"),
	403: problem("The admin scope is required, or the environment is not local or test"),
};

const getRoute = createRoute({
	...common,
	method: "get",
	path: "/v1/admin/faults",
	summary: "The injected faults in effect (local and test only)",
	responses,
});

const putRoute = createRoute({
	...common,
	method: "put",
	path: "/v1/admin/faults",
	summary: "Replace the runtime faults (local and test only); dependencies not named fall back to configuration",
	request: { body: { required: true, content: { "application/json": { schema: FaultsInput } } } },
	responses: {
		...BODY_PROBLEMS,
		...responses,
		422: problem("Invalid body: unknown dependency or field, or out of range"),
	},
});

const deleteRoute = createRoute({
	...common,
	method: "delete",
	path: "/v1/admin/faults",
	summary: "Clear the runtime faults: the configuration's apply again (local and test only)",
	responses,
});

/** Fault injection is refused outside local and test environments, whatever the caller's scopes. */
function assertLocal(c: Context<AppEnv>): void {
	const environment = c.get("config").environment;
	if (!isLocalEnvironment(environment)) {
		throw new AppError({
			status: 403,
			slug: "forbidden",
			detail: `Fault injection is refused in ${environment}: local and test environments only`,
		});
	}
}

/** The faults in effect from now on, with where each comes from: the configuration's with the runtime ones over them. */
function view(c: Context<AppEnv>) {
	const loaded = loadConfig(c.env);
	// The gate let this request through, so the configuration is valid; the fallback only satisfies the type.
	const config = withRuntimeFaults(loaded.ok ? loaded.config : c.get("config"));
	const runtime = runtimeFaults() ?? {};
	const { faults } = config;
	const source = (key: keyof Faults) => (key in runtime ? ("runtime" as const) : ("configuration" as const));
	const one = (f: Fault, key: FaultPoint) => ({ rate: f.rate, latency_ms: f.latencyMs, source: source(key) });
	return {
		environment: config.environment,
		faults: {
			...Object.fromEntries(FAULT_POINTS.map((p) => [WIRE_NAMES[p], one(faults[p], p)])),
			chat_stream: {
				rate: faults.chatStream.rate,
				after_tokens: faults.chatStream.afterTokens,
				source: source("chatStream"),
			},
		},
	} as z.infer<typeof FaultsView>;
}

/** The runtime faults a valid body names: each named dependency's fault replaced whole (fields left out are 0). */
function fromInput(body: z.infer<typeof FaultsInput>): Partial<Faults> {
	const out: Partial<Record<FaultPoint, Fault>> & { chatStream?: StreamFault } = {};
	const input = body as Record<string, { rate?: number; latency_ms?: number; after_tokens?: number } | undefined>;
	for (const p of FAULT_POINTS) {
		const f = input[WIRE_NAMES[p]];
		if (f) out[p] = { rate: f.rate ?? 0, latencyMs: f.latency_ms ?? 0 };
	}
	const stream = body.chat_stream;
	if (stream) out.chatStream = { rate: stream.rate ?? 0, afterTokens: stream.after_tokens ?? 0 };
	return out;
}

export const faults = createRouter()
	.openapi(getRoute, (c) => {
		assertLocal(c);
		return c.json(view(c), 200);
	})
	.openapi(putRoute, (c) => {
		assertLocal(c);
		setRuntimeFaults(fromInput(c.req.valid("json")));
		c.get("log").warn("runtime faults set", { faults: runtimeFaults(), by: c.get("principal").subject });
		return c.json(view(c), 200);
	})
	.openapi(deleteRoute, (c) => {
		assertLocal(c);
		setRuntimeFaults(null);
		c.get("log").warn("runtime faults cleared", { by: c.get("principal").subject });
		return c.json(view(c), 200);
	});
