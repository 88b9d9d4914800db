/**
 * Runtime configuration, validated once per isolate with zod.
 *
 * Every variable is a string in `Env` (wrangler `[vars]`, `.dev.vars`, secrets); this schema turns them into
 * typed values with documented defaults. A bad value never crashes the isolate: {@link loadConfig} returns a
 * tagged result, `/readyz` reports the issues, and every other route answers 503 naming the variable.
 *
 * @example
 * ```ts
 * const result = loadConfig(env);
 * if (!result.ok) console.log(result.issues); // [{ variable: "MAX_BODY_BYTES", message: "..." }]
 * ```
 *
 * @module
 */
import { parseScopes, type Scope } from "../auth/principal";
import { DEFAULT_MODELS, type ModelEntry, type Prices } from "../chat/config";
import type { Faults } from "../lib/fault";
import { DEFAULT_POLICIES, MODEL_ROUTES, type Policy } from "../rate-limit/policies";
import { parseHeaders } from "../telemetry/otlp";
import { bindingsIdentity } from "./bindings";
import { ConfigSchema, LOCAL_DEV_SIGNING_SECRET, type ParsedVariables, type PrivateJwk } from "./schema";

export type JwtSigning =
	| { kind: "hs256"; secret: string; previousSecret: string | undefined }
	| { kind: "jwk"; privateJwk: PrivateJwk; previousPublicJwks: { keys: Record<string, unknown>[] } | undefined };

export type AuthConfig = {
	issuer: string;
	audience: string;
	ttlS: number;
	clockToleranceS: number;
	signing: JwtSigning;
	external:
		| {
				jwksUrl: string;
				issuer: string;
				audience: string;
				algorithms: string[];
				tenantClaim: string;
				cacheS: number;
				cooldownS: number;
				/** Scopes the IdP may grant; others in its tokens are dropped. */
				allowedScopes: readonly Scope[];
		  }
		| undefined;
	/** The operators' tenant (OPERATOR_TENANT): the only one whose principals hold operator scopes. */
	operatorTenant: string;
	invalidCredentialLimit: number;
	maxCredentialBytes: number;
	revocationCacheS: number;
	failureLimit: number;
	ipFailureLimit: number;
	failureWindowS: number;
};

export type RateLimitConfig = {
	policies: readonly Policy[];
	timeoutMs: number;
	leaseMs: number;
	negativeCacheSize: number;
};

export type ChatConfig = {
	models: readonly ModelEntry[];
	defaultModel: string;
	prices: Prices;
	defaultMaxTokens: number;
	maxTokensLimit: number;
	retry: { maxRetries: number; budget: number; attemptTimeoutMs: number; baseDelayMs: number; maxDelayMs: number };
	breaker: { failureRate: number; minCalls: number; windowMs: number; cooldownMs: number; probes: number };
	keepAliveMs: number;
	localTokenDelayMs: number;
	/** Fault injection into the local model: failing fraction of calls, and latency before the first token (ms). */
	localFaults: { rate: number; extraLatencyMs: number };
	conversation: { maxMessages: number; maxTokens: number; ttlMs: number; scope: "subject" | "tenant" };
};

export type RagConfig = {
	vectorIndex: "local" | "vectorize";
	embedder: "local" | "workers-ai";
	indexName: string;
	indexingDelayMs: number;
	chunk: { maxChars: number; overlapChars: number; minChars: number; headingChars: number };
	limits: {
		documentBytes: number;
		batchDocuments: number;
		chunksPerRequest: number;
		metadataBytes: number;
		topK: number;
		embeddingInputs: number;
	};
	/** Per-tenant storage quotas. */
	quotas: { documents: number; chunks: number; bytes: number };
	idempotencyTtlMs: number;
	minVectorScore: number;
};

export type OtlpConfig = { endpoint: string | undefined; headers: Record<string, string>; serviceName: string };

