import { overrideHeader } from "./k6.ts";

/**
 * Waiting for a deployment to reach the edge before the smoke test: Cloudflare applies a new deployment within
 * seconds, not at once, and until it has, a request pinned to the new version (`Cloudflare-Workers-Version-Overrides`)
 * is answered by stable — the override is ignored for a version the serving location does not know yet. Smoking then
 * would fail a good canary on `X-Worker-Version`. So the controller polls `GET /healthz` (unauthenticated, not
 * counted in the SLOs) with the override until `X-Worker-Version` names the new version, at most `timeoutMs`.
 *
 * Clock, sleep and fetch are injected (test/node/canary-controller.test.ts drives them by hand).
 *
 * @example
 * ```ts
 * const wait = versionProbe({ baseUrl: "https://api.example.com", script: "edge-ai-api", timeoutMs: 30_000 });
 * const r = await wait(newVersionId); // { ok: true, waitedMs: 1200 } | { ok: false, reason: "…" }
 * ```
 */
export type VersionProbeResult = { ok: true; waitedMs: number } | { ok: false; reason: string };

export function versionProbe(options: {
	baseUrl: string;
	script: string;
	/** How long the new version may take to answer (ms). */
	timeoutMs: number;
	/** Between probes (ms); default 1 s. */
	intervalMs?: number;
	fetch?: (url: string, init?: RequestInit) => Promise<Response>;
	now?: () => number;
	sleep?: (ms: number) => Promise<void>;
}): (versionId: string) => Promise<VersionProbeResult> {
	const doFetch = options.fetch ?? fetch;
	const now = options.now ?? Date.now;
	const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
	const interval = options.intervalMs ?? 1_000;
	const url = `${options.baseUrl.replace(/\/+$/, "")}/healthz`;
	return async (versionId) => {
		const started = now();
		let last = "no answer yet";
		for (;;) {
			try {
				const res = await doFetch(url, {
					headers: { "Cloudflare-Workers-Version-Overrides": overrideHeader(options.script, versionId) },
					signal: AbortSignal.timeout(Math.max(1_000, Math.min(5_000, options.timeoutMs))),
				});
				await res.arrayBuffer();
				const served = res.headers.get("X-Worker-Version");
				if (served === versionId) return { ok: true, waitedMs: now() - started };
				last = `answered ${res.status} with X-Worker-Version ${served ?? "(missing)"}`;
			} catch (err) {
				last = `failed: ${err instanceof Error ? err.message : String(err)}`;
			}
			if (now() - started >= options.timeoutMs) {
				return {
					ok: false,
					reason: `the new version ${versionId} was not served within ${Math.round(options.timeoutMs / 1000)} s of its deployment: GET ${url} pinned to it last ${last} (the deployment did not propagate, or the override header is stripped on the way)`,
				};
			}
			await sleep(Math.min(interval, Math.max(0, started + options.timeoutMs - now())));
		}
	};
}
