// The load Worker of `npm run load` and `npm run chaos` when they start the service themselves (scripts/load/service.ts
// runs it with wrangler.toml's local configuration, only `main` swapped): the production entry (src/index.ts, traced)
// answers every path and runs the cron exactly as under `npm start`, and two prefixes serve /v1/auth/me through the
// same traced app without a piece of the pipeline, side by side in the same isolate, for the with/without ratios of
// docs/performance.md#capacity:
//   /__load/no-limiter/…  the real entry with no rate-limit policies;
//   /__load/bare/…        the app without the rate limiter and without SLO recording.
// Local only, never deployed.

import { instrument } from "@microlabs/otel-cf-workers";
import { createApp } from "../../src/app";
import worker from "../../src/index";
import { traceConfig } from "../../src/telemetry/tracing";

export { Conversation } from "../../durable-objects/conversation";
export { RateLimiter } from "../../durable-objects/rate-limiter";
export { SloCounter } from "../../durable-objects/slo-counter";
export { UsageLedger } from "../../durable-objects/usage-ledger";
export { LocalVectorIndex } from "../../durable-objects/vector-index";

const bare = instrument({ fetch: createApp({ slo: false }).fetch } satisfies ExportedHandler<Env>, traceConfig);

// One derived bindings object per isolate: the config is parsed once per bindings object (src/config/index.ts).
let withoutLimits: Env | undefined;
const noLimits = (env: Env): Env => {
	withoutLimits ??= { ...env, RATE_LIMIT_POLICIES: "[]" } as Env;
	return withoutLimits;
};

type IncomingRequest = Parameters<NonNullable<ExportedHandler<Env>["fetch"]>>[0];

/** The request with the prefix cut from its path; the incoming `cf` object travels with it. */
function forward(request: IncomingRequest, prefix: string): IncomingRequest {
	const url = new URL(request.url);
	url.pathname = url.pathname.slice(prefix.length) || "/";
	return new Request(url, request) as IncomingRequest;
}

const NO_LIMITER = "/__load/no-limiter";
const BARE = "/__load/bare";

export default {
	async fetch(request, env, ctx): Promise<Response> {
		const path = new URL(request.url).pathname;
		if (!worker.fetch || !bare.fetch) throw new Error("the Worker entry has no fetch handler");
		if (path.startsWith(`${NO_LIMITER}/`)) return worker.fetch(forward(request, NO_LIMITER), noLimits(env), ctx);
		if (path.startsWith(`${BARE}/`)) return bare.fetch(forward(request, BARE), noLimits(env), ctx);
		return worker.fetch(request, env, ctx);
	},
	// The cron's work (the OTLP metric push among it) as the production entry does it: `npm run chaos` runs it
	// through `wrangler dev --test-scheduled`.
	scheduled: worker.scheduled,
} satisfies ExportedHandler<Env>;
