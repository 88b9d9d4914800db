import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";

// Idempotent: applyD1Migrations records what it applied in d1_migrations, as wrangler does.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

// The local demo credentials, as `npm start` seeds them (statements are one per line, ON CONFLICT DO NOTHING).
const statements = env.TEST_LOCAL_SEED.split("\n").filter((line) => line.startsWith("INSERT"));
await env.DB.batch(statements.map((sql) => env.DB.prepare(sql)));
