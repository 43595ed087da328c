import type {
  ErrorCode,
  ErrorPayload,
  EventOf,
  JoinStateNamespace,
  JoinStateOf,
  Namespace,
  ParsedCommandOf,
  Participant,
  ParticipantKind,
  Role,
  WaitingRoom,
} from "../../src/protocol";
import type { IceGrant } from "../../src/protocol/turn";
import type { Config } from "../../src/shared/config";
import type { signingKey } from "../../src/shared/keys";
import type { GrantRequest } from "../../src/shared/turn-grants";
import type { SignRequest } from "../signing-key";

/** One signalling connection (a participant may have several devices); the socket's attachment. */
export interface Connection {
  participantId: string;
  connectionId: string;
  /** The client's region as the worker resolved it at the upgrade. */
  region: string | undefined;
}

/** Who sent a command: the participant's stored role, never one claimed by the client. */
export interface Sender extends Connection {
  role: Role;
  transactionId: number | undefined;
}

export interface CommandError {
  error: ErrorCode;
  text: string;
  /** `slow_down`: when the sender may try again (sent in the error frame). */
  retry_after_ms?: number;
  /** `ineligible`: the participants the command named who may not take part (sent in the error frame). */
  participant_ids?: string[];
}

/** A participant as modules see them (the server's view: strict role). */
export interface Member {
  participantId: string;
  displayName: string;
  role: Role;
  kind: ParticipantKind;
  /** Held in the waiting room: connected, but gets no room traffic and may do nothing. */
  held: boolean;
  connected: boolean;
  joinedAt: number;
  /** The breakout group (undefined: the main room). */
  group: string | undefined;
}

/** A breakout group (undefined: the main room). */
export type Group = string | undefined;

/** Where an event goes. Held participants get only events addressed to their participant id or connection. */
export type Target =
  | { to: "everyone" }
  | { to: "participant"; id: string }
  | { to: "connection"; connection: Connection }
  /** Everyone admitted with one of the roles (with `group`: in that breakout group only; undefined: the main room). */
  | { to: "roles"; roles: readonly Role[]; group?: Group }
  /** Everyone admitted in a breakout group (undefined: the main room). */
  | { to: "group"; group: string | undefined };

/** A read-only view of who is in the room. */
export interface RosterView {
  member(participantId: string): Member | undefined;
  connectionsOf(participantId: string): Connection[];
  /** Connections of everyone admitted (not held). */
  connections(): Connection[];
  /** Connected participants, held ones included. */
  connectedCount(): number;
  /** Connected participants who are in the room (not held in the waiting room). */
  admittedCount(): number;
  /** Connected participants held in the waiting room, longest waiting first. */
  held(): Member[];
  /** Connected participants in the room (not held). */
  admitted(): Member[];
  /** Connected, or disconnected less than the resumption window ago (they may still come back). */
  present(participantId: string): boolean;
  /** Participants in the room (not held) who are connected or may still come back (see `present`). */
  inRoom(): Member[];
  /** The breakout group a participant is in (undefined: the main room). */
  groupOf(participantId: string): string | undefined;
}

