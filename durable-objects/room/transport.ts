import type { Participant } from "../../src/protocol";
import type { CommandError, Connection, Member, Target } from "./module";
import type { Described, Roster } from "./roster";

/**
 * Stands for a list of entries serialized before, in a payload given to `listFrame`: unguessable, so no text a
 * participant sent can look like it.
 */
let slot: string | undefined;
/** (Made at first use: workerd allows no random values at global scope.) */
export const LIST = () => (slot ??= `\u0000${crypto.randomUUID()}`);

/** Whose own copy of an event carries a transaction id (the sender of the command that caused it). */
export interface Echo {
  participantId: string;
  connectionId: string;
  transactionId: number | undefined;
}

/** A participant's public fields the core owns; modules add theirs (`presence`), e.g. control's raised hand. */
export type CoreParticipant = Omit<Participant, "hand_raised_at">;
/** A participant as announced: the core's fields and those the modules contribute. */
export type PublicParticipant = CoreParticipant & Partial<Participant>;

export const toParticipant = (member: Member): CoreParticipant => ({
  participant_id: member.participantId,
  display_name: member.displayName,
  role: member.role,
  kind: member.kind,
  joined_at: new Date(member.joinedAt).toISOString(),
});

/**
 * Frames and sockets: serializes each event once per fan-out, addresses targets, and keeps held (waiting)
 * participants out of room traffic. Presence changes go out in batches (see `Presence`).
 */
export class Transport {
  constructor(private readonly rosterOf: () => Roster) {}

  private get roster(): Roster {
    return this.rosterOf();
  }

  frame(namespace: string, payload: object, transactionId?: number): string {
    return JSON.stringify({ namespace, timestamp: new Date().toISOString(), payload, transaction_id: transactionId });
  }

  emit(target: Target, namespace: string, payload: object, echo?: Echo): void {
    const shared = this.frame(namespace, payload);
    // The sender's socket is found once, so a fan-out compares sockets instead of reading every attachment.
    const echoSocket = echo?.transactionId === undefined ? undefined : this.socketOf(echo);
    const own = echoSocket && this.frame(namespace, payload, echo?.transactionId);
    for (const socket of this.targets(target)) this.sendRaw(socket, socket === echoSocket && own ? own : shared);
  }

  send(socket: WebSocket, namespace: string, payload: object, transactionId?: number): void {
    this.sendRaw(socket, this.frame(namespace, payload, transactionId));
  }

  sendError(socket: WebSocket, namespace: string, transactionId: number | undefined, failure: CommandError) {
    this.send(socket, namespace, { message: "error", ...failure }, transactionId);
  }

  /**
   * Sends one frame. A frame that cannot be sent is not silently lost: the connection is closed with 1011, so the
   * client resumes and gets the room's state afresh (a socket already closing just completes its close).
   */
  sendRaw(socket: WebSocket, data: string): void {
    try {
      socket.send(data);
    } catch {
      this.close(socket, 1011, "a frame could not be sent");
    }
  }

  close(socket: WebSocket, code: number, reason: string): void {
    try {
      socket.close(code, reason);
    } catch {
      // Already closed.
    }
  }

  /**
   * A frame of `payload` whose one LIST value is a JSON array of entries serialized before: participant lists are
   * made from each participant's JSON, kept between frames, instead of serializing everyone again.
   */
  listFrame(namespace: string, payload: object): (entries: readonly string[]) => string {
    const text = this.frame(namespace, payload);
    const marker = JSON.stringify(LIST());
    const at = text.indexOf(marker);
    if (at < 0) throw new Error("listFrame: the payload holds no LIST");
    const [head, tail] = [text.slice(0, at), text.slice(at + marker.length)];
    return (entries) => `${head}[${entries.join(",")}]${tail}`;
  }

  /**
   * Every admitted socket of a group hears who joined; each joiner gets the list without itself (when it names
   * anyone else).
   */
  broadcastPresence(joined: readonly Described[], group: string | undefined): void {
    const entries = joined.map((d) => d.json);
    const frame = this.listFrame("control", { message: "joined", participants: LIST() });
    const shared = frame(entries);
    const joinerAt = new Map(joined.map((d, i) => [d.participant.participant_id, i]));
    for (const socket of this.groupSockets(group)) {
      const at = joinerAt.get(this.roster.participantOf(socket) ?? "");
      if (at === undefined) this.sendRaw(socket, shared);
      else if (entries.length > 1) this.sendRaw(socket, frame([...entries.slice(0, at), ...entries.slice(at + 1)]));
    }
  }

  private socketOf(connection: Pick<Connection, "participantId" | "connectionId">): WebSocket | undefined {
    return this.roster
      .socketsWithConnections(connection.participantId)
      .find((s) => s.connection.connectionId === connection.connectionId)?.socket;
  }

  /** Admitted sockets in a breakout group (undefined: the main room, which is everyone while no group is open). */
  private groupSockets(group: string | undefined): readonly WebSocket[] {
    if (!this.roster.anyGrouped()) return group === undefined ? this.roster.admittedSockets() : [];
    return this.roster.groupSockets(group);
  }

  private targets(target: Target): Iterable<WebSocket> {
    switch (target.to) {
      case "everyone":
        return this.roster.admittedSockets();
      case "participant":
        return this.roster.socketsWithConnections(target.id).map((s) => s.socket);
      case "connection": {
        const socket = this.socketOf(target.connection);
        return socket ? [socket] : [];
      }
      case "group":
        return this.groupSockets(target.group);
      case "roles":
        return this.roster
          .admitted()
          .filter((m) => target.roles.includes(m.role) && (!("group" in target) || m.group === target.group))
          .flatMap((m) => this.roster.socketsWithConnections(m.participantId).map((s) => s.socket));
    }
  }
}
