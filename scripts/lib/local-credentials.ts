// The local seed's credentials (README#local-credentials): public, local only. scripts/gen-local-seed.ts writes them
// into migrations/local/seed.sql (hashed); scripts and tests of both vitest projects import them from here, so a key
// is written once. Plain TypeScript without Node or Workers APIs: workerd and Node both load it.
//
// The demo tenant holds tenant scopes only; the operator scopes (admin, metrics:read) live in the operator tenant
// `platform` (docs/security.md#operator-scopes): the admin client, and the key Prometheus scrapes /metrics with.

/** Tenant `demo`, subject `demo`: chat rag:read rag:write usage:read. */
export const DEMO_KEY = "eak_00000000d3e0_localDemoKey_localDemoKey_localDemoKey_0000";
/** Tenant `platform`, subject `prometheus`: metrics:read — what Prometheus scrapes /metrics with. */
export const OPS_KEY = "eak_00000000a0b5_localOpsKey_localOpsKey_localOpsKey_0000000";
/** The demo API client (tenant `demo`, the demo key's scopes). */
export const DEMO_CLIENT = { id: "demo", secret: "demo-secret" } as const;
/** The admin client (tenant `platform`, scope admin). */
export const ADMIN_CLIENT = { id: "admin", secret: "admin-secret" } as const;

export type LocalClient = { id: string; secret: string; tenant: string; scopes: string };
export type LocalApiKey = { idHex: string; key: string; tenant: string; subject: string; scopes: string; name: string };

/** The seeded API clients, in the order of seed.sql. */
export const LOCAL_CLIENTS: readonly LocalClient[] = [
	{ ...DEMO_CLIENT, tenant: "demo", scopes: "chat rag:read rag:write usage:read" },
	{ ...ADMIN_CLIENT, tenant: "platform", scopes: "admin" },
];

/** The seeded API keys, in the order of seed.sql (`idHex` is the key's id: `key_<idHex>`, prefix `eak_<idHex>`). */
export const LOCAL_API_KEYS: readonly LocalApiKey[] = [
	{
		idHex: "00000000d3e0",
		key: DEMO_KEY,
		tenant: "demo",
		subject: "demo",
		scopes: "chat rag:read rag:write usage:read",
		name: "local demo key",
	},
	{
		idHex: "00000000a0b5",
		key: OPS_KEY,
		tenant: "platform",
		subject: "prometheus",
		scopes: "metrics:read",
		name: "local operator metrics key",
	},
];
