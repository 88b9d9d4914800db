/**
 * A schema-version gate for Durable Object SQLite storage.
 *
 * Each object keeps its schema version in a one-row `_schema` table and applies the missing steps, in order,
 * inside the constructor's `blockConcurrencyWhile`, so no request ever sees a half-migrated object. Steps are
 * append-only and additive (new tables/columns with defaults), because during a gradual deployment the previous
 * version of the code (N−1) keeps serving the same objects: N−1 must still read what N wrote.
 *
 * @example
 * ```ts
 * const version = applySchema(ctx.storage.sql, [
 *   ["CREATE TABLE events (at_ms INTEGER NOT NULL, cost INTEGER NOT NULL)"],
 * ]);
 * ```
 *
 * @module
 */

/** One migration step: the SQL statements that take the schema from one version to the next. */
export type SchemaStep = readonly string[];

/** Applies the steps after the stored version; returns the resulting version (= steps.length). */
export function applySchema(sql: SqlStorage, steps: readonly SchemaStep[]): number {
	sql.exec("CREATE TABLE IF NOT EXISTS _schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)");
	const row = sql.exec<{ version: number }>("SELECT version FROM _schema WHERE id = 1").toArray()[0];
	const current = row?.version ?? 0;
	if (current > steps.length) {
		// Written by a newer version of the code (N+1 during a rollback): its steps are additive, so read on.
		return current;
	}
	for (let v = current; v < steps.length; v++) {
		for (const statement of steps[v] ?? []) sql.exec(statement);
	}
	sql.exec(
		"INSERT INTO _schema (id, version) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET version = excluded.version",
		Math.max(current, steps.length),
	);
	return Math.max(current, steps.length);
}