export type Config = {
	environment: ParsedVariables["ENVIRONMENT"];
	logLevel: ParsedVariables["LOG_LEVEL"];
	corsOrigins: string[];
	maxBodyBytes: number;
	timeouts: { defaultMs: number; chatMs: number; streamMs: number; healthMs: number };
	auth: AuthConfig;
	rateLimit: RateLimitConfig;
	chat: ChatConfig;
	rag: RagConfig;
	otlp: OtlpConfig;
	tracing: { sampleRatio: number };
	usage: { retentionDays: number };
	/**
	 * Injected faults (local and test only; src/lib/fault.ts): the `FAULT_*` variables, which the operator endpoint
	 * overrides on a running service (src/config/runtime-faults.ts).
	 */
	faults: Faults;
};

export type ConfigIssue = { variable: string; message: string };
export type ConfigResult = { ok: true; config: Config } | { ok: false; issues: ConfigIssue[] };

/** Defaults used by the pipeline itself (logging, timeouts) while the configuration is invalid. */
export const FALLBACK_CONFIG: Config = toConfig(ConfigSchema.parse({}));

function toConfig(v: ParsedVariables): Config {
	const signing: JwtSigning = v.JWT_PRIVATE_JWK
		? { kind: "jwk", privateJwk: v.JWT_PRIVATE_JWK, previousPublicJwks: v.JWT_PREVIOUS_PUBLIC_JWKS }
		: {
				kind: "hs256",
				secret: v.JWT_SIGNING_SECRET ?? LOCAL_DEV_SIGNING_SECRET,
				previousSecret: v.JWT_PREVIOUS_SIGNING_SECRET,
			};
	return {
		environment: v.ENVIRONMENT,
		logLevel: v.LOG_LEVEL,
		corsOrigins: v.CORS_ORIGINS,
		maxBodyBytes: v.MAX_BODY_BYTES,
		timeouts: {
			defaultMs: v.TIMEOUT_DEFAULT_MS,
			chatMs: v.TIMEOUT_CHAT_MS,
			streamMs: v.TIMEOUT_STREAM_MS,
			healthMs: v.TIMEOUT_HEALTH_MS,
		},
		auth: {
			issuer: v.JWT_ISSUER,
			audience: v.JWT_AUDIENCE,
			ttlS: v.JWT_TTL_S,
			clockToleranceS: v.JWT_CLOCK_TOLERANCE_S,
			signing,
			external:
				v.JWT_JWKS_URL && v.JWT_JWKS_ISSUER && v.JWT_JWKS_AUDIENCE
					? {
							jwksUrl: v.JWT_JWKS_URL,
							issuer: v.JWT_JWKS_ISSUER,
							audience: v.JWT_JWKS_AUDIENCE,
							algorithms: v.JWT_JWKS_ALGORITHMS,
							tenantClaim: v.JWT_JWKS_TENANT_CLAIM,
							cacheS: v.JWT_JWKS_CACHE_S,
							cooldownS: v.JWT_JWKS_COOLDOWN_S,
							allowedScopes: parseScopes(v.JWT_JWKS_ALLOWED_SCOPES),
						}
					: undefined,
			operatorTenant: v.OPERATOR_TENANT,
			invalidCredentialLimit: v.AUTH_INVALID_CREDENTIAL_LIMIT,
			maxCredentialBytes: v.AUTH_MAX_CREDENTIAL_BYTES,
			revocationCacheS: v.AUTH_REVOCATION_CACHE_S,
			failureLimit: v.AUTH_FAILURE_LIMIT,
			ipFailureLimit: v.AUTH_IP_FAILURE_LIMIT,
			failureWindowS: v.AUTH_FAILURE_WINDOW_S,
		},
		rateLimit: {
			policies: v.RATE_LIMIT_POLICIES ?? DEFAULT_POLICIES,
			timeoutMs: v.RATE_LIMIT_TIMEOUT_MS,
			leaseMs: v.RATE_LIMIT_LEASE_S * 1000,
			negativeCacheSize: v.RATE_LIMIT_NEGATIVE_CACHE_SIZE,
		},
		chat: {
			models: v.CHAT_MODELS ?? DEFAULT_MODELS,
			defaultModel: v.CHAT_DEFAULT_MODEL ?? (v.CHAT_MODELS ?? DEFAULT_MODELS)[0]?.id ?? "local",
			prices: v.CHAT_PRICES ?? {},
			defaultMaxTokens: v.CHAT_DEFAULT_MAX_TOKENS,
			maxTokensLimit: v.CHAT_MAX_TOKENS_LIMIT,
			retry: {
				maxRetries: v.CHAT_MAX_RETRIES,
				budget: v.CHAT_RETRY_BUDGET,
				attemptTimeoutMs: v.CHAT_ATTEMPT_TIMEOUT_MS,
				baseDelayMs: v.CHAT_RETRY_BASE_MS,
				maxDelayMs: v.CHAT_RETRY_MAX_MS,
			},
			breaker: {
				failureRate: v.CHAT_BREAKER_FAILURE_RATE,
				minCalls: v.CHAT_BREAKER_MIN_CALLS,
				windowMs: v.CHAT_BREAKER_WINDOW_MS,
				cooldownMs: v.CHAT_BREAKER_COOLDOWN_MS,
				probes: v.CHAT_BREAKER_PROBES,
			},
			keepAliveMs: v.CHAT_KEEPALIVE_MS,
			localTokenDelayMs: v.LOCAL_MODEL_TOKEN_DELAY_MS,
			localFaults: { rate: v.LOCAL_MODEL_FAULT_RATE, extraLatencyMs: v.LOCAL_MODEL_EXTRA_LATENCY_MS },
			conversation: {
				maxMessages: v.CONVERSATION_MAX_MESSAGES,
				maxTokens: v.CONVERSATION_MAX_TOKENS,
				ttlMs: v.CONVERSATION_TTL_S * 1000,
				scope: v.CONVERSATION_SCOPE,
			},
		},
		rag: {
			vectorIndex: v.RAG_VECTOR_INDEX,
			embedder: v.RAG_EMBEDDER,
			indexName: v.RAG_INDEX_NAME,
			indexingDelayMs: v.RAG_INDEXING_DELAY_MS,
			chunk: {
				maxChars: v.RAG_CHUNK_CHARS,
				overlapChars: v.RAG_CHUNK_OVERLAP_CHARS,
				minChars: v.RAG_MIN_CHUNK_CHARS ?? Math.min(200, Math.floor(v.RAG_CHUNK_CHARS / 4)),
				headingChars: v.RAG_MAX_HEADING_CHARS,
			},
			limits: {
				documentBytes: v.RAG_MAX_DOCUMENT_BYTES,
				batchDocuments: v.RAG_MAX_BATCH_DOCUMENTS,
				chunksPerRequest: v.RAG_MAX_CHUNKS_PER_REQUEST,
				metadataBytes: v.RAG_MAX_METADATA_BYTES,
				topK: v.RAG_MAX_TOP_K,
				embeddingInputs: v.EMBEDDINGS_MAX_INPUTS,
			},
			quotas: {
				documents: v.RAG_TENANT_MAX_DOCUMENTS,
				chunks: v.RAG_TENANT_MAX_CHUNKS,
				bytes: v.RAG_TENANT_MAX_BYTES,
			},
			idempotencyTtlMs: v.IDEMPOTENCY_TTL_S * 1000,
			minVectorScore: v.RAG_MIN_VECTOR_SCORE,
		},
		otlp: { endpoint: v.OTLP_ENDPOINT, headers: parseHeaders(v.OTLP_HEADERS), serviceName: v.OTLP_SERVICE_NAME },
		tracing: { sampleRatio: v.TRACE_SAMPLE_RATIO },
		usage: { retentionDays: v.USAGE_RETENTION_DAYS },
		faults: {
			chatModel: { rate: v.FAULT_CHAT_MODEL_RATE, latencyMs: v.FAULT_CHAT_MODEL_LATENCY_MS },
			chatStream: { rate: v.FAULT_CHAT_STREAM_RATE, afterTokens: v.FAULT_CHAT_STREAM_AFTER_TOKENS },
			embedder: { rate: v.FAULT_EMBEDDER_RATE, latencyMs: v.FAULT_EMBEDDER_LATENCY_MS },
			vectorIndex: { rate: v.FAULT_VECTOR_INDEX_RATE, latencyMs: v.FAULT_VECTOR_INDEX_LATENCY_MS },
			d1: { rate: v.FAULT_D1_RATE, latencyMs: v.FAULT_D1_LATENCY_MS },
			rateLimiter: { rate: v.FAULT_RATE_LIMITER_RATE, latencyMs: v.FAULT_RATE_LIMITER_LATENCY_MS },
			sloCounter: { rate: v.FAULT_SLO_COUNTER_RATE, latencyMs: v.FAULT_SLO_COUNTER_LATENCY_MS },
			conversation: { rate: v.FAULT_CONVERSATION_RATE, latencyMs: v.FAULT_CONVERSATION_LATENCY_MS },
			otlp: { rate: v.FAULT_OTLP_RATE, latencyMs: v.FAULT_OTLP_LATENCY_MS },
		},
	};
}

