// One route under load, for `npm run bench:ratelimit` (and reusable): BASE_URL + ROUTE with API_KEY.
// Closed loop (VUS virtual users as fast as they can, for DURATION) by default; with RATE, an open model:
// RATE requests per second arriving whatever the latency (constant-arrival-rate), for DURATION.
// The runner reads k6's --summary-export. ES2017 only (k6 0.48).

import { check } from "k6";
import http from "k6/http";

const duration = __ENV.DURATION || "10s";
const rate = Number(__ENV.RATE || 0);

/** @type {import("k6/options").Options} */
export const options = {
	summaryTrendStats: ["med", "p(90)", "p(99)", "avg", "max"],
	discardResponseBodies: true,
	scenarios:
		rate > 0
			? {
					open: {
						executor: "constant-arrival-rate",
						rate,
						timeUnit: "1s",
						duration,
						preAllocatedVUs: 20,
						maxVUs: 100,
					},
				}
			: { closed: { executor: "constant-vus", vus: Number(__ENV.VUS || 8), duration } },
};

const url = (__ENV.BASE_URL || "http://127.0.0.1:8787") + (__ENV.ROUTE || "/v1/auth/me");
const params = { headers: { "X-API-Key": __ENV.API_KEY || "" } };

export default function () {
	const res = http.get(url, params);
	check(res, { "status is 200": (r) => r.status === 200 });
}
