/**
 * Route patterns, the label of a request in logs, metrics, SLOs, rate limits and timeouts: the pattern that answered
 * ({@link routeOf}), never the raw URL, and the patterns an app serves.
 *
 * @module
 */
import type { Context } from "hono";
import { matchedRoutes } from "hono/route";

/** The label for requests no route matched (404/405), so logs and metrics keep bounded cardinality. */
export const UNMATCHED_ROUTE = "(unmatched)";

/** A handler route of an app (Hono's `app.routes` entry); middleware registrations have method `ALL`. */
export type RegisteredRoute = { method: string; path: string };

/** The handler routes of an app, without its middleware registrations. */
export function handlerRoutes<R extends RegisteredRoute>(routes: readonly R[]): R[] {
	return routes.filter((r) => r.method !== "ALL");
}

/** The route patterns an app serves, e.g. for the metrics export's label set. */
export function handlerPaths(routes: readonly RegisteredRoute[]): string[] {
	return handlerRoutes(routes).map((r) => r.path);
}

/**
 * The route pattern that answered (e.g. `/v1/documents/:id`), not the raw URL. Middleware registrations
 * (`method: "ALL"`, `*` paths) are skipped; the last matched handler route is the one that responded.
 */
export function routeOf(c: Context): string {
	const routes = matchedRoutes(c);
	for (let i = routes.length - 1; i >= 0; i--) {
		const r = routes[i];
		if (r && r.method !== "ALL" && !r.path.endsWith("*")) return r.path;
	}
	return UNMATCHED_ROUTE;
}
