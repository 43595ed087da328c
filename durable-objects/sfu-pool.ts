import { fail, ok, type Result } from "../src/protocol";
import type { AddSfuNodeRequest, SfuNode } from "../src/protocol/sfu";
import { janusInfo, janusLoad } from "../src/sfu/janus";
import { placeRoom } from "../src/sfu/placement";
import { logFailure } from "../src/shared/log";
import { roomOf } from "../src/shared/objects";
import { Resealing, resealAll, SEALED_PURPOSE, type Sealer, type StoredSecret } from "../src/shared/sealing";
import { sha256 } from "../src/shared/secrets";
import { isoOrNull } from "../src/shared/time";
import { SqlObject } from "./sql-object";

interface NodeRow extends Record<string, SqlStorageValue> {
  id: string;
  region: string;
  api_url: string;
  admin_url: string;
  /** Both secrets are sealed with STATE_ENCRYPTION_KEY when one is configured (src/shared/sealing.ts). */
  admin_secret: string;
  api_secret: string | null;
  /** Of both secrets' plaintext (see SfuNode); null for nodes from before it was recorded. */
  secrets_fingerprint: string | null;
  capacity: number;
  draining: number;
  created_at: number;
  last_seen: number | null;
  sessions: number;
  handles: number;
  error: string | null;
}

/** Where a room's media runs: the node and how the room object reaches its API. */
export interface SfuPin {
  nodeId: string;
  apiUrl: string;
  /**
   * The node's Janus api_secret as the pool stores it: sealed (purpose `janus.api_secret`) when STATE_ENCRYPTION_KEY
   * is set, so it crosses RPC and sits in the room's tables sealed; the room opens it right before its Janus
   * requests. Null for nodes registered before every node needed one.
   */
  apiSecret: string | null;
  region: string;
}

/**
 * The SFU pool registry, one instance: Janus nodes (id, region, API, capacity), their liveness and load from an
 * alarm-driven poll (armed only while there are nodes), and placement of rooms onto nodes. Rooms keep their pin;
 * the registry remembers placements so it can tell the rooms of a node that died. The nodes' Janus secrets are
 * stored sealed when STATE_ENCRYPTION_KEY is set.
 */
