import { z } from "zod";
import { sloFor } from "../../src/slo/spec.ts";
import { JOB_MATCHER, VERSION_WINDOWS } from "../observability/slo-rules.ts";
import type { HistogramBucket, LatencyStat, RouteSample, VersionStats } from "./verdict.ts";

/**
 * Where the per-version SLO numbers come from: the service's own `GET /v1/slo` (exact counts from the `SloCounter`
 * objects, per route × version and window), or Prometheus (`PROMETHEUS_URL`) through the recording rules that
 * scripts/gen-observability.ts generates (`slo_version:*`, alerts/version-rules.yml). Both answer the same question —
 * one window's requests, errors and slow requests per route for the canary and stable versions — and both parse
 * what they receive with zod: a changed or broken answer is an error, never a silent zero.
 *
 * @example
 * ```ts
 * const source = sloApiSource({ baseUrl: "https://api.example.com", apiKey: "eak_…" });
 * const samples = await source.read({ canary: "…", stable: "…" }, "5m");
 * ```
 */
export type SloSource = {
	/** Shown in logs: which source and where. */
	describe: string;
	read(versions: { canary: string; stable: string }, window: string): Promise<RouteSample[]>;
};

export class SloSourceError extends Error {}

const WindowSchema = z.object({
	requests: z.number().int().nonnegative(),
	errors: z.number().int().nonnegative(),
	availability: z.number().nullable(),
	burn_rate: z.number(),
	latency: z.array(
		z.object({
			quantile: z.number(),
			threshold_ms: z.number(),
			compliance: z.number().min(0).max(1).nullable(),
			burn_rate: z.number(),
		}),
	),
});

/** The body of `GET /v1/slo` (src/routes/metrics.ts), as far as the controller relies on it. */
export const SloReportSchema = z.object({
	object: z.literal("slo_report"),
	generated_at: z.string(),
	routes: z.array(
		z.object({
			route: z.string(),
			version: z.string(),
			objectives: z.object({
				availability: z.number().gt(0).lt(1),
				latency: z.array(z.object({ quantile: z.number().gt(0).lt(1), threshold_ms: z.number().positive() })),
			}),
			error_budget_remaining: z.number().nullable(),
			windows: z.record(z.string(), WindowSchema),
		}),
	),
});
export type SloReport = z.infer<typeof SloReportSchema>;

function zodMessage(error: z.ZodError): string {
	return error.issues
		.slice(0, 3)
		.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
		.join("; ");
}

/** Turns a /v1/slo report into per-route samples of the two versions over `window`. */
export function samplesFromReport(
	report: SloReport,
	versions: { canary: string; stable: string },
	window: string,
): RouteSample[] {
	const byRoute = new Map<
		string,
		{ objectives: RouteSample["objectives"]; canary?: VersionStats; stable?: VersionStats }
	>();
	for (const r of report.routes) {
		const role = r.version === versions.canary ? "canary" : r.version === versions.stable ? "stable" : null;
		if (!role) continue;
		const w = r.windows[window];
		if (!w) throw new SloSourceError(`/v1/slo has no window "${window}" (it has ${Object.keys(r.windows).join(", ")})`);
		const latency: LatencyStat[] = w.latency.map((l) => ({
			quantile: l.quantile,
			thresholdMs: l.threshold_ms,
			// compliance = fast / total, from exact counts: round away the float error. No compliance for a window with
			// requests is no number, never zero slow requests.
			slow: w.requests === 0 ? 0 : l.compliance === null ? null : w.requests - Math.round(l.compliance * w.requests),
			valueMs: null,
		}));
		const entry = byRoute.get(r.route) ?? {
			objectives: {
				availability: r.objectives.availability,
				latency: r.objectives.latency.map((l) => ({ quantile: l.quantile, thresholdMs: l.threshold_ms })),
			},
		};
		entry[role] = { requests: w.requests, errors: w.errors, latency };
		byRoute.set(r.route, entry);
	}
	const samples: RouteSample[] = [];
	for (const [route, e] of byRoute) {
		if (!e.canary || e.canary.requests === 0) continue;
		samples.push({
			route,
			objectives: e.objectives,
			canary: e.canary,
			stable: e.stable && e.stable.requests > 0 ? e.stable : null,
		});
	}
	return samples.sort((a, b) => (a.route < b.route ? -1 : 1));
}

type FetchLike = (url: string, init?: RequestInit) => Promise<Response>;