/** Every fault-injection variable: refused (above 0) outside local and test environments. */
const FAULT_VARIABLES = (Object.keys(ConfigSchema.shape) as (keyof ParsedVariables)[]).filter(
	(name): name is `FAULT_${string}` & keyof ParsedVariables => name.startsWith("FAULT_"),
);

/** `local` and `test` run on a developer's machine or in CI; `staging` and `production` are deployed. */
export function isLocalEnvironment(environment: Config["environment"]): boolean {
	return environment === "local" || environment === "test";
}

/**
 * Rules that span variables — secure by default outside local environments (docs/security.md#configuration):
 * `ENVIRONMENT` named; a real signing key, the public dev secret in neither slot; `https://` for upstreams, the
 * IdP's key set and the OTLP collector; no `CORS_ORIGINS=*` in production; `tokens` policies only on routes that
 * call a model; JWKS mode with its iss and aud.
 */
function crossFieldIssues(v: ParsedVariables, vars: Record<string, unknown>): ConfigIssue[] {
	const issues: ConfigIssue[] = [];
	if (typeof vars.ENVIRONMENT !== "string") {
		issues.push({
			variable: "ENVIRONMENT",
			message:
				"must be set (local, test, staging or production): an [env.*] of wrangler.toml does not inherit the top level's [vars]",
		});
	}
	const deployed = !isLocalEnvironment(v.ENVIRONMENT);
	if (deployed) {
		for (const name of FAULT_VARIABLES) {
			if (v[name] > 0) issues.push({ variable: name, message: `fault injection is refused in ${v.ENVIRONMENT}` });
		}
	}
	if (deployed && !v.JWT_PRIVATE_JWK && !v.JWT_SIGNING_SECRET) {
		issues.push({
			variable: "JWT_SIGNING_SECRET",
			message: `required in ${v.ENVIRONMENT} (or set JWT_PRIVATE_JWK): wrangler secret put JWT_SIGNING_SECRET`,
		});
	}
	if (deployed) {
		for (const name of ["JWT_SIGNING_SECRET", "JWT_PREVIOUS_SIGNING_SECRET"] as const) {
			if (v[name] === LOCAL_DEV_SIGNING_SECRET) {
				issues.push({ variable: name, message: `is the public local default; not allowed in ${v.ENVIRONMENT}` });
			}
		}
		const plain = (url: string | undefined) => url !== undefined && new URL(url).protocol !== "https:";
		for (const name of ["JWT_JWKS_URL", "OTLP_ENDPOINT"] as const) {
			if (plain(v[name])) issues.push({ variable: name, message: `must be https:// in ${v.ENVIRONMENT}` });
		}
		for (const m of v.CHAT_MODELS ?? []) {
			if (m.provider === "openai" && plain(m.base_url)) {
				issues.push({
					variable: "CHAT_MODELS",
					message: `model '${m.id}': base_url must be https:// in ${v.ENVIRONMENT}`,
				});
			}
		}
	}
	if (v.ENVIRONMENT === "production" && v.CORS_ORIGINS.includes("*")) {
		issues.push({ variable: "CORS_ORIGINS", message: "'*' is not allowed in production: list the origins" });
	}
	for (const p of v.RATE_LIMIT_POLICIES ?? []) {
		if (p.unit !== "tokens") continue;
		const other = p.routes.filter((r) => !MODEL_ROUTES.has(r.replace(/^POST /, "")) || /^(?!POST )[A-Z]+ /.test(r));
		if (other.length > 0) {
			issues.push({
				variable: "RATE_LIMIT_POLICIES",
				message: `tokens policy '${p.name}' names ${other.map((r) => `'${r}'`).join(", ")}, which call${other.length === 1 ? "s" : ""} no model (tokens policies may name ${[...MODEL_ROUTES].join(", ")})`,
			});
		}
	}
	if (v.RATE_LIMIT_LEASE_S * 1000 <= v.TIMEOUT_STREAM_MS) {
		issues.push({
			variable: "RATE_LIMIT_LEASE_S",
			message: `must exceed TIMEOUT_STREAM_MS (${v.TIMEOUT_STREAM_MS} ms), or a long stream loses its token reservation`,
		});
	}
	const models = v.CHAT_MODELS ?? DEFAULT_MODELS;
	if (v.CHAT_DEFAULT_MODEL && !models.some((m) => m.id === v.CHAT_DEFAULT_MODEL)) {
		issues.push({ variable: "CHAT_DEFAULT_MODEL", message: `'${v.CHAT_DEFAULT_MODEL}' is not in CHAT_MODELS` });
	}
	if (v.CHAT_DEFAULT_MAX_TOKENS > v.CHAT_MAX_TOKENS_LIMIT) {
		issues.push({ variable: "CHAT_DEFAULT_MAX_TOKENS", message: "must not exceed CHAT_MAX_TOKENS_LIMIT" });
	}
	for (const m of models) {
		if (m.provider === "openai" && m.api_key_secret && !(m.api_key_secret in vars)) {
			issues.push({
				variable: m.api_key_secret,
				message: `required by model '${m.id}' (wrangler secret put ${m.api_key_secret})`,
			});
		}
	}
	if (v.RAG_CHUNK_OVERLAP_CHARS >= v.RAG_CHUNK_CHARS) {
		issues.push({ variable: "RAG_CHUNK_OVERLAP_CHARS", message: "must be smaller than RAG_CHUNK_CHARS" });
	}
	if ((v.RAG_MIN_CHUNK_CHARS ?? 0) * 2 > v.RAG_CHUNK_CHARS) {
		issues.push({ variable: "RAG_MIN_CHUNK_CHARS", message: "must be at most half of RAG_CHUNK_CHARS" });
	}
	if (v.JWT_JWKS_URL) {
		for (const name of ["JWT_JWKS_ISSUER", "JWT_JWKS_AUDIENCE"] as const) {
			if (!v[name]) issues.push({ variable: name, message: "required when JWT_JWKS_URL is set" });
		}
	}
	return issues;
}

