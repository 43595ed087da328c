import {
  fail,
  ok,
  parseSubprotocols,
  type Result,
  type Role,
  type StartInvitedRequest,
  type StartRequest,
  type StartResponse,
  SUBPROTOCOL,
} from "../../src/protocol";
import type { Config } from "../../src/shared/config";
import { errorResponse } from "../../src/shared/http";
import type { Principal } from "../../src/shared/principal";
import { REGION_HEADER } from "../../src/shared/region";
import { randomToken, sha256 } from "../../src/shared/secrets";
import { TokenBucket } from "../../src/shared/token-bucket";
import type { ModuleHost } from "./host";
import type { Candidate, Connection, Member } from "./module";
import type { LeaveReason, Presence } from "./presence";
import type { Roster } from "./roster";
import type { Scheduler } from "./scheduler";
import type { Settings } from "./settings";
import { LIST, type Transport } from "./transport";

/** Timer owner of the roster: forgets participants whose resumption window has passed. */
export const ROSTER_TIMERS = "roster";

/** What letting someone in from the waiting room came to. */
export type Release = "released" | "not_held" | "room_full";
/** The answer to GET /v1/turn's session check; `retryAfter` (seconds) when the session asked too often. */
export type TurnAdmission = Result<null> & { retryAfter?: number };

export interface EntranceDeps {
  config: Config;
  sql: SqlStorage;
  state: DurableObjectState;
  settings: Settings;
  roster: () => Roster;
  host: () => ModuleHost;
  presence: Presence;
  transport: Transport;
  scheduler: Scheduler;
}

/** A registered user's participant id is stable per room and reveals nothing about the user. */
export async function participantIdFor(roomId: string, userKey: string): Promise<string> {
  return (await sha256(`participant\n${roomId}\n${userKey}`)).slice(0, 22);
}

/**
 * The admission pipeline: `start` (password, participant id, the modules' admit hooks, ticket), the WebSocket
 * upgrade (single-use ticket, admit hooks again, join_success or held), letting held participants in, and leaving.
 */
export class Entrance {
  /**
   * GET /v1/turn per connection, a token bucket each, in memory: a count written to storage would hold every answer
   * until the write is durable. A room rebuilt after idle seconds counts afresh, which a flood never lets happen.
   */
  private readonly turnRequests = new Map<string, TokenBucket>();
  private sweepTurnRequestsAt = 1024;

  constructor(private readonly deps: EntranceDeps) {}

  private get roster(): Roster {
    return this.deps.roster();
  }

  private get windowMs(): number {
    return this.deps.config.RESUMPTION_WINDOW_SECONDS * 1000;
  }

  /** A registered user asks to join: checks the password unless they own the room, then issues a ticket. */
  async start(principal: Principal, request: StartRequest): Promise<Result<StartResponse>> {
    const room = this.deps.settings.visibleTo(principal);
    if (!room.ok) return room;
    if (!principal.userKey) return fail("insufficient_permissions", "the operator token cannot join rooms");
    const owner = room.value.owner_key === principal.userKey;
    if (!owner) {
      const denied = await this.deps.settings.checkPassword(room.value, request.password);
      if (!denied.ok) return denied;
    }
    const participantId = await participantIdFor(room.value.id, principal.userKey);
    const displayName = request.display_name ?? principal.name ?? "Participant";
    const role: Role = owner ? "owner" : "user";
    const resumed =
      request.resumption !== undefined &&
      this.roster.resume(await sha256(request.resumption), Date.now(), this.windowMs) === participantId;
    return this.enter(
      participantId,
      { kind: "user", userKey: principal.userKey, displayName, role, inviteId: null },
      resumed,
    );
  }