/**
 * `GET <baseUrl>/v1/slo` with an operator key: scope `metrics:read`, which only keys of the operator tenant hold
 * (docs/security.md#operator-scopes).
 */
export function sloApiSource(options: {
	baseUrl: string;
	apiKey: string;
	fetch?: FetchLike;
	timeoutMs?: number;
}): SloSource {
	const doFetch = options.fetch ?? fetch;
	const url = `${options.baseUrl.replace(/\/+$/, "")}/v1/slo`;
	return {
		describe: `GET ${url}`,
		async read(versions, window) {
			let res: Response;
			try {
				res = await doFetch(url, {
					headers: { Authorization: `Bearer ${options.apiKey}`, Accept: "application/json" },
					signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
				});
			} catch (err) {
				throw new SloSourceError(`GET ${url} failed: ${err instanceof Error ? err.message : String(err)}`);
			}
			if (!res.ok) {
				const hint =
					res.status === 401 || res.status === 403
						? " (CANARY_API_KEY must be an operator key: an API key of the operator tenant with scope metrics:read)"
						: "";
				throw new SloSourceError(`GET ${url} answered ${res.status}: ${(await res.text()).slice(0, 200)}${hint}`);
			}
			let body: unknown;
			try {
				body = await res.json();
			} catch {
				throw new SloSourceError(`GET ${url} did not answer JSON`);
			}
			const parsed = SloReportSchema.safeParse(body);
			if (!parsed.success) throw new SloSourceError(`GET ${url}: unexpected body (${zodMessage(parsed.error)})`);
			return samplesFromReport(parsed.data, versions, window);
		},
	};
}

/** Prometheus's instant-query answer (`/api/v1/query`), vector results only. */
const PromVectorSchema = z.object({
	status: z.literal("success"),
	data: z.object({
		resultType: z.literal("vector"),
		result: z.array(
			z.object({
				metric: z.record(z.string(), z.string()),
				value: z.tuple([z.number(), z.string()]),
			}),
		),
	}),
});

/** Windows the version recording rules exist for. */
const PROMETHEUS_WINDOWS: readonly string[] = VERSION_WINDOWS;

/**
 * Reads the per-version recording rules from Prometheus: `slo_version:requests:increase<w>`,
 * `slo_version:errors:increase<w>`, `slo_version:sli_error:ratio_rate<w>{slo="latency-p95"|"latency-p99"}` and
 * `slo_version:latency_seconds:p95_rate<w>` / `p99`, by `http_route` and `version`, and the latency histogram over
 * the same window (`increase(http_server_request_duration_seconds_bucket[w])` by route, version and `le`: the quantile
 * check tests an excess against a bucket bound). `increase()` extrapolates, so counts are rounded to whole requests
 * before the tests; objectives come from the local SLO spec (the same module the rules were generated from).
 */
