/**
 * Authentication as the OpenAPI document states it: the security schemes, and the scopes each route requires.
 *
 * @module
 */
import type { Scope } from "../auth/principal";

/** OpenAPI security schemes: our JWTs, API keys (header or bearer), and the client-credentials flow. */
export const SECURITY_SCHEMES = {
	bearerAuth: {
		type: "http",
		scheme: "bearer",
		bearerFormat: "JWT or API key",
		description: "An access token from POST /v1/auth/token, an external IdP's JWT, or an API key (eak_…)",
	},
	apiKeyHeader: { type: "apiKey", in: "header", name: "X-API-Key", description: "An API key (eak_…)" },
	oauth2: {
		type: "oauth2",
		flows: {
			clientCredentials: {
				tokenUrl: "/v1/auth/token",
				scopes: {
					chat: "Chat completions",
					"rag:read": "Search documents (answering also needs chat: it calls a model)",
					"rag:write": "Ingest and delete documents",
					"usage:read": "Read the tenant's own usage (GET /v1/usage)",
					"metrics:read": "Operators only: every tenant's metrics and SLOs",
					admin: "Operators only: manage clients and API keys",
				},
			},
		},
	},
} as const;

/**
 * The `security` requirement of a route needing every one of `scopes`, by any of the three schemes. OpenAPI 3.1 lets
 * a non-OAuth scheme list the roles it needs too, so each scheme names the scopes: a bearer token or API key without
 * them is not enough, and a client reading the document knows it.
 */
export function securedBy(...scopes: Scope[]): Record<string, string[]>[] {
	return [{ bearerAuth: scopes }, { apiKeyHeader: scopes }, { oauth2: scopes }];
}

/** A route any one of these scope sets opens (e.g. a tenant's `usage:read`, or an operator's `admin`). */
export function securedByAny(...alternatives: Scope[][]): Record<string, string[]>[] {
	return alternatives.flatMap((scopes) => securedBy(...scopes));
}