  /**
   * A guest joins with an invite code. A new guest needs an invite that has neither expired nor been used up, and
   * counts as one use; a guest back within the resumption window keeps their id and needs only that their invite
   * was not revoked (a reconnect mid-meeting must never strand anyone).
   */
  async startInvited(request: StartInvitedRequest): Promise<Result<StartResponse>> {
    const room = this.deps.settings.row();
    if (!room) return fail("not_found", "no such room");
    const now = Date.now();
    const invite = await this.deps.settings.invite(request.invite_code);
    if (!invite) return fail("invalid_invite", "invite code unknown or revoked");
    const hash = request.resumption && (await sha256(request.resumption));
    const returningGuest = () => {
      const resumed = hash && this.roster.resume(hash, Date.now(), this.windowMs);
      const same = resumed && (this.roster.inviteOf(resumed) ?? invite.id) === invite.id;
      return same && this.roster.member(resumed)?.kind === "guest" ? resumed : undefined;
    };
    const usedUp = () => fail("invalid_invite", "invite code expired or used up");
    if (!returningGuest() && !this.deps.settings.usable(invite, now)) return usedUp();
    const denied = await this.deps.settings.checkPassword(room, request.password);
    if (!denied.ok) return denied;
    // Judged again after the password check's wait: a chair may have removed them meanwhile (voiding the token).
    const returning = returningGuest();
    if (!returning && !this.deps.settings.usable(invite, Date.now())) return usedUp();
    // The use is counted once the modules admit the guest (a refused guest costs the invite nothing).
    const claim = returning
      ? undefined
      : () => (this.deps.settings.consumeInvite(invite.id, Date.now()) ? undefined : usedUp());
    return this.enter(
      returning ?? randomToken(16),
      { kind: "guest", userKey: null, displayName: request.display_name, role: "guest", inviteId: invite.id },
      returning !== undefined,
      claim,
    );
  }

  /** The WebSocket upgrade; the worker has already checked Origin and the offered subprotocol. */
  async upgrade(request: Request): Promise<Response> {
    const { ticket } = parseSubprotocols(request.headers.get("sec-websocket-protocol"));
    const hash = ticket && this.deps.settings.row() ? await sha256(ticket) : undefined;
    // Claimed, not yet deleted: while the connection is set up, its ticket still holds the seat it was issued for.
    const claimed =
      hash === undefined
        ? undefined
        : this.deps.sql
            .exec<{ participant_id: string; expires_at: number }>(
              "UPDATE tickets SET used = 1 WHERE hash = ? AND used = 0 RETURNING participant_id, expires_at",
              hash,
            )
            .toArray()[0];
    const spent = () => this.deps.sql.exec("DELETE FROM tickets WHERE hash = ?", hash ?? "");
    const member = claimed && claimed.expires_at >= Date.now() ? this.roster.member(claimed.participant_id) : undefined;
    if (!member) {
      // Only a ticket this upgrade claimed (an expired one) is gone; another upgrade's claim stays.
      if (claimed) spent();
      return errorResponse("invalid_ticket", "ticket unknown, used or expired");
    }
    // Someone whose connections vanished in a crash and who is back: the modules first hear that they left.
    if (!member.connected) await this.settleVanished(member.participantId);
    const verdict = this.deps.host().admit({ ...member, phase: "upgrade", returning: member.connected });
    if (verdict.decision === "refuse") {
      spent();
      return errorResponse(verdict.error, verdict.text);
    }

    const connection: Connection = {
      participantId: member.participantId,
      connectionId: randomToken(12),
      region: request.headers.get(REGION_HEADER) ?? undefined,
    };
    const { 0: client, 1: server } = new WebSocketPair();
    const response = new Response(null, {
      status: 101,
      webSocket: client,
      headers: { "sec-websocket-protocol": SUBPROTOCOL },
    });
    // A hold applies to someone coming in, not to a second device of someone already in the room; someone held
    // at start whom the modules now admit (the waiting room was switched off meanwhile) comes in.
    const id = member.participantId;
    if (!member.connected) this.roster.setHeld(id, verdict.decision === "hold");
    // Module states may need other objects (TURN credentials): gather them before the socket exists, so no frame
    // of this connection is handled before its join_success is sent.
    let modules: Record<string, unknown> | undefined;
    // A move into another breakout group while the states are gathered makes them stale: gathered again.
    for (let group = this.roster.groupOf(id); !this.roster.isHeld(id); group = this.roster.groupOf(id)) {
      modules = await this.deps.host().joinStates(connection);
      if (this.roster.groupOf(id) === group) break;
    }
    if (modules) {
      // A chair may have acted meanwhile: a removal voided the ticket, a ban refuses, a hold keeps them waiting.
      const still = this.deps.sql.exec("SELECT 1 FROM tickets WHERE hash = ? AND used = 1", hash ?? "").toArray();
      if (still.length === 0) return errorResponse("invalid_ticket", "the ticket was voided while connecting");
      const again = this.deps.host().admit({ ...member, phase: "upgrade", returning: member.connected });
      if (again.decision === "refuse") {
        spent();
        return errorResponse(again.error, again.text);
      }
      if (again.decision === "hold" && !this.roster.isConnected(id)) this.roster.setHeld(id, true);
    }
    const held = this.roster.isHeld(id);
    this.deps.state.acceptWebSocket(server);
    const joined = this.roster.connect(server, connection, Date.now(), this.windowMs);
    spent();
    if (modules && !held) this.welcome(server, id, modules);
    if (joined) this.deps.presence.schedule();
    await this.connected(server, connection, held);
    return response;
  }

