import { DurableObject } from "cloudflare:workers";
import {
  ClientFrameSchema,
  CloseCode,
  type ErrorCode,
  fail,
  type Invite,
  ok,
  parseSubprotocols,
  type Result,
  type Room,
  type RoomDiagnostics,
  type StartInvitedRequest,
  type StartRequest,
  type StartResponse,
  SUBPROTOCOL,
  type WaitingRoom,
} from "../../src/protocol";
import { type Config, readConfig } from "../../src/shared/config";
import { errorResponse } from "../../src/shared/http";
import { verifyPassword } from "../../src/shared/password";
import type { Principal } from "../../src/shared/principal";
import { REGION_HEADER } from "../../src/shared/region";
import { randomToken, sha256 } from "../../src/shared/secrets";
import { TokenBucket } from "../../src/shared/token-bucket";
import type { SfuPin } from "../sfu-pool";
import { migrate } from "./migrations";
import type { Connection, EventPayload, RoomApi, RoomModule, Sender } from "./module";
import { chat } from "./modules/chat";
import { control } from "./modules/control";
import { endMedia, media, sfuMoved } from "./modules/media";
import { moderation, waitingChanged } from "./modules/moderation";
import { turn } from "./modules/turn";
import { type ConnectionAttachment, type LeaveReason, Roster } from "./roster";
import { Scheduler } from "./scheduler";

/** The room's protocol namespaces. A new namespace is one more module file and one more entry here. */
const MODULES: readonly RoomModule[] = [control, chat, turn, media, moderation];

const ROOM_MIGRATIONS = [
  `CREATE TABLE room (id TEXT NOT NULL, tenant TEXT NOT NULL, owner_key TEXT NOT NULL, name TEXT NOT NULL,
    password_hash TEXT, waiting_room TEXT NOT NULL, created_at INTEGER NOT NULL)`,
  "CREATE TABLE tickets (hash TEXT PRIMARY KEY, participant_id TEXT NOT NULL, expires_at INTEGER NOT NULL)",
  "CREATE TABLE invites (hash TEXT PRIMARY KEY, created_at INTEGER NOT NULL, expires_at INTEGER)",
] as const;

interface RoomRow extends Record<string, SqlStorageValue> {
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

/** Timer owner of the roster: forgets participants whose resumption window has passed. */
const ROSTER_TIMERS = "roster";

/** A registered user's participant id is stable per room and reveals nothing about the user. */
async function participantIdFor(roomId: string, userKey: string): Promise<string> {
  return (await sha256(`participant\n${roomId}\n${userKey}`)).slice(0, 22);
}

/**
 * One room: its settings, participants, signalling connections (WebSocket Hibernation API) and protocol modules.
 * The worker calls the RPC methods below after authenticating and validating; only the upgrade arrives as fetch.
 */
export class RoomObject extends DurableObject<Env> {
  private readonly config: Config;
  private readonly sql: SqlStorage;
  private readonly modules = new Map(MODULES.map((m) => [m.namespace, m]));
  private readonly scheduler: Scheduler;
  private readonly buckets = new WeakMap<WebSocket, TokenBucket>();
  private readonly api: RoomApi;
  private roster: Roster;
  private presenceTimer: ReturnType<typeof setTimeout> | undefined;
  /** Identifies this construction of the object (hibernation and restarts build a new one). */
  private readonly instance = { id: randomToken(12), startedAt: Date.now() };

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = readConfig(env);
    this.sql = ctx.storage.sql;
    this.migrateAll();
    this.roster = new Roster(this.sql, ctx.getWebSockets(), Date.now());
    const timerOwners = new Map<string, (key: string, data: unknown) => void | Promise<void>>([
      [ROSTER_TIMERS, (participantId) => this.roster.expire(participantId, Date.now(), this.resumptionWindowMs)],
    ]);
    for (const module of MODULES) {
      const onTimer = module.onTimer;
      if (onTimer) timerOwners.set(module.namespace, (key, data) => onTimer(this.api, key, data));
    }
    this.scheduler = new Scheduler(ctx.storage, timerOwners);
    this.api = {
      sql: this.sql,
      config: this.config,
      env,
      now: () => Date.now(),
      room: () => {
        const room = this.room();
        if (!room) throw new Error("room does not exist");
        return { id: room.id, tenant: room.tenant };
      },
      connectionsOf: (id) => this.roster.connectionsOf(id).map((c) => c.connection),
      connections: () => this.roster.connections(),
      connectedCount: () => this.roster.connectedCount(),
      sendTo: (connection, namespace, payload) => {
        const target = this.roster
          .connectionsOf(connection.participantId)
          .find((c) => c.connection.connectionId === connection.connectionId);
        if (target) this.send(target.socket, namespace, payload);
      },
      participant: (id) => this.roster.get(id),
      waiting: () => this.roster.waiting(),
      letIn: (id) => this.letIn(id),
      turnAway: (id) => {
        if (!this.roster.isWaiting(id) || !this.roster.isConnected(id)) return false;
        for (const { socket } of this.roster.connectionsOf(id))
          this.closeSocket(socket, CloseCode.kicked, "not admitted");
        return true;
      },
      setHandRaised: (id, at) => {
        this.roster.setHandRaised(id, at);
        this.schedulePresence();
      },
      broadcast: (namespace, payload, sender) => this.broadcast(namespace, payload, sender),
      reply: (sender, namespace, payload) => this.send(sender.socket, namespace, payload, sender.transactionId),
      schedule: (owner, key, dueAt, data) => this.scheduler.schedule(owner, key, dueAt, data),
      cancel: (owner, key) => this.scheduler.cancel(owner, key),
    };
    for (const module of MODULES) module.onLoad?.(this.api);
  }

