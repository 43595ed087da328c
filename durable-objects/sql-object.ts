import { DurableObject } from "cloudflare:workers";
import { type Config, readConfig } from "../src/shared/config";
import { loadSealer } from "../src/shared/sealing";
import { migrate } from "./room/migrations";

/** A singleton-style Durable Object with the settings, its SQLite storage and its tables migrated on start. */
export abstract class SqlObject extends DurableObject<Env> {
  protected readonly config: Config;
  protected readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env, owner: string, migrations: readonly string[]) {
    super(ctx, env);
    this.config = readConfig(env);
    this.sql = ctx.storage.sql;
    migrate(this.sql, owner, migrations);
  }

  /** Seals and opens the secrets the object stores (STATE_ENCRYPTION_KEY). */
  protected sealer() {
    return loadSealer(this.config.STATE_ENCRYPTION_KEY);
  }
}
