// The benchmark Worker (scripts/bench/wrangler.bench.toml) of `npm run bench:ratelimit`, `bench:slo` and
// `eval:rag`: the real API several times over, so one route is measured with and without a piece side by side in one
// isolate — `/with/…` and `/without/…` (the bench's rate-limit policy or none), `/slo-on/…` and `/slo-off/…` (SLO
// recording, counting its Durable Object calls at `/__bench/slo-stats`, or none) — plus `/__bench/object`, which
// drives one RateLimiter object directly to count its decisions per second.

import { createApp } from "../../src/app";
import type { Charge } from "../../src/rate-limit/contract";
import { defaultShards, Recorder } from "../../src/slo/recorder";

export { Conversation } from "../../durable-objects/conversation";
export { RateLimiter } from "../../durable-objects/rate-limiter";
export { SloCounter } from "../../durable-objects/slo-counter";
export { UsageLedger } from "../../durable-objects/usage-ledger";
export { LocalVectorIndex } from "../../durable-objects/vector-index";

const app = createApp();
let withoutLimits: Env | undefined;

// SLO recording measured: the same app with a recorder that counts its Durable Object calls, and one without.
const sloStats = { applies: 0, requests: 0 };
const countingRecorder = new Recorder({
	delayMs: 25,
	retries: 3,
	shards: (env, route) => {
		const shard = defaultShards(env, route);
		return {
			apply: (batch) => {
				sloStats.applies++;
				sloStats.requests += batch.requests.length;
				return shard.apply(batch);
			},
		};
	},
});
const sloOn = createApp({ slo: { recorder: countingRecorder } });
const sloOff = createApp({ slo: false });

function forward(request: Request, prefix: string): Request {
	const url = new URL(request.url);
	url.pathname = url.pathname.slice(prefix.length) || "/";
	return new Request(url, request);
}

async function driveObject(env: Env, url: URL): Promise<Response> {
	const n = Number(url.searchParams.get("n") ?? 1000);
	const inFlight = Number(url.searchParams.get("concurrency") ?? 1);
	const charge: Charge = {
		policy: "bench",
		limit: Number(url.searchParams.get("limit") ?? 1_000_000),
		windowMs: Number(url.searchParams.get("window_ms") ?? 1_000),
		cost: 1,
	};
	const stub = env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(url.searchParams.get("key") ?? crypto.randomUUID()));
	// mode: `consume` (default), `dry` (decide without logging: no write), `ping` (the bare RPC round trip).
	const mode = url.searchParams.get("mode") ?? "consume";
	let next = 0;
	let admitted = 0;
	const worker = async () => {
		while (next < n) {
			next++;
			if (mode === "ping") {
				await stub.ping();
				admitted++;
			} else if ((await stub.consume([charge], { dryRun: mode === "dry" })).allowed) {
				admitted++;
			}
		}
	};
	const started = Date.now();
	await Promise.all(Array.from({ length: inFlight }, worker));
	return Response.json({ n, admitted, ms: Date.now() - started });
}

export default {
	async fetch(request, env, ctx): Promise<Response> {
		const url = new URL(request.url);
		if (url.pathname === "/__bench/object") return driveObject(env, url);
		if (url.pathname === "/__bench/slo-stats") return Response.json(sloStats);
		if (url.pathname.startsWith("/slo-on/") || url.pathname.startsWith("/slo-off/")) {
			withoutLimits ??= { ...env, RATE_LIMIT_POLICIES: "[]" } as Env;
			const on = url.pathname.startsWith("/slo-on/");
			return (on ? sloOn : sloOff).fetch(forward(request, on ? "/slo-on" : "/slo-off"), withoutLimits, ctx);
		}
		if (url.pathname.startsWith("/without/")) {
			withoutLimits ??= { ...env, RATE_LIMIT_POLICIES: "[]" } as Env;
			return app.fetch(forward(request, "/without"), withoutLimits, ctx);
		}
		if (url.pathname.startsWith("/with/")) return app.fetch(forward(request, "/with"), env, ctx);
		return app.fetch(request, env, ctx);
	},
} satisfies ExportedHandler<Env>;