  // ── RPC from the worker ────────────────────────────────────────────────────────────────────────────────────

  create(principal: Principal, input: CreateRoomInput): Result<Room> {
    if (!principal.userKey) return fail("insufficient_permissions", "rooms are created by users");
    if (this.room()) return fail("conflict", "room exists");
    this.sql.exec(
      "INSERT INTO room (id, tenant, owner_key, name, password_hash, waiting_room, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
      input.id,
      principal.tenant,
      principal.userKey,
      input.name,
      input.passwordHash,
      input.waitingRoom,
      Date.now(),
    );
    return ok(this.describe(this.room()!, principal));
  }

  info(principal: Principal): Result<Room> {
    const room = this.visibleTo(principal);
    return room.ok ? ok(this.describe(room.value, principal)) : room;
  }

  diagnostics(principal: Principal): Result<RoomDiagnostics> {
    if (!principal.operator) return fail("insufficient_permissions", "operators only");
    const room = this.visibleTo(principal);
    if (!room.ok) return room;
    return ok({
      room_id: room.value.id,
      instance_id: this.instance.id,
      instance_started_at: new Date(this.instance.startedAt).toISOString(),
      connections: this.ctx.getWebSockets().length,
      participants_connected: this.roster.connectedCount(),
    });
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
    return ok(this.describe(this.room()!, principal));
  }

