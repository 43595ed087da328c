import type { Connection } from "./module";

/** One socket with the connection its attachment names. */
export interface LiveSocket {
  socket: WebSocket;
  connection: Connection;
}

/**
 * The live signalling sockets by participant, in memory: rebuilt from the sockets' attachments when the object
 * is rebuilt (hibernation), since the sockets and their attachments survive it.
 */
export class SocketIndex {
  private readonly byParticipant = new Map<string, Set<WebSocket>>();
  /** Each registered socket's connection: read from its attachment once, not per frame. */
  private readonly connectionOf = new Map<WebSocket, Connection>();
  /** Every registered socket, built once per change rather than per fan-out. */
  private everySocket: WebSocket[] | undefined;

  constructor(live: WebSocket[]) {
    for (const socket of live) {
      const attachment = socket.deserializeAttachment() as Connection | null;
      if (attachment) this.add(socket, attachment);
    }
  }

  /** Registers a socket; true when it is the participant's first. */
  add(socket: WebSocket, connection: Connection): boolean {
    let set = this.byParticipant.get(connection.participantId);
    if (!set) {
      set = new Set();
      this.byParticipant.set(connection.participantId, set);
    }
    set.add(socket);
    this.connectionOf.set(socket, connection);
    this.everySocket = undefined;
    return set.size === 1;
  }

  /** Unregisters a socket; the participant whose last socket it was, if so. */
  remove(socket: WebSocket): string | undefined {
    const connection = this.connectionOf.get(socket);
    if (!connection) return undefined;
    this.connectionOf.delete(socket);
    this.everySocket = undefined;
    const set = this.byParticipant.get(connection.participantId);
    if (!set?.delete(socket) || set.size > 0) return undefined;
    this.byParticipant.delete(connection.participantId);
    return connection.participantId;
  }

  /** The connection of a registered socket. */
  connection(socket: WebSocket): Connection | undefined {
    return this.connectionOf.get(socket);
  }

  /** Every registered socket (the same array until one comes or goes: callers must not change it). */
  all(): readonly WebSocket[] {
    this.everySocket ??= [...this.connectionOf.keys()];
    return this.everySocket;
  }

  /** Participants with at least one socket, in the order they connected. */
  participants(): IterableIterator<string> {
    return this.byParticipant.keys();
  }

  /** Whether one of the participant's registered sockets is the connection `connectionId`. */
  hasConnection(participantId: string, connectionId: string): boolean {
    for (const socket of this.byParticipant.get(participantId) ?? []) {
      if (this.connectionOf.get(socket)?.connectionId === connectionId) return true;
    }
    return false;
  }

  isConnected(participantId: string): boolean {
    return (this.byParticipant.get(participantId)?.size ?? 0) > 0;
  }

  /** Participants with at least one socket. */
  participantCount(): number {
    return this.byParticipant.size;
  }

  of(participantId: string): LiveSocket[] {
    return [...(this.byParticipant.get(participantId) ?? [])].map((socket) => ({
      socket,
      connection: this.connectionOf.get(socket)!,
    }));
  }

  /** The sockets of every participant for whom `include` holds (no attachment is read). */
  socketsOf(include: (participantId: string) => boolean): WebSocket[] {
    const all: WebSocket[] = [];
    for (const [participantId, sockets] of this.byParticipant) if (include(participantId)) all.push(...sockets);
    return all;
  }

  /** Connections of every participant for whom `include` holds. */
  connections(include: (participantId: string) => boolean): Connection[] {
    const all: Connection[] = [];
    for (const [participantId, sockets] of this.byParticipant) {
      if (!include(participantId)) continue;
      for (const socket of sockets) all.push(this.connectionOf.get(socket)!);
    }
    return all;
  }
}
