import {
  type CreateInviteRequest,
  fail,
  type Invite,
  type InviteList,
  ok,
  type Result,
  type Room,
  type WaitingRoom,
} from "../../src/protocol";
import type { Config } from "../../src/shared/config";
import { passwordCheckAllowed, verifyPassword } from "../../src/shared/password";
import type { Principal } from "../../src/shared/principal";
import { randomToken, sha256 } from "../../src/shared/secrets";

export interface RoomRow extends Record<string, SqlStorageValue> {
  id: string;
  tenant: string;
  owner_key: string;
  name: string;
  password_hash: string | null;
  waiting_room: WaitingRoom;
  created_at: number;
  max_participants: number | null;
  indexed: number;
}

export interface InviteRow extends Record<string, SqlStorageValue> {
  hash: string;
  id: string;
  created_at: number;
  expires_at: number;
  max_uses: number | null;
  uses: number;
}

export interface CreateRoomInput {
  id: string;
  name: string;
  passwordHash: string | null;
  waitingRoom: WaitingRoom;
  maxParticipants: number | null;
}

export interface UpdateRoomInput {
  name?: string;
  /** null removes the password. */
  passwordHash?: string | null;
  waitingRoom?: WaitingRoom;
  /** null: back to the server's limit. */
  maxParticipants?: number | null;
}

/** The room's own row (identity, owner, settings) and its guest invitations. */
export class Settings {
  static readonly migrations = [
    `CREATE TABLE room (id TEXT NOT NULL, tenant TEXT NOT NULL, owner_key TEXT NOT NULL, name TEXT NOT NULL,
      password_hash TEXT, waiting_room TEXT NOT NULL, created_at INTEGER NOT NULL)`,
    "CREATE TABLE tickets (hash TEXT PRIMARY KEY, participant_id TEXT NOT NULL, expires_at INTEGER NOT NULL)",
    "CREATE TABLE invites (hash TEXT PRIMARY KEY, created_at INTEGER NOT NULL, expires_at INTEGER)",
    // Invites got ids (to list and revoke them), use limits, and an expiry for those made without one.
    "ALTER TABLE invites ADD COLUMN id TEXT",
    "ALTER TABLE invites ADD COLUMN max_uses INTEGER",
    "ALTER TABLE invites ADD COLUMN uses INTEGER NOT NULL DEFAULT 0",
    "UPDATE invites SET id = substr(hash, 1, 16) WHERE id IS NULL",
    "UPDATE invites SET expires_at = unixepoch() * 1000 + 1209600000 WHERE expires_at IS NULL",
    "CREATE UNIQUE INDEX invites_id ON invites (id)",
    // Seats are counted with the tickets not yet used; null: the server's ROOM_MAX_PARTICIPANTS.
    "CREATE INDEX tickets_participant ON tickets (participant_id)",
    "ALTER TABLE room ADD COLUMN max_participants INTEGER",
    // A claimed ticket stays until its connection is set up (it holds the seat meanwhile).
    "ALTER TABLE tickets ADD COLUMN used INTEGER NOT NULL DEFAULT 0",
    // Whether the room is in the deployment's room index (rooms created before it enrol when they next load).
    "ALTER TABLE room ADD COLUMN indexed INTEGER NOT NULL DEFAULT 0",
  ] as const;

