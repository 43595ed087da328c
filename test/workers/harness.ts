import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { expect } from "vitest";
import type { ModuleDefinition, RoomModule } from "../../durable-objects/room/module";
import { ROOM_MODULES } from "../../durable-objects/room/modules";
import type { ModerationService } from "../../durable-objects/room/modules/moderation";
import type { RoomObject } from "../../durable-objects/room/room";
import { type CommandOf, MODERATION_AUTHORITY, type Namespace, type Room, type ServerFrame } from "../../src/protocol";
import type { FrameCollector } from "../helpers/collector";
import { api, devToken, join, newRoom, start, upgrade } from "./helpers";

type Row = Record<string, SqlStorageValue>;

/** For moderation test doubles: every moderation command, for the owner only. */
export const ownerOnlyModeration = Object.fromEntries(
  Object.keys(MODERATION_AUTHORITY).map((action) => [action, ["owner"]]),
) as unknown as ModuleDefinition<"moderation">["permissions"];

/** For moderation test doubles: the service other modules use, of a room with no moderation going on. */
export const idleModerationService = (): ModerationService => ({
  readLog: () => ({ entries: [], more: false }),
  waitingRoomChanged: async () => undefined,
  audioAllowed: () => true,
  microphonesRestricted: () => false,
  microphoneRestrictions: () => ({ enabled: false, unrestricted: [] }),
  restrictMicrophones: async () => undefined,
  note: () => undefined,
});

/** For moderation test doubles: the join state of a room with no moderation going on. */
export const idleModerationState = () => ({
  locked: false,
  waiting_room: "disabled" as const,
  hands_enabled: true,
  microphone_restrictions: { enabled: false, unrestricted: [] },
  waiting: [],
  banned: [],
});

/** For chat test doubles (which double send_message): chat's other commands, for nobody. */
export const undoubledChat = { get_history: [], set_enabled: [], clear_history: [] } as const;

/** For chat test doubles: the event a double answers a message with (a global one of `source`). */
export const doubledMessage = (source: string, content: string, id = "1") => ({
  message: "message_sent" as const,
  id,
  source,
  content,
  scope: "global" as const,
  timestamp: new Date().toISOString(),
});

/** For chat test doubles: the join state of a room whose chat is on and empty. */
export const idleChatState = () => ({ enabled: true, messages: [], more: false });

/** The tables a module's migrations create (its own state; no other module reads them). */
const tablesOf = (module: RoomModule) =>
  module.migrations.flatMap((step) => [...step.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?(\w+)/g)].map((m) => m[1]!));

const moduleOf = (namespace: Namespace) => ROOM_MODULES.find((m) => m.namespace === namespace)!;

const stubOf = (roomId: string) => env.ROOMS.get(env.ROOMS.idFromName(roomId));

/** A read-only copy of the rows of every table a module owns, for assertions about what is stored. */
export function dumpModule(roomId: string, namespace: Namespace): Promise<Record<string, Row[]>> {
  const tables = tablesOf(moduleOf(namespace));
  return runInDurableObject(stubOf(roomId), (_instance, state) =>
    Object.fromEntries(tables.map((t) => [t, state.storage.sql.exec<Row>(`SELECT * FROM ${t}`).toArray()])),
  );
}

/** The core's read-only state a test may assert on: pending timers (by owner), the armed alarm, participants. */
export function coreState(roomId: string) {
  return runInDurableObject(stubOf(roomId), async (_instance, state) => ({
    timers: state.storage.sql
      .exec<{ owner: string; key: string; due_at: number }>("SELECT owner, key, due_at FROM timers ORDER BY owner, key")
      .toArray(),
    alarm: await state.storage.getAlarm(),
    participants: state.storage.sql
      .exec<{ id: string; kind: string; role: string; left_at: number | null }>(
        "SELECT id, kind, role, disconnected_at AS left_at FROM participants ORDER BY id",
      )
      .toArray(),
  }));
}

