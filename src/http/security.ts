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

/** The `security` requirement of a route needing every one of `scopes` (any of the three schemes). */
export function securedBy(...scopes: Scope[]): Record<string, string[]>[] {
	return [{ bearerAuth: [] }, { apiKeyHeader: [] }, { oauth2: scopes }];
}
