import type { z } from "zod";
import type { ErrorCode, Participant, Role } from "../../src/protocol";
import type { Config } from "../../src/shared/config";

/** Payload of a server event: `message` names it, the rest is the event's fields. */
export type EventPayload = { message: string } & Record<string, unknown>;

/** Who sent a command: the participant's stored role, never one claimed by the client. */
export interface Sender extends Connection {
  role: Role;
  socket: WebSocket;
  transactionId: number | undefined;
}

export interface CommandError {
  error: ErrorCode;
  text: string;
}

/** One signalling connection (a participant may have several devices). */
export interface Connection {
  participantId: string;
  connectionId: string;
  /** The client's region as the worker resolved it at the upgrade. */
  region: string | undefined;
}

/** The room's small API: the only way modules touch the room or each other. */
export interface RoomApi {
  readonly sql: SqlStorage;
  readonly config: Config;
  /** Bindings, for modules that call other objects (the TURN fleet, signing keys). */
  readonly env: Env;
  now(): number;
  /** The room's identity. */
  room(): { id: string; tenant: string };
  /** A participant's live connections. */
  connectionsOf(participantId: string): Connection[];
  /** Every live connection. */
  connections(): Connection[];
  /** Sends one event to one connection. */
  sendTo(connection: Connection, namespace: string, payload: EventPayload): void;
  /** Connected participants. */
  connectedCount(): number;
  /** A participant known to the room (connected, or disconnected within the resumption window). */
  participant(participantId: string): Participant | undefined;
  /** Connected participants in the waiting room. */
  waiting(): Participant[];
  /** Lets a waiting participant in (they get join_success, everyone a joined); false when nobody of that id waits. */
  letIn(participantId: string): Promise<boolean>;
  /** Closes a waiting participant's connections (4000, not admitted); false when nobody of that id waits. */
  turnAway(participantId: string): boolean;
  /** Records a raised (timestamp) or lowered (null) hand; everyone learns it through a batched control.update. */
  setHandRaised(participantId: string, raisedAt: number | null): void;
  /** Sends one event to every connection; the sender's own copy carries its transaction_id. */
  broadcast(namespace: string, payload: EventPayload, sender?: Sender): void;
  /** Answers the sender only. */
  reply(sender: Sender, namespace: string, payload: EventPayload): void;
  schedule(owner: string, key: string, dueAt: number, data?: unknown): Promise<void>;
  cancel(owner: string, key: string): Promise<void>;
}

/** One protocol namespace: its state (tables), commands, events, and who may issue each command. */
export interface RoomModuleDefinition<C extends { action: string }> {
  namespace: string;
  /** Versioned migrations for the module's own tables. */
  migrations: readonly string[];
  commands: z.ZodType<C>;
  permissions: { readonly [A in C["action"]]: readonly Role[] };
  handle(api: RoomApi, sender: Sender, command: C): CommandError | void | Promise<CommandError | void>;
  /** The module's part of join_success for a new connection; computed before the socket is accepted. */
  joinState?(api: RoomApi, connection: Connection): unknown;
  onTimer?(api: RoomApi, key: string, data: unknown): void | Promise<void>;
  /** One connection closed (the participant may have others). */
  onClose?(api: RoomApi, connection: Connection): void | Promise<void>;
  /** The participant's last connection closed. */
  onLeave?(api: RoomApi, participantId: string): void | Promise<void>;
  /** The object was (re)built, e.g. after hibernation or a restart, with its surviving connections. */
  onLoad?(api: RoomApi): void;
}

/** A module with its command type sealed in, so the room can hold modules of different commands in one list. */
export interface RoomModule {
  namespace: string;
  migrations: readonly string[];
  rolesFor(action: string): readonly Role[] | undefined;
  execute(api: RoomApi, sender: Sender, payload: unknown): Promise<CommandError | void>;
  joinState?(api: RoomApi, connection: Connection): unknown;
  onTimer?(api: RoomApi, key: string, data: unknown): void | Promise<void>;
  onClose?(api: RoomApi, connection: Connection): void | Promise<void>;
  onLeave?(api: RoomApi, participantId: string): void | Promise<void>;
  onLoad?(api: RoomApi): void;
}

export function defineModule<C extends { action: string }>(definition: RoomModuleDefinition<C>): RoomModule {
  const permissions: Readonly<Record<string, readonly Role[]>> = definition.permissions;
  return {
    namespace: definition.namespace,
    migrations: definition.migrations,
    rolesFor: (action) => (Object.hasOwn(permissions, action) ? permissions[action] : undefined),
    async execute(api, sender, payload) {
      const parsed = definition.commands.safeParse(payload);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return {
          error: "invalid_frame",
          text: `${issue?.path.join(".") || "payload"}: ${issue?.message ?? "invalid"}`,
        };
      }
      return definition.handle(api, sender, parsed.data);
    },
    joinState: definition.joinState,
    onTimer: definition.onTimer,
    onClose: definition.onClose,
    onLeave: definition.onLeave,
    onLoad: definition.onLoad,
  };
}
