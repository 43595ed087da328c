import type { Participant, Role } from "../../src/protocol";
import { isoOrNull } from "../../src/shared/time";
import type { Connection } from "./module";

export type ParticipantKind = "user" | "guest";
export type LeaveReason = "quit" | "disconnected" | "removed";

interface ParticipantRow extends Record<string, SqlStorageValue> {
  id: string;
  kind: ParticipantKind;
  user_key: string | null;
  display_name: string;
  role: Role;
  joined_at: number;
  hand_raised_at: number | null;
  disconnected_at: number | null;
  /** In the waiting room: connected but not in the room until a moderator lets them in. */
  waiting: number;
}

/** Attachment of every signalling socket; survives hibernation with the socket. */
export type ConnectionAttachment = Connection;

export interface PresenceBatch {
  joined: Participant[];
  left: Map<LeaveReason, string[]>;
  updated: Participant[];
}

const toParticipant = (row: ParticipantRow): Participant => ({
  participant_id: row.id,
  display_name: row.display_name,
  role: row.role,
  kind: row.kind,
  joined_at: new Date(row.joined_at).toISOString(),
  hand_raised_at: isoOrNull(row.hand_raised_at),
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
  ] as const;

  private readonly sockets = new Map<string, Set<WebSocket>>();
  /** Participants in the waiting room (kept in memory too: every broadcast skips their sockets). */
  private readonly waitingIds: Set<string>;
  private pendingJoined = new Set<string>();
  private pendingLeft = new Map<string, LeaveReason>();
  private pendingUpdated = new Set<string>();

  constructor(
    private readonly sql: SqlStorage,
    live: WebSocket[],
    now: number,
  ) {
    for (const socket of live) {
      const attachment = socket.deserializeAttachment() as ConnectionAttachment | null;
      if (attachment) this.socketsOf(attachment.participantId).add(socket);
    }
    // Participants marked connected whose sockets did not survive (a crash or restart) have disconnected now.
    const stale = sql
      .exec<{ id: string }>("SELECT id FROM participants WHERE disconnected_at IS NULL")
      .toArray()
      .filter((row) => !this.sockets.has(row.id));
    for (const { id } of stale) sql.exec("UPDATE participants SET disconnected_at = ? WHERE id = ?", now, id);
    this.waitingIds = new Set(
      sql
        .exec<{ id: string }>("SELECT id FROM participants WHERE waiting = 1")
        .toArray()
        .map((r) => r.id),
    );
  }

  get(participantId: string): Participant | undefined {
    const row = this.row(participantId);
    return row && toParticipant(row);
  }

  role(participantId: string): Role | undefined {
    return this.row(participantId)?.role;
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

  /** Connected participants except `exceptId`, in one query (join_success runs it for every joiner). */
  online(exceptId: string): Participant[] {
    return this.sql
      .exec<ParticipantRow>(
        "SELECT * FROM participants WHERE disconnected_at IS NULL AND waiting = 0 AND id != ?",
        exceptId,
      )
      .toArray()
      .map(toParticipant);
  }

  connectedCount(): number {
    return this.sockets.size;
  }

  /**
   * Creates or refreshes the participant a start request admits. An existing participant keeps its role unless it
   * is the owner's (derived from the user, always owner). `mustWait` sends them to the waiting room unless they
   * are owner or moderator or were let in before. Returns whether a presence update is now pending (a connected
   * participant renamed by another device).
   */
  admit(input: {
    id: string;
    kind: ParticipantKind;
    userKey: string | null;
    displayName: string;
    defaultRole: Role;
    mustWait: boolean;
    now: number;
  }): boolean {
    const renamed = this.row(input.id)?.display_name !== input.displayName;
    this.sql.exec(
      `INSERT INTO participants (id, kind, user_key, display_name, role, joined_at, disconnected_at, waiting)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET display_name = excluded.display_name,
         role = CASE WHEN excluded.role = 'owner' THEN 'owner' ELSE participants.role END,
         waiting = MIN(participants.waiting, excluded.waiting)`,
      input.id,
      input.kind,
      input.userKey,
      input.displayName,
      input.defaultRole,
      input.now,
      input.now,
      input.mustWait && input.defaultRole !== "owner" ? 1 : 0,
    );
    this.sql.exec("UPDATE participants SET waiting = 0 WHERE id = ? AND role IN ('owner', 'moderator')", input.id);
    if (this.row(input.id)?.waiting === 1) this.waitingIds.add(input.id);
    else this.waitingIds.delete(input.id);
    if (!renamed || !this.isConnected(input.id)) return false;
    this.changed(input.id);
    return true;
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
  connect(socket: WebSocket, attachment: ConnectionAttachment, now: number): boolean {
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
      if (!this.isWaiting(attachment.participantId)) this.pendingJoined.add(attachment.participantId);
    }
    return first;
  }

  isWaiting(participantId: string): boolean {
    return this.waitingIds.has(participantId);
  }

  /** Connected participants in the waiting room, longest waiting first. */
  waiting(): Participant[] {
    return this.sql
      .exec<ParticipantRow>(
        "SELECT * FROM participants WHERE waiting = 1 AND disconnected_at IS NULL ORDER BY joined_at",
      )
      .toArray()
      .filter((row) => this.isConnected(row.id))
      .map(toParticipant);
  }

  /** Lets a waiting participant in: from now on they are announced and may act. */
  letIn(participantId: string): boolean {
    if (!this.isWaiting(participantId)) return false;
    this.sql.exec("UPDATE participants SET waiting = 0 WHERE id = ?", participantId);
    this.waitingIds.delete(participantId);
    if (this.isConnected(participantId)) this.pendingJoined.add(participantId);
    return true;
  }

  /** Unregisters a socket; returns the participant id when that was its last connection (a leave). */
  disconnect(socket: WebSocket, reason: LeaveReason, now: number): string | undefined {
    const attachment = socket.deserializeAttachment() as ConnectionAttachment | null;
    if (!attachment) return undefined;
    const set = this.sockets.get(attachment.participantId);
    if (!set?.delete(socket) || set.size > 0) return undefined;
    this.sockets.delete(attachment.participantId);
    this.sql.exec(
      "UPDATE participants SET disconnected_at = ?, hand_raised_at = NULL WHERE id = ?",
      now,
      attachment.participantId,
    );
    // Nobody was told of someone who only waited.
    if (!this.pendingJoined.delete(attachment.participantId) && !this.isWaiting(attachment.participantId)) {
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

  setHandRaised(participantId: string, raisedAt: number | null): void {
    this.sql.exec("UPDATE participants SET hand_raised_at = ? WHERE id = ?", raisedAt, participantId);
    this.changed(participantId);
  }

  /** Queues a control.update for a connected participant whose public state changed. */
  changed(participantId: string): void {
    if (this.isConnected(participantId) && !this.pendingJoined.has(participantId) && !this.isWaiting(participantId)) {
      this.pendingUpdated.add(participantId);
    }
  }

  /** Takes the presence changes collected since the last batch. */
  takePresence(): PresenceBatch {
    const load = (ids: Iterable<string>) => [...ids].flatMap((id) => this.get(id) ?? []);
    const left = new Map<LeaveReason, string[]>();
    for (const [id, reason] of this.pendingLeft) {
      const ids = left.get(reason);
      if (ids) ids.push(id);
      else left.set(reason, [id]);
    }
    const batch = { joined: load(this.pendingJoined), left, updated: load(this.pendingUpdated) };
    this.pendingJoined = new Set();
    this.pendingLeft = new Map();
    this.pendingUpdated = new Set();
    return batch;
  }

  /** A participant's live sockets with their attachments. */
  connectionsOf(participantId: string): { socket: WebSocket; connection: Connection }[] {
    return [...(this.sockets.get(participantId) ?? [])].map((socket) => ({
      socket,
      connection: socket.deserializeAttachment() as Connection,
    }));
  }

  /** Connections of everyone in the room (not the waiting room). */
  connections(): Connection[] {
    const all: Connection[] = [];
    for (const [participantId, sockets] of this.sockets) {
      if (this.waitingIds.has(participantId)) continue;
      for (const socket of sockets) all.push(socket.deserializeAttachment() as Connection);
    }
    return all;
  }

  /** Whether a socket belongs to someone in the waiting room (who gets no room traffic). */
  waitingSocket(socket: WebSocket): boolean {
    if (this.waitingIds.size === 0) return false;
    const participantId = (socket.deserializeAttachment() as ConnectionAttachment | null)?.participantId;
    return participantId !== undefined && this.waitingIds.has(participantId);
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