export class SfuPoolObject extends SqlObject {
  private readonly resealing = new Resealing("sfu pool: stored node secrets", () => this.resealStored());
  /** Nodes whose admin secret could not be opened, logged once per instance. */
  private readonly unopenable = new Set<string>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, "sfu_pool", [
      `CREATE TABLE nodes (id TEXT PRIMARY KEY, region TEXT NOT NULL, api_url TEXT NOT NULL, admin_url TEXT NOT NULL,
        admin_secret TEXT NOT NULL, capacity INTEGER NOT NULL, draining INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL, last_seen INTEGER, sessions INTEGER NOT NULL DEFAULT 0,
        handles INTEGER NOT NULL DEFAULT 0, error TEXT)`,
      `CREATE TABLE placements (room_id TEXT PRIMARY KEY, node_id TEXT NOT NULL, placed_at INTEGER NOT NULL)`,
      "CREATE INDEX placements_node ON placements (node_id)",
      "ALTER TABLE nodes ADD COLUMN api_secret TEXT",
      "ALTER TABLE nodes ADD COLUMN secrets_fingerprint TEXT",
    ]);
    // Legacy plaintext and values sealed under an older key are sealed again before the first request (and before
    // any pin carries them to a room).
    ctx.blockConcurrencyWhile(() => this.resealing.onLoad());
  }

  // ── Operator ─────────────────────────────────

  list(): SfuNode[] {
    return this.rows().map((row) => this.describe(row));
  }

  async add(node: AddSfuNodeRequest): Promise<Result<SfuNode>> {
    const sealer = await this.sealer();
    const adminSecret = await sealer.seal(node.admin_secret, SEALED_PURPOSE.janusAdminSecret);
    const apiSecret = await sealer.seal(node.api_secret, SEALED_PURPOSE.janusApiSecret);
    if (this.row(node.id)) return fail("conflict", "a node with this id exists");
    const secretsFingerprint = (await sha256(`${node.admin_secret}\n${node.api_secret}`)).slice(0, 16);
    this.sql.exec(
      `INSERT INTO nodes (id, region, api_url, admin_url, admin_secret, api_secret, secrets_fingerprint, capacity,
         created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      node.id,
      node.region,
      node.api_url.replace(/\/$/, ""),
      node.admin_url.replace(/\/$/, ""),
      adminSecret,
      apiSecret,
      secretsFingerprint,
      node.capacity,
      Date.now(),
    );
    // Watch it right away: a new node is only placed on once it has answered.
    await this.ctx.storage.setAlarm(Date.now());
    return ok(this.describe(this.row(node.id)!));
  }

  setDraining(id: string, draining: boolean): Result<SfuNode> {
    if (!this.row(id)) return fail("not_found", "no such node");
    this.sql.exec("UPDATE nodes SET draining = ? WHERE id = ?", draining ? 1 : 0, id);
    return ok(this.describe(this.row(id)!));
  }

  async remove(id: string): Promise<Result<null>> {
    if (!this.row(id)) return fail("not_found", "no such node");
    const { region } = this.row(id)!;
    this.sql.exec("DELETE FROM nodes WHERE id = ?", id);
    await this.repinRoomsOf(id, "removed", region);
    if (this.rows().length === 0) await this.ctx.storage.deleteAlarm();
    return ok(null);
  }

  // ── Placement (rooms) ──────────────────────────────

  /**
   * A node for the room: its current pin while that node lives, else a new placement (the room's region first).
   * `avoid` excludes a node the room found broken.
   */
  place(roomId: string, region: string | undefined, avoid?: string): Result<SfuPin> {
    const now = Date.now();
    const current = this.sql
      .exec<{ node_id: string }>("SELECT node_id FROM placements WHERE room_id = ?", roomId)
      .toArray()[0]?.node_id;
    const currentRow = current ? this.row(current) : undefined;
    if (currentRow && current !== avoid && this.alive(currentRow, now)) return ok(this.pin(currentRow));
    const candidates = this.rows()
      .filter((row) => row.id !== avoid)
      .map((row) => ({
        id: row.id,
        region: row.region,
        capacity: row.capacity,
        load: row.handles,
        alive: this.alive(row, now),
        draining: row.draining === 1,
      }));
    const chosen = placeRoom(candidates, region, this.config.REGION_RULES.neighbours);
    if (!chosen) return fail("sfu_unavailable", "no SFU node with free capacity");
    this.sql.exec(
      `INSERT INTO placements (room_id, node_id, placed_at) VALUES (?, ?, ?)
       ON CONFLICT(room_id) DO UPDATE SET node_id = excluded.node_id, placed_at = excluded.placed_at`,
      roomId,
      chosen.id,
      now,
    );
    // Count the room against the node until the next poll reports real load.
    this.sql.exec("UPDATE nodes SET handles = handles + 1 WHERE id = ?", chosen.id);
    return ok(this.pin(this.row(chosen.id)!));
  }

  /** The room no longer needs media. */
  release(roomId: string): void {
    this.sql.exec("DELETE FROM placements WHERE room_id = ?", roomId);
  }

  // ── Polling ─────────────────────────────────

  override async alarm(): Promise<void> {
    const rows = this.rows();
    if (rows.length === 0) return;
    const timeout = this.config.SFU_POLL_TIMEOUT_MS;
    const now = Date.now();
    const sealer = await this.sealer();
    await Promise.all(
      rows.map(async (row) => {
        const wasAlive = this.alive(row, now);
        try {
          await janusInfo(row.api_url, timeout);
          const load = await janusLoad(row.admin_url, await this.adminSecret(sealer, row), timeout);
          this.sql.exec(
            "UPDATE nodes SET last_seen = ?, sessions = ?, handles = ?, error = NULL WHERE id = ?",
            Date.now(),
            load.sessions,
            load.handles,
            row.id,
          );
        } catch (error) {
          this.sql.exec(
            "UPDATE nodes SET error = ? WHERE id = ?",
            error instanceof Error ? error.message.slice(0, 200) : "poll failed",
            row.id,
          );
        }
        // A node silent for longer than the limit is dead: its rooms move (once; their placements go with it).
        const latest = this.row(row.id);
        if (latest && !this.alive(latest, Date.now())) {
          if (wasAlive) console.log(`sfu node ${row.id} is dead`);
          await this.repinRoomsOf(row.id, "dead", row.region);
        }
      }),
    );
    await this.ctx.storage.setAlarm(Date.now() + this.config.SFU_POLL_INTERVAL_MS);
  }

  // ── Encryption at rest ─────────────────────────────

  /** Seals every stored node secret again under the first STATE_ENCRYPTION_KEY key; how many were rewritten. */
  reseal(): Promise<number> {
    return this.resealing.report();
  }

  private async resealStored(): Promise<number> {
    const sealer = await this.sealer();
    if (!sealer.enabled) return 0;
    const secrets: StoredSecret[] = [];
    for (const row of this.rows()) {
      for (const [column, purpose] of [
        ["admin_secret", SEALED_PURPOSE.janusAdminSecret],
        ["api_secret", SEALED_PURPOSE.janusApiSecret],
      ] as const) {
        const stored = row[column];
        if (stored === null) continue;
        secrets.push({
          stored,
          purpose,
          replace: (next) =>
            this.sql
              .exec(`UPDATE nodes SET ${column} = ? WHERE id = ? AND ${column} = ? RETURNING id`, next, row.id, stored)
              .toArray().length > 0,
        });
      }
    }
    return resealAll(sealer, secrets);
  }

  /** The node's admin secret in the clear; a value that cannot be opened fails the poll (logged once). */
  private async adminSecret(sealer: Sealer, row: NodeRow): Promise<string> {
    try {
      return await sealer.open(row.admin_secret, SEALED_PURPOSE.janusAdminSecret);
    } catch (error) {
      if (!this.unopenable.has(row.id)) logFailure(`sfu node ${row.id} cannot be polled`, error);
      this.unopenable.add(row.id);
      throw error;
    }
  }

  private alive(row: NodeRow, now: number): boolean {
    return row.last_seen !== null && now - row.last_seen <= this.config.SFU_DEAD_AFTER_MS;
  }

  /**
   * Moves every room of a lost node to another (its region first, as placement prefers) and tells each room,
   * which keeps the new pin and tells its clients to set media up again.
   */
  private async repinRoomsOf(nodeId: string, reason: "dead" | "removed", region?: string): Promise<void> {
    const rooms = this.sql
      .exec<{ room_id: string }>("DELETE FROM placements WHERE node_id = ? RETURNING room_id", nodeId)
      .toArray();
    await Promise.all(
      rooms.map(async ({ room_id }) => {
        const placed = this.place(room_id, region, nodeId);
        try {
          await roomOf(this.env, room_id).sfuMoved(placed.ok ? placed.value : null, reason);
        } catch (error) {
          logFailure(`room ${room_id} could not be told of the lost node`, error);
        }
      }),
    );
  }

  private pin(row: NodeRow): SfuPin {
    return { nodeId: row.id, apiUrl: row.api_url, apiSecret: row.api_secret, region: row.region };
  }

  private describe(row: NodeRow): SfuNode {
    const now = Date.now();
    return {
      id: row.id,
      region: row.region,
      api_url: row.api_url,
      admin_url: row.admin_url,
      capacity: row.capacity,
      secrets_fingerprint: row.secrets_fingerprint,
      api_secret_set: row.api_secret !== null,
      draining: row.draining === 1,
      alive: this.alive(row, now),
      last_seen: isoOrNull(row.last_seen),
      sessions: row.sessions,
      handles: row.handles,
      rooms: this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM placements WHERE node_id = ?", row.id).one().n,
      error: row.error,
    };
  }

  private rows(): NodeRow[] {
    return this.sql.exec<NodeRow>("SELECT * FROM nodes ORDER BY id").toArray();
  }

  private row(id: string): NodeRow | undefined {
    return this.sql.exec<NodeRow>("SELECT * FROM nodes WHERE id = ?", id).toArray()[0];
  }
}
