/**
 * The operations routes, for probes and deploy tooling: liveness (`/healthz`), readiness (`/readyz`) and the version
 * that answers (`/version`).
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { cachedReadiness } from "../health/readiness";
import { AppError } from "../http/app-error";
import { versionOf } from "../telemetry/version";
import { createRouter, problem } from "./router";

const CheckSchema = z
	.object({
		ok: z.boolean(),
		duration_ms: z.number(),
		detail: z.string().optional(),
		extra: z.record(z.string(), z.unknown()).optional(),
	})
	.openapi("ReadinessCheck");

const ReadinessSchema = z
	.object({
		status: z.literal("ready"),
		checks: z.object({ config: CheckSchema, d1: CheckSchema, durable_objects: CheckSchema }),
	})
	.openapi("Readiness");

const healthRoute = createRoute({
	method: "get",
	path: "/healthz",
	tags: ["Operations"],
	summary: "Liveness",
	description: "Answers while the isolate runs; touches no dependency.",
	responses: {
		200: {
			description: "Alive",
			content: { "application/json": { schema: z.object({ status: z.literal("ok") }).openapi("Health") } },
		},
	},
});

const readyRoute = createRoute({
	method: "get",
	path: "/readyz",
	tags: ["Operations"],
	summary: "Readiness",
	description:
		"Ready when the configuration is valid, D1 answers with every expected migration applied, and each Durable Object namespace answers a ping. Checked at most once a second per isolate (concurrent probes share the check).",
	responses: {
		200: { description: "Ready", content: { "application/json": { schema: ReadinessSchema } } },
		503: problem("Not ready; `checks` says which dependency failed"),
	},
});

const versionRoute = createRoute({
	method: "get",
	path: "/version",
	tags: ["Operations"],
	summary: "Version of this Worker",
	description: "Version metadata (id, tag, timestamp); `dev` under wrangler dev.",
	responses: {
		200: {
			description: "Version",
			content: {
				"application/json": {
					schema: z
						.object({ id: z.string(), tag: z.string(), timestamp: z.string(), environment: z.string() })
						.openapi("Version"),
				},
			},
		},
	},
});

/** Liveness, readiness and version: the routes probes and deploy tooling use. */
export const ops = createRouter()
	.openapi(healthRoute, (c) => c.json({ status: "ok" as const }, 200, { "Cache-Control": "no-store" }))
	.openapi(readyRoute, async (c) => {
		const readiness = await cachedReadiness(c.env, c.get("log"));
		if (readiness.ready) return c.json({ status: "ready" as const, checks: readiness.checks }, 200);
		const failed = Object.entries(readiness.checks)
			.filter(([, check]) => !check.ok)
			.map(([name]) => name);
		c.get("log").warn("not ready", { failed, checks: readiness.checks });
		throw new AppError({
			status: 503,
			slug: "not-ready",
			detail: `Not ready: ${failed.join(", ")} failing`,
			extensions: { checks: readiness.checks },
			headers: { "Retry-After": "5" },
		});
	})
	.openapi(versionRoute, (c) => {
		const environment = c.get("config")?.environment ?? "unknown";
		return c.json({ ...versionOf(c.env), environment }, 200);
	});
