import type { ParticipantKind, Role } from "../../src/protocol";
import type { Connection, Member } from "./module";
import { type LeaveReason, PresenceChanges } from "./presence";
import { Resumptions } from "./resumptions";
import { type LiveSocket, SocketIndex } from "./sockets";
import type { PublicParticipant } from "./transport";

/** A participant's public description and its JSON (serialized once, then part of every list that names them). */
export interface Described {
  participant: PublicParticipant;
  json: string;
}

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
  invite_id: string | null;
  name_fixed: number;
  /** Connections vanished in a crash and the modules have not heard them leave yet. */
  vanished: number;
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
 * Who is in the room: participants persisted in SQLite, their live sockets (`SocketIndex`), who is held in the
 * waiting room, and the pending presence changes that are sent to everyone in batches
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
    // The invite a guest came with: a revoke of it ends their resumptions too.
    "ALTER TABLE participants ADD COLUMN invite_id TEXT",
    // Each signalling connection, while open and for the resumption window after: room session tokens name one
    // (`sid`), and GET /v1/turn answers only for those.
    `CREATE TABLE connections (id TEXT PRIMARY KEY, participant_id TEXT NOT NULL, opened_at INTEGER NOT NULL,
      closed_at INTEGER)`,
    "CREATE INDEX connections_closed ON connections (closed_at)",
    // Whose connections vanished in a crash: the modules have not heard them leave yet.
    "ALTER TABLE participants ADD COLUMN vanished INTEGER NOT NULL DEFAULT 0",
    // A name a moderator gave: the participant's own later starts keep it.
    "ALTER TABLE participants ADD COLUMN name_fixed INTEGER NOT NULL DEFAULT 0",
  ] as const;

  private readonly sockets: SocketIndex;
  /** Held participants (kept in memory too: every broadcast skips their sockets). */
  private readonly heldIds: Set<string>;
  /** Participants in a breakout group, by group (kept in memory too: every fan-out to a group reads it). */
  private readonly groups: Map<string, string>;
  /** The same, by group. */
  private readonly groupMembers = new Map<string, Set<string>>();
  /** Presence changes not yet sent. */
  readonly changes = new PresenceChanges();
  /**
   * Participants' rows, read once: joins, fan-outs and hooks ask for members far more often than rows change, and
   * every change goes through this class (`write`). Unknown ids are not remembered (commands may name any id).
   */
  private readonly rows = new Map<string, ParticipantRow>();
  /**
   * Public descriptions (with the modules' fields) as last announced, so a join_success lists everyone without
   * describing everyone again; dropped with the row, and by `changed` when a module's field changes.
   */
  private readonly descriptions = new Map<string, Described>();

  readonly resumptions: Resumptions;
  /**
   * Participants marked connected whose sockets did not survive (a crash or a restart): they disconnected now,
   * and no module heard of it. The room runs the modules' leave hooks for them when their window has passed.
   */
  readonly vanished: readonly string[];

  constructor(
    private readonly sql: SqlStorage,
    live: WebSocket[],
    now: number,
  ) {
    this.sockets = new SocketIndex(live);
    this.vanished = sql
      .exec<{ id: string }>("SELECT id FROM participants WHERE disconnected_at IS NULL")
      .toArray()
      .map((row) => row.id)
      .filter((id) => !this.sockets.isConnected(id));
    for (const id of this.vanished) {
      sql.exec("UPDATE participants SET disconnected_at = ?, vanished = 1 WHERE id = ?", now, id);
    }
    // Connections whose sockets did not survive close now (also one of someone whose other device did): an open
    // row is always a registered socket's, which `connectionValid` relies on.
    const lost = sql
      .exec<{ id: string; participant_id: string }>(
        "SELECT id, participant_id FROM connections WHERE closed_at IS NULL",
      )
      .toArray()
      .filter((row) => !this.sockets.hasConnection(row.participant_id, row.id));
    for (const { id } of lost) sql.exec("UPDATE connections SET closed_at = ? WHERE id = ?", now, id);
    // A ticket claimed by an upgrade that a crash or eviction interrupted holds no seat any more.
    sql.exec("DELETE FROM tickets WHERE used = 1");
    this.resumptions = new Resumptions(sql);
    const held = sql.exec<{ id: string }>("SELECT id FROM participants WHERE waiting = 1").toArray();
    this.heldIds = new Set(held.map((r) => r.id));
    const grouped = sql.exec<{ id: string; group_id: string }>(
      "SELECT id, group_id FROM participants WHERE group_id IS NOT NULL",
    );
    this.groups = new Map();
    for (const row of grouped) this.placeInGroup(row.id, row.group_id);
  }

  private placeInGroup(participantId: string, group: string | undefined): void {
    const from = this.groups.get(participantId);
    if (from !== undefined) {
      const members = this.groupMembers.get(from);
      members?.delete(participantId);
      if (members?.size === 0) this.groupMembers.delete(from);
    }
    if (group === undefined) {
      this.groups.delete(participantId);
      return;
    }
    this.groups.set(participantId, group);
    const members = this.groupMembers.get(group) ?? new Set();
    members.add(participantId);
    this.groupMembers.set(group, members);
  }

  /**
   * The sockets of everyone admitted in a breakout group (undefined: the main room), found through the groups'
   * members rather than every socket's attachment.
   */
  groupSockets(group: string | undefined): WebSocket[] {
    const admitted = (id: string) => !this.heldIds.has(id);
    if (group === undefined) return this.sockets.socketsOf((id) => admitted(id) && !this.groups.has(id));
    const members = this.groupMembers.get(group);
    if (!members) return [];
    return [...members].filter(admitted).flatMap((id) => this.sockets.of(id).map((s) => s.socket));
  }

  /** Every socket of someone not held (the common case, nobody held, is one array kept between changes). */
  admittedSockets(): readonly WebSocket[] {
    const all = this.sockets.all();
    return this.heldIds.size === 0 ? all : all.filter((socket) => !this.heldSocket(socket));
  }

  /** Ids of everyone admitted in a group (undefined: the main room), from memory. */
  admittedIds(group: string | undefined): string[] {
    const ids: string[] = [];
    for (const id of this.sockets.participants()) {
      if (!this.heldIds.has(id) && this.groups.get(id) === group) ids.push(id);
    }
    return ids;
  }

  /** A participant's description as last made (see `descriptions`). */
  description(participantId: string): Described | undefined {
    return this.descriptions.get(participantId);
  }

  rememberDescription(participant: PublicParticipant): void {
    this.descriptions.set(participant.participant_id, { participant, json: JSON.stringify(participant) });
  }

  member(participantId: string): Member | undefined {
    const row = this.row(participantId);
    return row && toMember(row, this.isConnected(participantId));
  }

  /** Members by id (unknown ones left out); rows not read yet come in one query. */
  members(ids: readonly string[]): Member[] {
    const missing = ids.filter((id) => !this.rows.has(id));
    if (missing.length > 0) {
      const rows = this.sql.exec<ParticipantRow>(
        "SELECT * FROM participants WHERE id IN (SELECT value FROM json_each(?))",
        JSON.stringify(missing),
      );
      for (const row of rows) this.rows.set(row.id, row);
    }
    return ids.flatMap((id) => {
      const row = this.rows.get(id);
      return row ? [toMember(row, this.isConnected(id))] : [];
    });
  }

  /** The invite a guest came with (null for registered users and guests from before invites had ids). */
  inviteOf(participantId: string): string | null {
    return this.row(participantId)?.invite_id ?? null;
  }

  /** Admitted, connected members, in the order they connected. */
  admitted(): Member[] {
    const ids: string[] = [];
    for (const id of this.sockets.participants()) if (!this.heldIds.has(id)) ids.push(id);
    return this.members(ids);
  }

  /** In the room (not held): connected, or disconnected less than `windowMs` ago. */
  inRoom(now: number, windowMs: number): Member[] {
    return this.sql
      .exec<ParticipantRow>(
        "SELECT * FROM participants WHERE waiting = 0 AND (disconnected_at IS NULL OR disconnected_at >= ?)",
        now - windowMs,
      )
      .toArray()
      .filter((row) => row.disconnected_at !== null || this.isConnected(row.id))
      .map((row) => toMember(row, this.isConnected(row.id)));
  }

  /** Connected, or disconnected less than `windowMs` ago. */
  isPresent(participantId: string, now: number, windowMs: number): boolean {
    if (this.isConnected(participantId)) return true;
    const left = this.row(participantId)?.disconnected_at;
    return left !== undefined && left !== null && now - left <= windowMs;
  }

  isConnected(participantId: string): boolean {
    return this.sockets.isConnected(participantId);
  }

  connectedCount(): number {
    return this.sockets.participantCount();
  }

  /** Participants the room remembers (for operators' diagnostics). */
  storedCount(): number {
    return this.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM participants").one().n;
  }

  /** Connected participants in the room, the waiting ones not counted. */
  admittedCount(): number {
    return this.sockets.participantCount() - this.connectedHeld();
  }

  /**
   * Seats taken in the room (`held` false) or its waiting room (`held` true): participants connected there, and
   * those holding a ticket not yet used or being connected with one (so a burst of starts cannot overfill it).
   */
  occupancy(held: boolean, now: number): number {
    const connected = held ? this.connectedHeld() : this.admittedCount();
    const { pending } = this.sql
      .exec<{ pending: number }>(
        `SELECT COUNT(DISTINCT t.participant_id) AS pending
         FROM tickets t JOIN participants p ON p.id = t.participant_id
         WHERE (t.used = 1 OR t.expires_at >= ?) AND p.disconnected_at IS NOT NULL AND p.waiting = ?`,
        now,
        held ? 1 : 0,
      )
      .one();
    return connected + pending;
  }

  /**
   * Whether a participant may get one more connection within `max`: open ones and those being set up (a claimed
   * ticket) count; tickets never used give way, oldest first, to the new one.
   */
  makeRoomForConnection(participantId: string, max: number, now: number): boolean {
    const tickets = this.sql
      .exec<{ hash: string; used: number }>(
        "SELECT hash, used FROM tickets WHERE participant_id = ? AND (used = 1 OR expires_at >= ?) ORDER BY expires_at",
        participantId,
        now,
      )
      .toArray();
    const firm = this.sockets.of(participantId).length + tickets.filter((t) => t.used === 1).length;
    if (firm >= max) return false;
    const unused = tickets.filter((t) => t.used === 0);
    for (const t of unused.slice(0, Math.max(0, firm + unused.length - max + 1))) {
      this.sql.exec("DELETE FROM tickets WHERE hash = ?", t.hash);
    }
    return true;
  }

  /** Clears the mark of someone whose connections vanished in a crash; true when it was set (once). */
  settleVanished(participantId: string): boolean {
    if (this.row(participantId)?.vanished === 0) return false;
    return (
      this.write(participantId, "UPDATE participants SET vanished = 0 WHERE id = ? AND vanished = 1", participantId)
        .length > 0
    );
  }

  /**
   * Whether a connection speaks for its participant now: open, or closed less than `windowMs` ago (its client may
   * be resuming), and the participant still belongs to the room.
   */
  connectionValid(participantId: string, connectionId: string, now: number, windowMs: number): boolean {
    if (!this.row(participantId)) return false;
    // An open connection is a registered socket: its row is closed or deleted only as the socket leaves the index.
    if (this.sockets.hasConnection(participantId, connectionId)) return true;
    const closedAt = this.sql
      .exec<{ closed_at: number | null }>(
        "SELECT closed_at FROM connections WHERE id = ? AND participant_id = ?",
        connectionId,
        participantId,
      )
      .toArray()[0]?.closed_at;
    // Fails closed: a row still open without its socket (a rollback restored it) does not count.
    return closedAt !== undefined && closedAt !== null && now - closedAt <= windowMs;
  }

  private connectedHeld(): number {
    let count = 0;
    for (const id of this.heldIds) if (this.isConnected(id)) count++;
    return count;
  }

  /**
   * Creates or refreshes the participant a start request admits. An existing participant keeps its role unless it
   * is the owner's (derived from the user, always owner). A connected participant renamed by another device is
   * queued for a control.update.
   */
  upsert(input: {
    id: string;
    kind: ParticipantKind;
    userKey: string | null;
    displayName: string;
    role: Role;
    inviteId: string | null;
  }) {
    const row = this.row(input.id);
    const renamed = row !== undefined && row.name_fixed === 0 && row.display_name !== input.displayName;
    const now = Date.now();
    this.write(
      input.id,
      `INSERT INTO participants (id, kind, user_key, display_name, role, joined_at, disconnected_at, invite_id)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET
         display_name = CASE WHEN participants.name_fixed = 1 THEN participants.display_name
           ELSE excluded.display_name END,
         role = CASE WHEN excluded.role = 'owner' THEN 'owner' ELSE participants.role END`,
      input.id,
      input.kind,
      input.userKey,
      input.displayName,
      input.role,
      now,
      now,
      input.inviteId,
    );
    if (renamed) this.changed(input.id);
  }

  /** Holds a participant in the waiting room or lets them in; a connected one let in is announced. */
  setHeld(participantId: string, held: boolean): boolean {
    if (this.heldIds.has(participantId) === held) return false;
    this.write(participantId, "UPDATE participants SET waiting = ? WHERE id = ?", held ? 1 : 0, participantId);
    const group = this.groupOf(participantId);
    if (held) {
      this.heldIds.add(participantId);
      if (this.isConnected(participantId)) this.changes.leave(participantId, "removed", group);
    } else {
      this.heldIds.delete(participantId);
      if (this.isConnected(participantId)) this.changes.join(participantId, group);
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
    this.write(participantId, "UPDATE participants SET role = ? WHERE id = ?", role, participantId);
    this.changed(participantId);
    return from;
  }

  /** A moderator renames a participant; the name stays when they start again. */
  rename(participantId: string, displayName: string): boolean {
    const done = this.write(
      participantId,
      "UPDATE participants SET display_name = ?, name_fixed = 1 WHERE id = ?",
      displayName,
      participantId,
    );
    if (done.length > 0) this.changed(participantId);
    return done.length > 0;
  }

  /**
   * Voids a participant's tickets (also one being used) and room sessions (their session tokens get no TURN
   * credentials), and with `resumption` their resumption tokens: coming back takes a new start.
   */
  voidEntry(participantId: string, resumption: boolean): void {
    if (resumption) this.resumptions.forget(participantId);
    this.sql.exec("DELETE FROM tickets WHERE participant_id = ?", participantId);
    this.sql.exec("DELETE FROM connections WHERE participant_id = ?", participantId);
  }

  /** Voids every ticket of the room (the meeting ends: nobody gets in with one issued before). */
  voidTickets(): void {
    this.sql.exec("DELETE FROM tickets");
  }

  groupOf(participantId: string): string | undefined {
    return this.groups.get(participantId);
  }

  /** Whether anyone is in a breakout group (while nobody is, a fan-out to the main room goes to everyone). */
  anyGrouped(): boolean {
    return this.groups.size > 0;
  }

  /**
   * Moves a participant into a group (undefined: the main room); false when they are there already. Someone in the
   * room leaves the old group's presence (reason `switched`) and joins the new one's.
   */
  setGroup(participantId: string, group: string | undefined): boolean {
    const from = this.groupOf(participantId);
    if (from === group) return false;
    this.write(participantId, "UPDATE participants SET group_id = ? WHERE id = ?", group ?? null, participantId);
    this.placeInGroup(participantId, group);
    if (this.isConnected(participantId) && !this.isHeld(participantId)) {
      this.changes.leave(participantId, "switched", from);
      this.changes.join(participantId, group);
    }
    return true;
  }

  /** Registers a socket; returns true when this is the participant's first live connection (a join). */
  connect(socket: WebSocket, attachment: Connection, now: number, windowMs: number): boolean {
    socket.serializeAttachment(attachment);
    const first = this.sockets.add(socket, attachment);
    this.sql.exec("DELETE FROM connections WHERE closed_at < ?", now - windowMs);
    this.sql.exec(
      "INSERT INTO connections (id, participant_id, opened_at) VALUES (?, ?, ?)",
      attachment.connectionId,
      attachment.participantId,
      now,
    );
    if (first) {
      const id = attachment.participantId;
      this.write(id, "UPDATE participants SET disconnected_at = NULL, joined_at = ? WHERE id = ?", now, id);
      if (!this.isHeld(id)) this.changes.join(id, this.groupOf(id));
    }
    return first;
  }

  /** Unregisters a socket; returns the participant id when that was its last connection (a leave). */
  disconnect(socket: WebSocket, reason: LeaveReason, now: number): string | undefined {
    const connection = this.sockets.connection(socket);
    if (!connection) return undefined;
    this.sql.exec("UPDATE connections SET closed_at = ? WHERE id = ?", now, connection.connectionId);
    // A socket the room closed stays in getWebSockets() until its client answers the close: without its
    // attachment, an object rebuilt meanwhile (hibernation) does not register it again.
    socket.serializeAttachment(null);
    const left = this.sockets.remove(socket);
    if (left === undefined) return undefined;
    this.write(left, "UPDATE participants SET disconnected_at = ? WHERE id = ?", now, left);
    // Nobody was told of someone who only waited.
    if (!this.isHeld(left)) this.changes.leave(left, reason, this.groupOf(left));
    return left;
  }

  /** Forgets a participant whose resumption window passed without a reconnect. */
  expire(participantId: string, now: number, windowMs: number): boolean {
    if (this.isConnected(participantId)) return false;
    const row = this.row(participantId);
    if (!row || row.disconnected_at === null || now - row.disconnected_at < windowMs) return false;
    this.resumptions.forget(participantId);
    // Registered users keep their row (their role survives); guests are gone for good.
    if (row.kind === "guest") {
      this.sql.exec("DELETE FROM participants WHERE id = ?", participantId);
      this.rows.delete(participantId);
      this.descriptions.delete(participantId);
      this.placeInGroup(participantId, undefined);
    }
    return true;
  }

  /** The participant a resumption token belongs to, if it is still within the resumption window. */
  resume(hash: string, now: number, windowMs: number): string | undefined {
    const participantId = this.resumptions.participantOf(hash);
    if (participantId === undefined || this.isPresent(participantId, now, windowMs)) return participantId;
    return undefined;
  }

  /** Queues a control.update for a connected participant whose public state changed. */
  changed(participantId: string): void {
    this.descriptions.delete(participantId);
    if (this.isConnected(participantId) && !this.isHeld(participantId)) this.changes.update(participantId);
  }

  /** A participant's live sockets with their attachments. */
  socketsWithConnections(participantId: string): LiveSocket[] {
    return this.sockets.of(participantId);
  }

  connectionsOf(participantId: string): Connection[] {
    return this.sockets.of(participantId).map((s) => s.connection);
  }

  /** Connections of everyone admitted (not held). */
  connections(): Connection[] {
    return this.sockets.connections((participantId) => !this.heldIds.has(participantId));
  }

  /** The participant a registered socket belongs to. */
  participantOf(socket: WebSocket): string | undefined {
    return this.sockets.connection(socket)?.participantId;
  }

  /** A registered socket's connection (undefined once it left the roster). */
  connectionOf(socket: WebSocket): Connection | undefined {
    return this.sockets.connection(socket);
  }

  /** Whether a socket belongs to someone held in the waiting room (who gets no room traffic). */
  private heldSocket(socket: WebSocket): boolean {
    const participantId = this.sockets.connection(socket)?.participantId;
    return participantId !== undefined && this.heldIds.has(participantId);
  }

  private row(participantId: string): ParticipantRow | undefined {
    const cached = this.rows.get(participantId);
    if (cached) return cached;
    const row = this.sql.exec<ParticipantRow>("SELECT * FROM participants WHERE id = ?", participantId).toArray()[0];
    if (row) this.rows.set(participantId, row);
    return row;
  }

  /**
   * Inserts or updates one participant's row and keeps what the change made of it (a statement that matched nothing
   * changed nothing); the cached description goes. The statement gets `RETURNING *` here.
   */
  private write(participantId: string, query: string, ...bindings: SqlStorageValue[]): ParticipantRow[] {
    const rows = this.sql.exec<ParticipantRow>(`${query} RETURNING *`, ...bindings).toArray();
    if (rows.length === 0) return rows;
    this.descriptions.delete(participantId);
    this.rows.set(participantId, rows[0]!);
    return rows;
  }

  /** Every cached row and description goes (the table changed behind this class: a rollback). */
  forgetRows(): void {
    this.rows.clear();
    this.descriptions.clear();
  }
}
