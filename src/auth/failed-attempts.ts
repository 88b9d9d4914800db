import type { AuthConfig } from "../config";
import { AppError } from "../http/app-error";
import type { Logger } from "../telemetry/logger";

/**
 * Throttling of failed token requests, on the exact sliding-window `RateLimiter` objects: per client id + IP
 * (`AUTH_FAILURE_LIMIT`) and per IP across all client ids (`AUTH_IP_FAILURE_LIMIT`, against client-id
 * enumeration), both over `AUTH_FAILURE_WINDOW_S`. Only failures are logged; a blocked caller gets 429 before its
 * credentials are even checked, so guessing stops paying. The same answer is given whether or not the client id
 * exists.
 *
 * A limiter that cannot be reached within {@link THROTTLE_TIMEOUT_MS} fails open (logged): credentials are still
 * verified, the throttle is defence in depth.
 */
export const THROTTLE_TIMEOUT_MS = 1_000;

type Key = { name: string; limit: number };

function keys(auth: AuthConfig, clientId: string, ip: string): Key[] {
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

/** Throws 429 when either key has used up its failures; otherwise returns. */
export async function assertNotThrottled(
	env: Env,
	auth: AuthConfig,
	clientId: string,
	ip: string,
	log: Logger,
): Promise<void> {
	const windowMs = auth.failureWindowS * 1000;
	try {
		const results = await withTimeout(
			Promise.all(
				keys(auth, clientId, ip).map((k) =>
					env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(k.name)).consume(
						[{ policy: "failures", limit: k.limit, windowMs, cost: 1 }],
						{ dryRun: true },
					),
				),
			),
		);
		const blocked = results.filter((r) => !r.allowed);
		if (blocked.length === 0) return;
		const waitMs = Math.max(...blocked.flatMap((r) => r.decisions.map((d) => d.retryAfterMs)));
		const retryAfterS = Math.max(1, Math.ceil(waitMs / 1000));
		throw new AppError({
			status: 429,
			slug: "quota-exceeded",
			detail: `Too many failed token requests; retry in ${retryAfterS} s`,
			headers: { "Retry-After": String(retryAfterS) },
			extensions: { "violated-policies": ["auth-failures"] },
		});
	} catch (err) {
		if (err instanceof AppError) throw err;
		log.warn("auth throttle unavailable; failing open", { error_message: String(err) });
	}
}

/** Logs one failure under both keys. Never throws: a throttle outage must not turn a 401 into a 500. */
export async function recordFailure(env: Env, auth: AuthConfig, clientId: string, ip: string, log: Logger) {
	const windowMs = auth.failureWindowS * 1000;
	try {
		await withTimeout(
			Promise.all(
				keys(auth, clientId, ip).map((k) =>
					env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(k.name)).consume([
						{ policy: "failures", limit: k.limit, windowMs, cost: 1 },
					]),
				),
			),
		);
	} catch (err) {
		log.warn("auth throttle unavailable; failure not recorded", { error_message: String(err) });
	}
}