/** What the core lets modules change; every change is announced to the room as the protocol says. */
export interface Capabilities {
  /** Changes a participant's role (everyone gets a control.update; modules a roleChanged hook). */
  setRole(participantId: string, role: Role): Promise<boolean>;
  /**
   * Removes a participant: every connection closes with a close code (4000–4999: the client must not retry) and
   * leaves the room at once (others get control.left with reason `removed`; the modules their leave hooks). Their
   * tickets and room sessions are void, so coming back takes a new start; with `forget`, their resumption tokens
   * too (a guest then comes back only as a new guest).
   */
  remove(participantId: string, code: number, reason: string, forget?: boolean): Promise<void>;
  /** Voids every ticket issued and not yet used (the meeting ends). */
  voidTickets(): void;
  /**
   * Sends an admitted participant back to the waiting room: others see them leave (reason `removed`), and to the
   * modules they left the room (the `closed` hook per connection, then `left`), while their connections stay open.
   */
  hold(participantId: string): Promise<boolean>;
  /**
   * Lets a held participant in: each connection gets join_success, everyone a joined — unless they are not held
   * (any more) or the room is full (`max_participants`; owners and moderators aside).
   */
  release(participantId: string): Promise<"released" | "not_held" | "room_full">;
  /**
   * Moves a participant into a breakout group (undefined: the main room); presence, chat and media are seen per
   * group. The SQL is done on return: the old group sees them leave (reason `switched`), the new one sees them join,
   * and the modules get their `rejoined` hook; the promise settles once each of their connections has the new
   * group's join_success.
   */
  setGroup(participantId: string, group: string | undefined): Promise<void>;
  /** Sends each connection of a participant in the room a fresh join_success of their group (`rejoined` first). */
  refresh(participantId: string): Promise<void>;
  /** A participant's public fields that a module contributes changed: a control.update follows (batched). */
  presenceChanged(participantId: string): void;
  /** Renames a participant for good (their own later starts keep it); a control.update follows. */
  rename(participantId: string, displayName: string): boolean;
  /** Revokes the invite a guest came with (its code and its other guests' resumptions stop working). */
  revokeInviteOf(participantId: string): boolean;
  /** Changes the room's waiting-room setting (as PATCH /v1/rooms/{id} does). */
  setWaitingRoom(mode: WaitingRoom): void;
}

/** The objects a room calls, as typed stubs. */
export interface Objects {
  /** TURN credentials, minted in this isolate from the fleet's material (src/shared/turn-grants.ts). */
  grantTurn(requests: readonly GrantRequest[]): Promise<IceGrant[]>;
  sfuPool(): DurableObjectStub<import("../sfu-pool").SfuPoolObject>;
  signingKey(purpose: Parameters<typeof signingKey>[1]): ReturnType<typeof signingKey>;
  /** A room session token; tokens asked for while one is being signed go to the key's object together. */
  signSession(request: SignRequest): Promise<string>;
}

/** The room as modules see it. */
export interface RoomInfo {
  id: string;
  tenant: string;
  waitingRoom: WaitingRoom;
}

/**
 * Services modules export to each other (`ctx.services.<namespace>`), declared by each module file through
 * declaration merging: `declare module "../module" { interface ModuleServices { media: MediaService } }`.
 */
// biome-ignore lint/suspicious/noEmptyInterface: filled by declaration merging in the module files
export interface ModuleServices {}

/** A module's view of the room, bound to its namespace. */
export interface ModuleContext<N extends Namespace, S = undefined> {
  readonly namespace: N;
  readonly config: Config;
  /** Per-instance in-memory state (rebuilt with the object after hibernation). */
  readonly state: S;
  /** The module's own tables (declared by its migrations). */
  readonly sql: SqlStorage;
  readonly roster: RosterView;
  readonly room: Capabilities & { info(): RoomInfo };
  readonly objects: Objects;
  readonly services: ModuleServices;
  now(): number;
  /** Resolves once every write so far is on disk (before acknowledging what must survive a crash). */
  durable(): Promise<void>;
  /** Sends an event of this namespace (or an error, e.g. of asynchronous work); `sender`'s own copy carries its
   * transaction_id. */
  emit(target: Target, event: EventOf<N> | ErrorPayload, sender?: Sender): void;
  /** Answers the sender only, with its transaction_id. */
  reply(sender: Sender, event: EventOf<N>): void;
  /** Timers of this module (kept in SQLite; the object's one alarm is set to the earliest). */
  timers: {
    schedule(key: string, dueAt: number, data?: unknown): Promise<void>;
    cancel(key: string): Promise<void>;
  };
}

/** Someone asking to come in: at `start` (before a ticket is issued) and again at the WebSocket upgrade. */
export interface Candidate {
  participantId: string;
  kind: ParticipantKind;
  role: Role;
  phase: "start" | "upgrade";
  /** They came with a valid resumption token, or are connected already (a dropped connection coming back). */
  returning: boolean;
}

