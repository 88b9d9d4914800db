import { parseDictionary } from "structured-headers";

/**
 * The local rehearsal's stand-in for Cloudflare's version routing (docs/canary.md#local-rehearsal): the primary
 * Worker of a multi-config `wrangler dev` session, in front of one local Worker per version (service bindings).
 * It reads the live deployment from the fake Cloudflare API — the same deployments the controller's `wrangler
 * versions deploy` calls create — and routes like the platform does:
 *
 * 1. `Cloudflare-Workers-Version-Overrides` (an RFC 8941 dictionary, `<script>="<version id>"`) pins a version, but
 *    only one in the current deployment (as on Cloudflare; otherwise the header is ignored);
 * 2. `Cloudflare-Workers-Version-Key` sends every request with the same key to the same version for a given split:
 *    the key hashes (FNV-1a) to one of 10 000 buckets and the first-listed version (the controller lists the canary
 *    first) owns the lowest `percent × 100` buckets, so a key that reached the canary stays on it as its share grows;
 * 3. otherwise, a random draw by percentage.
 *
 * The split is cached for `SPLIT_CACHE_MS` (250 ms): a new deployment takes effect within that, as it takes a few
 * seconds to propagate on Cloudflare. One JSON log line per request says which version served it, how it was chosen,
 * and the time to the response's headers (the rehearsal measures detection and rollback times from these).
 */
type RouterEnv = {
	FAKE_API_URL: string;
	ACCOUNT_ID: string;
	API_TOKEN: string;
	SCRIPT_NAME: string;
	/** JSON object: version id → the service binding of the local Worker that plays it. */
	BACKENDS: string;
	SPLIT_CACHE_MS?: string;
} & Record<string, unknown>;

type Split = { fetchedAt: number; deploymentId: string; versions: { id: string; percent: number }[] };

let cached: Split | null = null;

async function currentSplit(env: RouterEnv): Promise<Split> {
	const ttl = Number(env.SPLIT_CACHE_MS ?? 250);
	if (cached && Date.now() - cached.fetchedAt < ttl) return cached;
	const res = await fetch(
		`${env.FAKE_API_URL}/client/v4/accounts/${env.ACCOUNT_ID}/workers/scripts/${env.SCRIPT_NAME}/deployments`,
		{ headers: { Authorization: `Bearer ${env.API_TOKEN}` } },
	);
	const body = (await res.json()) as {
		success: boolean;
		result?: { deployments: { id: string; versions: { version_id: string; percentage: number }[] }[] };
	};
	const latest = body.result?.deployments[0];
	if (!body.success || !latest) throw new Error(`no deployment of ${env.SCRIPT_NAME} (status ${res.status})`);
	cached = {
		fetchedAt: Date.now(),
		deploymentId: latest.id,
		versions: latest.versions.map((v) => ({ id: v.version_id, percent: v.percentage })),
	};
	return cached;
}

/** FNV-1a over the key's UTF-16 units: stable across isolates and restarts (unlike Math.random). */
function bucketOf(key: string): number {
	let h = 0x811c9dc5;
	for (let i = 0; i < key.length; i++) {
		h ^= key.charCodeAt(i);
		h = Math.imul(h, 0x01000193) >>> 0;
	}
	return h % 10_000;
}

function byBucket(split: Split, bucket: number): string {
	let edge = 0;
	for (const v of split.versions) {
		edge += v.percent * 100;
		if (bucket < edge) return v.id;
	}
	return split.versions.at(-1)?.id ?? "";
}

function choose(request: Request, env: RouterEnv, split: Split): { id: string; how: string } {
	const overrides = request.headers.get("Cloudflare-Workers-Version-Overrides");
	if (overrides) {
		try {
			const member = parseDictionary(overrides).get(env.SCRIPT_NAME);
			const id = member?.[0];
			if (typeof id === "string" && split.versions.some((v) => v.id === id)) return { id, how: "override" };
		} catch {
			// A malformed header is ignored, as Cloudflare does.
		}
	}
	const key = request.headers.get("Cloudflare-Workers-Version-Key");
	if (key) return { id: byBucket(split, bucketOf(key)), how: "version-key" };
	// Versions at 0 % never win the draw.
	return { id: byBucket(split, Math.floor(Math.random() * 10_000)), how: "split" };
}

export default {
	async fetch(request, env) {
		const started = Date.now();
		let split: Split;
		try {
			split = await currentSplit(env);
		} catch (err) {
			return new Response(`router: ${String(err)}`, { status: 503 });
		}
		const { id, how } = choose(request, env, split);
		const binding = (JSON.parse(env.BACKENDS) as Record<string, string>)[id];
		const backend = binding ? (env[binding] as Fetcher | undefined) : undefined;
		if (!backend) return new Response(`router: no local Worker plays version ${id}`, { status: 503 });
		const response = await backend.fetch(request);
		console.log(
			JSON.stringify({
				time: new Date().toISOString(),
				msg: "router",
				version: id,
				how,
				method: request.method,
				path: new URL(request.url).pathname,
				status: response.status,
				ms: Date.now() - started,
				deployment: split.deploymentId,
			}),
		);
		return response;
	},
} satisfies ExportedHandler<RouterEnv>;