export function prometheusSource(options: { url: string; fetch?: FetchLike; timeoutMs?: number }): SloSource {
	const doFetch = options.fetch ?? fetch;
	const base = options.url.replace(/\/+$/, "");
	async function query(expr: string): Promise<{ metric: Record<string, string>; value: number }[]> {
		const url = `${base}/api/v1/query?query=${encodeURIComponent(expr)}`;
		let res: Response;
		try {
			res = await doFetch(url, { signal: AbortSignal.timeout(options.timeoutMs ?? 15_000) });
		} catch (err) {
			throw new SloSourceError(`Prometheus query failed: ${err instanceof Error ? err.message : String(err)}`);
		}
		if (!res.ok)
			throw new SloSourceError(`Prometheus answered ${res.status} to ${expr}: ${(await res.text()).slice(0, 200)}`);
		const parsed = PromVectorSchema.safeParse(await res.json().catch(() => null));
		if (!parsed.success)
			throw new SloSourceError(`Prometheus: unexpected answer to ${expr} (${zodMessage(parsed.error)})`);
		return parsed.data.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
	}
	return {
		describe: `Prometheus ${base} (slo_version:* recording rules)`,
		async read(versions, window) {
			if (!PROMETHEUS_WINDOWS.includes(window))
				throw new SloSourceError(
					`no version recording rules for window "${window}" (have ${PROMETHEUS_WINDOWS.join(", ")})`,
				);
			const sel = `{version=~"${versions.canary}|${versions.stable}",http_route!="all"}`;
			const [requests, errors, slow, p95, p99, buckets] = await Promise.all([
				query(`slo_version:requests:increase${window}${sel}`),
				query(`slo_version:errors:increase${window}${sel}`),
				query(
					`slo_version:sli_error:ratio_rate${window}{version=~"${versions.canary}|${versions.stable}",http_route!="all",slo=~"latency-p.."}`,
				),
				query(`slo_version:latency_seconds:p95_rate${window}${sel}`),
				query(`slo_version:latency_seconds:p99_rate${window}${sel}`),
				// The histogram itself (the quantile check tests an excess against a bucket bound): the same series the
				// p95/p99 rules aggregate, over the same window.
				query(
					`sum by (http_route, version, le) (increase(http_server_request_duration_seconds_bucket{${JOB_MATCHER},version=~"${versions.canary}|${versions.stable}",http_route!="all"}[${window}]))`,
				),
			]);
			const key = (m: Record<string, string>) => `${m.http_route ?? ""}\u0000${m.version ?? ""}`;
			const lookup = (
				rows: { metric: Record<string, string>; value: number }[],
				extra?: (m: Record<string, string>) => boolean,
			) => {
				const map = new Map<string, number>();
				for (const r of rows) if (!extra || extra(r.metric)) map.set(key(r.metric), r.value);
				return map;
			};
			const errorsBy = lookup(errors);
			const histograms = new Map<string, HistogramBucket[]>();
			for (const b of buckets) {
				const le = b.metric.le;
				if (le === undefined || Number.isNaN(b.value)) continue;
				const bound = le === "+Inf" ? Number.POSITIVE_INFINITY : Number(le) * 1000;
				if (Number.isNaN(bound)) continue;
				// `le="1"` and `le="1.0"` (scrape and OTLP spellings) are one bound.
				const list = histograms.get(key(b.metric)) ?? [];
				const same = list.find((x) => x.leMs === bound);
				if (same) same.count += Math.round(b.value);
				else list.push({ leMs: bound, count: Math.round(b.value) });
				histograms.set(key(b.metric), list);
			}
			const quantiles = new Map([
				[0.95, lookup(p95)],
				[0.99, lookup(p99)],
			]);
			const samples = new Map<string, RouteSample>();
			const stats = new Map<string, VersionStats>();
			for (const r of requests) {
				const route = r.metric.http_route;
				const version = r.metric.version;
				if (!route || !version) continue;
				const n = Math.round(r.value);
				const spec = sloFor(route);
				const latency: LatencyStat[] = spec.latency.map((l) => {
					const ratio = slow.find(
						(s) =>
							s.metric.http_route === route &&
							s.metric.version === version &&
							s.metric.slo === `latency-p${Math.round(l.quantile * 100)}`,
					)?.value;
					const q = quantiles.get(l.quantile)?.get(key(r.metric));
					return {
						quantile: l.quantile,
						thresholdMs: l.thresholdMs,
						// A missing (or NaN) ratio for a version with requests is no number, never zero slow requests.
						slow: n === 0 ? 0 : ratio === undefined || Number.isNaN(ratio) ? null : Math.round(ratio * n),
						// histogram_quantile is NaN without samples and +Inf past the last bucket.
						valueMs: q === undefined || !Number.isFinite(q) ? null : q * 1000,
					};
				});
				const histogram = histograms.get(key(r.metric))?.sort((a, b) => a.leMs - b.leMs) ?? null;
				stats.set(key(r.metric), {
					requests: n,
					// The errors rule is `… or 0 * requests`: present for every series the requests rule has.
					errors: Math.round(errorsBy.get(key(r.metric)) ?? 0),
					latency,
					histogram,
				});
				if (!samples.has(route)) {
					samples.set(route, {
						route,
						objectives: {
							availability: spec.availability,
							latency: spec.latency.map((l) => ({ quantile: l.quantile, thresholdMs: l.thresholdMs })),
						},
						canary: { requests: 0, errors: 0, latency: [] },
						stable: null,
					});
				}
			}
			const out: RouteSample[] = [];
			for (const [route, s] of samples) {
				const c = stats.get(`${route}\u0000${versions.canary}`);
				const st = stats.get(`${route}\u0000${versions.stable}`);
				if (!c || c.requests === 0) continue;
				out.push({ ...s, canary: c, stable: st && st.requests > 0 ? st : null });
			}
			return out.sort((a, b) => (a.route < b.route ? -1 : 1));
		},
	};
}