  /**
   * Lets a held participant in: each of their connections gets its join_success, everyone a joined. Not while the
   * room is full (owners and moderators aside), checked when they are let in, after the join states are gathered.
   */
  async release(participantId: string): Promise<Release> {
    const waiting = () => this.roster.isHeld(participantId) && this.roster.isConnected(participantId);
    const states = waiting() ? await this.gather(participantId, waiting) : undefined;
    if (!states) return "not_held";
    const role = this.roster.member(participantId)?.role;
    if (role !== "owner" && role !== "moderator" && !this.hasSeat()) return "room_full";
    this.roster.setHeld(participantId, false);
    const live = this.roster.socketsWithConnections(participantId);
    for (const c of live) this.welcome(c.socket, participantId, states.get(c.socket)!);
    this.deps.presence.schedule();
    for (const c of live) await this.connected(c.socket, c.connection, false);
    return "released";
  }

  /**
   * Moves a participant into a breakout group (undefined: the main room); see `Capabilities.setGroup`. A later move
   * that overtakes this one while the states are gathered sends its own join_success (this one's would be stale).
   */
  move(participantId: string, group: string | undefined): Promise<void> {
    const from = this.roster.groupOf(participantId);
    if (!this.roster.setGroup(participantId, group)) return Promise.resolve();
    this.deps.presence.schedule();
    const inRoom = () => this.roster.isConnected(participantId) && !this.roster.isHeld(participantId);
    if (!inRoom()) return Promise.resolve();
    return this.refresh(participantId, from);
  }

  /**
   * Sends each connection of someone in the room a fresh join_success of their group (after a move from `from`,
   * or after the breakout rooms closed, which may make tools started in them everyone's), unless a move overtakes
   * it. The modules' `rejoined` hook runs first: the connections start over in that group (media too).
   */
  async refresh(participantId: string, from = this.roster.groupOf(participantId)): Promise<void> {
    const group = this.roster.groupOf(participantId);
    const still = () =>
      this.roster.isConnected(participantId) &&
      !this.roster.isHeld(participantId) &&
      this.roster.groupOf(participantId) === group;
    if (!still()) return;
    await this.deps.host().run("rejoined", [participantId, from, group]);
    const states = await this.gather(participantId, still);
    for (const c of this.roster.socketsWithConnections(participantId)) {
      const modules = states?.get(c.socket);
      if (modules) this.welcome(c.socket, participantId, modules);
    }
  }

