import { fail, type Invite, ok, type Result, type Room, type WaitingRoom } from "../../src/protocol";
import { verifyPassword } from "../../src/shared/password";
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
}

export interface CreateRoomInput {
  id: string;
  name: string;
  passwordHash: string | null;
  waitingRoom: WaitingRoom;
}

export interface UpdateRoomInput {
  name?: string;
  /** null removes the password. */
  passwordHash?: string | null;
  waitingRoom?: WaitingRoom;
}

/** The room's own row (identity, owner, settings) and its guest invitations. */
export class Settings {
  static readonly migrations = [
    `CREATE TABLE room (id TEXT NOT NULL, tenant TEXT NOT NULL, owner_key TEXT NOT NULL, name TEXT NOT NULL,
      password_hash TEXT, waiting_room TEXT NOT NULL, created_at INTEGER NOT NULL)`,
    "CREATE TABLE tickets (hash TEXT PRIMARY KEY, participant_id TEXT NOT NULL, expires_at INTEGER NOT NULL)",
    "CREATE TABLE invites (hash TEXT PRIMARY KEY, created_at INTEGER NOT NULL, expires_at INTEGER)",
  ] as const;

  constructor(private readonly sql: SqlStorage) {}

  row(): RoomRow | undefined {
    return this.sql.exec<RoomRow>("SELECT * FROM room").toArray()[0];
  }

  create(principal: Principal, input: CreateRoomInput): Result<Room> {
    if (!principal.userKey) return fail("insufficient_permissions", "rooms are created by users");
    if (this.row()) return fail("conflict", "room exists");
    this.sql.exec(
      `INSERT INTO room (id, tenant, owner_key, name, password_hash, waiting_room, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      input.id,
      principal.tenant,
      principal.userKey,
      input.name,
      input.passwordHash,
      input.waitingRoom,
      Date.now(),
    );
    return ok(this.describe(this.row()!, principal));
  }

  update(principal: Principal, input: UpdateRoomInput): Result<Room> {
    const room = this.managedBy(principal);
    if (!room.ok) return room;
    const r = room.value;
    this.sql.exec(
      "UPDATE room SET name = ?, password_hash = ?, waiting_room = ?",
      input.name ?? r.name,
      input.passwordHash === undefined ? r.password_hash : input.passwordHash,
      input.waitingRoom ?? r.waiting_room,
    );
    return ok(this.describe(this.row()!, principal));
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
      created_at: new Date(room.created_at).toISOString(),
      is_owner: room.owner_key === principal.userKey,
    };
  }

  async checkPassword(room: RoomRow, password: string | undefined): Promise<Result<null>> {
    if (room.password_hash === null) return ok(null);
    if (password !== undefined && (await verifyPassword(password, room.password_hash))) return ok(null);
    return fail("invalid_password", password === undefined ? "this room needs a password" : "wrong password");
  }

  async createInvite(principal: Principal, expiresInSeconds: number | undefined): Promise<Result<Invite>> {
    const room = this.managedBy(principal);
    if (!room.ok) return room;
    const code = randomToken(24);
    const now = Date.now();
    const expiresAt = expiresInSeconds === undefined ? null : now + expiresInSeconds * 1000;
    this.sql.exec(
      "INSERT INTO invites (hash, created_at, expires_at) VALUES (?, ?, ?)",
      await sha256(code),
      now,
      expiresAt,
    );
    return ok({ invite_code: code, expires_at: expiresAt === null ? null : new Date(expiresAt).toISOString() });
  }

  async inviteValid(code: string, now: number): Promise<boolean> {
    const invite = this.sql
      .exec<{ expires_at: number | null }>("SELECT expires_at FROM invites WHERE hash = ?", await sha256(code))
      .toArray()[0];
    return invite !== undefined && (invite.expires_at === null || invite.expires_at >= now);
  }
}