  /** Deletes the room: everyone is disconnected with a close code that tells clients not to retry. */
  async remove(principal: Principal): Promise<Result<null>> {
    const room = this.managedBy(principal);
    if (!room.ok) return room;
    for (const socket of this.ctx.getWebSockets()) this.closeSocket(socket, CloseCode.roomDeleted, "room deleted");
    await endMedia(this.api);
    if (this.presenceTimer !== undefined) clearTimeout(this.presenceTimer);
    this.presenceTimer = undefined;
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.scheduler.reset();
    this.migrateAll();
    this.roster = new Roster(this.sql, [], Date.now());
    return ok(null);
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

  /** A registered user asks to join: checks the password unless they own the room, then issues a ticket. */
  async start(principal: Principal, request: StartRequest): Promise<Result<StartResponse>> {
    const room = this.visibleTo(principal);
    if (!room.ok) return room;
    if (!principal.userKey) return fail("insufficient_permissions", "the operator token cannot join rooms");
    const owner = room.value.owner_key === principal.userKey;
    if (!owner) {
      const denied = await this.checkPassword(room.value, request.password);
      if (denied) return denied;
    }
    const participantId = await participantIdFor(room.value.id, principal.userKey);
    const now = Date.now();
    this.admit({
      id: participantId,
      kind: "user",
      userKey: principal.userKey,
      displayName: request.display_name ?? principal.name ?? "Participant",
      defaultRole: owner ? "owner" : "user",
      mustWait: room.value.waiting_room === "everyone",
      now,
    });
    return ok(await this.issueTicket(participantId, now));
  }

  /** A guest joins with an invite code; a valid resumption token gives back the guest's earlier id. */
  async startInvited(request: StartInvitedRequest): Promise<Result<StartResponse>> {
    const room = this.room();
    if (!room) return fail("not_found", "no such room");
    const now = Date.now();
    const invite = this.sql
      .exec<{ expires_at: number | null }>(
        "SELECT expires_at FROM invites WHERE hash = ?",
        await sha256(request.invite_code),
      )
      .toArray()[0];
    if (!invite || (invite.expires_at !== null && invite.expires_at < now)) {
      return fail("invalid_invite", "invite code unknown or expired");
    }
    const denied = await this.checkPassword(room, request.password);
    if (denied) return denied;
    const resumed =
      request.resumption && this.roster.resume(await sha256(request.resumption), now, this.resumptionWindowMs);
    const participantId = resumed && this.roster.get(resumed)?.kind === "guest" ? resumed : randomToken(16);
    this.admit({
      id: participantId,
      kind: "guest",
      userKey: null,
      displayName: request.display_name,
      defaultRole: "guest",
      mustWait: room.waiting_room !== "disabled",
      now,
    });
    return ok(await this.issueTicket(participantId, now));
  }

  /** Whether a room session token still speaks for someone in this room (for REST calls such as GET /v1/turn). */
  sessionValid(tenant: string, participantId: string): boolean {
    const room = this.room();
    if (!room || room.tenant !== tenant) return false;
    return this.roster.isPresent(participantId, Date.now(), this.resumptionWindowMs);
  }

  /** The SFU pool moved this room off a lost node (`pin` null: no node could take it). */
  async sfuMoved(pin: SfuPin | null, reason: "dead" | "removed"): Promise<void> {
    if (this.room()) await sfuMoved(this.api, pin, reason);
  }

  // ── Signalling connections ─────────────────────────────────────────────────────────────────────────────────

  /** The WebSocket upgrade; the worker has already checked Origin and the offered subprotocol. */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return errorResponse("invalid_request", "expected a WebSocket upgrade");
    }
    const { ticket } = parseSubprotocols(request.headers.get("sec-websocket-protocol"));
    const now = Date.now();
    const claimed =
      ticket && this.room()
        ? this.sql
            .exec<{ participant_id: string; expires_at: number }>(
              "DELETE FROM tickets WHERE hash = ? RETURNING participant_id, expires_at",
              await sha256(ticket),
            )
            .toArray()[0]
        : undefined;
    const participant = claimed && claimed.expires_at >= now ? this.roster.get(claimed.participant_id) : undefined;
    if (!participant) return errorResponse("invalid_ticket", "ticket unknown, used or expired");