  /**
   * The join states of each of a participant's live connections, while `still` holds (undefined once it does not).
   * Gathering takes a moment, in which a device may connect or leave: until every live one has its state.
   */
  private async gather(participantId: string, still: () => boolean) {
    const states = new Map<WebSocket, Record<string, unknown>>();
    for (;;) {
      const missing = this.roster.socketsWithConnections(participantId).filter((c) => !states.has(c.socket));
      if (missing.length === 0) return states;
      const gathered = await Promise.all(missing.map((c) => this.deps.host().joinStates(c.connection)));
      for (const [i, c] of missing.entries()) states.set(c.socket, gathered[i]!);
      if (!still()) return undefined;
    }
  }

  /** One socket closed; the participant's last one makes a leave. */
  disconnected(socket: WebSocket, reason: LeaveReason): Promise<void> {
    return this.settle(this.detach(socket, reason, Date.now()));
  }

  /**
   * Removes a participant at once: every socket closes with `code` and leaves the roster in one synchronous step
   * (nothing more of theirs is handled; others hear `left` with reason `removed`), then the modules run their leave
   * hooks. Their tickets (also one an upgrade is using) and room sessions are void: coming back takes a new start,
   * which the modules judge afresh; with `forget` their resumption tokens too (a guest comes back as a new one).
   */
  async remove(participantId: string, code: number, reason: string, forget: boolean): Promise<void> {
    this.roster.voidEntry(participantId, forget);
    const now = Date.now();
    const detached = this.roster.socketsWithConnections(participantId).map(({ socket }) => {
      this.deps.transport.close(socket, code, reason);
      return this.detach(socket, "removed", now);
    });
    for (const departure of detached) await this.settle(departure);
  }

  /** Takes a socket out of the roster (the synchronous half of a disconnect); undefined if it was out already. */
  private detach(socket: WebSocket, reason: LeaveReason, now: number) {
    // Close and error may both arrive for one socket: only the first counts.
    const connection = this.roster.connectionOf(socket);
    if (!connection) return undefined;
    const wasHeld = this.roster.isHeld(connection.participantId);
    return { connection, wasHeld, left: this.roster.disconnect(socket, reason, now), now };
  }

  /** The modules hear of a detached socket, and of the leave when it was the participant's last. */
  private async settle(departure: ReturnType<Entrance["detach"]>): Promise<void> {
    if (!departure) return;
    const { connection, wasHeld, left, now } = departure;
    await this.deps.host().run("closed", [connection]);
    if (!left) return;
    await this.deps.host().run("left", [left, wasHeld]);
    this.deps.presence.schedule();
    await this.deps.scheduler.schedule(ROSTER_TIMERS, left, now + this.windowMs);
  }

  /**
   * Sends someone in the room back to the waiting room: they leave the room for everyone else (reason `removed`)
   * and for the modules (`closed` per connection, then `left`), while their connections stay open.
   */
  async hold(participantId: string): Promise<boolean> {
    if (!this.roster.isConnected(participantId) || !this.roster.setHeld(participantId, true)) return false;
    this.deps.presence.schedule();
    const host = this.deps.host();
    for (const connection of this.roster.connectionsOf(participantId)) await host.run("closed", [connection]);
    await host.run("left", [participantId, false]);
    return true;
  }

  /**
   * After a crash or restart: participants whose connections vanished get their window to come back, and when it
   * has passed, every module hears that they left (their media, waiting-room entry, SFU placement go) and the
   * roster forgets them, as if they had disconnected normally.
   */
  async recover(vanished: readonly string[]): Promise<void> {
    const dueAt = Date.now() + this.windowMs;
    for (const id of vanished) await this.deps.scheduler.schedule(ROSTER_TIMERS, id, dueAt);
  }

  /** Forgets a participant whose resumption window passed (the roster's timer). */
  async expire(participantId: string): Promise<void> {
    if (this.roster.isConnected(participantId)) return;
    await this.settleVanished(participantId);
    const forgotten = this.roster.expire(participantId, Date.now(), this.windowMs);
    if (forgotten) await this.deps.host().run("gone", [participantId]);
  }