/** A module's say on a candidate; the strictest wins (refuse > hold > let in). */
export type Admission =
  | { decision: "admit" }
  | { decision: "hold" }
  | { decision: "refuse"; error: ErrorCode; text: string };

type CommandFor<N extends Namespace, A> = Extract<ParsedCommandOf<N>, { action: A }>;

/** Who may issue an action: roles, or roles plus a rule over sender, command and room state. */
export type Permission<N extends Namespace, A, S> =
  | readonly Role[]
  | {
      roles: readonly Role[];
      allow(ctx: ModuleContext<N, S>, sender: Sender, command: CommandFor<N, A>): CommandError | undefined;
    };

type Returns<T> = T | Promise<T>;
type JoinStateFor<N extends Namespace> = N extends JoinStateNamespace ? JoinStateOf<N> : never;

export interface ModuleHooks<N extends Namespace, S> {
  admit?(ctx: ModuleContext<N, S>, candidate: Candidate): Admission | undefined;
  /** A connection was accepted: admitted (it has its join_success) or held in the waiting room. */
  connected?(ctx: ModuleContext<N, S>, connection: Connection, held: boolean): Returns<void>;
  /** One connection closed (the participant may have others). */
  closed?(ctx: ModuleContext<N, S>, connection: Connection): Returns<void>;
  /** The participant's last connection closed. */
  left?(ctx: ModuleContext<N, S>, participantId: string, wasHeld: boolean): Returns<void>;
  /** The participant's resumption window passed without them coming back: the room forgets them. */
  gone?(ctx: ModuleContext<N, S>, participantId: string): Returns<void>;
  roleChanged?(ctx: ModuleContext<N, S>, participantId: string, from: Role, to: Role): Returns<void>;
  /**
   * A participant in the room is about to get a fresh join_success on their open connections: moved between
   * breakout groups (`from` → `to`; undefined: the main room), or the same group's state afresh (the rooms closed
   * around them). Their client starts over from it, media included.
   */
  rejoined?(ctx: ModuleContext<N, S>, participantId: string, from: Group, to: Group): Returns<void>;
  /** The object was (re)built, e.g. after hibernation or a restart, with its surviving connections. */
  loaded?(ctx: ModuleContext<N, S>): void;
  timer?(ctx: ModuleContext<N, S>, key: string, data: unknown): Returns<void>;
  /** The room is being deleted (its connections are already closed). */
  deleted?(ctx: ModuleContext<N, S>): Returns<void>;
}

/** One protocol namespace: its tables, commands, events, who may issue each command, hooks and service. */
export interface ModuleDefinition<N extends Namespace, S = undefined> {
  namespace: N;
  /** Versioned migrations of the module's own tables; append only. */
  migrations: readonly string[];
  permissions: { readonly [A in ParsedCommandOf<N>["action"]]: Permission<N, A, S> };
  /** Builds the module's in-memory state once per object instance. */
  state?(ctx: Omit<ModuleContext<N, S>, "state">): S;
  handle(ctx: ModuleContext<N, S>, sender: Sender, command: ParsedCommandOf<N>): Returns<CommandError | void>;
  /** The module's part of join_success for a new connection; computed before the join_success is sent. */
  joinState?(ctx: ModuleContext<N, S>, connection: Connection): Returns<JoinStateFor<N>>;
  hooks?: ModuleHooks<N, S>;
  /** Public participant fields the module owns (e.g. raised hands), for the given participants. */
  presence?(ctx: ModuleContext<N, S>, participantIds: readonly string[]): ReadonlyMap<string, Partial<Participant>>;
  service?(ctx: ModuleContext<N, S>): N extends keyof ModuleServices ? ModuleServices[N] : never;
}

export { type BoundModule, defineModule, type RoomModule } from "./define";
