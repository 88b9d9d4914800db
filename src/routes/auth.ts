/**
 * The authentication routes: the OAuth 2.0 client-credentials token endpoint (RFC 6749 §4.4) behind its
 * failed-attempt throttles, the caller's principal, and the public keys of our access tokens.
 *
 * @module
 */
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../app-env";
import { parseBasicCredentials } from "../auth/basic";
import { REALM } from "../auth/errors";
import { chargeAttempt } from "../auth/failed-attempts";
import { effectiveScopes, IDENTIFIER, isScope, parseScopes, SCOPES } from "../auth/principal";
import { decoyHash, verifySecret } from "../auth/secret-hash";
import { findClient } from "../auth/store";
import { issueAccessToken, publicJwks } from "../auth/tokens";
import { AppError, type ProblemSlug } from "../http/app-error";
import { deferrer } from "../http/background";
import { clientIp } from "../http/client-ip";
import { requireScope } from "../middleware/auth";
import { BODY_PROBLEMS, createRouter, problem } from "./router";
import { securedBy } from "./security";

const TokenRequest = z
	.object({
		grant_type: z.string().max(64).optional(),
		client_id: z.string().max(256).optional(),
		client_secret: z.string().max(512).optional(),
		scope: z.string().max(512).optional(),
	})
	.openapi("TokenRequest");

const TokenResponse = z
	.object({
		access_token: z.string(),
		token_type: z.literal("Bearer"),
		expires_in: z.number().int(),
		scope: z.string(),
	})
	.openapi("TokenResponse");

const PrincipalSchema = z
	.object({
		tenant: z.string(),
		subject: z.string(),
		scopes: z.array(z.enum(SCOPES)),
		via: z.enum(["jwt", "api-key"]),
		credential_id: z.string(),
	})
	.openapi("Principal");

const tokenRoute = createRoute({
	method: "post",
	path: "/v1/auth/token",
	tags: ["Auth"],
	summary: "Get an access token (OAuth 2.0 client credentials)",
	description:
		"RFC 6749 §4.4. Client id and secret by HTTP Basic (preferred) or in the body (form or JSON). `scope` narrows the client's scopes. Failed attempts are throttled per client id + IP and per IP; errors carry OAuth's `error` code as well as the problem fields.",
	request: {
		body: {
			required: false,
			content: {
				"application/x-www-form-urlencoded": { schema: TokenRequest },
				"application/json": { schema: TokenRequest },
			},
		},
	},
	responses: {
		...BODY_PROBLEMS,
		200: { description: "Token issued", content: { "application/json": { schema: TokenResponse } } },
		400: problem("invalid_request, unsupported_grant_type or invalid_scope"),
		401: problem("invalid_client"),
		429: problem("Too many failed attempts; see Retry-After"),
	},
});

const meRoute = createRoute({
	method: "get",
	path: "/v1/auth/me",
	tags: ["Auth"],
	summary: "The caller's principal",
	security: securedBy(),
	middleware: requireScope(),
	responses: {
		200: { description: "Principal", content: { "application/json": { schema: PrincipalSchema } } },
		401: problem("Missing or invalid credentials"),
	},
});

const jwksRoute = createRoute({
	method: "get",
	path: "/.well-known/jwks.json",
	tags: ["Auth"],
	summary: "Public keys of our access tokens",
	description: "The EdDSA/ES256 public keys (current and previous) when JWT_PRIVATE_JWK is set; empty in HS256 mode.",
	responses: {
		200: {
			description: "JWK Set (RFC 7517)",
			content: {
				"application/json": { schema: z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).openapi("JWKS") },
			},
		},
	},
});

/** An OAuth error (RFC 6749 §5.2) as a problem: `error` for OAuth clients, the problem fields for everyone. */
function oauthError(
	status: 400 | 401,
	slug: ProblemSlug,
	error: string,
	description: string,
	headers?: Record<string, string>,
): AppError {
	return new AppError({
		status,
		slug,
		detail: description,
		extensions: { error, error_description: description },
		headers: { "Cache-Control": "no-store", ...headers },
	});
}

type ClientCredentials = { clientId: string; clientSecret: string; basic: boolean };

/** Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1). */
function basicCredentials(header: string): ClientCredentials {
	const credentials = parseBasicCredentials(header);
	if (!credentials) {
		throw oauthError(401, "invalid-client", "invalid_client", "Malformed Basic credentials", {
			"WWW-Authenticate": `Basic realm="${REALM}"`,
		});
	}
	return { ...credentials, basic: true };
}

function readCredentials(c: Context<AppEnv>, body: z.infer<typeof TokenRequest>): ClientCredentials {
	const authorization = c.req.header("Authorization");
	if (authorization !== undefined) {
		if (body.client_id !== undefined || body.client_secret !== undefined) {
			throw oauthError(400, "bad-request", "invalid_request", "Send client credentials by one method only");
		}
		return basicCredentials(authorization);
	}
	if (!body.client_id || !body.client_secret) {
		throw oauthError(401, "invalid-client", "invalid_client", "Client authentication is required", {
			"WWW-Authenticate": `Basic realm="${REALM}"`,
		});
	}
	return { clientId: body.client_id, clientSecret: body.client_secret, basic: false };
}

/** Token endpoint, caller's principal and our public keys. */
export const auth = createRouter()
	.openapi(tokenRoute, async (c) => {
		const config = c.get("config").auth;
		const log = c.get("log");
		const body = { ...c.req.valid("json"), ...c.req.valid("form") };
		if (body.grant_type === undefined) {
			throw oauthError(400, "bad-request", "invalid_request", "grant_type is required");
		}
		if (body.grant_type !== "client_credentials") {
			throw oauthError(400, "unsupported-grant-type", "unsupported_grant_type", "Only client_credentials is supported");
		}
		const creds = readCredentials(c, body);
		const ip = clientIp(c.req.raw);
		// Ids that cannot exist are still throttled and hashed, under a fixed placeholder, so they look like any miss.
		const throttleId = IDENTIFIER.test(creds.clientId) ? creds.clientId : "(invalid-id)";
		// Charged before the secret is checked (atomically per key), given back on success: concurrent guesses cannot
		// all slip past a check made before any of them counted.
		const attempt = await chargeAttempt(
			c.env,
			config,
			throttleId,
			ip,
			log,
			deferrer(c, "auth throttle cleanup failed"),
		);

		const client = IDENTIFIER.test(creds.clientId) ? await findClient(c.env.DB, creds.clientId) : null;
		const secretOk = await verifySecret(creds.clientSecret, client?.secret ?? (await decoyHash()));
		if (!client || client.revokedAt !== null || !secretOk) {
			log.info("token request refused", { reason: "invalid_client" });
			throw oauthError(401, "invalid-client", "invalid_client", "Client authentication failed", {
				"WWW-Authenticate": `Basic realm="${REALM}"`,
			});
		}
		attempt.succeeded();

		// Operator scopes only for the operator tenant's clients, whatever an old row says.
		const granted = effectiveScopes(client.tenant, client.scopes, config.operatorTenant);
		let scopes = granted;
		if (body.scope !== undefined) {
			const requested = body.scope.split(" ").filter(Boolean);
			const unknown = requested.filter((s) => !isScope(s) || !granted.includes(s));
			if (requested.length === 0 || unknown.length > 0) {
				throw oauthError(
					400,
					"invalid-scope",
					"invalid_scope",
					`Scope not allowed for this client: ${unknown.join(" ")}`,
				);
			}
			scopes = parseScopes(requested);
		}
		const issued = await issueAccessToken(config, { subject: client.clientId, tenant: client.tenant, scopes });
		log.info("token issued", { subject: client.clientId, tenant: client.tenant, jti: issued.jti });
		return c.json(
			{
				access_token: issued.token,
				token_type: "Bearer" as const,
				expires_in: issued.expiresIn,
				scope: scopes.join(" "),
			},
			200,
			{ "Cache-Control": "no-store", Pragma: "no-cache" },
		);
	})
	.openapi(meRoute, (c) => {
		const p = c.get("principal");
		return c.json(
			{ tenant: p.tenant, subject: p.subject, scopes: p.scopes, via: p.via, credential_id: p.credentialId },
			200,
		);
	})
	.openapi(jwksRoute, async (c) =>
		c.json(await publicJwks(c.get("config").auth), 200, { "Cache-Control": "public, max-age=300" }),
	);
