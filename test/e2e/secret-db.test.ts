import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmod, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { fingerprintOf, SqliteSecretDatabase } from "../../turn/secret-db";

describe("coturn's SQLite secret database", () => {
  it("is written through sqlite3 without the secret ever on a command line", async () => {
    const dir = await mkdtemp(join(tmpdir(), "plenum-secret-db-"));
    const db = join(dir, "turn.db");
    execFileSync("sqlite3", [db, "CREATE TABLE turn_secret (realm varchar(127), value varchar(256))"]);
    // A sqlite3 first on PATH that records every argument list it is started with, then runs the real one.
    const log = join(dir, "argv.log");
    const real = execFileSync("sh", ["-c", "command -v sqlite3"], { encoding: "utf8" }).trim();
    const wrapper = join(dir, "bin", "sqlite3");
    execFileSync("mkdir", ["-p", join(dir, "bin")]);
    await writeFile(wrapper, `#!/bin/sh\nprintf '%s\\n' "$*" >> '${log}'\nexec '${real}' "$@"\n`);
    await chmod(wrapper, 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${join(dir, "bin")}:${path}`;
    try {
      const secret = randomBytes(32).toString("base64url");
      const database = new SqliteSecretDatabase(db, "plenum");
      await database.add(secret);
      expect(execFileSync(real, [db, "SELECT value FROM turn_secret"], { encoding: "utf8" }).trim()).toBe(secret);
      await database.remove(fingerprintOf(secret));
      expect(execFileSync(real, [db, "SELECT COUNT(*) FROM turn_secret"], { encoding: "utf8" }).trim()).toBe("0");
      const argv = await readFile(log, "utf8");
      expect(argv.split("\n").filter(Boolean).length).toBeGreaterThanOrEqual(3);
      expect(argv).not.toContain(secret);
      expect(argv).not.toContain(secret.slice(0, 12));
    } finally {
      process.env.PATH = path;
    }
  });
});
