import type { ParticipantKind, Role } from "../../src/protocol";
import type { Connection, Member } from "./module";

export type LeaveReason = "quit" | "disconnected" | "removed";

interface ParticipantRow extends Record<string, SqlStorageValue> {
  id: string;
  kind: ParticipantKind;
  user_key: string | null;
  display_name: string;
  role: Role;
  joined_at: number;
  disconnected_at: number | null;
  /** Held in the waiting room: connected but not in the room until a module releases them. */
  waiting: number;
  group_id: string | null;
}

export interface PresenceBatch {
  joined: string[];
  left: Map<LeaveReason, string[]>;
  updated: string[];
}

const toMember = (row: ParticipantRow, connected: boolean): Member => ({
  participantId: row.id,
  displayName: row.display_name,
  role: row.role,
  kind: row.kind,
  held: row.waiting === 1,
  connected,
  joinedAt: row.joined_at,
  group: row.group_id ?? undefined,
});

/**
 * Who is in the room: participants persisted in SQLite, their live sockets indexed in memory (rebuilt from the
 * sockets' attachments after hibernation), and the pending presence changes that are sent to everyone in batches
 * so a mass join or leave costs one frame per connection per batch instead of one per change.
 */
export class Roster {
  static readonly migrations = [
    `CREATE TABLE participants (
      id TEXT PRIMARY KEY, kind TEXT NOT NULL, user_key TEXT, display_name TEXT NOT NULL, role TEXT NOT NULL,
      joined_at INTEGER NOT NULL, hand_raised_at INTEGER, disconnected_at INTEGER)`,
    `CREATE TABLE resumptions (hash TEXT PRIMARY KEY, participant_id TEXT NOT NULL, created_at INTEGER NOT NULL)`,
    "CREATE INDEX resumptions_participant ON resumptions (participant_id)",
    "ALTER TABLE participants ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0",
    // Raised hands moved to the control module's table.
    "ALTER TABLE participants DROP COLUMN hand_raised_at",
    "ALTER TABLE participants ADD COLUMN group_id TEXT",
  ] as const;

  private readonly sockets = new Map<string, Set<WebSocket>>();
  /** Held participants (kept in memory too: every broadcast skips their sockets). */
  private readonly heldIds: Set<string>;
  private pendingJoined = new Set<string>();
  private pendingLeft = new Map<string, LeaveReason>();
  private pendingUpdated = new Set<string>();

  constructor(
    private readonly sql: SqlStorage,
    live: WebSocket[],
    now: number,
  ) {
    for (const socket of live) {
      const attachment = socket.deserializeAttachment() as Connection | null;
      if (attachment) this.socketsOf(attachment.participantId).add(socket);
    }
    // Participants marked connected whose sockets did not survive (a crash or restart) have disconnected now.
    const stale = sql
      .exec<{ id: string }>("SELECT id FROM participants WHERE disconnected_at IS NULL")
      .toArray()
      .filter((row) => !this.sockets.has(row.id));
    for (const { id } of stale) sql.exec("UPDATE participants SET disconnected_at = ? WHERE id = ?", now, id);
    const held = sql.exec<{ id: string }>("SELECT id FROM participants WHERE waiting = 1").toArray();
    this.heldIds = new Set(held.map((r) => r.id));
  }

  member(participantId: string): Member | undefined {
    const row = this.row(participantId);
    return row && toMember(row, this.isConnected(participantId));
  }

  /** Members by id, in one query (join_success and presence batches load many at once). */
  members(ids: readonly string[]): Member[] {
    if (ids.length === 0) return [];
    return this.sql
      .exec<ParticipantRow>(
        "SELECT * FROM participants WHERE id IN (SELECT value FROM json_each(?))",
        JSON.stringify(ids),
      )
      .toArray()
      .map((row) => toMember(row, this.isConnected(row.id)));
  }

  /** Admitted, connected members (one query). */
  admitted(): Member[] {
    return this.sql
      .exec<ParticipantRow>("SELECT * FROM participants WHERE disconnected_at IS NULL AND waiting = 0")
      .toArray()
      .filter((row) => this.isConnected(row.id))
      .map((row) => toMember(row, true));
  }

  /** Admitted, connected participants except `exceptId`, in one query (join_success runs it for every joiner). */
  online(exceptId: string): Member[] {
    return this.sql
      .exec<ParticipantRow>(
        "SELECT * FROM participants WHERE disconnected_at IS NULL AND waiting = 0 AND id != ?",
        exceptId,
      )
      .toArray()
      .map((row) => toMember(row, true));
  }

  userKeyOf(participantId: string): string | null | undefined {
    return this.row(participantId)?.user_key;
  }

