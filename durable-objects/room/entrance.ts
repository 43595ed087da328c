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
import type { ModuleHost } from "./host";
import type { Candidate, Connection } from "./module";
import type { LeaveReason, Presence } from "./presence";
import type { Roster } from "./roster";
import type { Scheduler } from "./scheduler";
import type { Settings } from "./settings";
import type { Transport } from "./transport";

/** Timer owner of the roster: forgets participants whose resumption window has passed. */
export const ROSTER_TIMERS = "roster";

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
async function participantIdFor(roomId: string, userKey: string): Promise<string> {
  return (await sha256(`participant\n${roomId}\n${userKey}`)).slice(0, 22);
}

/**
 * The admission pipeline: `start` (password, participant id, the modules' admit hooks, ticket), the WebSocket
 * upgrade (single-use ticket, admit hooks again, join_success or held), letting held participants in, and leaving.
 */
export class Entrance {
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
    return this.enter(participantId, { kind: "user", userKey: principal.userKey, displayName, role, inviteId: null });
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
    const resumed = request.resumption && this.roster.resume(await sha256(request.resumption), now, this.windowMs);
    const returning =
      resumed &&
      this.roster.member(resumed)?.kind === "guest" &&
      (this.roster.inviteOf(resumed) ?? invite.id) === invite.id
        ? resumed
        : undefined;
    const usedUp = () => fail("invalid_invite", "invite code expired or used up");
    if (!returning && !this.deps.settings.usable(invite, now)) return usedUp();
    const denied = await this.deps.settings.checkPassword(room, request.password);
    if (!denied.ok) return denied;
    // The use is counted once the modules admit the guest (a refused guest costs the invite nothing).
    const claim = returning
      ? undefined
      : () => (this.deps.settings.consumeInvite(invite.id, Date.now()) ? undefined : usedUp());
    return this.enter(
      returning ?? randomToken(16),
      { kind: "guest", userKey: null, displayName: request.display_name, role: "guest", inviteId: invite.id },
      claim,
    );
  }

  /** The WebSocket upgrade; the worker has already checked Origin and the offered subprotocol. */
  async upgrade(request: Request): Promise<Response> {
    const { ticket } = parseSubprotocols(request.headers.get("sec-websocket-protocol"));
    const claimed =
      ticket && this.deps.settings.row()
        ? this.deps.sql
            .exec<{ participant_id: string; expires_at: number }>(
              "DELETE FROM tickets WHERE hash = ? RETURNING participant_id, expires_at",
              await sha256(ticket),
            )
            .toArray()[0]
        : undefined;
    const member = claimed && claimed.expires_at >= Date.now() ? this.roster.member(claimed.participant_id) : undefined;
    if (!member) return errorResponse("invalid_ticket", "ticket unknown, used or expired");
    const verdict = this.deps.host().admit({ ...member, phase: "upgrade" });
    if (verdict.decision === "refuse") return errorResponse(verdict.error, verdict.text);

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
    // A hold applies to someone coming in, not to a second device of someone already in the room.
    if (verdict.decision === "hold" && !member.connected) this.roster.setHeld(member.participantId, true);
    const held = this.roster.isHeld(member.participantId);
    // Module states may need other objects (TURN credentials): gather them before the socket exists, so no frame
    // of this connection is handled before its join_success is sent.
    const modules = held ? undefined : await this.deps.host().joinStates(connection);
    this.deps.state.acceptWebSocket(server);
    const joined = this.roster.connect(server, connection, Date.now());
    if (modules) this.welcome(server, member.participantId, modules);
    if (joined) this.deps.presence.schedule();
    await this.connected(server, connection, held);
    return response;
  }

  /** Lets a held participant in: each of their connections gets its join_success, everyone a joined. */
  async release(participantId: string): Promise<boolean> {
    if (!this.roster.isHeld(participantId)) return false;
    const waiting = this.roster.socketsWithConnections(participantId);
    const states = await Promise.all(waiting.map((c) => this.deps.host().joinStates(c.connection)));
    // Gathering took a moment: only connections still there, and only once.
    if (!this.roster.setHeld(participantId, false)) return false;
    const live = waiting.filter((c) => this.roster.isLive(c.socket));
    for (const [i, c] of waiting.entries()) if (live.includes(c)) this.welcome(c.socket, participantId, states[i]!);
    this.deps.presence.schedule();
    for (const c of live) await this.connected(c.socket, c.connection, false);
    return true;
  }

  /** One socket closed; the participant's last one makes a leave. */
  async disconnected(socket: WebSocket, reason: LeaveReason): Promise<void> {
    const now = Date.now();
    const connection = socket.deserializeAttachment() as Connection | null;
    // Close and error may both arrive for one socket: only the first counts.
    if (!connection || !this.roster.isLive(socket)) return;
    const wasHeld = this.roster.isHeld(connection.participantId);
    const left = this.roster.disconnect(socket, reason, now);
    await this.deps.host().run("closed", [connection]);
    if (!left) return;
    await this.deps.host().run("left", [left, wasHeld]);
    this.deps.presence.schedule();
    await this.deps.scheduler.schedule(ROSTER_TIMERS, left, now + this.windowMs);
  }

  /** Forgets a participant whose resumption window passed (the roster's timer). */
  expire(participantId: string): void {
    this.roster.expire(participantId, Date.now(), this.windowMs);
  }

  /** Whether a room session token still speaks for someone in this room (for REST calls such as GET /v1/turn). */
  sessionValid(tenant: string, participantId: string): boolean {
    const room = this.deps.settings.row();
    if (!room || room.tenant !== tenant) return false;
    return this.roster.isPresent(participantId, Date.now(), this.windowMs);
  }

  /**
   * Creates or refreshes the participant, asks the modules whether they may come in, and issues a ticket.
   * `claim` (an invite's use) runs once they may, in the same synchronous step, and can still refuse.
   */
  private async enter(
    participantId: string,
    who: { kind: Candidate["kind"]; userKey: string | null; displayName: string; role: Role; inviteId: string | null },
    claim?: () => Result<never> | undefined,
  ): Promise<Result<StartResponse>> {
    const known = this.roster.member(participantId);
    // The owner is always owner; anyone else keeps the role the room gave them.
    const role = who.role === "owner" ? "owner" : (known?.role ?? who.role);
    const verdict = this.deps.host().admit({ participantId, kind: who.kind, role, phase: "start" });
    if (verdict.decision === "refuse") return fail(verdict.error, verdict.text);
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

  /** The modules' connected hooks; a hook that fails tells this connection with an internal_error frame. */
  private connected(socket: WebSocket, connection: Connection, held: boolean): Promise<void> {
    return this.deps
      .host()
      .run("connected", [connection, held], (namespace) =>
        this.deps.transport.sendError(socket, namespace, undefined, "internal_error", "the server failed to set up"),
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
    const others = this.deps.presence.describe(this.roster.admitted().filter((m) => m.participantId !== participantId));
    this.deps.transport.send(socket, "control", {
      message: "join_success",
      participant_id: participantId,
      role: member.role,
      display_name: member.displayName,
      participants: others,
      modules,
    });
  }
}
