import { DurableObject } from "cloudflare:workers";
import {
  CloseCode,
  type CreateInviteRequest,
  fail,
  type Invite,
  type InviteList,
  type ModerationLog,
  type ModerationLogQuery,
  ok,
  type Result,
  type Room,
  type RoomDiagnostics,
  type StartInvitedRequest,
  type StartRequest,
  type StartResponse,
  type VoteList,
  type VoteProtocol,
} from "../../src/protocol";
import { type Config, readConfig } from "../../src/shared/config";
import { errorResponse } from "../../src/shared/http";
import { logFailure } from "../../src/shared/log";
import { roomIndexOf } from "../../src/shared/objects";
import type { Principal } from "../../src/shared/principal";
import { randomToken } from "../../src/shared/secrets";
import type { SfuPin } from "../sfu-pool";
import { Dispatcher } from "./dispatch";
import { Entrance, participantIdFor, ROSTER_TIMERS, type TurnAdmission } from "./entrance";
import { ModuleHost } from "./host";
import { migrate } from "./migrations";
import type { RoomModule, RosterView } from "./module";
import { ROOM_MODULES } from "./modules";
import type { Actor } from "./modules/moderation/log";
import { Presence } from "./presence";
import { Roster } from "./roster";
import { Scheduler } from "./scheduler";
import { type CreateRoomInput, Settings, type UpdateRoomInput } from "./settings";
import { Transport } from "./transport";

export type { CreateRoomInput, UpdateRoomInput } from "./settings";

/**
 * One room: the Durable Object shell. The worker calls the RPC methods below after authenticating and validating;
 * only the upgrade arrives as fetch. The core (settings, entrance, roster, presence, transport, dispatch,
 * scheduler) runs the protocol modules of `ROOM_MODULES`, which hold every feature.
 */
