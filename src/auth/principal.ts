/**
 * The caller as the rest of the code sees it: the {@link Principal} of an authenticated request, the scopes a
 * credential can carry (and which of them only the operator tenant holds), and the syntax of tenant and subject ids.
 *
 * @module
 */

/** Scopes a credential can carry; routes require one of them. */
export const SCOPES = ["chat", "rag:read", "rag:write", "usage:read", "metrics:read", "admin"] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * Scopes that reach across tenants (the admin API, every tenant's metrics and SLOs): held only by principals of the
 * operator tenant (`OPERATOR_TENANT`). In any other tenant they are dropped when the principal is resolved, and the
 * admin API refuses to grant them (docs/security.md#operator-scopes).
 */
export const OPERATOR_SCOPES: ReadonlySet<Scope> = new Set(["admin", "metrics:read"]);

/** The scopes a principal of `tenant` actually holds: operator scopes only in the operator tenant. */
export function effectiveScopes(tenant: string, scopes: readonly Scope[], operatorTenant: string): Scope[] {
	return tenant === operatorTenant ? [...scopes] : scopes.filter((s) => !OPERATOR_SCOPES.has(s));
}

/**
 * Who is calling: attached to every authenticated request. `tenant` isolates data in every feature; `subject`
 * is the client id (client-credentials tokens), the key's subject (API keys) or the IdP's `sub` (external JWTs).
 */
export type Principal = {
	tenant: string;
	subject: string;
	scopes: Scope[];
	via: "jwt" | "api-key";
	/** API key id, or the token's `jti`: for audit logs, never a secret. */
	credentialId: string;
};

export function isScope(s: string): s is Scope {
	return (SCOPES as readonly string[]).includes(s);
}

/** Splits a space-separated scope string (RFC 6749 §3.3), keeping known scopes once, in canonical order. */
export function parseScopes(raw: string | readonly string[]): Scope[] {
	const list = typeof raw === "string" ? raw.split(" ") : raw;
	const set = new Set(list.filter(isScope));
	return SCOPES.filter((s) => set.has(s));
}

/** Tenants and subjects: short, URL- and log-safe identifiers. */
export const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
