import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { startDevServer } from "../../lib/dev-server.ts";
import { ADMIN_CLIENT, DEMO_KEY, OPS_KEY } from "../../lib/local-credentials.ts";
import { REPO_ROOT } from "../../lib/repository-root.ts";
import { adminToken, createRunCredentials } from "../../load/credentials.ts";
import { readWranglerConfig } from "../wrangler.ts";
import { type FakeCloudflareApi, startFakeCloudflareApi } from "./fake-cloudflare-api.ts";

/**
 * The offline stage of the canary rehearsal (docs/canary.md#local-rehearsal), also used by the e2e tests:
 *
 * - a fake Cloudflare API on loopback (fake-cloudflare-api.ts) holding the script `edge-ai-api` with the stable
 *   version deployed at 100 %: the controller's real `wrangler` talks to it;
 * - one `wrangler dev` session with several configs: the router (router-worker.ts, the primary Worker, on the port),
 *   and one Worker per version, built from this repository's `src/index.ts` with wrangler.toml's bindings and vars.
 *   The stable Worker owns the Durable Objects; the candidates bind the *same* objects (`script_name`), and all share
 *   one local D1 — as versions of one script share them on Cloudflare;
 * - each version Worker reports its version id (`VERSION_ID`, honoured locally only) and carries its faults
 *   (`LOCAL_MODEL_EXTRA_LATENCY_MS`, `LOCAL_MODEL_FAULT_RATE`); the fake API assigns an upload the id of the local
 *   Worker that plays its tag, so the deployed id and the answering Worker agree.
 *
 * Configs are generated as JSON into a temp directory from wrangler.toml (read with wrangler's own reader), so the
 * rehearsal runs the bindings and variables the product has, not a copy that drifts.
 */
export const SCRIPT = "edge-ai-api";
export const ACCOUNT_ID = "0000000000000000000000000rehearse";
export const API_TOKEN = "rehearsal-token";

export type BackendSpec = {
	/** Service binding name in the router, and the Worker's name suffix. */
	binding: string;
	versionId: string;
	/** The `--tag` an upload of this version carries. */
	tag: string;
	vars: Record<string, string>;
	what: string;
};

/** The versions a rehearsal can play. Ids are fixed UUIDs so logs and docs can name them. */
export const BACKENDS = {
	stable: {
		binding: "STABLE",
		versionId: "0a000000-0000-4000-8000-000000000001",
		tag: "rehearsal-stable",
		vars: {},
		what: "the stable version",
	},
	faulty: {
		binding: "FAULTY",
		versionId: "0b000000-0000-4000-8000-000000000002",
		tag: "rehearsal-faulty",
		// Above chat's p95 objective (2 s to the first token): every chat completion is slow; the rest is fine.
		vars: { LOCAL_MODEL_EXTRA_LATENCY_MS: "2500" },
		what: "a candidate whose chat model got 2.5 s slower",
	},
	healthy: {
		binding: "HEALTHY",
		versionId: "0c000000-0000-4000-8000-000000000003",
		tag: "rehearsal-healthy",
		vars: {},
		what: "a healthy candidate",
	},
	quiet: {
		binding: "QUIET",
		versionId: "0d000000-0000-4000-8000-000000000004",
		tag: "rehearsal-quiet",
		vars: {},
		what: "a healthy candidate that gets no traffic",
	},
	resumed: {
		binding: "RESUMED",
		versionId: "0e000000-0000-4000-8000-000000000005",
		tag: "rehearsal-resumed",
		vars: {},
		what: "a healthy candidate whose controller crashes mid-rollout",
	},
} satisfies Record<string, BackendSpec>;
export type BackendName = keyof typeof BACKENDS;

export type RouterLine = {
	time: string;
	version: string;
	how: string;
	method: string;
	path: string;
	status: number;
	ms: number;
};

