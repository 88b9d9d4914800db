import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * A fake of the part of Cloudflare's API that `wrangler versions upload`, `wrangler versions deploy`,
 * `wrangler deployments status|list` and `wrangler versions view|list` call (wrangler 4.155.0; endpoints read from
 * node_modules/wrangler/wrangler-dist/cli.js), on loopback. Point wrangler at it with
 * `CLOUDFLARE_API_BASE_URL=<url>/client/v4`, `CLOUDFLARE_API_TOKEN` and `CLOUDFLARE_ACCOUNT_ID`.
 *
 * It records every call and enforces the platform's rules, so a controller cannot pass here and fail there:
 * - a deployment has one or two versions (`strategy: "percentage"`), each 0–100 %, summing to exactly 100 %,
 *   no version twice, and only deployable versions (created after the script's last Durable Object migration,
 *   among its 100 newest);
 * - a version upload that carries a Durable Object migration is refused (code 10211: migrations need a
 *   non-versioned deploy), as is an upload to a script that does not exist (10007);
 * - a bad or missing token is refused (10000).
 * Error codes 10000, 10007, 10090 and 10211 are the real ones; for the deployment rules Cloudflare's exact codes are
 * not published, so those use 10220–10224 with the real rule in the message.
 *
 * What it cannot do is run code: uploads are stored, not executed. The local rehearsal maps version ids to local
 * Workers (scripts/canary/local/router-worker.ts). Version ids are UUIDs; `assignVersionId` lets the rehearsal choose
 * them (the real platform picks them, and nothing in the controller may assume how).
 *
 * @example
 * ```ts
 * const api = await startFakeCloudflareApi({ token: "t", accountId: "acc" });
 * const stable = api.seedScript("edge-ai-api", { migrationTag: "v4" });
 * // wrangler … with CLOUDFLARE_API_BASE_URL=`${api.url}/client/v4`
 * api.latestDeployment("edge-ai-api"); // { versions: [{ version_id: stable, percentage: 100 }], … }
 * await api.stop();
 * ```
 */
export type ApiVersion = {
	id: string;
	number: number;
	metadata: {
		author_email: string;
		author_id: string;
		created_on: string;
		modified_on: string;
		source: string;
		has_preview: boolean;
	};
	annotations: Record<string, string>;
	resources: {
		bindings: unknown[];
		script: { etag: string; handlers: string[]; last_deployed_from: string };
		script_runtime: { compatibility_date?: string; compatibility_flags?: string[]; usage_model: string };
	};
};

export type ApiDeployment = {
	id: string;
	source: string;
	strategy: "percentage";
	author_email: string;
	created_on: string;
	annotations: Record<string, string>;
	versions: { version_id: string; percentage: number }[];
};

type Script = {
	name: string;
	tag: string;
	createdOn: string;
	migrationTag: string | null;
	/** Index into `versions` of the first version created after the last migration (older ones are not deployable). */
	deployableFrom: number;
	versions: ApiVersion[];
	/** Newest first, as the API lists them. */
	deployments: ApiDeployment[];
	settings: Record<string, unknown>;
};

export type RecordedCall = { method: string; path: string; query: string; body: unknown; status: number };

export type FakeCloudflareApi = {
	url: string;
	/** Every request, in order (multipart uploads are recorded as their `metadata` part). */
	calls: RecordedCall[];
	/** Creates a deployed script: version 1 at 100 %. Returns that version's id. */
	seedScript(name: string, options?: { migrationTag?: string | null; versionId?: string; tag?: string }): string;
	latestDeployment(name: string): ApiDeployment | undefined;
	/** Every deployment of the script, oldest first. */
	deployments(name: string): ApiDeployment[];
	/** Sets the deployed script's migration tag only (to make a migration pending, or not). */
	setMigrationTag(name: string, tag: string | null): void;
	/**
	 * What a plain `wrangler deploy` carrying a migration does: a new version at 100 % with the new tag; every older
	 * version stops being deployable (its code predates the migration). Returns the new version's id.
	 */
	applyMigration(name: string, tag: string): string;
	version(name: string, id: string): ApiVersion | undefined;
	/** Calls made to change state (uploads and deployments), for assertions. */
	mutations(): RecordedCall[];
	/**
	 * Listeners run after each accepted deployment, before the API answers (a test can kill the caller there: a crash
	 * between a deploy and the caller's record of it). Returns a function that removes the listener.
	 */
	onDeployment(listener: (script: string, deployment: ApiDeployment) => void): () => void;
	stop(): Promise<void>;
};