/** Parses the environment's variables; pure, no caching. */
export function parseConfig(vars: Record<string, unknown>): ConfigResult {
	const parsed = ConfigSchema.safeParse(vars);
	if (parsed.success) {
		const issues = crossFieldIssues(parsed.data, vars);
		return issues.length === 0 ? { ok: true, config: toConfig(parsed.data) } : { ok: false, issues };
	}
	return {
		ok: false,
		issues: parsed.error.issues.map((issue) => ({
			variable: String(issue.path[0] ?? "(env)"),
			// Inside a JSON variable, say where: "[2].limit: Too small: expected number to be >=1".
			message:
				issue.path.length > 1
					? `${issue.path
							.slice(1)
							.map((k) => (typeof k === "number" ? `[${k}]` : `.${String(k)}`))
							.join("")
							.replace(/^\./, "")}: ${issue.message}`
					: issue.message,
		})),
	};
}

const cache = new WeakMap<object, ConfigResult>();

/** Parses `env` once per isolate (cached by {@link bindingsIdentity}). */
export function loadConfig(env: object): ConfigResult {
	const key = bindingsIdentity(env);
	let result = cache.get(key);
	if (!result) {
		result = parseConfig(env as Record<string, unknown>);
		cache.set(key, result);
	}
	return result;
}