  /** Connected, or disconnected less than `windowMs` ago. */
  isPresent(participantId: string, now: number, windowMs: number): boolean {
    if (this.isConnected(participantId)) return true;
    const left = this.row(participantId)?.disconnected_at;
    return left !== undefined && left !== null && now - left <= windowMs;
  }

  isConnected(participantId: string): boolean {
    return (this.sockets.get(participantId)?.size ?? 0) > 0;
  }

  connectedCount(): number {
    return this.sockets.size;
  }

  /**
   * Creates or refreshes the participant a start request admits. An existing participant keeps its role unless it
   * is the owner's (derived from the user, always owner). Returns whether a presence update is now pending (a
   * connected participant renamed by another device).
   */
  upsert(input: { id: string; kind: ParticipantKind; userKey: string | null; displayName: string; role: Role }) {
    const renamed = this.row(input.id)?.display_name !== input.displayName;
    const now = Date.now();
    this.sql.exec(
      `INSERT INTO participants (id, kind, user_key, display_name, role, joined_at, disconnected_at)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET display_name = excluded.display_name,
         role = CASE WHEN excluded.role = 'owner' THEN 'owner' ELSE participants.role END`,
      input.id,
      input.kind,
      input.userKey,
      input.displayName,
      input.role,
      now,
      now,
    );
    if (renamed) this.changed(input.id);
  }

  /** Holds a participant in the waiting room or lets them in; a connected one let in is announced. */
  setHeld(participantId: string, held: boolean): boolean {
    if (this.heldIds.has(participantId) === held) return false;
    this.sql.exec("UPDATE participants SET waiting = ? WHERE id = ?", held ? 1 : 0, participantId);
    if (held) {
      this.heldIds.add(participantId);
      if (this.isConnected(participantId) && !this.pendingJoined.delete(participantId)) {
        this.pendingLeft.set(participantId, "removed");
      }
    } else {
      this.heldIds.delete(participantId);
      if (this.isConnected(participantId)) this.pendingJoined.add(participantId);
    }
    return true;
  }

  isHeld(participantId: string): boolean {
    return this.heldIds.has(participantId);
  }

  /** Connected held participants, longest waiting first. */
  held(): Member[] {
    if (this.heldIds.size === 0) return [];
    return this.sql
      .exec<ParticipantRow>(
        "SELECT * FROM participants WHERE waiting = 1 AND disconnected_at IS NULL ORDER BY joined_at",
      )
      .toArray()
      .filter((row) => this.isConnected(row.id))
      .map((row) => toMember(row, true));
  }

  setRole(participantId: string, role: Role): Role | undefined {
    const from = this.row(participantId)?.role;
    if (from === undefined || from === role) return undefined;
    this.sql.exec("UPDATE participants SET role = ? WHERE id = ?", role, participantId);
    this.changed(participantId);
    return from;
  }

  groupOf(participantId: string): string | undefined {
    return this.row(participantId)?.group_id ?? undefined;
  }

  setGroup(participantId: string, group: string | undefined): void {
    this.sql.exec("UPDATE participants SET group_id = ? WHERE id = ?", group ?? null, participantId);
  }

  /** The participant a resumption token belongs to, if it is still within the resumption window. */
  resume(hash: string, now: number, windowMs: number): string | undefined {
    const row = this.sql
      .exec<{ participant_id: string; disconnected_at: number | null }>(
        `SELECT r.participant_id, p.disconnected_at FROM resumptions r JOIN participants p ON p.id = r.participant_id
         WHERE r.hash = ?`,
        hash,
      )
      .toArray()[0];
    if (!row) return undefined;
    const live = this.isConnected(row.participant_id);
    if (!live && row.disconnected_at !== null && now - row.disconnected_at > windowMs) return undefined;
    return row.participant_id;
  }

  /** Stores a resumption token hash; a participant keeps its few newest tokens (one per device). */
  addResumption(participantId: string, hash: string, now: number): void {
    this.sql.exec(
      "INSERT INTO resumptions (hash, participant_id, created_at) VALUES (?, ?, ?)",
      hash,
      participantId,
      now,
    );
    this.sql.exec(
      `DELETE FROM resumptions WHERE participant_id = ? AND hash NOT IN
        (SELECT hash FROM resumptions WHERE participant_id = ? ORDER BY created_at DESC LIMIT 8)`,
      participantId,
      participantId,
    );
  }

