/**
 * The environment's variables as a zod schema: every variable is a string in `Env` (wrangler `[vars]`,
 * `.dev.vars`, secrets), turned into a typed value with its documented default. src/config/index.ts shapes the
 * parsed values into the {@link Config} the code reads.
 *
 * @module
 */
import { z } from "zod";
import { IDENTIFIER, SCOPES } from "../auth/principal";
import { ModelsSchema, PricesSchema } from "../chat/config";
import { PoliciesSchema } from "../rate-limit/policies";

/** An integer in a string, within [min, max]; the unit is in the variable's name (`_MS`, `_BYTES`). */
const intString = (min: number, max: number, fallback: number) =>
	z
		.string()
		.trim()
		.regex(/^\d+$/, "must be a whole number")
		.transform(Number)
		.pipe(z.number().int().min(min).max(max))
		.optional()
		.transform((v) => v ?? fallback);

const corsOrigins = z
	.string()
	.optional()
	.transform((raw) =>
		(raw ?? "")
			.split(",")
			.map((s) => s.trim())
			.filter((s) => s.length > 0),
	)
	.pipe(z.array(z.union([z.literal("*"), z.url({ protocol: /^https?$/, error: "must be '*' or an http(s) origin" })])));

/** The HS256 secret `npm start` and tests use when none is set; staging/production refuse to run with it. */
export const LOCAL_DEV_SIGNING_SECRET = "local-development-signing-secret-never-use-in-production";

const jsonString = z.string().transform((raw, ctx) => {
	try {
		return JSON.parse(raw) as unknown;
	} catch {
		ctx.addIssue({ code: "custom", message: "must be valid JSON" });
		return z.NEVER;
	}
});

/** A private JWK for EdDSA (Ed25519) or ES256 signing; `kid` is required so verifiers can pick the key. */
const PrivateJwkSchema = z.union([
	z.object({ kty: z.literal("OKP"), crv: z.literal("Ed25519"), x: z.string(), d: z.string(), kid: z.string().min(1) }),
	z.object({
		kty: z.literal("EC"),
		crv: z.literal("P-256"),
		x: z.string(),
		y: z.string(),
		d: z.string(),
		kid: z.string().min(1),
	}),
]);
export type PrivateJwk = z.infer<typeof PrivateJwkSchema>;

const PublicJwksSchema = z.object({
	keys: z.array(z.looseObject({ kty: z.enum(["OKP", "EC"]), kid: z.string().min(1), x: z.string() })),
});

