// Top-up traffic for the canary controller (docs/canary.md#top-up): the same small request mix sent at equal rates
// to each version, each pinned with `Cloudflare-Workers-Version-Overrides`, so a low-traffic step reaches the
// verdict's minimum sample count on both sides. ES2017 (k6 0.48's compiler); proved with `k6 inspect`.
//
// Env: BASE_URL, API_KEY (a tenant key, scope chat: the controller's CANARY_TENANT_KEY), OVERRIDES (`|`-separated header values, one per version), RATE (iterations
// per second per version), ITERATIONS (per version), MAX_VUS (per version, default 50).
// One iteration = GET /v1/models, GET /v1/auth/me, POST /v1/chat/completions (max_tokens 8).

import http from "k6/http";

const BASE_URL = (__ENV.BASE_URL || "http://127.0.0.1:8787").replace(/\/+$/, "");
const API_KEY = __ENV.API_KEY || "";
const OVERRIDES = (__ENV.OVERRIDES || "").split("|").filter((o) => o.length > 0);
const RATE = Math.max(1, Number(__ENV.RATE || 10));
const ITERATIONS = Math.max(1, Number(__ENV.ITERATIONS || 100));
const MAX_VUS = Math.max(1, Number(__ENV.MAX_VUS || 50));

/** @type {Record<string, import("k6/options").Scenario>} */
const scenarios = {};
OVERRIDES.forEach((override, i) => {
	scenarios[`version_${i}`] = {
		executor: "constant-arrival-rate",
		rate: RATE,
		timeUnit: "1s",
		// Enough time for ITERATIONS at RATE; arrivals stop there, in-flight iterations finish.
		duration: `${Math.ceil(ITERATIONS / RATE)}s`,
		preAllocatedVUs: Math.min(MAX_VUS, RATE * 2),
		maxVUs: MAX_VUS,
		env: { OVERRIDE: override },
		gracefulStop: "30s",
	};
});

export const options = {
	scenarios,
	// The controller judges the numbers; k6 only sends them.
	thresholds: {},
	summaryTrendStats: ["avg", "p(95)"],
};

export default function () {
	const headers = {
		Authorization: `Bearer ${API_KEY}`,
		"Content-Type": "application/json",
		"Cloudflare-Workers-Version-Overrides": __ENV.OVERRIDE || "",
		"X-Request-ID": `canary-top-up-${__VU}-${__ITER}`,
	};
	http.get(`${BASE_URL}/v1/models`, { headers, tags: { name: "GET /v1/models" } });
	http.get(`${BASE_URL}/v1/auth/me`, { headers, tags: { name: "GET /v1/auth/me" } });
	http.post(
		`${BASE_URL}/v1/chat/completions`,
		JSON.stringify({ messages: [{ role: "user", content: "canary top-up" }], max_tokens: 8 }),
		{ headers, tags: { name: "POST /v1/chat/completions" } },
	);
}