export type RehearsalEnvironment = {
	url: string;
	api: FakeCloudflareApi;
	/**
	 * Environment for the controller CLI: the fake API's URL, credentials, and the service's keys — the seeded operator
	 * key as `CANARY_API_KEY` (/v1/slo) and the demo key as `CANARY_TENANT_KEY` (smoke, top-up).
	 */
	controllerEnv: Record<string, string>;
	dir: string;
	routerLines(): RouterLine[];
	output(): string;
	/**
	 * The controller's keys for one run, through the admin API: `CANARY_TENANT_KEY`, an API key (scopes chat,
	 * rag:read, rag:write, usage:read) of a new tenant — what one smoke test writes (documents, conversations) is that
	 * tenant's alone, so one run's leftovers (an aborted smoke stops before its deletes) cannot change another's
	 * answers — and `CANARY_API_KEY`, an operator key (tenant `platform`, scope metrics:read) of its own for /v1/slo
	 * and the smoke's /metrics and /v1/slo. The SLO counters stay shared: they count per version, not tenant.
	 */
	canaryKeys(tenant: string): Promise<CanaryKeys>;
	stop(): Promise<void>;
};

/** The controller's two keys, as environment variables. */
export type CanaryKeys = { CANARY_API_KEY: string; CANARY_TENANT_KEY: string };

/**
 * A tenant key of its own tenant and an operator key, through the admin API (as `npm run load` creates its
 * credentials).
 */
async function createCanaryKeys(url: string, tenant: string): Promise<CanaryKeys> {
	const token = await adminToken(url, ADMIN_CLIENT.id, ADMIN_CLIENT.secret);
	const credentials = await createRunCredentials(url, token, {
		runId: tenant,
		tenant,
		keys: 1,
		client: false,
		operator: true,
		label: `canary rehearsal ${tenant}`,
	});
	const tenantKey = credentials.keys[0]?.key;
	const operatorKey = credentials.opsKey?.key;
	if (!tenantKey || !operatorKey) throw new Error(`no keys created for the rehearsal tenant ${tenant}`);
	return { CANARY_API_KEY: operatorKey, CANARY_TENANT_KEY: tenantKey };
}

