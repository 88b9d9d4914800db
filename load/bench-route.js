// One route under closed-loop load, for `npm run bench:ratelimit` (and reusable): BASE_URL + ROUTE with
// API_KEY, VUS virtual users for DURATION. The runner reads k6's --summary-export. ES2017 only (k6 0.48).

import { check } from "k6";
import http from "k6/http";

export const options = {
	vus: Number(__ENV.VUS || 8),
	duration: __ENV.DURATION || "10s",
	summaryTrendStats: ["med", "p(90)", "p(99)", "avg", "max"],
	discardResponseBodies: true,
};

const url = (__ENV.BASE_URL || "http://127.0.0.1:8787") + (__ENV.ROUTE || "/v1/auth/me");
const params = { headers: { "X-API-Key": __ENV.API_KEY || "" } };

export default function () {
	const res = http.get(url, params);
	check(res, { "status is 200": (r) => r.status === 200 });
}
