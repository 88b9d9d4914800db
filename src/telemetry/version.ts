/**
 * This Worker version's identity, from the version metadata binding (what `X-Worker-Version`, the logs and the SLO
 * counters carry). Under `wrangler dev` miniflare fills the binding with a random id per start and a blank tag; in
 * tests the binding may be absent or blank, so blank fields are `dev`.
 *
 * Locally only (`ENVIRONMENT` `local` or `test`), `VERSION_ID` / `VERSION_TAG` vars replace the binding's values, so
 * two local Workers can act as two versions (the canary rehearsal, docs/canary.md). In staging and production they
 * are ignored: there the id is the platform's, the one gradual deployments and version overrides name.
 *
 * @module
 */

/** A Worker version's id, tag and timestamp, as the version metadata binding gives them. */
export type VersionInfo = { id: string; tag: string; timestamp: string };

export const DEV_VERSION: VersionInfo = { id: "dev", tag: "dev", timestamp: "dev" };

type VersionEnv = Partial<Pick<Env, "CF_VERSION_METADATA">> & {
	ENVIRONMENT?: string;
	VERSION_ID?: string;
	VERSION_TAG?: string;
};

export function versionOf(env: VersionEnv): VersionInfo {
	const meta = env.CF_VERSION_METADATA;
	// The rule of src/config/index.ts (isLocalEnvironment), on the raw variable: this runs before the config is parsed, and an
	// unset ENVIRONMENT is a configuration error, never "local".
	const local = env.ENVIRONMENT === "local" || env.ENVIRONMENT === "test";
	const id = (local && env.VERSION_ID) || meta?.id || DEV_VERSION.id;
	const tag = (local && env.VERSION_TAG) || meta?.tag || DEV_VERSION.tag;
	return { id, tag, timestamp: meta?.timestamp || DEV_VERSION.timestamp };
}