/**
 * Makes every pending timer due now and runs the armed alarm early (the hooks run as they would when the time
 * comes); false when no alarm was armed.
 */
export async function fireTimers(roomId: string): Promise<boolean> {
  await runInDurableObject(stubOf(roomId), (_instance, state) => {
    state.storage.sql.exec("UPDATE timers SET due_at = ?", Date.now() - 1);
  });
  return runDurableObjectAlarm(stubOf(roomId));
}

/**
 * Time travel, in one place instead of tests editing the room's tables: participants who disconnected did so
 * `ms` earlier; tickets and invitations issued so far have expired.
 */
export const timeTravel = {
  leftEarlier: (roomId: string, ms: number, participantId?: string) =>
    runInDurableObject(stubOf(roomId), (_instance, state) => {
      const sql = "UPDATE participants SET disconnected_at = disconnected_at - ? WHERE disconnected_at IS NOT NULL";
      const closed = "UPDATE connections SET closed_at = closed_at - ? WHERE closed_at IS NOT NULL";
      if (participantId === undefined) {
        state.storage.sql.exec(sql, ms);
        state.storage.sql.exec(closed, ms);
      } else {
        state.storage.sql.exec(`${sql} AND id = ?`, ms, participantId);
        state.storage.sql.exec(`${closed} AND participant_id = ?`, ms, participantId);
      }
      // The roster keeps rows in memory; this edit bypasses it.
      (_instance as unknown as { roster: { forgetRows(): void } }).roster.forgetRows();
    }),
  expireTickets: (roomId: string) =>
    runInDurableObject(stubOf(roomId), (_instance, state) => {
      state.storage.sql.exec("UPDATE tickets SET expires_at = ?", Date.now() - 1);
    }),
  expireInvites: (roomId: string) =>
    runInDurableObject(stubOf(roomId), (_instance, state) => {
      state.storage.sql.exec("UPDATE invites SET expires_at = ?", Date.now() - 1);
    }),
};

/** A participant of a harnessed room: a real signalling connection. */
export class Peer {
  constructor(
    readonly id: string,
    readonly client: FrameCollector,
    readonly joined: Record<string, unknown>,
  ) {}

  /** Sends a command and resolves with the first frame that carries its transaction id (answer, echo or error). */
  async command<N extends Namespace>(namespace: N, payload: CommandOf<N>): Promise<ServerFrame> {
    const from = this.client.frames.length;
    const id = this.client.send(namespace, payload as Record<string, unknown>);
    return this.client.next((f) => f.transaction_id === id, 10_000, from);
  }

  /** Proves the connection is open and handled: a frame of an unknown action is answered (unknown_action). */
  async alive(): Promise<void> {
    const answer = await this.command("control", { action: "are_you_there" } as never);
    if ((answer.payload as { error?: string }).error !== "unknown_action") throw new Error(JSON.stringify(answer));
  }

  /** Like `command`, but expects an error frame and returns its code. */
  async refused<N extends Namespace>(namespace: N, payload: CommandOf<N>): Promise<string> {
    const answer = await this.command(namespace, payload);
    if (answer.payload.message !== "error") throw new Error(`expected an error, got ${JSON.stringify(answer)}`);
    return String((answer.payload as { error: string }).error);
  }
}

/** Sends a moderation command and expects its acknowledgement (the log entry); returns the entry. */
export async function ack(peer: Peer, command: CommandOf<"moderation">) {
  const answer = await peer.command("moderation", command);
  expect(answer.payload, JSON.stringify(command)).toMatchObject({
    message: "logged",
    entry: { action: command.action },
  });
  return (answer.payload as any).entry;
}

/** Waits until `peer` has been told of participant `id` (joined or update) in a state `match` accepts. */
export const sees = (peer: { client: FrameCollector }, id: string, match: (p: any) => boolean = () => true) =>
  peer.client.next((f) => {
    const payload = f.payload as any;
    const listed =
      payload.message === "joined" ? payload.participants : payload.message === "update" ? [payload.participant] : [];
    return listed.some((p: any) => p.participant_id === id && match(p));
  });

