import type { Context } from "hono";
import { matchedRoutes } from "hono/route";

/** The label for requests no route matched (404/405), so logs and metrics keep bounded cardinality. */
export const UNMATCHED_ROUTE = "(unmatched)";

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