const algList = z
	.string()
	.transform((s) =>
		s
			.split(",")
			.map((a) => a.trim())
			.filter(Boolean),
	)
	.pipe(z.array(z.enum(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"])).min(1));

/** A space-separated scope list (RFC 6749 §3.3) of known scopes. */
const scopeList = z
	.string()
	.transform((s) => s.split(" ").filter(Boolean))
	.pipe(z.array(z.enum(SCOPES)));

/** A fraction in [0, 1], written as a plain decimal. */
const fraction = (fallback: number) =>
	z
		.string()
		.regex(/^(0(\.\d+)?|1(\.0+)?)$/, "must be a number from 0 to 1")
		.transform(Number)
		.optional()
		.transform((v) => v ?? fallback);

export const ConfigSchema = z.object({
	/**
	 * Which environment this is. Required (see crossFieldIssues): an `[env.*]` of wrangler.toml does not inherit the
	 * top level's `[vars]`, so a new environment without it would otherwise run with local defaults.
	 */
	ENVIRONMENT: z.enum(["local", "test", "staging", "production"]).default("local"),
	LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
	/** Comma-separated allowed origins for CORS, or `*`; empty disables CORS headers. */
	CORS_ORIGINS: corsOrigins,
	/** Largest accepted request body in bytes (413 above it). 1 KiB .. 64 MiB; default 1 MiB. */
	MAX_BODY_BYTES: intString(1024, 64 * 1024 * 1024, 1024 * 1024),
	/** Per-route timeouts in ms (504 when exceeded). Defaults follow the product's seeds. */
	TIMEOUT_DEFAULT_MS: intString(1, 900_000, 30_000),
	TIMEOUT_CHAT_MS: intString(1, 900_000, 60_000),
	TIMEOUT_STREAM_MS: intString(1, 900_000, 300_000),
	TIMEOUT_HEALTH_MS: intString(1, 900_000, 5_000),

	/** Our tokens' `iss` and `aud` (checked exactly on verification). */
	JWT_ISSUER: z.string().min(1).default("edge-ai-api"),
	JWT_AUDIENCE: z.string().min(1).default("edge-ai-api"),
	/** Lifetime of issued access tokens, s (default 15 min). */
	JWT_TTL_S: intString(60, 86_400, 900),
	/** Allowed clock skew for `exp`/`nbf`/`iat`, s. */
	JWT_CLOCK_TOLERANCE_S: intString(0, 300, 30),
	/** HS256 secret (a secret, ≥ 32 characters). Ignored when JWT_PRIVATE_JWK is set. */
	JWT_SIGNING_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
	/** The previous HS256 secret, still accepted for verification during a rotation. */
	JWT_PREVIOUS_SIGNING_SECRET: z.string().min(32, "must be at least 32 characters").optional(),
	/** Private JWK (JSON) for EdDSA/ES256 signing; its public half is served at /.well-known/jwks.json. */
	JWT_PRIVATE_JWK: jsonString.pipe(PrivateJwkSchema).optional(),
	/** Public keys (JWKS JSON) still accepted during a rotation of JWT_PRIVATE_JWK. */
	JWT_PREVIOUS_PUBLIC_JWKS: jsonString.pipe(PublicJwksSchema).optional(),
	/** External identity provider: tokens with this issuer are verified against its remote key set. */
	JWT_JWKS_URL: z.url({ protocol: /^https?$/ }).optional(),
	JWT_JWKS_ISSUER: z.string().min(1).optional(),
	JWT_JWKS_AUDIENCE: z.string().min(1).optional(),
	JWT_JWKS_ALGORITHMS: algList.optional().transform((v) => v ?? ["RS256", "ES256", "EdDSA"]),
	/** Claim holding the tenant in external tokens. */
	JWT_JWKS_TENANT_CLAIM: z.string().min(1).default("tenant"),
	/**
	 * Scopes an external IdP's token may grant (space-separated); the token's scopes outside this list are dropped.
	 * The operator scopes (`admin`, `metrics:read`) are not in the default: an IdP grants them only when listed here.
	 */
	JWT_JWKS_ALLOWED_SCOPES: scopeList.optional().transform((v) => v ?? ["chat", "rag:read", "rag:write", "usage:read"]),
	/** How long a fetched key set is trusted, s; and the least time between refetches for an unknown kid, s. */
	JWT_JWKS_CACHE_S: intString(0, 86_400, 600),
	JWT_JWKS_COOLDOWN_S: intString(0, 3_600, 30),
	/** Largest credential accepted (Authorization / X-API-Key value), bytes. */
	AUTH_MAX_CREDENTIAL_BYTES: intString(256, 16_384, 4_096),
	/** How long an isolate may trust a client's or key's revocation status, s: revocation takes effect within this. */
	AUTH_REVOCATION_CACHE_S: intString(0, 60, 5),
	/** Failed token requests allowed per client id + IP, and per IP, within the window. */
	AUTH_FAILURE_LIMIT: intString(1, 10_000, 10),
	AUTH_IP_FAILURE_LIMIT: intString(1, 100_000, 30),
	AUTH_FAILURE_WINDOW_S: intString(1, 86_400, 300),
	/** Invalid API keys or bearer tokens one IP may present within AUTH_FAILURE_WINDOW_S before getting 429. */
	AUTH_INVALID_CREDENTIAL_LIMIT: intString(1, 1_000_000, 60),
	/**
	 * The operators' tenant: only its principals hold the operator scopes (`admin`, `metrics:read`); in any other
	 * tenant those scopes are ignored, and the admin API refuses to grant them.
	 */
	OPERATOR_TENANT: z.string().regex(IDENTIFIER, "must be a tenant identifier").default("platform"),

	/** Rate-limit policies (JSON array, docs/rate-limits.md); unset: the defaults; `[]`: no limits. */
	RATE_LIMIT_POLICIES: jsonString.pipe(PoliciesSchema).optional(),
	/** How long a request waits for the limiter before the policy's failure mode applies, ms. */
	RATE_LIMIT_TIMEOUT_MS: intString(1, 10_000, 100),
	/** Lease of a token reservation, s: uncommitted after this, it is refunded. Must exceed TIMEOUT_STREAM_MS. */
	RATE_LIMIT_LEASE_S: intString(1, 86_400, 360),
	/** Entries in each isolate's cache of keys known to be blocked (0 turns the cache off). */
	RATE_LIMIT_NEGATIVE_CACHE_SIZE: intString(0, 1_000_000, 10_000),

	/** Chat models and their providers (JSON array, docs/chat.md); unset: the local offline model only. */
	CHAT_MODELS: jsonString.pipe(ModelsSchema).optional(),
	/** Model used when a request names none; default the first of CHAT_MODELS. */
	CHAT_DEFAULT_MODEL: z.string().min(1).optional(),
	/** USD per million prompt/completion tokens per model id (JSON object) → cost per request. */
	CHAT_PRICES: jsonString.pipe(PricesSchema).optional(),
	/** `max_tokens` when a request sets none, and the largest a request may set. */
	CHAT_DEFAULT_MAX_TOKENS: intString(1, 1_000_000, 1_024),
	CHAT_MAX_TOKENS_LIMIT: intString(1, 1_000_000, 16_384),
	/**
	 * Retries after a retryable provider failure (429, 5xx, network, timeout), per model; and the retries one request
	 * may make across its whole fallback chain. Four per model keep chat at 99.7 % when 30 % of calls fail
	 * (0.3⁵ ≈ 0.24 % of requests fail every attempt; docs/chat.md#resilience).
	 */
	CHAT_MAX_RETRIES: intString(0, 10, 4),
	CHAT_RETRY_BUDGET: intString(0, 50, 6),
	/** Time limit of one provider attempt until its answer (or a stream's first event) arrives, ms. */
	CHAT_ATTEMPT_TIMEOUT_MS: intString(100, 300_000, 20_000),
	CHAT_RETRY_BASE_MS: intString(0, 60_000, 250),
	CHAT_RETRY_MAX_MS: intString(0, 60_000, 4_000),
	/**
	 * A provider's circuit (per isolate) opens when at least CHAT_BREAKER_FAILURE_RATE of the calls in the last
	 * CHAT_BREAKER_WINDOW_MS failed, once the window holds CHAT_BREAKER_MIN_CALLS calls; it stays open
	 * CHAT_BREAKER_COOLDOWN_MS, then CHAT_BREAKER_PROBES successful calls close it (src/chat/breaker.ts).
	 */
	CHAT_BREAKER_FAILURE_RATE: fraction(0.5),
	CHAT_BREAKER_MIN_CALLS: intString(1, 10_000, 50),
	CHAT_BREAKER_WINDOW_MS: intString(1_000, 600_000, 30_000),
	CHAT_BREAKER_COOLDOWN_MS: intString(100, 3_600_000, 30_000),
	CHAT_BREAKER_PROBES: intString(1, 100, 3),
	/** Keep-alive comment interval on a quiet stream, ms. */
	CHAT_KEEPALIVE_MS: intString(100, 120_000, 15_000),
	/** The local model's pause between tokens, ms (0: as fast as possible). */
	LOCAL_MODEL_TOKEN_DELAY_MS: intString(0, 10_000, 10),
	/**
	 * Fault injection into the local model (alert drills, the canary rehearsal): the fraction of its calls that fail
	 * like an upstream 5xx, and a pause before its first token, ms. Retries and fallbacks apply as to a real upstream.
	 */
	LOCAL_MODEL_FAULT_RATE: fraction(0),
	LOCAL_MODEL_EXTRA_LATENCY_MS: intString(0, 600_000, 0),
	/**
	 * Fault injection into RAG's dependencies, local and test environments only (docs/resilience.md#fault-injection):
	 * the share of the embedder's and the vector index's calls that fail (0–1), and a pause before each call, ms.
	 */
	FAULT_EMBEDDER_RATE: fraction(0),
	FAULT_EMBEDDER_LATENCY_MS: intString(0, 600_000, 0),
	FAULT_VECTOR_INDEX_RATE: fraction(0),
	FAULT_VECTOR_INDEX_LATENCY_MS: intString(0, 600_000, 0),
	/** Fault injection into D1 (local and test only): the share of executions failing (0–1), a pause before each, ms. */
	FAULT_D1_RATE: fraction(0),
	FAULT_D1_LATENCY_MS: intString(0, 600_000, 0),
	/**
	 * Fault injection into every chat model whatever its provider (local and test only): the share of calls failing
	 * like an upstream 503, a pause before each; and the share of model streams dying after
	 * FAULT_CHAT_STREAM_AFTER_TOKENS content tokens.
	 */
	FAULT_CHAT_MODEL_RATE: fraction(0),
	FAULT_CHAT_MODEL_LATENCY_MS: intString(0, 600_000, 0),
	FAULT_CHAT_STREAM_RATE: fraction(0),
	FAULT_CHAT_STREAM_AFTER_TOKENS: intString(0, 100_000, 0),
	/** Fault injection into the Durable Object calls (local and test only): failing share (0–1), pause before each, ms. */
	FAULT_RATE_LIMITER_RATE: fraction(0),
	FAULT_RATE_LIMITER_LATENCY_MS: intString(0, 600_000, 0),
	FAULT_SLO_COUNTER_RATE: fraction(0),
	FAULT_SLO_COUNTER_LATENCY_MS: intString(0, 600_000, 0),
	FAULT_CONVERSATION_RATE: fraction(0),
	FAULT_CONVERSATION_LATENCY_MS: intString(0, 600_000, 0),
	/** Fault injection into the OTLP receiver's pushes (local and test only): failing share (0–1), pause before each, ms. */
	FAULT_OTLP_RATE: fraction(0),
	FAULT_OTLP_LATENCY_MS: intString(0, 600_000, 0),
	/** Conversation memory caps: messages kept, and estimated tokens kept (oldest trimmed first). */
	CONVERSATION_MAX_MESSAGES: intString(2, 10_000, 100),
	CONVERSATION_MAX_TOKENS: intString(100, 1_000_000, 16_000),
	/** A conversation untouched for this long is deleted (s; default 30 days). */
	CONVERSATION_TTL_S: intString(60, 366 * 86_400, 30 * 86_400),
	/** Who owns a conversation: its `subject` (default: other subjects of the tenant cannot read it) or the `tenant`. */
	CONVERSATION_SCOPE: z.enum(["subject", "tenant"]).default("subject"),

	/** RAG (docs/rag.md): which vector index (`local`: the Durable Object stand-in; `vectorize`: the binding). */
	RAG_VECTOR_INDEX: z.enum(["local", "vectorize"]).default("local"),
	/** Which embedder (`local`: deterministic hashing; `workers-ai`: @cf/baai/bge-base-en-v1.5). */
	RAG_EMBEDDER: z.enum(["local", "workers-ai"]).default("local"),
	/** Name of the local index object (one per name); Vectorize's index is the binding's. */
	RAG_INDEX_NAME: z
		.string()
		.regex(/^[a-z0-9-]{1,64}$/)
		.default("rag"),
	/** The local index's simulated indexing delay, ms: reproduces Vectorize's eventual consistency. */
	RAG_INDEXING_DELAY_MS: intString(0, 600_000, 0),
	/** Chunk size and overlap, characters. */
	RAG_CHUNK_CHARS: intString(200, 8_000, 1_000),
	RAG_CHUNK_OVERLAP_CHARS: intString(0, 2_000, 150),
	/**
	 * A section shorter than this (characters) continues into the next section's chunk; 0: never. Default 200, or a
	 * quarter of RAG_CHUNK_CHARS when that is smaller.
	 */
	RAG_MIN_CHUNK_CHARS: z
		.string()
		.trim()
		.regex(/^\d+$/, "must be a whole number")
		.transform(Number)
		.pipe(z.number().int().min(0).max(4_000))
		.optional(),
	/** Limits of one ingest request: bytes of one document's text, documents, chunks in all (413 above). */
	RAG_MAX_DOCUMENT_BYTES: intString(1, 10 * 1024 * 1024, 256 * 1024),
	RAG_MAX_BATCH_DOCUMENTS: intString(1, 1_000, 50),
	RAG_MAX_CHUNKS_PER_REQUEST: intString(1, 10_000, 1_000),
	/** What one document may carry: metadata (compact JSON, bytes; copied into every vector) and a heading path (chars). */
	RAG_MAX_METADATA_BYTES: intString(64, 10 * 1024, 2_048),
	RAG_MAX_HEADING_CHARS: intString(16, 1_024, 256),
	/** Per-tenant storage quotas: documents, chunks and stored bytes (chunk text, headings, metadata, vectors). */
	RAG_TENANT_MAX_DOCUMENTS: intString(1, 100_000_000, 10_000),
	RAG_TENANT_MAX_CHUNKS: intString(1, 1_000_000_000, 100_000),
	RAG_TENANT_MAX_BYTES: intString(1_024, 1_000_000_000_000, 256 * 1024 * 1024),
	/** How long an ingest's Idempotency-Key is remembered (s; default 24 h). */
	IDEMPOTENCY_TTL_S: intString(60, 30 * 86_400, 86_400),
	/** Largest top_k a search may ask. */
	RAG_MAX_TOP_K: intString(1, 100, 50),
	/** Below this best vector score, and with no keyword hit, a question is "not in the documents". */
	RAG_MIN_VECTOR_SCORE: z
		.string()
		.regex(/^-?\d+(\.\d+)?$/, "must be a number")
		.transform(Number)
		.pipe(z.number().min(-1).max(1))
		.optional()
		.transform((v) => v ?? 0.2),
	/** OTLP/HTTP push of metrics (docs/metrics.md#push): the collector's base URL, headers (`k=v,k2=v2`, a secret). */
	OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
	OTLP_HEADERS: z.string().optional(),
	OTLP_SERVICE_NAME: z.string().min(1).default("edge-ai-api"),
	/** Head sampling ratio of traces (errors and slow requests are kept anyway): 1 locally, 0.1 in production. */
	TRACE_SAMPLE_RATIO: fraction(1),
	/** Inputs per POST /v1/embeddings request. */
	EMBEDDINGS_MAX_INPUTS: intString(1, 2_048, 256),
	/** How long a tenant's usage (GET /v1/usage) is kept, days. */
	USAGE_RETENTION_DAYS: intString(1, 3_660, 400),
});

/** The parsed variables, before they are shaped into a `Config`. */
export type ParsedVariables = z.infer<typeof ConfigSchema>;
