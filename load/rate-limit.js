// Rate-limit accuracy under load (docs/load-testing.md#rate-limit): one subject, driven at a known rate above its
// policy's limit for less than one window, from many VUs at once (concurrent requests race for the same key). The
// exact sliding window must admit exactly `limit` requests in the window — no more, no fewer — and every answer's
// headers must agree with that:
//   - each admitted request reports a different `remaining`: together exactly limit − 2 … 0 (setup's took limit − 1;
//     a threshold per value, `rl_admitted{r:N}` count == 1), and X-RateLimit-Remaining/-Reset/-Limit match `RateLimit`;
//   - every `t` (seconds until quota returns, rounded up) and `Retry-After` point at one instant: when the first
//     admitted request leaves the window (its time is known to within setup's request round trip);
//   - a 429 is a problem+json `quota-exceeded` naming the policy. 429s are expected answers here, not failures
//     (load/config.js's response callback), so `http_req_failed` counts only other statuses.
//
// The subject must be fresh (no admitted requests in the last window): `npm run load -- rate-limit` creates one,
// and reads the route's policy from a throwaway key first (RL_POLICY, RL_LIMIT, RL_WINDOW_S; defaults: the default
// policy, 60 per 60 s). Env: RL_ROUTE (a GET route, default /v1/auth/me), RL_RATE (req/s, default 25), RL_DURATION
// (default 4s, must be shorter than the window), RL_CLOCK_SLACK_MS (250: clock granularity between k6 and the
// limiter), API_KEY.

import { check } from "k6";
import http from "k6/http";
import { Counter } from "k6/metrics";
import { markdownTable, stat } from "./analysis.js";
import {
	API_KEYS,
	BASE_URL,
	baseHeaders,
	header,
	jsonOf,
	pick,
	ROUTES,
	RUN_ID,
	SYSTEM_TAGS,
	seconds,
	TREND_STATS,
} from "./config.js";
import { summaryOutputs } from "./summary.js";

const POLICY = __ENV.RL_POLICY || "default";
const LIMIT = Number(__ENV.RL_LIMIT || 60);
const WINDOW_S = Number(__ENV.RL_WINDOW_S || 60);
const ROUTE = __ENV.RL_ROUTE || "/v1/auth/me";
const RATE = Number(__ENV.RL_RATE || 25);
const DURATION = __ENV.RL_DURATION || "4s";
const DURATION_S = seconds(DURATION);
const SLACK_MS = Number(__ENV.RL_CLOCK_SLACK_MS || 250);
/** Per-value thresholds are one line each in the summary: beyond this limit only the totals are checked. */
const MAX_PER_VALUE = 500;

const routeName = (() => {
	for (const name of Object.keys(ROUTES)) {
		const r = ROUTES[name];
		if (r && r.method === "GET" && r.route === ROUTE) return name;
	}
	return "rate_limit_target";
})();

const admitted = new Counter("rl_admitted");
const denied = new Counter("rl_denied");
const outOfRange = new Counter("rl_remaining_out_of_range");

/** @type {Record<string, string[]>} */
const perValue = {};
if (LIMIT - 1 <= MAX_PER_VALUE) for (let r = 0; r < LIMIT - 1; r++) perValue[`rl_admitted{r:${r}}`] = ["count==1"];

export const options = {
	scenarios: {
		over_limit: {
			executor: "constant-arrival-rate",
			rate: RATE,
			timeUnit: "1s",
			duration: DURATION,
			preAllocatedVUs: Math.max(4, Math.ceil(RATE / 4)),
			maxVUs: Math.max(20, RATE),
		},
	},
	systemTags: SYSTEM_TAGS,
	summaryTrendStats: TREND_STATS,
	thresholds: Object.assign(
		{
			checks: ["rate==1"],
			http_req_failed: ["rate==0"],
			// setup's request is the first admission; the scenario must admit exactly the rest of the window's quota.
			rl_admitted: [`count==${LIMIT - 1}`],
			rl_denied: ["count>=1"],
			rl_remaining_out_of_range: ["count==0"],
		},
		perValue,
	),
};

const url = BASE_URL + ROUTE;
const params = () => ({
	headers: baseHeaders({
		Authorization: `Bearer ${API_KEYS[0] || ""}`,
		"X-Request-ID": `${RUN_ID}-rl-${__VU}-${Date.now()}`,
	}),
	tags: { route: routeName, name: `GET ${ROUTE}` },
	/** @type {"text"} */
	responseType: "text",
});

/** `"name";r=12;t=41` → its parts, or null. @param {string} field */
function parseRateLimit(field) {
	const m = /^"([^"]+)";r=(\d+);t=(\d+)$/.exec(field);
	return m ? { name: m[1] || "", r: Number(m[2]), t: Number(m[3]) } : null;
}

/**
 * @typedef {{ send0: number; recv0: number; fresh: boolean }} Setup
 */

