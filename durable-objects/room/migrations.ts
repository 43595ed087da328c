/**
 * Versioned schema migrations per owner (the room core and each module keep their own list), recorded in
 * `schema_versions` so a room written by an older build is upgraded in place on its next wake.
 * Append to a list; never edit or reorder a step that has shipped.
 */
export function migrate(sql: SqlStorage, owner: string, steps: readonly string[]): void {
  sql.exec("CREATE TABLE IF NOT EXISTS schema_versions (owner TEXT PRIMARY KEY, version INTEGER NOT NULL)");
  const row = sql.exec<{ version: number }>("SELECT version FROM schema_versions WHERE owner = ?", owner).toArray()[0];
  const current = row?.version ?? 0;
  if (current > steps.length) {
    throw new Error(`schema of ${owner} is version ${current}, newer than this build (${steps.length})`);
  }
  for (let version = current; version < steps.length; version++) {
    sql.exec(steps[version]!);
  }
  if (current !== steps.length) {
    sql.exec(
      "INSERT INTO schema_versions (owner, version) VALUES (?, ?) " +
        "ON CONFLICT(owner) DO UPDATE SET version = excluded.version",
      owner,
      steps.length,
    );
  }
}
