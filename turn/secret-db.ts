import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createClient } from "redis";

/** Runs sqlite3 with its SQL on stdin: a secret in an argument would show in every process listing. */
function sqlite3(path: string, sql: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("sqlite3", ["-batch", "-bail", "-cmd", ".timeout 5000", path], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.resume();
    child.on("error", reject);
    // sqlite3 may exit before it reads its input: the close handler reports that.
    child.stdin.on("error", () => {});
    child.on("close", (code) => (code === 0 ? resolve(stdout) : reject(Object.assign(new Error("sqlite3"), { code }))));
    child.stdin.end(sql);
  });
}

/**
 * coturn's secret database (`turn_secret`), which coturn reads on every authentication — so secrets can be added
 * and removed without restarting it and without dropping allocations. Node-only: used by the operator CLI.
 */
export interface SecretDatabase {
  readonly name: string;
  add(secret: string): Promise<void>;
  /** Removes the secret whose fingerprint (as the keyring reports it) matches. */
  remove(fingerprint: string): Promise<void>;
  close(): Promise<void>;
}

/** The keyring's fingerprint of a secret: the first 16 characters of base64url(SHA-256(secret)). */
export function fingerprintOf(secret: string): string {
  return createHash("sha256").update(secret).digest("base64url").slice(0, 16);
}

const SAFE = /^[A-Za-z0-9_+/=.-]+$/;
function safe(value: string, what: string): string {
  if (!SAFE.test(value)) throw new Error(`${what} contains characters that are not allowed`);
  return value;
}

/** A single node's SQLite userdb, through the sqlite3 command-line tool (real SQLite locking alongside coturn). */
export class SqliteSecretDatabase implements SecretDatabase {
  constructor(
    private readonly path: string,
    private readonly realm: string,
  ) {}

  get name() {
    return `sqlite:${this.path}`;
  }

  async add(secret: string): Promise<void> {
    await this.exec(
      "INSERT OR IGNORE INTO turn_secret (realm, value) " +
        `VALUES ('${safe(this.realm, "realm")}', '${safe(secret, "secret")}');`,
    );
  }

  async remove(fingerprint: string): Promise<void> {
    const rows = (await this.exec(`SELECT value FROM turn_secret WHERE realm = '${safe(this.realm, "realm")}';`))
      .split("\n")
      .filter(Boolean);
    for (const value of rows.filter((v) => fingerprintOf(v) === fingerprint)) {
      await this.exec(
        `DELETE FROM turn_secret WHERE realm = '${safe(this.realm, "realm")}' AND value = '${safe(value, "secret")}';`,
      );
    }
  }

  async close(): Promise<void> {}

  private async exec(sql: string): Promise<string> {
    try {
      return await sqlite3(this.path, sql);
    } catch (error) {
      // The statement may hold a secret: report only where and how it failed.
      throw new Error(`sqlite3 failed on ${this.path} (exit ${(error as { code?: unknown }).code ?? "?"})`);
    }
  }
}

/** A Redis userdb shared by a fleet: the set `turn/realm/<realm>/secret` (what coturn 4.6 reads with SMEMBERS). */
export class RedisSecretDatabase implements SecretDatabase {
  private readonly client;

  constructor(
    private readonly url: string,
    private readonly realm: string,
  ) {
    this.client = createClient({ url });
  }

  get name() {
    return `redis:${new URL(this.url).host}`;
  }

  async add(secret: string): Promise<void> {
    await this.connected();
    await this.client.sAdd(this.key(), safe(secret, "secret"));
  }

  async remove(fingerprint: string): Promise<void> {
    await this.connected();
    const members = await this.client.sMembers(this.key());
    const doomed = members.filter((value) => fingerprintOf(value) === fingerprint);
    if (doomed.length > 0) await this.client.sRem(this.key(), doomed);
  }

  async close(): Promise<void> {
    if (this.client.isOpen) await this.client.quit();
  }

  private key(): string {
    return `turn/realm/${safe(this.realm, "realm")}/secret`;
  }

  private async connected(): Promise<void> {
    if (!this.client.isOpen) await this.client.connect();
  }
}
