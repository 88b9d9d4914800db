import type { D1Migration } from "cloudflare:test";

declare global {
	namespace Cloudflare {
		interface Env {
			/** Test-only binding from vitest.config.ts: the D1 migrations read from migrations/. */
			TEST_MIGRATIONS: D1Migration[];
		}
	}
}
