import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { z } from "zod";
import { runCommand } from "../lib/run-command.ts";

/**
 * The controller's hands on the platform: the real `wrangler` CLI (the project's pinned 4.155.0), run as a child
 * process. Version and deployment ids come from wrangler's machine-readable output file
 * (`WRANGLER_OUTPUT_FILE_PATH`, one JSON object per line: `version-upload`, `version-deploy`, `command-failed`),
 * and the live split from `wrangler deployments status --json` — never from scraping its human output. Every entry is
 * parsed with zod. Failures surface as {@link WranglerError} with wrangler's own one-line message.
 *
 * Only the pending-migration check talks to the API directly (wrangler has no command that prints the deployed
 * script's migration tag): one GET of `/accounts/:id/workers/services/:name`, the endpoint wrangler itself reads for
 * it, with the same `CLOUDFLARE_API_TOKEN` / `CLOUDFLARE_ACCOUNT_ID` / `CLOUDFLARE_API_BASE_URL`.
 *
 * @example
 * ```ts
 * const platform = wranglerPlatform({ cwd: process.cwd(), env: "production" });
 * const id = await platform.upload("3f2c1ab", "canary 3f2c1ab");
 * await platform.deploy([{ versionId: id, percent: 0 }, { versionId: stable, percent: 100 }], "canary 3f2c1ab: 0 %");
 * ```
 */
export type Split = { versionId: string; percent: number }[];
export type Deployment = { id: string; createdOn: string; versions: Split };
export type PendingMigration = { deployedTag: string | null; configTags: string[] };

export type Platform = {
	scriptName: string;
	/** `--env` as given (null: the top-level environment). */
	env: string | null;
	currentDeployment(): Promise<Deployment>;
	upload(tag: string, message: string): Promise<string>;
	deploy(split: Split, message: string): Promise<string>;
	/** Migrations in the config that the deployed script has not applied; null when none (or not checkable). */
	pendingMigration(): Promise<PendingMigration | null>;
};

export class WranglerError extends Error {}

const OutputEntry = z.discriminatedUnion("type", [
	z.object({ type: z.literal("wrangler-session"), wrangler_version: z.string() }).passthrough(),
	z
		.object({ type: z.literal("version-upload"), version_id: z.string().min(1), worker_name: z.string().nullable() })
		.passthrough(),
	z
		.object({ type: z.literal("version-deploy"), deployment_id: z.string().min(1), worker_name: z.string() })
		.passthrough(),
	z
		.object({
			type: z.literal("command-failed"),
			message: z.string(),
			code: z.union([z.number(), z.string()]).optional(),
		})
		.passthrough(),
]);
type OutputEntry = z.infer<typeof OutputEntry>;

const DeploymentJson = z.object({
	id: z.string(),
	created_on: z.string(),
	versions: z.array(z.object({ version_id: z.string(), percentage: z.number() })).min(1),
});

const ServiceJson = z.object({
	success: z.boolean(),
	errors: z.array(z.object({ code: z.number(), message: z.string() })).default([]),
	result: z
		.object({
			default_environment: z.object({ script: z.object({ migration_tag: z.string().optional().nullable() }) }),
		})
		.nullable(),
});

type Config = { name?: string; account_id?: string; migrations: { tag: string }[] };

const require = createRequire(import.meta.url);

/** Resolves the Wrangler config as wrangler does (environments, inheritance) with its own reader. */
export function readWranglerConfig(options: { cwd: string; config?: string; env: string | null }): Config {
	const wrangler = require(path.join(options.cwd, "node_modules", "wrangler")) as {
		unstable_readConfig(args: { config?: string; env?: string }, opts?: { hideWarnings?: boolean }): Config;
	};
	const config = options.config ? path.resolve(options.cwd, options.config) : path.join(options.cwd, "wrangler.toml");
	return wrangler.unstable_readConfig({ config, env: options.env ?? undefined }, { hideWarnings: true });
}