  /**
   * The leave hooks a crash skipped, run once for someone whose connections vanished: when they come back (so
   * they start afresh: their old streams, waiting-room entry and so on are gone) or when their window passes.
   */
  private async settleVanished(participantId: string): Promise<void> {
    if (!this.roster.settleVanished(participantId)) return;
    await this.deps.host().run("left", [participantId, this.roster.isHeld(participantId)]);
  }

  /**
   * Whether a room session token may fetch TURN credentials: its connection (`sid`) is open or closed less than
   * the resumption window ago, and it asked at most TURN_REQUESTS_PER_MINUTE times this minute.
   */
  turnRequest(tenant: string, participantId: string, connectionId: string): TurnAdmission {
    const room = this.deps.settings.row();
    const now = Date.now();
    if (
      !room ||
      room.tenant !== tenant ||
      !this.roster.connectionValid(participantId, connectionId, now, this.windowMs) ||
      this.roster.isHeld(participantId)
    )
      return fail("unauthorized", "session is over (or waits in the waiting room)");
    const bucket = this.turnBucketOf(connectionId, now);
    if (bucket.take(now)) return ok(null);
    const limit = this.deps.config.TURN_REQUESTS_PER_MINUTE;
    return {
      ...fail("rate_limited", `at most ${limit} TURN requests per session and minute`),
      retryAfter: bucket.secondsUntilNext(),
    };
  }

  /** A connection's bucket of TURN requests: up to the limit at once, refilled at the limit per minute. */
  private turnBucketOf(connectionId: string, now: number): TokenBucket {
    let bucket = this.turnRequests.get(connectionId);
    if (bucket) return bucket;
    if (this.turnRequests.size >= this.sweepTurnRequestsAt) {
      // Full buckets are as good as new ones: forgetting them loses nothing.
      for (const [id, b] of this.turnRequests) if (b.full(now)) this.turnRequests.delete(id);
      this.sweepTurnRequestsAt = Math.max(1024, this.turnRequests.size * 2);
    }
    const limit = this.deps.config.TURN_REQUESTS_PER_MINUTE;
    bucket = new TokenBucket(limit / 60, limit, now);
    this.turnRequests.set(connectionId, bucket);
    return bucket;
  }

  /** Whether one more participant fits into the room. */
  private hasSeat(): boolean {
    const room = this.deps.settings.row();
    return room !== undefined && this.roster.occupancy(false, Date.now()) < this.deps.settings.participantLimit(room);
  }

  /**
   * Creates or refreshes the participant, asks the modules whether they may come in, and issues a ticket.
   * `claim` (an invite's use) runs once they may, in the same synchronous step, and can still refuse.
   */
  private async enter(
    participantId: string,
    who: { kind: Candidate["kind"]; userKey: string | null; displayName: string; role: Role; inviteId: string | null },
    resumed: boolean,
    claim?: () => Result<never> | undefined,
  ): Promise<Result<StartResponse>> {
    const known = this.roster.member(participantId);
    // The owner is always owner; anyone else keeps the role the room gave them.
    const role = who.role === "owner" ? "owner" : (known?.role ?? who.role);
    const returning = resumed || known?.connected === true;
    const verdict = this.deps.host().admit({ participantId, kind: who.kind, role, phase: "start", returning });
    if (verdict.decision === "refuse") return fail(verdict.error, verdict.text);
    const full = this.seatRefusal(participantId, role, verdict.decision, known);
    if (full) return full;
    const refused = claim?.();
    if (refused) return refused;
    this.roster.upsert({ id: participantId, ...who });
    if (known?.connected) this.deps.presence.schedule();
    // A hold applies to someone coming in, not to a second device of someone already in the room. Someone held
    // whom the modules now admit (e.g. the waiting room was switched off) is let in, waiting devices included.
    if (verdict.decision === "hold" && !known?.connected) this.roster.setHeld(participantId, true);
    if (verdict.decision === "admit" && this.roster.isHeld(participantId)) {
      if (known?.connected) await this.release(participantId);
      else this.roster.setHeld(participantId, false);
    }
    return ok(await this.issueTicket(participantId, Date.now()));
  }