/** One request that is the window's first admission: the instant it leaves the window is what every `t` points at. */
export function setup() {
	check(null, {
		[`setup: RL_DURATION (${DURATION}) is shorter than the window (${WINDOW_S} s)`]: () =>
			DURATION_S > 0 && DURATION_S + 2 < WINDOW_S,
		[`setup: RL_RATE × RL_DURATION (${RATE} × ${DURATION}) is above the limit (${LIMIT})`]: () =>
			RATE * DURATION_S >= LIMIT * 1.2,
		"setup: API_KEY is set": () => API_KEYS.length > 0,
	});
	const send0 = Date.now();
	const res = http.get(url, params());
	const recv0 = Date.now();
	const first = parseRateLimit(header(res, "RateLimit"));
	const policy = header(res, "RateLimit-Policy");
	const fresh = check(res, {
		"setup: the subject is fresh (first request admitted, remaining = limit − 1)": (r) =>
			r.status === 200 && first !== null && first.name === POLICY && first.r === LIMIT - 1,
		[`setup: RateLimit-Policy has "${POLICY}";q=${LIMIT};w=${WINDOW_S}`]: () =>
			new RegExp(`"${POLICY}";q=${LIMIT}(;[^,]*)?;w=${WINDOW_S}(,|$)`).test(policy),
		"setup: t is the whole window": () => first !== null && first.t === WINDOW_S,
	});
	if (!fresh)
		console.error(
			`rate-limit: setup got ${res.status}, RateLimit: ${header(res, "RateLimit")}, RateLimit-Policy: ${policy}`,
		);
	/** @type {Setup} */
	const data = { send0, recv0, fresh };
	return data;
}

/** @param {Setup} data */
export default function (data) {
	const send = Date.now();
	const res = http.get(url, params());
	const recv = Date.now();
	const field = parseRateLimit(header(res, "RateLimit"));
	// The instant quota returns, R, is when setup's admission leaves the window: R ∈ [send0, recv0] + W. A response
	// produced at s ∈ [send, recv] must report t = ceil((R − s) / 1 s).
	const windowMs = WINDOW_S * 1000;
	const tMin = Math.ceil((data.send0 + windowMs - recv - SLACK_MS) / 1000);
	const tMax = Math.ceil((data.recv0 + windowMs - send + SLACK_MS) / 1000);
	const tOk = field !== null && field.t >= tMin && field.t <= tMax;
	if (res.status === 200 && field) {
		admitted.add(1, { r: String(field.r) });
		if (field.r < 0 || field.r > LIMIT - 2) outOfRange.add(1);
	}
	if (res.status === 429) denied.add(1);
	const body = res.status === 429 ? jsonOf(res) : undefined;
	const ok = check(
		res,
		{
			"status is 200 or 429": (r) => r.status === 200 || r.status === 429,
			[`RateLimit reports "${POLICY}"`]: () => field !== null && field.name === POLICY,
			"X-RateLimit-* agree with RateLimit": (r) =>
				field !== null &&
				header(r, "X-RateLimit-Limit") === String(LIMIT) &&
				header(r, "X-RateLimit-Remaining") === String(field.r) &&
				header(r, "X-RateLimit-Reset") === String(field.t),
			"t points at when the window's first admission leaves it": () => tOk,
			"429: remaining is 0": (r) => r.status !== 429 || (field !== null && field.r === 0),
			"429: Retry-After ≥ t": (r) =>
				r.status !== 429 || (field !== null && Number(header(r, "Retry-After")) >= Math.max(1, field.t)),
			"429: problem+json quota-exceeded naming the policy": (r) => {
				if (r.status !== 429) return true;
				const violated = pick(body, "violated-policies");
				return (
					/^application\/problem\+json/.test(header(r, "Content-Type")) &&
					pick(body, "type") === "https://errors.edge-ai-api.dev/quota-exceeded" &&
					Array.isArray(violated) &&
					violated.indexOf(POLICY) >= 0
				);
			},
		},
		{ route: routeName },
	);
	if (!ok) {
		console.error(
			`rate-limit: ${res.status} RateLimit: ${header(res, "RateLimit")} Retry-After: ${header(res, "Retry-After")} (t expected ${tMin}…${tMax})`,
		);
	}
}

/** @param {import("./analysis.js").Summary} data */
export function handleSummary(data) {
	const admittedInRun = stat(data, "rl_admitted", "count") || 0;
	const deniedInRun = stat(data, "rl_denied", "count") || 0;
	/** @type {number[]} */
	const duplicates = [];
	/** @type {number[]} */
	const missing = [];
	for (let r = 0; r < Math.min(LIMIT - 1, MAX_PER_VALUE); r++) {
		const n = stat(data, `rl_admitted{r:${r}}`, "count") || 0;
		if (n > 1) duplicates.push(r);
		if (n === 0) missing.push(r);
	}
	const report = {
		route: ROUTE,
		policy: POLICY,
		limit: LIMIT,
		window_s: WINDOW_S,
		rate: RATE,
		duration_s: DURATION_S,
		sent: admittedInRun + deniedInRun + 1,
		admitted: admittedInRun + 1,
		denied: deniedInRun,
		remaining_values_reported_twice: duplicates,
		remaining_values_missing: missing,
	};
	const markdown = [
		`GET ${ROUTE}, policy "${POLICY}" (${LIMIT} per ${WINDOW_S} s), one fresh subject, ${RATE} req/s for ${DURATION} (+ 1 in setup).`,
		"",
		markdownTable(
			["Sent", "Admitted", "Expected", "Denied (429)", "remaining values reported twice", "missing"],
			[
				[
					report.sent,
					report.admitted,
					LIMIT,
					report.denied,
					duplicates.length > 0 ? duplicates.join(" ") : "none",
					missing.length > 0 ? missing.join(" ") : "none",
				],
			],
		),
	].join("\n");
	return summaryOutputs("rate-limit", data, { markdown, report });
}