  /** The room's row, read once (every request reads it; only this class writes it): null until read. */
  private cached: RoomRow | undefined | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly config: Config,
  ) {}

  row(): RoomRow | undefined {
    if (this.cached === null) this.cached = this.sql.exec<RoomRow>("SELECT * FROM room").toArray()[0];
    return this.cached;
  }

  /** The stored row changed (or the storage was wiped): read it again next time. */
  forget(): void {
    this.cached = null;
  }

  /** Whether a new room may be created by this principal (checked before the room index counts it). */
  creatable(principal: Principal, input: CreateRoomInput): Result<{ userKey: string }> {
    if (!principal.userKey) return fail("insufficient_permissions", "rooms are created by users");
    if (this.row()) return fail("conflict", "room exists");
    const bounded = this.boundedLimit(input.maxParticipants);
    return bounded.ok ? ok({ userKey: principal.userKey }) : bounded;
  }

  create(principal: Principal & { userKey: string }, input: CreateRoomInput): Room {
    this.sql.exec(
      `INSERT INTO room (id, tenant, owner_key, name, password_hash, waiting_room, created_at, max_participants)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      input.id,
      principal.tenant,
      principal.userKey,
      input.name,
      input.passwordHash,
      input.waitingRoom,
      Date.now(),
      input.maxParticipants,
    );
    this.forget();
    return this.describe(this.row()!, principal);
  }

  update(principal: Principal, input: UpdateRoomInput): Result<Room> {
    const room = this.managedBy(principal);
    if (!room.ok) return room;
    const bounded = this.boundedLimit(input.maxParticipants ?? null);
    if (!bounded.ok) return bounded;
    const r = room.value;
    this.sql.exec(
      "UPDATE room SET name = ?, password_hash = ?, waiting_room = ?, max_participants = ?",
      input.name ?? r.name,
      input.passwordHash === undefined ? r.password_hash : input.passwordHash,
      input.waitingRoom ?? r.waiting_room,
      input.maxParticipants === undefined ? r.max_participants : input.maxParticipants,
    );
    this.forget();
    return ok(this.describe(this.row()!, principal));
  }

  markIndexed(): void {
    this.sql.exec("UPDATE room SET indexed = 1");
    this.forget();
  }

  /** How many participants the room admits: its own setting, never more than the server's cap. */
  participantLimit(room: RoomRow): number {
    return Math.min(room.max_participants ?? Number.POSITIVE_INFINITY, this.config.ROOM_MAX_PARTICIPANTS);
  }

  private boundedLimit(max: number | null): Result<null> {
    if (max === null || max <= this.config.ROOM_MAX_PARTICIPANTS) return ok(null);
    return fail("invalid_request", `max_participants: at most ${this.config.ROOM_MAX_PARTICIPANTS} on this server`);
  }

  /** Rooms of other tenants answer exactly like rooms that do not exist. */
  visibleTo(principal: Principal): Result<RoomRow> {
    const room = this.row();
    if (!room || (room.tenant !== principal.tenant && !principal.operator)) return fail("not_found", "no such room");
    return ok(room);
  }

  managedBy(principal: Principal): Result<RoomRow> {
    const room = this.visibleTo(principal);
    if (room.ok && !principal.operator && room.value.owner_key !== principal.userKey) {
      return fail("insufficient_permissions", "only the room's owner may do this");
    }
    return room;
  }

  describe(room: RoomRow, principal: Principal): Room {
    return {
      id: room.id,
      name: room.name,
      has_password: room.password_hash !== null,
      waiting_room: room.waiting_room,
      max_participants: room.max_participants,
      participant_limit: this.participantLimit(room),
      created_at: new Date(room.created_at).toISOString(),
      is_owner: room.owner_key === principal.userKey,
    };
  }

  async checkPassword(room: RoomRow, password: string | undefined): Promise<Result<null>> {
    if (room.password_hash === null) return ok(null);
    if (password !== undefined && !passwordCheckAllowed(this.config.PASSWORD_CHECKS_PER_SECOND)) {
      return fail("too_many_attempts", "the server is checking too many passwords right now; try again shortly");
    }
    if (password !== undefined && (await verifyPassword(password, room.password_hash))) return ok(null);
    return fail("invalid_password", password === undefined ? "this room needs a password" : "wrong password");
  }

  async createInvite(principal: Principal, request: CreateInviteRequest): Promise<Result<Invite>> {
    const room = this.managedBy(principal);
    if (!room.ok) return room;
    const code = randomToken(24);
    const id = randomToken(12);
    const now = Date.now();
    const expiresAt = now + (request.expires_in_seconds ?? this.config.INVITE_TTL_SECONDS) * 1000;
    const maxUses = request.max_uses ?? null;
    this.sql.exec(
      "INSERT INTO invites (hash, id, created_at, expires_at, max_uses) VALUES (?, ?, ?, ?, ?)",
      await sha256(code),
      id,
      now,
      expiresAt,
      maxUses,
    );
    return ok({ id, invite_code: code, expires_at: new Date(expiresAt).toISOString(), max_uses: maxUses });
  }

  listInvites(principal: Principal): Result<InviteList> {
    const room = this.managedBy(principal);
    if (!room.ok) return room;
    const rows = this.sql.exec<InviteRow>("SELECT * FROM invites ORDER BY rowid").toArray();
    return ok({
      invites: rows.map((row) => ({
        id: row.id,
        created_at: new Date(row.created_at).toISOString(),
        expires_at: new Date(row.expires_at).toISOString(),
        max_uses: row.max_uses,
        uses: row.uses,
      })),
    });
  }

  /** A revoked invite is gone: its code answers `invalid_invite`, also to guests holding a resumption token. */
  revokeInvite(principal: Principal, inviteId: string): Result<null> {
    const room = this.managedBy(principal);
    if (!room.ok) return room;
    return this.revoke(inviteId) ? ok(null) : fail("not_found", "no such invite");
  }

  revoke(inviteId: string): boolean {
    return this.sql.exec("DELETE FROM invites WHERE id = ? RETURNING id", inviteId).toArray().length > 0;
  }

  setWaitingRoom(mode: WaitingRoom): void {
    this.sql.exec("UPDATE room SET waiting_room = ?", mode);
    this.forget();
  }

  /** The invite a code names, unless it was revoked (expired and used-up ones too: see `usable`). */
  async invite(code: string): Promise<InviteRow | undefined> {
    return this.sql.exec<InviteRow>("SELECT * FROM invites WHERE hash = ?", await sha256(code)).toArray()[0];
  }

  usable(invite: InviteRow, now: number): boolean {
    return invite.expires_at >= now && (invite.max_uses === null || invite.uses < invite.max_uses);
  }

  /** Counts one use, only while the invite is usable (one statement: parallel starts cannot exceed max_uses). */
  consumeInvite(inviteId: string, now: number): boolean {
    return (
      this.sql
        .exec(
          `UPDATE invites SET uses = uses + 1
           WHERE id = ? AND expires_at >= ? AND (max_uses IS NULL OR uses < max_uses) RETURNING id`,
          inviteId,
          now,
        )
        .toArray().length > 0
    );
  }
}
