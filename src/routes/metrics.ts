/**
 * `GET /metrics` (Prometheus / OpenMetrics exposition of every shard) and `GET /v1/slo` (compliance, error budget and
 * burn rate per route and version over the SLO windows), both scope `metrics:read` — Prometheus scrapes with an API
 * key as its bearer token (docs/metrics.md).
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import { requireScope } from "../middleware/auth";
import { recorder } from "../slo/recorder";
import { report } from "../slo/report";
import { readShards, shardNames } from "../slo/shards";
import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, render } from "../telemetry/prometheus";
import { createRouter, problem } from "./router";
import { securedBy } from "./security";

const metricsRoute = createRoute({
	method: "get",
	path: "/metrics",
	tags: ["Operations"],
	security: securedBy("metrics:read"),
	middleware: requireScope("metrics:read"),
	summary: "Prometheus metrics (text 0.0.4, or OpenMetrics 1.0 via Accept)",
	responses: {
		200: { description: "Exposition", content: { "text/plain": { schema: z.string() } } },
		401: problem("Missing or invalid credentials"),
		403: problem("The metrics:read scope is required"),
	},
});

const Window = z.object({
	requests: z.number().int(),
	errors: z.number().int(),
	availability: z.number().nullable(),
	burn_rate: z.number(),
	latency: z.array(
		z.object({
			quantile: z.number(),
			threshold_ms: z.number(),
			compliance: z.number().nullable(),
			burn_rate: z.number(),
		}),
	),
});
const SloReport = z
	.object({
		object: z.literal("slo_report"),
		generated_at: z.string(),
		unreadable_shards: z.number().int().openapi({
			description: "SloCounter shards that could not be read: their routes are missing from this report",
		}),
		routes: z.array(
			z.object({
				route: z.string(),
				version: z.string(),
				objectives: z.object({
					availability: z.number(),
					latency: z.array(z.object({ quantile: z.number(), threshold_ms: z.number() })),
				}),
				error_budget_remaining: z.number().nullable(),
				windows: z.record(z.string(), Window),
			}),
		),
	})
	.openapi("SloReport");

const sloRoute = createRoute({
	method: "get",
	path: "/v1/slo",
	tags: ["Operations"],
	security: securedBy("metrics:read"),
	middleware: requireScope("metrics:read"),
	summary: "SLO compliance, error budget and burn rates per route and version",
	responses: {
		200: { description: "The report", content: { "application/json": { schema: SloReport } } },
		401: problem("Missing or invalid credentials"),
		403: problem("The metrics:read scope is required"),
	},
});

/** The metrics routes, reading the shards of `routes()` (every route pattern of the app, and unmatched requests). */
export function metricsRouter(routes: () => string[]) {
	const shards = () => shardNames(routes());
	return createRouter()
		.openapi(metricsRoute, async (c) => {
			const list = shards();
			const fault = c.get("config").faults.sloCounter;
			const { values, failed } = await readShards(c.env, list, (s) => s.snapshot(), c.get("log"), fault);
			const openMetrics = (c.req.header("Accept") ?? "").includes("application/openmetrics-text");
			const body = render(values, {
				openMetrics,
				exportFailures: recorder.failures,
				droppedRequests: recorder.droppedRequests,
				scrapedShards: list.length - failed,
				failedShards: failed,
			});
			return c.body(body, 200, {
				"Content-Type": openMetrics ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE,
				"Cache-Control": "no-store",
			}) as never;
		})
		.openapi(sloRoute, async (c) => {
			const fault = c.get("config").faults.sloCounter;
			const { values, failed } = await readShards(c.env, shards(), (s) => s.windows(), c.get("log"), fault);
			return c.json(
				{
					object: "slo_report" as const,
					generated_at: new Date().toISOString(),
					unreadable_shards: failed,
					routes: values.flat().map(report),
				},
				200,
			);
		});
}