const MAX_DEPLOYABLE = 100;
const AUTHOR = "canary@example.invalid";

class ApiError extends Error {
	readonly status: number;
	readonly code: number;
	constructor(status: number, code: number, message: string) {
		super(message);
		this.status = status;
		this.code = code;
	}
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
	const chunks: Buffer[] = [];
	for await (const chunk of req) chunks.push(chunk as Buffer);
	return Buffer.concat(chunks);
}

function send(res: ServerResponse, status: number, payload: unknown): void {
	res.writeHead(status, { "Content-Type": "application/json" });
	res.end(JSON.stringify(payload));
}

export async function startFakeCloudflareApi(
	options: {
		token?: string;
		accountId?: string;
		/** Chooses the id of an uploaded version (default: a random UUID, as the platform does). */
		assignVersionId?: (upload: { script: string; tag: string | undefined; message: string | undefined }) => string;
		now?: () => number;
	} = {},
): Promise<FakeCloudflareApi> {
	const token = options.token ?? "fake-token";
	const accountId = options.accountId ?? "0000000000000000000000000000fake";
	const now = options.now ?? Date.now;
	const scripts = new Map<string, Script>();
	const calls: RecordedCall[] = [];
	const listeners: ((script: string, deployment: ApiDeployment) => void)[] = [];
	const iso = () => new Date(now()).toISOString();

	function makeVersion(
		script: Script,
		id: string,
		annotations: Record<string, string>,
		meta: { bindings?: unknown[]; compatibility_date?: string; compatibility_flags?: string[] },
	): ApiVersion {
		const created = iso();
		return {
			id,
			number: script.versions.length + 1,
			metadata: {
				author_email: AUTHOR,
				author_id: "fake-author",
				created_on: created,
				modified_on: created,
				source: "wrangler",
				has_preview: false,
			},
			annotations,
			resources: {
				bindings: meta.bindings ?? [],
				script: {
					etag: randomBytes(16).toString("hex"),
					handlers: ["fetch", "scheduled"],
					last_deployed_from: "wrangler",
				},
				script_runtime: {
					compatibility_date: meta.compatibility_date,
					compatibility_flags: meta.compatibility_flags ?? [],
					usage_model: "standard",
				},
			},
		};
	}

	function deploy(script: Script, versions: { version_id: string; percentage: number }[], message?: string) {
		const deployment: ApiDeployment = {
			id: randomUUID(),
			source: "wrangler",
			strategy: "percentage",
			author_email: AUTHOR,
			created_on: iso(),
			annotations: { "workers/triggered_by": "deployment", ...(message ? { "workers/message": message } : {}) },
			versions,
		};
		script.deployments.unshift(deployment);
		for (const l of listeners) l(script.name, deployment);
		return deployment;
	}

	function scriptOr404(name: string, code = 10007): Script {
		const s = scripts.get(name);
		if (!s) {
			throw new ApiError(
				404,
				code,
				code === 10090 ? "workers.api.error.service_not_found" : "This Worker does not exist on your account.",
			);
		}
		return s;
	}

	function deployable(script: Script): ApiVersion[] {
		const eligible = script.versions.slice(script.deployableFrom);
		return eligible.slice(-MAX_DEPLOYABLE).reverse();
	}

	function validateDeployment(script: Script, body: unknown): { version_id: string; percentage: number }[] {
		const b = body as { strategy?: unknown; versions?: unknown } | null;
		if (b?.strategy !== "percentage") throw new ApiError(400, 10220, 'strategy must be "percentage"');
		if (!Array.isArray(b.versions) || b.versions.length === 0)
			throw new ApiError(400, 10221, "a deployment needs at least one version");
		if (b.versions.length > 2)
			throw new ApiError(400, 10221, "a deployment can have at most two versions (got " + b.versions.length + ")");
		const versions = b.versions.map((v: unknown) => {
			const x = v as { version_id?: unknown; percentage?: unknown };
			if (typeof x.version_id !== "string" || typeof x.percentage !== "number" || !Number.isFinite(x.percentage))
				throw new ApiError(400, 10222, "each version needs a version_id and a numeric percentage");
			if (x.percentage < 0 || x.percentage > 100)
				throw new ApiError(400, 10222, `percentage ${x.percentage} is outside 0–100`);
			return { version_id: x.version_id, percentage: x.percentage };
		});
		if (new Set(versions.map((v) => v.version_id)).size !== versions.length)
			throw new ApiError(400, 10222, "a version appears twice in the deployment");
		const total = versions.reduce((s, v) => s + v.percentage, 0);
		// The platform accepts floating-point noise (wrangler itself uses an epsilon of 0.001).
		if (Math.abs(total - 100) > 0.001)
			throw new ApiError(400, 10223, `version percentages must sum to 100 (got ${total})`);
		const ok = new Set(deployable(script).map((v) => v.id));
		for (const v of versions) {
			if (!script.versions.some((x) => x.id === v.version_id))
				throw new ApiError(404, 10224, `version ${v.version_id} does not exist`);
			if (!ok.has(v.version_id))
				throw new ApiError(400, 10224, `version ${v.version_id} is not deployable (older than the last migration)`);
		}
		return versions;
	}

	async function parseUpload(req: IncomingMessage, raw: Buffer) {
		const request = new Request("http://fake/upload", {
			method: "POST",
			headers: { "content-type": req.headers["content-type"] ?? "" },
			body: new Uint8Array(raw),
		});
		const form = await request.formData();
		const metadata = form.get("metadata");
		const text = typeof metadata === "string" ? metadata : metadata ? await metadata.text() : "";
		if (!text) throw new ApiError(400, 10021, "multipart upload without a metadata part");
		return JSON.parse(text) as {
			main_module?: string;
			bindings?: unknown[];
			migrations?: unknown;
			annotations?: Record<string, string | undefined>;
			compatibility_date?: string;
			compatibility_flags?: string[];
		};
	}

	async function handle(req: IncomingMessage, call: RecordedCall) {
		const url = new URL(req.url ?? "/", "http://fake");
		const raw = await readBody(req);
		const isMultipart = (req.headers["content-type"] ?? "").startsWith("multipart/form-data");
		let body: unknown = null;
		if (raw.length > 0 && !isMultipart) {
			try {
				body = JSON.parse(raw.toString("utf8"));
			} catch {
				body = raw.toString("utf8");
			}
		}
		call.body = body;
		if (req.headers.authorization !== `Bearer ${token}`) throw new ApiError(403, 10000, "Authentication error");
		const parts = url.pathname
			.replace(/^\/client\/v4/, "")
			.split("/")
			.filter(Boolean)
			.map(decodeURIComponent);
		if (parts[0] !== "accounts" || parts[1] !== accountId)
			throw new ApiError(403, 10000, "Authentication error: unknown account");
		const rest = parts.slice(2);
		const method = req.method ?? "GET";
		// /workers/services/:name — what wrangler reads for the script's tag and migration tag.
		if (rest[0] === "workers" && rest[1] === "services" && rest.length === 3 && method === "GET") {
			const s = scriptOr404(rest[2] ?? "", 10090);
			const latest = s.versions.at(-1);
			return {
				id: s.name,
				created_on: s.createdOn,
				modified_on: latest?.metadata.modified_on ?? s.createdOn,
				default_environment: {
					environment: "production",
					created_on: s.createdOn,
					modified_on: latest?.metadata.modified_on ?? s.createdOn,
					script: {
						id: s.name,
						tag: s.tag,
						tags: (s.settings.tags as string[] | undefined) ?? [],
						etag: latest?.resources.script.etag ?? "",
						handlers: ["fetch", "scheduled"],
						migration_tag: s.migrationTag ?? undefined,
						last_deployed_from: "wrangler",
						created_on: s.createdOn,
						modified_on: latest?.metadata.modified_on ?? s.createdOn,
						usage_model: "standard",
					},
				},
			};
		}
		if (rest[0] !== "workers" || rest[1] !== "scripts" || !rest[2]) {
			throw new ApiError(404, 7003, `No route for that URI: ${method} ${url.pathname}`);
		}
		const s = scriptOr404(rest[2]);
		const sub = rest.slice(3);
		if (sub[0] === "secrets" && sub.length === 1 && method === "GET") return [];
		if (sub[0] === "script-settings" && sub.length === 1 && method === "PATCH") {
			Object.assign(s.settings, body as object);
			return s.settings;
		}
		if ((sub[0] === "script-settings" || sub[0] === "settings") && sub.length === 1 && method === "GET")
			return { logpush: false, tail_consumers: [], ...s.settings };
		if (sub[0] === "versions" && sub.length === 1 && method === "POST") {
			const meta = await parseUpload(req, raw);
			call.body = meta;
			if (meta.migrations !== undefined && meta.migrations !== null) {
				throw new ApiError(
					400,
					10211,
					"Version upload failed. You attempted to upload a version of a Worker that includes a Durable Object migration, but migrations must be fully applied via a non-versioned deployment.",
				);
			}
			const annotations = Object.fromEntries(
				Object.entries(meta.annotations ?? {}).filter((e): e is [string, string] => typeof e[1] === "string"),
			);
			let id: string;
			try {
				id =
					options.assignVersionId?.({
						script: s.name,
						tag: annotations["workers/tag"],
						message: annotations["workers/message"],
					}) ?? randomUUID();
			} catch (err) {
				throw new ApiError(400, 10021, err instanceof Error ? err.message : String(err));
			}
			if (s.versions.some((v) => v.id === id)) throw new ApiError(409, 10225, `version id ${id} already exists`);
			const version = makeVersion(s, id, { ...annotations, "workers/triggered_by": "upload" }, meta);
			s.versions.push(version);
			return { ...version, startup_time_ms: 12 };
		}
		if (sub[0] === "versions" && sub.length === 1 && method === "GET") {
			const items = url.searchParams.get("deployable") === "true" ? deployable(s) : [...s.versions].reverse();
			return { items };
		}
		if (sub[0] === "versions" && sub.length === 2 && method === "GET") {
			const v = s.versions.find((x) => x.id === sub[1]);
			if (!v) throw new ApiError(404, 10224, `version ${sub[1]} does not exist`);
			return v;
		}
		if (sub[0] === "deployments" && sub.length === 1 && method === "GET") return { deployments: s.deployments };
		if (sub[0] === "deployments" && sub.length === 1 && method === "POST") {
			const versions = validateDeployment(s, body);
			const message = (body as { annotations?: Record<string, string> }).annotations?.["workers/message"];
			return deploy(s, versions, message);
		}
		throw new ApiError(404, 7003, `No route for that URI: ${method} ${url.pathname}`);
	}

	const server: Server = createServer((req, res) => {
		const url = new URL(req.url ?? "/", "http://fake");
		const call: RecordedCall = {
			method: req.method ?? "GET",
			path: url.pathname.replace(/^\/client\/v4/, ""),
			query: url.search,
			body: null,
			status: 200,
		};
		calls.push(call);
		handle(req, call).then(
			(result) => send(res, 200, { success: true, errors: [], messages: [], result }),
			(err: unknown) => {
				const e = err instanceof ApiError ? err : new ApiError(500, 10013, String(err));
				call.status = e.status;
				send(res, e.status, {
					success: false,
					errors: [{ code: e.code, message: e.message }],
					messages: [],
					result: null,
				});
			},
		);
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;

	return {
		url: `http://127.0.0.1:${port}`,
		calls,
		seedScript(name, seed = {}) {
			const script: Script = {
				name,
				tag: randomBytes(16).toString("hex"),
				createdOn: iso(),
				migrationTag: seed.migrationTag === undefined ? null : seed.migrationTag,
				deployableFrom: 0,
				versions: [],
				deployments: [],
				settings: {},
			};
			scripts.set(name, script);
			const id = seed.versionId ?? randomUUID();
			script.versions.push(
				makeVersion(
					script,
					id,
					{ "workers/triggered_by": "upload", ...(seed.tag ? { "workers/tag": seed.tag } : {}) },
					{},
				),
			);
			deploy(script, [{ version_id: id, percentage: 100 }], "initial deploy (seeded)");
			return id;
		},
		latestDeployment: (name) => scripts.get(name)?.deployments[0],
		deployments: (name) => [...(scripts.get(name)?.deployments ?? [])].reverse(),
		setMigrationTag: (name, tag) => {
			const s = scripts.get(name);
			if (s) s.migrationTag = tag;
		},
		applyMigration: (name, tag) => {
			const s = scripts.get(name);
			if (!s) throw new Error(`no script ${name}`);
			const id = randomUUID();
			s.versions.push(
				makeVersion(s, id, { "workers/triggered_by": "upload", "workers/message": `migration ${tag}` }, {}),
			);
			s.deployableFrom = s.versions.length - 1;
			s.migrationTag = tag;
			deploy(s, [{ version_id: id, percentage: 100 }], `plain deploy with migration ${tag}`);
			return id;
		},
		version: (name, id) => scripts.get(name)?.versions.find((v) => v.id === id),
		mutations: () => calls.filter((c) => c.method !== "GET"),
		onDeployment: (l) => {
			listeners.push(l);
			return () => {
				const i = listeners.indexOf(l);
				if (i >= 0) listeners.splice(i, 1);
			};
		},
		stop: () =>
			new Promise<void>((resolve) => {
				server.closeAllConnections();
				server.close(() => resolve());
			}),
	};
}