  /**
   * The room's bounds: connections per participant, then seats in the waiting room or in the room. Someone already
   * connected, or back within the resumption window, keeps the seat they had (a waiting one lets them wait, not
   * in: a connected waiter let in is checked by `release`); owners and moderators may join a full room (a chair
   * must never be locked out of their own session).
   */
  private seatRefusal(
    participantId: string,
    role: Role,
    decision: "admit" | "hold",
    known: Member | undefined,
  ): Result<never> | undefined {
    const { config, settings } = this.deps;
    const now = Date.now();
    // Tickets never used (a client retrying over a bad network) make way for the newest start; open connections
    // and ones being set up do not.
    const max = config.MAX_CONNECTIONS_PER_PARTICIPANT;
    if (!this.roster.makeRoomForConnection(participantId, max, now)) {
      return fail("too_many_connections", `a participant may hold at most ${max} connections at once`);
    }
    const toWaitingRoom = decision === "hold" && !known?.connected;
    const fromWaitingRoom = decision === "admit" && known?.held === true && !known.connected;
    if (known && !fromWaitingRoom && this.roster.isPresent(participantId, now, this.windowMs)) return undefined;
    if (toWaitingRoom) {
      if (this.roster.occupancy(true, now) < config.WAITING_ROOM_MAX) return undefined;
      return fail("waiting_room_full", `the waiting room holds at most ${config.WAITING_ROOM_MAX} participants`);
    }
    if (role === "owner" || role === "moderator") return undefined;
    const limit = settings.participantLimit(settings.row()!);
    if (this.roster.occupancy(false, now) < limit) return undefined;
    return fail("participant_limit_reached", `the room admits at most ${limit} participants`);
  }

  /** The modules' connected hooks; a hook that fails tells this connection with an internal_error frame. */
  private connected(socket: WebSocket, connection: Connection, held: boolean): Promise<void> {
    return this.deps.host().run("connected", [connection, held], (namespace) =>
      this.deps.transport.sendError(socket, namespace, undefined, {
        error: "internal_error",
        text: "the server failed to set up",
      }),
    );
  }

  private async issueTicket(participantId: string, now: number): Promise<StartResponse> {
    const ticket = randomToken(32);
    const resumption = randomToken(32);
    const expiresAt = now + this.deps.config.TICKET_TTL_SECONDS * 1000;
    const sql = this.deps.sql;
    sql.exec("DELETE FROM tickets WHERE expires_at < ?", now);
    sql.exec(
      "INSERT INTO tickets (hash, participant_id, expires_at) VALUES (?, ?, ?)",
      await sha256(ticket),
      participantId,
      expiresAt,
    );
    this.roster.resumptions.add(participantId, await sha256(resumption), now);
    if (!this.roster.isConnected(participantId)) {
      // A participant who never connects is forgotten once the ticket and the resumption window have passed.
      await this.deps.scheduler.schedule(ROSTER_TIMERS, participantId, expiresAt + this.windowMs);
    }
    return {
      ticket,
      resumption,
      participant_id: participantId,
      ticket_expires_at: new Date(expiresAt).toISOString(),
    };
  }

  private welcome(socket: WebSocket, participantId: string, modules: Record<string, unknown>): void {
    const member = this.roster.member(participantId)!;
    // Presence is seen per breakout group: the joiner's own.
    const others = this.deps.presence.describeIds(
      this.roster.admittedIds(member.group).filter((id) => id !== participantId),
    );
    const frame = this.deps.transport.listFrame("control", {
      message: "join_success",
      participant_id: participantId,
      role: member.role,
      display_name: member.displayName,
      joined_at: new Date(member.joinedAt).toISOString(),
      participants: LIST(),
      modules,
    });
    this.deps.transport.sendRaw(socket, frame(others.map((d) => d.json)));
  }
}
