/**
 * The D1 schema this version of the code needs, for the readiness check (src/health/readiness.ts).
 *
 * @module
 */

/**
 * The D1 migrations this code expects to be applied (file names in `migrations/`, in order). `/readyz` reports
 * not-ready until every one is recorded in wrangler's `d1_migrations` table, so a version deployed ahead of its
 * schema is kept out of rotation instead of failing requests. A test keeps this list equal to the folder.
 */
export const EXPECTED_D1_MIGRATIONS = ["0001_auth.sql", "0002_rag.sql", "0003_tenant_storage.sql"] as const;

/** Wrangler's (and `applyD1Migrations`') ledger table. */
export const D1_MIGRATIONS_TABLE = "d1_migrations";