export async function startRehearsalEnvironment(options: {
	backends: BackendName[];
	log?: (line: string) => void;
	readyTimeoutMs?: number;
}): Promise<RehearsalEnvironment> {
	const log = options.log ?? (() => {});
	const dir = mkdtempSync(path.join(tmpdir(), "canary-rehearsal-"));
	const persist = path.join(dir, "state");
	mkdirSync(persist, { recursive: true });
	const specs = options.backends.map((b) => BACKENDS[b]);
	if (!specs.includes(BACKENDS.stable)) specs.unshift(BACKENDS.stable);
	const byTag = new Map(specs.map((s) => [s.tag, s.versionId]));

	const api = await startFakeCloudflareApi({
		token: API_TOKEN,
		accountId: ACCOUNT_ID,
		assignVersionId: ({ tag }) => {
			const id = tag ? byTag.get(tag) : undefined;
			if (!id)
				throw new Error(`the rehearsal has no local Worker for tag "${tag}" (have ${[...byTag.keys()].join(", ")})`);
			return id;
		},
	});
	const config = readWranglerConfig({ cwd: REPO_ROOT, env: null }) as ReturnType<typeof readWranglerConfig> & {
		vars: Record<string, string>;
		compatibility_date: string;
		compatibility_flags: string[];
		d1_databases: { binding: string; database_name: string; database_id: string; migrations_dir?: string }[];
		durable_objects: { bindings: { name: string; class_name: string }[] };
		migrations: { tag: string }[];
		version_metadata?: { binding: string };
	};
	// The deployed script has applied every migration of wrangler.toml: no migration is pending.
	api.seedScript(SCRIPT, {
		versionId: BACKENDS.stable.versionId,
		tag: BACKENDS.stable.tag,
		migrationTag: config.migrations.at(-1)?.tag ?? null,
	});

	const workerName = (s: BackendSpec) => `${SCRIPT}-rehearsal-${s.binding.toLowerCase()}`;
	const stableName = workerName(BACKENDS.stable);
	const files: string[] = [];
	const write = (name: string, body: object) => {
		const file = path.join(dir, `${name}.json`);
		writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
		files.push(file);
	};
	write("router", {
		name: `${SCRIPT}-rehearsal-router`,
		main: path.join(REPO_ROOT, "scripts", "canary", "local", "router-worker.ts"),
		compatibility_date: config.compatibility_date,
		vars: {
			FAKE_API_URL: api.url,
			ACCOUNT_ID,
			API_TOKEN,
			SCRIPT_NAME: SCRIPT,
			BACKENDS: JSON.stringify(Object.fromEntries(specs.map((s) => [s.versionId, s.binding]))),
		},
		services: specs.map((s) => ({ binding: s.binding, service: workerName(s) })),
	});
	for (const s of specs) {
		const owner = s === BACKENDS.stable;
		write(s.binding.toLowerCase(), {
			name: workerName(s),
			main: path.join(REPO_ROOT, "src", "index.ts"),
			compatibility_date: config.compatibility_date,
			compatibility_flags: config.compatibility_flags,
			vars: {
				...config.vars,
				VERSION_ID: s.versionId,
				VERSION_TAG: s.tag,
				// Synthetic traffic from one demo key would hit the per-subject limits; limits are not under test here.
				RATE_LIMIT_POLICIES: "[]",
				LOCAL_MODEL_TOKEN_DELAY_MS: "0",
				...s.vars,
			},
			d1_databases: config.d1_databases.map((d) => ({
				...d,
				migrations_dir: path.resolve(REPO_ROOT, d.migrations_dir ?? "migrations"),
			})),
			durable_objects: {
				bindings: config.durable_objects.bindings.map((b) =>
					owner ? b : { name: b.name, class_name: b.class_name, script_name: stableName },
				),
			},
			...(owner ? { migrations: config.migrations } : {}),
			...(config.version_metadata ? { version_metadata: config.version_metadata } : {}),
		});
	}

	const stableConfig = path.join(dir, "stable.json");
	log(
		`applying D1 migrations and the local seed; starting wrangler dev: router + ${specs.map((s) => s.binding.toLowerCase()).join(", ")}`,
	);
	const lines: RouterLine[] = [];
	let partial = "";
	// wrangler prefixes each Worker's console lines with its name in a multi-config session.
	const onOutput = (text: string) => {
		partial += text;
		const parts = partial.split("\n");
		partial = parts.pop() ?? "";
		for (const raw of parts) {
			const l = raw.replace(/^\[[^\]]+\] /, "");
			if (!l.startsWith('{"time":') || !l.includes('"msg":"router"')) continue;
			try {
				lines.push(JSON.parse(l) as RouterLine);
			} catch {
				// not one of ours
			}
		}
	};
	// The router first: it is the primary Worker, the one on the port. The stable Worker's config owns the database.
	const server = await startDevServer({
		configs: files,
		databaseConfig: stableConfig,
		persistDir: persist,
		readyTimeoutMs: options.readyTimeoutMs ?? 120_000,
		onOutput,
	}).catch(async (err: unknown) => {
		await api.stop();
		rmSync(dir, { recursive: true, force: true });
		throw new Error(
			`the rehearsal's wrangler dev did not become ready: ${err instanceof Error ? err.message : String(err)}`,
		);
	});
	const url = server.base;
	log(`ready at ${url}`);
	return {
		url,
		api,
		dir,
		controllerEnv: {
			CLOUDFLARE_API_BASE_URL: `${api.url}/client/v4`,
			CLOUDFLARE_API_TOKEN: API_TOKEN,
			CLOUDFLARE_ACCOUNT_ID: ACCOUNT_ID,
			WRANGLER_SEND_METRICS: "false",
			CANARY_API_KEY: OPS_KEY,
			CANARY_TENANT_KEY: DEMO_KEY,
			CANARY_URL: url,
		},
		routerLines: () => lines,
		output: () => server.output(),
		canaryKeys: (tenant) => createCanaryKeys(url, tenant),
		async stop() {
			await server.stop();
			await api.stop();
			rmSync(dir, { recursive: true, force: true });
		},
	};
}