export class RoomObject extends DurableObject<Env> {
  private readonly config: Config;
  private readonly sql: SqlStorage;
  private readonly settings: Settings;
  private readonly scheduler: Scheduler;
  private readonly transport: Transport;
  private readonly presence: Presence;
  private readonly entrance: Entrance;
  private readonly dispatcher: Dispatcher;
  private roster: Roster;
  private host: ModuleHost;
  /** Identifies this construction of the object (hibernation and restarts build a new one). */
  private readonly instance = { id: randomToken(12), startedAt: Date.now() };
  /** A deletion is under way (see `remove`). */
  private deleting = false;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = readConfig(env);
    this.sql = ctx.storage.sql;
    this.migrateAll();
    this.settings = new Settings(this.sql, this.config);
    this.roster = new Roster(this.sql, ctx.getWebSockets(), Date.now());
    this.scheduler = new Scheduler(ctx.storage, (owner) =>
      owner === ROSTER_TIMERS ? (id) => this.entrance.expire(id) : this.host.timerHandler(owner),
    );
    // Late-bound: `remove` rebuilds the roster and the modules over the wiped storage.
    const roster = () => this.roster;
    const host = () => this.host;
    this.transport = new Transport(roster);
    this.presence = new Presence(roster, this.transport, host, this.config.PRESENCE_BATCH_MS);
    this.entrance = new Entrance({
      config: this.config,
      sql: this.sql,
      state: ctx,
      settings: this.settings,
      roster,
      host,
      presence: this.presence,
      transport: this.transport,
      scheduler: this.scheduler,
    });
    const transport = this.transport;
    const rolledBack = () => {
      this.roster.forgetRows();
      this.settings.forget();
    };
    this.dispatcher = new Dispatcher({
      config: this.config,
      storage: ctx.storage,
      roster,
      host,
      transport,
      rolledBack,
    });
    this.host = this.buildHost();
    void this.host.run("loaded", []);
    const vanished = this.roster.vanished;
    if (vanished.length > 0) void ctx.blockConcurrencyWhile(() => this.entrance.recover(vanished));
    void this.enrol();
  }

  // ── RPC from the worker ─────────────────────────────

  /** Creates the room, counted against its owner's quota in the room index. */
  async create(principal: Principal, input: CreateRoomInput): Promise<Result<Room>> {
    const allowed = this.settings.creatable(principal, input);
    if (!allowed.ok) return allowed;
    const owner = { ...principal, userKey: allowed.value.userKey };
    const indexed = await roomIndexOf(this.env).add({ id: input.id, tenant: owner.tenant, ownerKey: owner.userKey });
    if (!indexed.ok) return indexed;
    const room = this.settings.create(owner, input);
    this.settings.markIndexed();
    return ok(room);
  }

  info(principal: Principal): Result<Room> {
    const room = this.settings.visibleTo(principal);
    return room.ok ? ok(this.settings.describe(room.value, principal)) : room;
  }

  /** Changes the room's settings; a new waiting-room setting applies at once, as `moderation.set_waiting_room`. */
  async update(principal: Principal, input: UpdateRoomInput): Promise<Result<Room>> {
    const before = this.settings.row();
    // Named before the change is written: nothing may run between writing the setting and applying it.
    const actor = before && (await this.actorOf(principal));
    const updated = this.settings.update(principal, input);
    if (updated.ok && actor && input.waitingRoom !== undefined && input.waitingRoom !== before.waiting_room) {
      await this.host.services().moderation.waitingRoomChanged(actor, input.waitingRoom);
    }
    return updated;
  }

  /** The moderation log: for the owner, the room's moderators and operators. */
  async moderationLog(principal: Principal, query: ModerationLogQuery): Promise<Result<ModerationLog>> {
    const reader = await this.readerOf(principal);
    if (!reader.ok) return reader;
    if (!reader.value.chair) {
      return fail("insufficient_permissions", "only the room's owner, its moderators and operators read the log");
    }
    return ok(this.host.services().moderation.readLog(query.before, query.limit));
  }

  /** The room's votes: all of them for the owner, moderators and operators; for others those they could vote in. */
  async votes(principal: Principal): Promise<Result<VoteList>> {
    const reader = await this.readerOf(principal);
    if (!reader.ok) return reader;
    const votes = this.host.services().legal_vote;
    if (reader.value.chair) return ok({ votes: votes.list() });
    const own = reader.value.participantId === undefined ? [] : votes.list(reader.value.participantId);
    if (own.length === 0) return fail("insufficient_permissions", "you were not eligible in any vote of this room");
    return ok({ votes: own });
  }

  /** An ended vote's signed protocol: for the owner, moderators, operators and the vote's eligible voters. */
  async voteProtocol(principal: Principal, voteId: string): Promise<Result<VoteProtocol>> {
    const reader = await this.readerOf(principal);
    if (!reader.ok) return reader;
    const votes = this.host.services().legal_vote;
    const eligible = votes.eligibleIn(voteId, reader.value.participantId);
    if (eligible === undefined) return fail("not_found", "no such vote in this room");
    if (!eligible && !reader.value.chair) {
      return fail("insufficient_permissions", "only the room's chairs, operators and the vote's voters read it");
    }
    return votes.protocol(voteId);
  }

  diagnostics(principal: Principal): Result<RoomDiagnostics> {
    if (!principal.operator) return fail("insufficient_permissions", "operators only");
    const room = this.settings.visibleTo(principal);
    if (!room.ok) return room;
    return ok({
      room_id: room.value.id,
      instance_id: this.instance.id,
      instance_started_at: new Date(this.instance.startedAt).toISOString(),
      connections: this.ctx.getWebSockets().length,
      participants_connected: this.roster.connectedCount(),
      participants_stored: this.roster.storedCount(),
    });
  }

  /**
   * Deletes the room: everyone is disconnected with a close code that tells clients not to retry. Vote protocols
   * are records: a room that holds any is deleted only when `eraseVotes` says so (a running vote is canceled).
   */
  async remove(principal: Principal, eraseVotes = false): Promise<Result<null>> {
    const room = this.settings.managedBy(principal);
    if (!room.ok) return room;
    const votes = this.host.services().legal_vote;
    if (votes.hasRecords() && !eraseVotes) {
      return fail("votes_retained", "the room holds vote protocols; delete with erase_votes=true to erase them too");
    }
    // Until the storage is gone, the closed sockets' sessions get no TURN and no upgrade gets in.
    this.deleting = true;
    try {
      await votes.roomDeleted();
      for (const socket of this.ctx.getWebSockets()) {
        this.transport.close(socket, CloseCode.roomDeleted, "room deleted");
        // As in the roster's disconnect: an object rebuilt before the client answers must not take it back.
        socket.serializeAttachment(null);
      }
      await roomIndexOf(this.env).remove(room.value.id);
      await this.host.run("deleted", []);
      this.presence.cancel();
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
      this.settings.forget();
      this.scheduler.reset();
      this.migrateAll();
      this.roster = new Roster(this.sql, [], Date.now());
      this.host = this.buildHost();
      return ok(null);
    } finally {
      this.deleting = false;
    }
  }

  createInvite(principal: Principal, request: CreateInviteRequest): Promise<Result<Invite>> {
    return this.settings.createInvite(principal, request);
  }

  listInvites(principal: Principal): Result<InviteList> {
    return this.settings.listInvites(principal);
  }

  revokeInvite(principal: Principal, inviteId: string): Result<null> {
    return this.settings.revokeInvite(principal, inviteId);
  }

  start(principal: Principal, request: StartRequest): Promise<Result<StartResponse>> {
    return this.entrance.start(principal, request);
  }

  startInvited(request: StartInvitedRequest): Promise<Result<StartResponse>> {
    return this.entrance.startInvited(request);
  }

  turnRequest(tenant: string, participantId: string, connectionId: string): TurnAdmission {
    if (this.deleting) return fail("unauthorized", "the room is being deleted");
    return this.entrance.turnRequest(tenant, participantId, connectionId);
  }

  /** The SFU pool moved this room off a lost node (`pin` null: no node could take it). */
  async sfuMoved(pin: SfuPin | null, reason: "dead" | "removed"): Promise<void> {
    if (this.settings.row()) await this.host.services().media.sfuMoved(pin, reason);
  }

  /** Seals the room's stored secrets again under the first STATE_ENCRYPTION_KEY key (operator rotation). */
  reseal(): Promise<number> {
    return this.host.services().media.reseal();
  }

  // ── Signalling connections (WebSocket Hibernation API) ───────────────────

  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
      return errorResponse("invalid_request", "expected a WebSocket upgrade");
    }
    if (this.deleting) return errorResponse("not_found", "the room is being deleted");
    return this.entrance.upgrade(request);
  }

  override webSocketMessage(socket: WebSocket, message: string | ArrayBuffer): Promise<void> {
    return this.dispatcher.message(socket, message);
  }

  override async webSocketClose(socket: WebSocket, code: number): Promise<void> {
    // Complete the closing handshake; 1005/1006 only describe a missing code and cannot be sent back.
    this.transport.close(socket, code === 1005 || code === 1006 ? 1000 : code, "");
    await this.entrance.disconnected(socket, code === 1000 || code === 1001 ? "quit" : "disconnected");
  }

  override async webSocketError(socket: WebSocket): Promise<void> {
    await this.entrance.disconnected(socket, "disconnected");
  }

  override async alarm(): Promise<void> {
    await this.scheduler.runDue(Date.now());
  }

  // ── Wiring ─────────────────────────────────

  /**
   * Who reads a room's records: a chair (its owner, a moderator, or an operator) or not, and their participant id
   * in this room (registered users). Another tenant's room is not found.
   */
  private async readerOf(principal: Principal): Promise<Result<{ chair: boolean; participantId?: string }>> {
    const room = this.settings.visibleTo(principal);
    if (!room.ok) return room;
    const userKey = principal.userKey;
    const participantId = userKey === null ? undefined : await participantIdFor(room.value.id, userKey);
    const owner = userKey !== null && room.value.owner_key === userKey;
    const moderator = participantId !== undefined && this.roster.member(participantId)?.role === "moderator";
    return ok({ chair: principal.operator || owner || moderator, participantId });
  }

  /** Who a REST change is logged as: the owner's participant in this room, or the operator. */
  private async actorOf(principal: Principal): Promise<Actor> {
    const room = this.settings.row()!;
    if (!principal.userKey) return { participantId: null, displayName: `operator ${principal.subject}` };
    const participantId = await participantIdFor(room.id, principal.userKey);
    return { participantId, displayName: this.roster.member(participantId)?.displayName ?? principal.name ?? "" };
  }

  /** A room from before the room index existed registers itself once (outside the quota: it exists already). */
  private async enrol(): Promise<void> {
    const room = this.settings.row();
    if (!room || room.indexed === 1) return;
    try {
      await roomIndexOf(this.env).enrol({ id: room.id, tenant: room.tenant, ownerKey: room.owner_key });
      this.settings.markIndexed();
    } catch (error) {
      logFailure("the room could not enrol in the room index", error, "warn");
    }
  }

  private migrateAll(): void {
    migrate(this.sql, "room", Settings.migrations);
    migrate(this.sql, "roster", Roster.migrations);
    migrate(this.sql, "scheduler", Scheduler.migrations);
    for (const module of ROOM_MODULES) migrate(this.sql, `module:${module.namespace}`, module.migrations);
  }

  /** The roster as modules may read it (always the current one). */
  private rosterProxy(): RosterView {
    return {
      member: (id) => this.roster.member(id),
      connectionsOf: (id) => this.roster.connectionsOf(id),
      connections: () => this.roster.connections(),
      connectedCount: () => this.roster.connectedCount(),
      admittedCount: () => this.roster.admittedCount(),
      held: () => this.roster.held(),
      admitted: () => this.roster.admitted(),
      present: (id) => this.roster.isPresent(id, Date.now(), this.config.RESUMPTION_WINDOW_SECONDS * 1000),
      inRoom: () => this.roster.inRoom(Date.now(), this.config.RESUMPTION_WINDOW_SECONDS * 1000),
      groupOf: (id) => this.roster.groupOf(id),
    };
  }

  private buildHost(modules: readonly RoomModule[] = ROOM_MODULES): ModuleHost {
    return new ModuleHost(modules, {
      config: this.config,
      env: this.env,
      sql: this.sql,
      scheduler: this.scheduler,
      roster: this.rosterProxy(),
      info: () => {
        const room = this.settings.row();
        if (!room) throw new Error("room does not exist");
        return { id: room.id, tenant: room.tenant, waitingRoom: room.waiting_room };
      },
      sync: () => this.ctx.storage.sync(),
      emit: (target, namespace, event, echo) => this.transport.emit(target, namespace, event, echo),
      capabilities: {
        setRole: async (id, role) => {
          const from = this.roster.setRole(id, role);
          if (from === undefined) return false;
          this.presence.schedule();
          await this.host.run("roleChanged", [id, from, role]);
          return true;
        },
        remove: (id, code, reason, forget = false) => this.entrance.remove(id, code, reason, forget),
        voidTickets: () => this.roster.voidTickets(),
        hold: (id) => this.entrance.hold(id),
        release: (id) => this.entrance.release(id),
        setGroup: (id, group) => this.entrance.move(id, group),
        refresh: (id) => this.entrance.refresh(id),
        presenceChanged: (id) => {
          this.roster.changed(id);
          this.presence.schedule();
        },
        rename: (id, name) => {
          const renamed = this.roster.rename(id, name);
          if (renamed) this.presence.schedule();
          return renamed;
        },
        revokeInviteOf: (id) => {
          const invite = this.roster.inviteOf(id);
          return invite !== null && this.settings.revoke(invite);
        },
        setWaitingRoom: (mode) => this.settings.setWaitingRoom(mode),
      },
    });
  }
}
