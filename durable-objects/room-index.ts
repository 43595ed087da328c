import { fail, ok, type Result } from "../src/protocol";
import { SqlObject } from "./sql-object";

export interface IndexedRoom {
  id: string;
  tenant: string;
  ownerKey: string;
}

/**
 * Which rooms exist, by tenant and owner, one instance per deployment: rooms register themselves when they are
 * created (refused past MAX_ROOMS_PER_USER) and leave when they are deleted. It answers "my rooms" and lets
 * operator tasks reach every room (metrics, re-sealing stored secrets). Rooms created before it existed enrol
 * when they next load.
 */
export class RoomIndexObject extends SqlObject {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, "room_index", [
      `CREATE TABLE rooms (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, owner_key TEXT NOT NULL,
        created_at INTEGER NOT NULL)`,
      "CREATE INDEX rooms_owner ON rooms (tenant, owner_key, created_at)",
    ]);
  }

  /** Registers a new room for its owner, unless they own as many as they may already. */
  add(room: IndexedRoom): Result<null> {
    const { owned } = this.sql
      .exec<{ owned: number }>(
        "SELECT COUNT(*) AS owned FROM rooms WHERE tenant = ? AND owner_key = ?",
        room.tenant,
        room.ownerKey,
      )
      .one();
    if (owned >= this.config.MAX_ROOMS_PER_USER) {
      return fail("quota_exceeded", `a user may own at most ${this.config.MAX_ROOMS_PER_USER} rooms; delete one first`);
    }
    this.enrol(room);
    return ok(null);
  }

  /** Registers a room that existed before the index did (no quota: it exists already). */
  enrol(room: IndexedRoom): void {
    this.sql.exec(
      "INSERT OR IGNORE INTO rooms (id, tenant, owner_key, created_at) VALUES (?, ?, ?, ?)",
      room.id,
      room.tenant,
      room.ownerKey,
      Date.now(),
    );
  }

  remove(id: string): void {
    this.sql.exec("DELETE FROM rooms WHERE id = ?", id);
  }

  /** Ids of the rooms an owner has in a tenant, newest first. */
  owned(tenant: string, ownerKey: string): string[] {
    return this.sql
      .exec<{ id: string }>(
        "SELECT id FROM rooms WHERE tenant = ? AND owner_key = ? ORDER BY created_at DESC, id",
        tenant,
        ownerKey,
      )
      .toArray()
      .map((r) => r.id);
  }

  /** Every room id in order, a page at a time (`after`: the last id of the previous page). */
  page(after: string | null, limit: number): string[] {
    return this.sql
      .exec<{ id: string }>("SELECT id FROM rooms WHERE id > ? ORDER BY id LIMIT ?", after ?? "", Math.min(limit, 1000))
      .toArray()
      .map((r) => r.id);
  }
}