/**
 * Runs a real room object in the in-workerd tier and drives its modules through their commands and hooks:
 * participants are real signalling connections, timers fire through the object's alarm, and a module's tables
 * can be read for assertions about what is stored; it writes only the core's clocks (`fireTimers`, `timeTravel`),
 * and the core can be run against modules that misbehave (`install`; until the object is rebuilt).
 */
export class RoomHarness {
  private constructor(
    readonly room: Room,
    readonly ownerToken: string,
  ) {}

  static async create(body: Record<string, unknown> = {}, ownerName = "Owner"): Promise<RoomHarness> {
    const ownerToken = await devToken(ownerName);
    return new RoomHarness(await newRoom(ownerToken, body), ownerToken);
  }

  get stub(): DurableObjectStub<RoomObject> {
    return stubOf(this.room.id);
  }

  /**
   * A room with its owner, a moderator, a registered member and a guest, all in the room and announced (presence
   * goes out in batches: a leave before the guest's join went out would cancel it).
   */
  static async seated(ownerName = "Vorsitz") {
    const room = await RoomHarness.create({}, ownerName);
    const owner = await room.join();
    const moderator = await room.join("Moderation");
    await ack(owner, { action: "update_role", target: moderator.id, role: "moderator" });
    const member = await room.join("Mitglied");
    const guest = await room.joinGuest("Gast");
    await sees(owner, guest.id);
    return { room, owner, moderator, member, guest };
  }

  /** A registered user joins (the owner when `token` is omitted). */
  async join(name?: string, body: Record<string, unknown> = {}): Promise<Peer> {
    const token = name === undefined ? this.ownerToken : await devToken(name);
    const { client, joined } = await join(token, this.room.id, body);
    return new Peer(String(joined.participant_id), client, joined);
  }

  /** A registered user arrives; resolves at its first frame (join_success, or in_waiting_room when held). */
  async arrive(name: string): Promise<Peer> {
    const started = await start(await devToken(name), this.room.id);
    const { client } = await upgrade(this.room.id, started.ticket);
    if (!client) throw new Error("upgrade refused");
    const first = await client.next(() => true);
    return new Peer(started.participant_id, client, first.payload as Record<string, unknown>);
  }

  /** A guest joins with a fresh invitation; resolves at its first frame (join_success or in_waiting_room). */
  async joinGuest(name: string): Promise<Peer> {
    const invite = await api("POST", `/v1/rooms/${this.room.id}/invites`, { token: this.ownerToken, body: {} });
    const started = await api("POST", `/v1/rooms/${this.room.id}/start_invited`, {
      body: { invite_code: invite.body.invite_code, display_name: name },
      headers: { "x-test-client": `guest-${this.room.id}` },
    });
    if (started.status !== 200) throw new Error(`start_invited ${started.status} ${JSON.stringify(started.body)}`);
    const { client } = await upgrade(this.room.id, started.body.ticket);
    if (!client) throw new Error("upgrade refused");
    const first = await client.next(() => true);
    return new Peer(started.body.participant_id, client, first.payload as Record<string, unknown>);
  }

  dump(namespace: Namespace) {
    return dumpModule(this.room.id, namespace);
  }

  /**
   * Replaces the live object's modules (until it is rebuilt), to test the core against a module that misbehaves.
   * Connections made before keep their sockets; make them after installing.
   */
  install(modules: readonly RoomModule[]): Promise<void> {
    return runInDurableObject(this.stub, (instance) => {
      // The object's own wiring, reached from the test side only: production code has no such entry point.
      const room = instance as unknown as { host: unknown; buildHost(list: readonly RoomModule[]): unknown };
      room.host = room.buildHost(modules);
    });
  }
}
