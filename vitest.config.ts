import { readFileSync } from "node:fs";
import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

const root = import.meta.dirname;
const migrations = await readD1Migrations(path.join(root, "migrations"));
const localSeed = readFileSync(path.join(root, "migrations", "local", "seed.sql"), "utf8");

/**
 * Three projects:
 * - `workers`: unit, integration and Durable Object tests inside workerd (the vitest integration), with the
 *   bindings of wrangler.toml's local environment and D1 migrations applied by the setup file;
 * - `node`: unit tests of the Node-side code (scripts/, load/): pure, no server, no external tool;
 * - `e2e`: Node-side tests that start the real `wrangler dev` (as `npm start` does) and call it over HTTP, or run the
 *   real Prometheus tools and k6.
 */
export default defineConfig({
	test: {
		// The Worker's structured request logs would drown the report; tests that need them spy on console.log.
		onConsoleLog: (log) => !log.startsWith('{"time":'),
		projects: [
			{
				plugins: [
					cloudflareTest(({ inject }) => ({
						wrangler: { configPath: "./wrangler.toml" },
						miniflare: {
							bindings: {
								TEST_MIGRATIONS: migrations,
								TEST_LOCAL_SEED: localSeed,
								// The loopback IdP started by globalSetup (test/helpers/node/jwks-server.ts).
								TEST_JWKS_URL: inject("jwksUrl"),
								// The fake OpenAI-compatible upstream (test/helpers/node/fake-openai.ts).
								TEST_FAKE_OPENAI_URL: inject("fakeOpenAIUrl"),
								// The local model streams without pauses in tests.
								LOCAL_MODEL_TOKEN_DELAY_MS: "0",
								// Suites run without rate limits (they reuse a few principals); the rate-limit suites set
								// their policies per call, and the e2e suite runs the defaults under wrangler dev.
								RATE_LIMIT_POLICIES: "[]",
							},
						},
					})),
				],
				test: {
					name: "workers",
					include: ["test/unit/**/*.test.ts", "test/integration/**/*.test.ts", "test/durable-objects/**/*.test.ts"],
					globalSetup: ["test/helpers/node/jwks-server.ts", "test/helpers/node/fake-openai.ts"],
					setupFiles: ["test/helpers/workers/apply-migrations.ts"],
					// A budget, not a timing assertion: these files share 2 cores with the e2e project's wrangler dev,
					// Prometheus and k6, and the property tests make thousands of Durable Object calls (5 s, the
					// default, was exceeded in CI by the rate limiter's 150-run agreement test).
					testTimeout: 30_000,
				},
			},
			{
				test: {
					name: "node",
					environment: "node",
					include: ["test/node/**/*.test.ts"],
				},
			},
			{
				test: {
					name: "e2e",
					environment: "node",
					include: ["test/e2e/**/*.test.ts", "test/security/**/*.test.ts"],
					testTimeout: 60_000,
					hookTimeout: 120_000,
					// One wrangler dev per file; files run one after another on a 2-core machine.
					fileParallelism: false,
				},
			},
		],
	},
});