    const connection: Connection = {
      participantId: participant.participant_id,
      connectionId: randomToken(12),
      region: request.headers.get(REGION_HEADER) ?? undefined,
    };
    const { 0: client, 1: server } = new WebSocketPair();
    const response = new Response(null, {
      status: 101,
      webSocket: client,
      headers: { "sec-websocket-protocol": SUBPROTOCOL },
    });
    if (this.roster.isWaiting(participant.participant_id)) {
      this.ctx.acceptWebSocket(server);
      this.roster.connect(server, connection, Date.now());
      this.send(server, "moderation", { message: "in_waiting_room", display_name: participant.display_name });
      waitingChanged(this.api);
      return response;
    }
    // Module states may need other objects (TURN credentials): gather them before the socket exists, so no frame
    // of this connection is handled before its join_success is sent.
    const modules = await this.moduleStates(connection);
    this.ctx.acceptWebSocket(server);
    const joined = this.roster.connect(server, connection, Date.now());
    this.welcome(server, participant.participant_id, modules);
    if (joined) this.schedulePresence();
    return response;
  }

  override async webSocketMessage(socket: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const attachment = socket.deserializeAttachment() as ConnectionAttachment | null;
    if (!attachment) return this.closeSocket(socket, 1011, "unknown connection");
    const now = Date.now();
    const bucket = this.bucketOf(socket, now);
    if (!bucket.take(now)) {
      if (bucket.strikes > this.config.RATE_LIMIT_STRIKES) {
        return this.closeSocket(socket, CloseCode.rateLimited, "rate limit exceeded");
      }
      return this.sendError(
        socket,
        "control",
        undefined,
        "rate_limited",
        "slow down: at most the configured messages per second",
      );
    }
    if (typeof message !== "string") {
      return this.sendError(socket, "control", undefined, "invalid_frame", "frames are JSON text");
    }
    if (exceedsBytes(message, this.config.MAX_FRAME_BYTES)) {
      return this.sendError(
        socket,
        "control",
        undefined,
        "frame_too_large",
        `frames are at most ${this.config.MAX_FRAME_BYTES} bytes`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(message);
    } catch {
      return this.sendError(socket, "control", undefined, "invalid_json", "frame is not JSON");
    }
    const frame = ClientFrameSchema.safeParse(json);
    if (!frame.success) {
      const issue = frame.error.issues[0];
      return this.sendError(
        socket,
        "control",
        undefined,
        "invalid_frame",
        `${issue?.path.join(".") || "frame"}: ${issue?.message}`,
      );
    }
    const { namespace, payload, transaction_id: transactionId } = frame.data;
    const module = this.modules.get(namespace);
    if (!module)
      return this.sendError(socket, "control", transactionId, "unknown_namespace", `no namespace ${namespace}`);
    const roles = module.rolesFor(payload.action);
    if (!roles)
      return this.sendError(socket, namespace, transactionId, "unknown_action", `no action ${payload.action}`);
    const role = this.roster.role(attachment.participantId);
    if (!role) return this.closeSocket(socket, CloseCode.kicked, "participant removed");
    if (this.roster.isWaiting(attachment.participantId)) {
      return this.sendError(
        socket,
        namespace,
        transactionId,
        "insufficient_permissions",
        "you are in the waiting room until a moderator lets you in",
      );
    }
    if (!roles.includes(role)) {
      return this.sendError(
        socket,
        namespace,
        transactionId,
        "insufficient_permissions",
        `${role} may not ${payload.action}`,
      );
    }
    const sender: Sender = { ...attachment, role, socket, transactionId };
    const failure = await module.execute(this.api, sender, payload);
    if (failure) this.sendError(socket, namespace, transactionId, failure.error, failure.text);
  }

  override async webSocketClose(socket: WebSocket, code: number): Promise<void> {
    // Complete the closing handshake; 1005/1006 only describe a missing code and cannot be sent back.
    this.closeSocket(socket, code === 1005 || code === 1006 ? 1000 : code, "");
    await this.disconnected(socket, code === 1000 || code === 1001 ? "quit" : "disconnected");
  }

  override async webSocketError(socket: WebSocket): Promise<void> {
    await this.disconnected(socket, "disconnected");
  }

  override async alarm(): Promise<void> {
    await this.scheduler.runDue(Date.now());
  }

  // ── Internals ──────────────────────────────────────────────────────────────────────────────────────────────

  private get resumptionWindowMs(): number {
    return this.config.RESUMPTION_WINDOW_SECONDS * 1000;
  }

  private migrateAll(): void {
    migrate(this.sql, "room", ROOM_MIGRATIONS);
    migrate(this.sql, "roster", Roster.migrations);
    migrate(this.sql, "scheduler", Scheduler.migrations);
    for (const module of MODULES) migrate(this.sql, `module:${module.namespace}`, module.migrations);
  }

  private room(): RoomRow | undefined {
    return this.sql.exec<RoomRow>("SELECT * FROM room").toArray()[0];
  }

  /** Rooms of other tenants answer exactly like rooms that do not exist. */
  private visibleTo(principal: Principal): Result<RoomRow> {
    const room = this.room();
    if (!room || (room.tenant !== principal.tenant && !principal.operator)) return fail("not_found", "no such room");
    return ok(room);
  }

  private managedBy(principal: Principal): Result<RoomRow> {
    const room = this.visibleTo(principal);
    if (room.ok && !principal.operator && room.value.owner_key !== principal.userKey) {
      return fail("insufficient_permissions", "only the room's owner may do this");
    }
    return room;
  }

  private describe(room: RoomRow, principal: Principal): Room {
    return {
      id: room.id,
      name: room.name,
      has_password: room.password_hash !== null,
      waiting_room: room.waiting_room,
      created_at: new Date(room.created_at).toISOString(),
      is_owner: room.owner_key === principal.userKey,
    };
  }

  private async checkPassword(room: RoomRow, password: string | undefined) {
    if (room.password_hash === null) return undefined;
    if (password !== undefined && (await verifyPassword(password, room.password_hash))) return undefined;
    return fail("invalid_password", password === undefined ? "this room needs a password" : "wrong password");
  }

  /** Admits a participant; a connected one renamed by another device's start is announced to everyone. */
  private admit(input: Parameters<Roster["admit"]>[0]): void {
    if (this.roster.admit(input)) this.schedulePresence();
  }

  private async issueTicket(participantId: string, now: number): Promise<StartResponse> {
    const ticket = randomToken(32);
    const resumption = randomToken(32);
    const expiresAt = now + this.config.TICKET_TTL_SECONDS * 1000;
    this.sql.exec("DELETE FROM tickets WHERE expires_at < ?", now);
    this.sql.exec(
      "INSERT INTO tickets (hash, participant_id, expires_at) VALUES (?, ?, ?)",
      await sha256(ticket),
      participantId,
      expiresAt,
    );
    this.roster.addResumption(participantId, await sha256(resumption), now);
    if (!this.roster.isConnected(participantId)) {
      // A participant who never connects is forgotten once the ticket and the resumption window have passed.
      await this.scheduler.schedule(ROSTER_TIMERS, participantId, expiresAt + this.resumptionWindowMs);
    }
    return { ticket, resumption, participant_id: participantId, ticket_expires_at: new Date(expiresAt).toISOString() };
  }

  private async moduleStates(connection: Connection): Promise<Record<string, unknown>> {
    const modules: Record<string, unknown> = {};
    for (const module of MODULES) {
      if (module.joinState) modules[module.namespace] = await module.joinState(this.api, connection);
    }
    return modules;
  }

  private welcome(socket: WebSocket, participantId: string, modules: Record<string, unknown>): void {
    const participant = this.roster.get(participantId)!;
    this.send(socket, "control", {
      message: "join_success",
      participant_id: participantId,
      role: participant.role,
      display_name: participant.display_name,
      participants: this.roster.online(participantId),
      modules,
    });
  }

  /** A moderator lets someone in: each of their waiting connections gets its join_success, everyone a joined. */
  private async letIn(participantId: string): Promise<boolean> {
    const waiting = this.roster.isWaiting(participantId) ? this.roster.connectionsOf(participantId) : [];
    if (waiting.length === 0) return false;
    const states = await Promise.all(waiting.map((c) => this.moduleStates(c.connection)));
    // Gathering took a moment: only connections still there, and only once.
    if (!this.roster.letIn(participantId)) return false;
    const live = new Set(this.roster.connectionsOf(participantId).map((c) => c.socket));
    for (const [i, c] of waiting.entries()) if (live.has(c.socket)) this.welcome(c.socket, participantId, states[i]!);
    this.schedulePresence();
    waitingChanged(this.api);
    return true;
  }

  private async disconnected(socket: WebSocket, reason: LeaveReason): Promise<void> {
    this.buckets.delete(socket);
    const now = Date.now();
    const connection = socket.deserializeAttachment() as ConnectionAttachment | null;
    // Close and error may both arrive for one socket: only the first counts.
    const live =
      connection !== null && this.roster.connectionsOf(connection.participantId).some((c) => c.socket === socket);
    const waited = connection !== null && this.roster.isWaiting(connection.participantId);
    const left = this.roster.disconnect(socket, reason, now);
    if (waited && left) waitingChanged(this.api);
    if (live) for (const module of MODULES) await module.onClose?.(this.api, connection);
    if (!left) return;
    for (const module of MODULES) await module.onLeave?.(this.api, left);
    this.schedulePresence();
    await this.scheduler.schedule(ROSTER_TIMERS, left, now + this.resumptionWindowMs);
  }

  private bucketOf(socket: WebSocket, now: number): TokenBucket {
    let bucket = this.buckets.get(socket);
    if (!bucket) {
      bucket = new TokenBucket(this.config.RATE_LIMIT_PER_SECOND, this.config.RATE_LIMIT_BURST, now);
      this.buckets.set(socket, bucket);
    }
    return bucket;
  }

  /** Presence changes go out together after a short delay, so a burst of joins or leaves costs one frame each. */
  private schedulePresence(): void {
    if (this.presenceTimer !== undefined) return;
    this.presenceTimer = setTimeout(() => {
      this.presenceTimer = undefined;
      this.flushPresence();
    }, this.config.PRESENCE_BATCH_MS);
  }

  private flushPresence(): void {
    const batch = this.roster.takePresence();
    for (const [reason, participants] of batch.left) {
      this.broadcast("control", { message: "left", participants, reason });
    }
    if (batch.joined.length > 0) {
      // Everyone gets one shared frame; each joiner gets the list without itself.
      const joiners = new Set(batch.joined.map((p) => p.participant_id));
      const shared = this.frame("control", { message: "joined", participants: batch.joined });
      for (const socket of this.ctx.getWebSockets()) {
        if (this.roster.waitingSocket(socket)) continue;
        const own = (socket.deserializeAttachment() as ConnectionAttachment | null)?.participantId;
        if (own === undefined || !joiners.has(own)) {
          this.sendRaw(socket, shared);
          continue;
        }
        const others = batch.joined.filter((p) => p.participant_id !== own);
        if (others.length > 0) this.send(socket, "control", { message: "joined", participants: others });
      }
    }
    for (const participant of batch.updated) this.broadcast("control", { message: "update", participant });
  }

  private frame(namespace: string, payload: EventPayload, transactionId?: number): string {
    return JSON.stringify({ namespace, timestamp: new Date().toISOString(), payload, transaction_id: transactionId });
  }

  private broadcast(namespace: string, payload: EventPayload, sender?: Sender): void {
    const shared = this.frame(namespace, payload);
    const own = sender?.transactionId === undefined ? shared : this.frame(namespace, payload, sender.transactionId);
    for (const socket of this.ctx.getWebSockets()) {
      if (!this.roster.waitingSocket(socket)) this.sendRaw(socket, socket === sender?.socket ? own : shared);
    }
  }

  private send(socket: WebSocket, namespace: string, payload: EventPayload, transactionId?: number): void {
    this.sendRaw(socket, this.frame(namespace, payload, transactionId));
  }

  private sendError(
    socket: WebSocket,
    namespace: string,
    transactionId: number | undefined,
    error: ErrorCode,
    text: string,
  ): void {
    this.send(socket, namespace, { message: "error", error, text }, transactionId);
  }

  private sendRaw(socket: WebSocket, data: string): void {
    try {
      socket.send(data);
    } catch {
      // The socket is closing; its close handler does the bookkeeping.
    }
  }

  private closeSocket(socket: WebSocket, code: number, reason: string): void {
    try {
      socket.close(code, reason);
    } catch {
      // Already closed.
    }
  }
}

function exceedsBytes(text: string, limit: number): boolean {
  // UTF-8 needs 1 to 3 bytes per UTF-16 unit: only frames between the bounds are encoded to measure.
  if (text.length > limit) return true;
  if (text.length * 3 <= limit) return false;
  return new TextEncoder().encode(text).byteLength > limit;
}
