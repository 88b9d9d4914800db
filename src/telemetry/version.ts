/**
 * This Worker version's identity, from the version metadata binding. Under `wrangler dev` and in tests the
 * binding is absent or blank, so the values are `dev`.
 */
export type VersionInfo = { id: string; tag: string; timestamp: string };

export const DEV_VERSION: VersionInfo = { id: "dev", tag: "dev", timestamp: "dev" };

export function versionOf(env: Partial<Pick<Env, "CF_VERSION_METADATA">>): VersionInfo {
	const meta = env.CF_VERSION_METADATA;
	if (!meta) return DEV_VERSION;
	return {
		id: meta.id || DEV_VERSION.id,
		tag: meta.tag || DEV_VERSION.tag,
		timestamp: meta.timestamp || DEV_VERSION.timestamp,
	};
}
