/**
 * Throttles for credential guessing, on the exact sliding-window `RateLimiter` objects (docs/security.md#throttles).
 *
 * - Client secrets (`POST /v1/auth/token`): every attempt is charged *before* its secret is verified, per client id
 *   + IP (`AUTH_FAILURE_LIMIT`) and per IP across all client ids (`AUTH_IP_FAILURE_LIMIT`, against client-id
 *   enumeration), over `AUTH_FAILURE_WINDOW_S`; a successful attempt gives its charge back. The charge is atomic in
 *   each object, so concurrent wrong guesses cannot all pass a check made before any of them was counted: at most
 *   the limit are ever verified per window. The same answer is given whether or not the client id exists.
 * - API keys and bearer tokens (every authenticated route): an invalid one is counted per IP
 *   (`AUTH_INVALID_CREDENTIAL_LIMIT`); past the limit the address gets 429, and each isolate remembers that, so
 *   further guesses from it are refused before they cost a D1 lookup.
 *
 * A limiter that cannot be reached within {@link THROTTLE_TIMEOUT_MS} fails open (logged): credentials are still
 * verified, the throttle is defence in depth.
 *
 * @example
 * ```ts
 * const attempt = await chargeAttempt(env, auth, clientId, ip, log); // 429 when exhausted
 * if (secretOk) attempt.succeeded(); // gives the charge back (in the background)
 * ```
 *
 * @module
 */
import type { AuthConfig } from "../config";
import { AppError } from "../http/app-error";
import { NegativeCache } from "../rate-limit/negative-cache";
import type { Logger } from "../telemetry/logger";

/** How long a throttle waits for its `RateLimiter` object before failing open (ms). */
export const THROTTLE_TIMEOUT_MS = 1_000;

const POLICY = "failures";

type Key = { name: string; limit: number };

function secretKeys(auth: AuthConfig, clientId: string, ip: string): Key[] {
	return [
		{ name: `auth-failures:client:${clientId}|ip:${ip}`, limit: auth.failureLimit },
		{ name: `auth-failures:ip:${ip}`, limit: auth.ipFailureLimit },
	];
}

async function withTimeout<T>(p: Promise<T>): Promise<T> {
	let timer: ReturnType<typeof setTimeout> | undefined;
	try {
		return await Promise.race([
			p,
			new Promise<never>((_, reject) => {
				timer = setTimeout(
					() => reject(new Error(`rate limiter timed out after ${THROTTLE_TIMEOUT_MS} ms`)),
					THROTTLE_TIMEOUT_MS,
				);
			}),
		]);
	} finally {
		clearTimeout(timer);
	}
}

function limiter(env: Env, name: string) {
	return env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(name));
}

function tooMany(detail: string, waitMs: number, policy: string): AppError {
	const retryAfterS = Math.max(1, Math.ceil(waitMs / 1000));
	return new AppError({
		status: 429,
		slug: "quota-exceeded",
		detail: `${detail}; retry in ${retryAfterS} s`,
		headers: { "Retry-After": String(retryAfterS) },
		extensions: { "violated-policies": [policy] },
	});
}

/** A charged token-endpoint attempt: `succeeded()` gives the charge back; a failed attempt keeps it. */
export type Attempt = { succeeded(): void };

/**
 * Charges one attempt under both keys before the secret is checked; throws 429 when either is used up (and gives
 * back what the other charged). `defer` runs the give-backs after the response (ctx.waitUntil).
 */
export async function chargeAttempt(
	env: Env,
	auth: AuthConfig,
	clientId: string,
	ip: string,
	log: Logger,
	defer: (p: Promise<unknown>) => void,
): Promise<Attempt> {
	const windowMs = auth.failureWindowS * 1000;
	const keys = secretKeys(auth, clientId, ip);
	let results: { key: Key; allowed: boolean; event: string | null; waitMs: number }[];
	try {
		results = await withTimeout(
			Promise.all(
				keys.map(async (key) => {
					const r = await limiter(env, key.name).consume([{ policy: POLICY, limit: key.limit, windowMs, cost: 1 }]);
					return {
						key,
						allowed: r.allowed,
						event: r.event,
						waitMs: Math.max(0, ...r.decisions.map((d) => d.retryAfterMs)),
					};
				}),
			),
		);
	} catch (err) {
		log.warn("auth throttle unavailable; failing open", { error_message: String(err) });
		return { succeeded: () => undefined };
	}
	const giveBack = () => {
		for (const r of results) if (r.event) defer(limiter(env, r.key.name).cancel(r.event));
	};
	const blocked = results.filter((r) => !r.allowed);
	if (blocked.length > 0) {
		giveBack();
		throw tooMany("Too many failed token requests", Math.max(...blocked.map((r) => r.waitMs)), "auth-failures");
	}
	return { succeeded: giveBack };
}

/**
 * Counts invalid API keys and bearer tokens per client IP. One per isolate ({@link credentialThrottle}): its
 * negative cache is what lets a blocked address be refused without any I/O.
 */
export class CredentialThrottle {
	readonly #blocked: NegativeCache;
	readonly #now: () => number;

	/** `now` is the clock the blocks are timed by (tests inject one). */
	constructor(capacity = 10_000, now: () => number = Date.now) {
		this.#blocked = new NegativeCache(capacity);
		this.#now = now;
	}

	/** Throws 429 when this isolate knows `ip` to be blocked (no I/O). */
	assertNotBlocked(ip: string): void {
		const nowMs = this.#now();
		const until = this.#blocked.blockedUntil(`ip:${ip}`, POLICY, 1, nowMs);
		if (until !== null) throw tooMany("Too many invalid credentials from this address", until - nowMs, "auth-invalid");
	}

	/**
	 * Counts one invalid credential from `ip`. Returns the 429 to answer instead of the 401 once the address has used
	 * its allowance (and remembers the block in this isolate), else null. Never throws.
	 */
	async recordInvalid(env: Env, auth: AuthConfig, ip: string, log: Logger): Promise<AppError | null> {
		const windowMs = auth.failureWindowS * 1000;
		try {
			const r = await withTimeout(
				limiter(env, `auth-invalid:ip:${ip}`).consume([
					{ policy: POLICY, limit: auth.invalidCredentialLimit, windowMs, cost: 1 },
				]),
			);
			if (r.allowed) return null;
			const waitMs = Math.max(0, ...r.decisions.map((d) => d.retryAfterMs));
			const nowMs = this.#now();
			this.#blocked.block(`ip:${ip}`, POLICY, 1, nowMs + waitMs);
			return tooMany("Too many invalid credentials from this address", waitMs, "auth-invalid");
		} catch (err) {
			log.warn("credential throttle unavailable; failure not counted", { error_message: String(err) });
			return null;
		}
	}

	clear(): void {
		this.#blocked.clear();
	}
}

/** The isolate's throttle of invalid credentials. */
export const credentialThrottle = new CredentialThrottle();