export function wranglerPlatform(options: {
	cwd: string;
	/** A wrangler config file other than wrangler.toml. */
	config?: string;
	env: string | null;
	/** Extra environment for wrangler (CLOUDFLARE_* credentials come from the process environment). */
	processEnv?: NodeJS.ProcessEnv;
	fetch?: (url: string, init?: RequestInit) => Promise<Response>;
}): Platform {
	const processEnv = options.processEnv ?? process.env;
	const config = readWranglerConfig(options);
	if (!config.name) throw new WranglerError("the wrangler config has no `name`");
	const scriptName = config.name;
	const wranglerJs = path.join(options.cwd, "node_modules", "wrangler", "bin", "wrangler.js");
	const commonArgs = [
		...(options.config ? ["--config", options.config] : []),
		// An explicit empty --env selects the top level (and silences wrangler's "no environment" warning).
		`--env=${options.env ?? ""}`,
	];

	async function run(args: string[]): Promise<{ entries: OutputEntry[]; stdout: string }> {
		const dir = mkdtempSync(path.join(tmpdir(), "canary-wrangler-"));
		const outputFile = path.join(dir, "output.jsonl");
		try {
			const { code, stdout, stderr } = await runCommand(process.execPath, [wranglerJs, ...args, ...commonArgs], {
				cwd: options.cwd,
				env: {
					...processEnv,
					WRANGLER_OUTPUT_FILE_PATH: outputFile,
					WRANGLER_SEND_METRICS: "false",
					// Unattended: no prompts, no colours, no update check noise.
					CI: "true",
					FORCE_COLOR: "0",
				},
			});
			let text = "";
			try {
				text = readFileSync(outputFile, "utf8");
			} catch {
				// wrangler failed before writing anything
			}
			const entries: OutputEntry[] = [];
			for (const line of text.split("\n").filter(Boolean)) {
				const parsed = OutputEntry.safeParse(JSON.parse(line));
				if (parsed.success) entries.push(parsed.data);
			}
			if (code !== 0) {
				const failed = entries.find((e) => e.type === "command-failed");
				const message =
					failed && failed.type === "command-failed"
						? failed.message
						: (stderr.split("\n").find((l) => l.includes("ERROR")) ?? `exit code ${code}`);
				throw new WranglerError(`wrangler ${args.slice(0, 2).join(" ")} failed: ${oneLine(message)}`);
			}
			return { entries, stdout };
		} finally {
			rmSync(dir, { recursive: true, force: true });
		}
	}

	return {
		scriptName,
		env: options.env,
		async currentDeployment() {
			const { stdout } = await run(["deployments", "status", "--json"]);
			let json: unknown;
			try {
				json = JSON.parse(stdout.slice(stdout.indexOf("{")));
			} catch {
				throw new WranglerError("wrangler deployments status --json did not print JSON");
			}
			const d = DeploymentJson.safeParse(json);
			if (!d.success) throw new WranglerError(`unexpected deployment JSON: ${d.error.issues[0]?.message ?? "invalid"}`);
			return {
				id: d.data.id,
				createdOn: d.data.created_on,
				versions: d.data.versions.map((v) => ({ versionId: v.version_id, percent: v.percentage })),
			};
		},
		async upload(tag, message) {
			const { entries } = await run(["versions", "upload", "--tag", tag, "--message", message]);
			const upload = entries.find((e) => e.type === "version-upload");
			if (upload?.type !== "version-upload")
				throw new WranglerError("wrangler versions upload wrote no version-upload entry to its output file");
			return upload.version_id;
		},
		async deploy(split, message) {
			const specs = split.map((s) => `${s.versionId}@${s.percent}%`);
			const { entries } = await run(["versions", "deploy", ...specs, "--message", message, "-y"]);
			const deploy = entries.find((e) => e.type === "version-deploy");
			if (deploy?.type !== "version-deploy")
				throw new WranglerError("wrangler versions deploy wrote no version-deploy entry to its output file");
			return deploy.deployment_id;
		},
		async pendingMigration() {
			const tags = config.migrations.map((m) => m.tag);
			if (tags.length === 0) return null;
			const token = processEnv.CLOUDFLARE_API_TOKEN;
			const account = processEnv.CLOUDFLARE_ACCOUNT_ID ?? config.account_id;
			// Without an API token (an interactive `wrangler login`), wrangler's own check still refuses the upload.
			if (!token || !account) return null;
			const base = (processEnv.CLOUDFLARE_API_BASE_URL ?? "https://api.cloudflare.com/client/v4").replace(/\/+$/, "");
			const url = `${base}/accounts/${account}/workers/services/${scriptName}`;
			let res: Response;
			try {
				res = await (options.fetch ?? fetch)(url, {
					headers: { Authorization: `Bearer ${token}` },
					signal: AbortSignal.timeout(15_000),
				});
			} catch (err) {
				throw new WranglerError(
					`reading the deployed migration tag failed: ${err instanceof Error ? err.message : String(err)}`,
				);
			}
			const body = ServiceJson.safeParse(await res.json().catch(() => null));
			if (!body.success) throw new WranglerError(`unexpected answer from ${url} (${res.status})`);
			if (!body.data.success || !body.data.result) {
				const e = body.data.errors[0];
				throw new WranglerError(
					`the API refused to describe ${scriptName}: ${e ? `${e.message} [code ${e.code}]` : res.status}`,
				);
			}
			const deployed = body.data.result.default_environment.script.migration_tag ?? null;
			const index = deployed === null ? -1 : tags.indexOf(deployed);
			return index === tags.length - 1 ? null : { deployedTag: deployed, configTags: tags.slice(index + 1) };
		},
	};
}

export function oneLine(text: string): string {
	return text
		.split("\n")
		.map((l) => l.trim())
		.filter(Boolean)
		.join(" ")
		.slice(0, 500);
}
