import { type DevServer, startDevServer as start } from "../../../scripts/lib/dev-server.ts";

export { freePort } from "../../../scripts/lib/net.ts";
export type { DevServer };

/**
 * Starts the API as `npm start` does (scripts/lib/dev-server.ts: migrations and the local seed, then `wrangler dev`)
 * on a free loopback port with a fresh state directory, capturing its output; `stop()` removes the state directory
 * unless asked to keep it. `extraEnv` is wrangler's further environment, READY_TIMEOUT_MS (default 90 000) aside.
 */
export function startDevServer(
	extraEnv: Record<string, string> = {},
	options: {
		persistDir?: string;
		port?: number;
		/** Extra `wrangler dev` arguments (`--var K:V`, `--test-scheduled`). */
		args?: string[];
	} = {},
): Promise<DevServer> {
	const { READY_TIMEOUT_MS, ...env } = extraEnv;
	return start({ ...options, env, keepState: false, readyTimeoutMs: Number(READY_TIMEOUT_MS ?? 90_000) });
}
