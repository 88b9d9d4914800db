import type { D1Migration } from "cloudflare:test";

declare global {
	namespace Cloudflare {
		interface Env {
			/** Test-only binding from vitest.config.ts: the D1 migrations read from migrations/. */
			TEST_MIGRATIONS: D1Migration[];
			/** Test-only binding: migrations/local/seed.sql, the local demo credentials. */
			TEST_LOCAL_SEED: string;
			/** Test-only binding: the loopback IdP's JWKS URL (POST /sign and /rotate beside it). */
			TEST_JWKS_URL: string;
			/** Test-only binding: the fake OpenAI-compatible upstream (POST/GET /__scenario/<id>). */
			TEST_FAKE_OPENAI_URL: string;
		}
	}
}