  /** Registers a socket; returns true when this is the participant's first live connection (a join). */
  connect(socket: WebSocket, attachment: Connection, now: number): boolean {
    socket.serializeAttachment(attachment);
    const set = this.socketsOf(attachment.participantId);
    set.add(socket);
    const first = set.size === 1;
    if (first) {
      this.sql.exec(
        "UPDATE participants SET disconnected_at = NULL, joined_at = ? WHERE id = ?",
        now,
        attachment.participantId,
      );
      this.pendingLeft.delete(attachment.participantId);
      if (!this.isHeld(attachment.participantId)) this.pendingJoined.add(attachment.participantId);
    }
    return first;
  }

  /** Whether the socket is still registered (close and error may both arrive for one socket). */
  isLive(socket: WebSocket): boolean {
    const attachment = socket.deserializeAttachment() as Connection | null;
    return attachment !== null && (this.sockets.get(attachment.participantId)?.has(socket) ?? false);
  }

  /** Unregisters a socket; returns the participant id when that was its last connection (a leave). */
  disconnect(socket: WebSocket, reason: LeaveReason, now: number): string | undefined {
    const attachment = socket.deserializeAttachment() as Connection | null;
    if (!attachment) return undefined;
    const set = this.sockets.get(attachment.participantId);
    if (!set?.delete(socket) || set.size > 0) return undefined;
    this.sockets.delete(attachment.participantId);
    this.sql.exec("UPDATE participants SET disconnected_at = ? WHERE id = ?", now, attachment.participantId);
    // Nobody was told of someone who only waited.
    if (!this.pendingJoined.delete(attachment.participantId) && !this.isHeld(attachment.participantId)) {
      this.pendingLeft.set(attachment.participantId, reason);
    }
    this.pendingUpdated.delete(attachment.participantId);
    return attachment.participantId;
  }

  /** Forgets a participant whose resumption window passed without a reconnect. */
  expire(participantId: string, now: number, windowMs: number): void {
    if (this.isConnected(participantId)) return;
    const row = this.row(participantId);
    if (!row || row.disconnected_at === null || now - row.disconnected_at < windowMs) return;
    this.sql.exec("DELETE FROM resumptions WHERE participant_id = ?", participantId);
    // Registered users keep their row (their role survives); guests are gone for good.
    if (row.kind === "guest") this.sql.exec("DELETE FROM participants WHERE id = ?", participantId);
  }

  /** Queues a control.update for a connected participant whose public state changed. */
  changed(participantId: string): void {
    if (this.isConnected(participantId) && !this.pendingJoined.has(participantId) && !this.isHeld(participantId)) {
      this.pendingUpdated.add(participantId);
    }
  }

  /** Takes the presence changes collected since the last batch. */
  takePresence(): PresenceBatch {
    const left = new Map<LeaveReason, string[]>();
    for (const [id, reason] of this.pendingLeft) {
      const ids = left.get(reason);
      if (ids) ids.push(id);
      else left.set(reason, [id]);
    }
    const batch = { joined: [...this.pendingJoined], left, updated: [...this.pendingUpdated] };
    this.pendingJoined = new Set();
    this.pendingLeft = new Map();
    this.pendingUpdated = new Set();
    return batch;
  }

  /** A participant's live sockets with their attachments. */
  socketsWithConnections(participantId: string): { socket: WebSocket; connection: Connection }[] {
    return [...(this.sockets.get(participantId) ?? [])].map((socket) => ({
      socket,
      connection: socket.deserializeAttachment() as Connection,
    }));
  }

  connectionsOf(participantId: string): Connection[] {
    return [...(this.sockets.get(participantId) ?? [])].map((socket) => socket.deserializeAttachment() as Connection);
  }

  /** Connections of everyone admitted (not held). */
  connections(): Connection[] {
    const all: Connection[] = [];
    for (const [participantId, sockets] of this.sockets) {
      if (this.heldIds.has(participantId)) continue;
      for (const socket of sockets) all.push(socket.deserializeAttachment() as Connection);
    }
    return all;
  }

  /** Whether a socket belongs to someone held in the waiting room (who gets no room traffic). */
  heldSocket(socket: WebSocket): boolean {
    if (this.heldIds.size === 0) return false;
    const participantId = (socket.deserializeAttachment() as Connection | null)?.participantId;
    return participantId !== undefined && this.heldIds.has(participantId);
  }

  private socketsOf(participantId: string): Set<WebSocket> {
    let set = this.sockets.get(participantId);
    if (!set) {
      set = new Set();
      this.sockets.set(participantId, set);
    }
    return set;
  }

  private row(participantId: string): ParticipantRow | undefined {
    return this.sql.exec<ParticipantRow>("SELECT * FROM participants WHERE id = ?", participantId).toArray()[0];
  }
}
