import { describe, expect, it } from "vitest";
import { defineModule, type ModuleHooks, type RoomModule } from "../../durable-objects/room/module";
import { ROOM_MODULES } from "../../durable-objects/room/modules";
import { Transport } from "../../durable-objects/room/transport";
import type { Namespace } from "../../src/protocol";
import {
  coreState,
  doubledMessage,
  idleChatState,
  idleModerationService,
  idleModerationState,
  ownerOnlyModeration,
  RoomHarness,
  undoubledChat,
} from "./harness";
import { api, upgrade } from "./helpers";

const EVERYONE = ["owner", "moderator", "user", "guest"] as const;

/** The room's modules with one namespace's module replaced by a test double of the same namespace. */
const withModule = (replacement: RoomModule): RoomModule[] =>
  ROOM_MODULES.map((m) => (m.namespace === replacement.namespace ? replacement : m));
const realModule = (namespace: Namespace) => ROOM_MODULES.find((m) => m.namespace === namespace)!;

/** A moderation module that only brings the given hooks (its commands do nothing). */
const moderationWith = (hooks: ModuleHooks<"moderation", undefined>) =>
  defineModule({
    namespace: "moderation",
    migrations: realModule("moderation").migrations,
    permissions: ownerOnlyModeration,
    handle: () => undefined,
    joinState: idleModerationState,
    service: idleModerationService,
    hooks,
  });

/** Chat that stores a message and then fails: synchronously, or after awaiting I/O. */
const failingChat = (when: "sync" | "async") =>
  defineModule({
    namespace: "chat",
    migrations: realModule("chat").migrations,
    permissions: { send_message: EVERYONE, ...undoubledChat },
    handle(ctx, sender, command) {
      if (command.action !== "send_message") return;
      ctx.sql.exec(
        "INSERT INTO chat_messages (source, content, sent_at) VALUES (?, ?, ?)",
        sender.participantId,
        command.content,
        ctx.now(),
      );
      if (when === "sync") throw new Error("the store broke");
      return Promise.reject(new Error("the TURN fleet is unreachable"));
    },
    joinState: idleChatState,
  });

describe("error boundary", () => {
  it("answers internal_error with the transaction id and rolls back a failing handler's synchronous SQL", async () => {
    const room = await RoomHarness.create();
    await room.install(withModule(failingChat("sync")));
    const owner = await room.join();
    const answer = await owner.command("chat", { action: "send_message", content: "lost" });
    expect(answer.payload).toMatchObject({ message: "error", error: "internal_error" });
    expect((await room.dump("chat")).chat_messages).toEqual([]);
    // The room keeps working: the next command is answered too.
    expect(await owner.refused("chat", { action: "send_message", content: "again" })).toBe("internal_error");
    expect((await room.dump("chat")).chat_messages).toEqual([]);
  });

  it("answers internal_error when an awaited call fails", async () => {
    const room = await RoomHarness.create();
    await room.install(withModule(failingChat("async")));
    const owner = await room.join();
    expect(await owner.refused("chat", { action: "send_message", content: "x" })).toBe("internal_error");
  });

  it("keeps a join working when a module's hook throws", async () => {
    const room = await RoomHarness.create();
    const throwingHooks = defineModule({
      namespace: "chat",
      migrations: realModule("chat").migrations,
      permissions: { send_message: EVERYONE, ...undoubledChat },
      handle: (ctx, sender, command) => {
        if (command.action === "send_message") {
          ctx.emit({ to: "everyone" }, doubledMessage(sender.participantId, command.content), sender);
        }
      },
      joinState: () => Promise.reject(new Error("join state broke")),
      hooks: {
        connected: () => {
          throw new Error("connected broke");
        },
        closed: () => {
          throw new Error("closed broke");
        },
      },
    });
    await room.install(withModule(throwingHooks));
    const owner = await room.join();
    // A failing join state gives null for that module; the other modules' states are there.
    expect(owner.joined.modules).toMatchObject({ chat: null, moderation: { waiting: [] } });
    const bob = await room.join("Bob");
    await owner.client.message("control", "joined");
    bob.client.close(1000);
    await owner.client.message("control", "left");
    expect((await owner.command("chat", { action: "send_message", content: "still here" })).payload).toMatchObject({
      message: "message_sent",
      content: "still here",
    });
  });
});

/**
 * A chat double: content "join <group>" moves the sender into that group (answered to the sender only), "all …"
 * goes to everyone, anything else to the sender's group. Its rule refuses the word "forbidden" before the handler.
 */
const groupChat = defineModule({
  namespace: "chat",
  migrations: realModule("chat").migrations,
  permissions: {
    send_message: {
      roles: EVERYONE,
      allow: (_ctx, _sender, command) =>
        command.content.includes("forbidden") ? { error: "insufficient_permissions", text: "no" } : undefined,
    },
    ...undoubledChat,
  },
  handle(ctx, sender, command) {
    if (command.action !== "send_message") return;
    const [verb, ...rest] = command.content.split(" ");
    if (verb === "join") ctx.room.setGroup(sender.participantId, rest.join(" "));
    const group = ctx.roster.groupOf(sender.participantId);
    const event = doubledMessage(sender.participantId, command.content, String(ctx.now()));
    if (verb === "join") return ctx.reply(sender, event);
    ctx.emit(verb === "all" || group === undefined ? { to: "everyone" } : { to: "group", group }, event, sender);
  },
  joinState: idleChatState,
});

describe("module contract", () => {
  it("applies an action's rule after its roles and before its handler", async () => {
    const room = await RoomHarness.create();
    await room.install(withModule(groupChat));
    const owner = await room.join();
    expect(await owner.refused("chat", { action: "send_message", content: "a forbidden word" })).toBe(
      "insufficient_permissions",
    );
    expect((await owner.command("chat", { action: "send_message", content: "all fine" })).payload).toMatchObject({
      content: "all fine",
    });
  });

  it("addresses a group: only its members receive, others get what follows", async () => {
    const room = await RoomHarness.create();
    await room.install(withModule(groupChat));
    const [anna, bert, cleo] = [await room.join(), await room.join("Bert"), await room.join("Cleo")];
    for (const peer of [anna, cleo]) await peer.command("chat", { action: "send_message", content: "join g1" });
    await cleo.command("chat", { action: "send_message", content: "hello g1" });
    // Frames of one socket arrive in order: when Bert has the later message to everyone, the group one is past.
    await anna.command("chat", { action: "send_message", content: "all barrier" });
    await bert.client.next((f) => "content" in f.payload && f.payload.content === "all barrier");
    const contents = (peer: typeof anna) =>
      peer.client.frames.flatMap((f) => ("content" in f.payload ? [f.payload.content] : []));
    expect(contents(bert)).toEqual(["all barrier"]);
    await anna.client.next((f) => "content" in f.payload && f.payload.content === "all barrier");
    expect(contents(anna)).toEqual(["join g1", "hello g1", "all barrier"]);
  });

  it("refuses a start when a module's admit hook refuses, and creates nobody", async () => {
    const room = await RoomHarness.create();
    const closedDoor = moderationWith({
      admit: (_ctx, candidate) =>
        candidate.kind === "guest"
          ? { decision: "refuse", error: "insufficient_permissions", text: "closed" }
          : undefined,
    });
    await room.install(withModule(closedDoor));
    const invite = await api("POST", `/v1/rooms/${room.room.id}/invites`, { token: room.ownerToken, body: {} });
    const refused = await api("POST", `/v1/rooms/${room.room.id}/start_invited`, {
      body: { invite_code: invite.body.invite_code, display_name: "Gast" },
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: "insufficient_permissions", message: "closed" });
    // Nobody was stored: the room knows no participant at all (not even one who never connected).
    expect((await coreState(room.room.id)).participants).toEqual([]);
  });
});

describe("capabilities the core grants", () => {
  /** Moderation double: accept lets a held participant in or else makes them moderator; reject holds them. */
  const chairTools = defineModule({
    namespace: "moderation",
    migrations: realModule("moderation").migrations,
    permissions: ownerOnlyModeration,
    async handle(ctx, _sender, command) {
      if (!("target" in command)) return;
      if (command.action === "reject") await ctx.room.hold(command.target);
      else if (ctx.roster.member(command.target)?.held) await ctx.room.release(command.target);
      else await ctx.room.setRole(command.target, "moderator");
    },
    joinState: idleModerationState,
    service: idleModerationService,
    hooks: {
      roleChanged(ctx, participantId, from, to) {
        const waiting = [{ participant_id: participantId, display_name: `${from}→${to}`, kind: "user" as const }];
        ctx.emit(
          { to: "participant", id: participantId },
          { message: "waiting_room_changed", added: waiting, removed: [] },
        );
      },
    },
  });

  it("changes a role (announced, roleChanged hook), holds a participant and lets them in again", async () => {
    const room = await RoomHarness.create();
    await room.install(withModule(chairTools));
    const owner = await room.join();
    const bob = await room.join("Bob");
    await owner.client.message("control", "joined");

    owner.client.send("moderation", { action: "accept", target: bob.id });
    const update = await owner.client.message("control", "update");
    expect(update.payload).toMatchObject({ participant: { participant_id: bob.id, role: "moderator" } });
    const hook = await bob.client.message("moderation", "waiting_room_changed");
    expect(hook.payload).toMatchObject({ added: [{ display_name: "user→moderator" }] });

    owner.client.send("moderation", { action: "reject", target: bob.id });
    const left = await owner.client.message("control", "left");
    expect(left.payload).toEqual({ message: "left", participants: [bob.id], reason: "removed" });
    expect(await bob.refused("chat", { action: "send_message", content: "held" })).toBe("insufficient_permissions");

    const mark = bob.client.frames.length;
    owner.client.send("moderation", { action: "accept", target: bob.id });
    const welcome = await bob.client.message("control", "join_success", 10_000, mark);
    expect(welcome.payload).toMatchObject({ role: "moderator", participants: [{ participant_id: owner.id }] });
    await owner.client.next((f) => f.payload.message === "joined", 10_000, owner.client.frames.indexOf(left));
    expect((await bob.command("chat", { action: "send_message", content: "back" })).payload).toMatchObject({
      content: "back",
    });
  });
});

describe("failing admission and services", () => {
  const throwingDoor = moderationWith({
    admit: (_ctx, candidate) => {
      if (candidate.kind === "guest") throw new Error("ban list unreadable");
      return undefined;
    },
    connected: (_ctx, _connection, held) => {
      if (!held) throw new Error("welcome broke");
    },
  });

  it("refuses when an admission check throws, and tells a connection whose setup hook failed", async () => {
    const room = await RoomHarness.create();
    await room.install(withModule(throwingDoor));
    const invite = await api("POST", `/v1/rooms/${room.room.id}/invites`, { token: room.ownerToken, body: {} });
    const refused = await api("POST", `/v1/rooms/${room.room.id}/start_invited`, {
      body: { invite_code: invite.body.invite_code, display_name: "Gast" },
    });
    expect(refused.status).toBe(500);
    expect(refused.body.error.code).toBe("internal_error");
    expect((await coreState(room.room.id)).participants).toEqual([]);
    const owner = await room.join();
    const notice = await owner.client.message("moderation", "error");
    expect(notice.payload).toMatchObject({ error: "internal_error" });
  });

  it("lets a module call another module's service (chat → media.sfuMoved)", async () => {
    const room = await RoomHarness.create();
    const chatMovesMedia = defineModule({
      namespace: "chat",
      migrations: realModule("chat").migrations,
      permissions: { send_message: ["owner"], ...undoubledChat },
      handle: (ctx) => ctx.services.media.sfuMoved(null, "removed"),
      joinState: idleChatState,
    });
    await room.install(withModule(chatMovesMedia));
    const owner = await room.join();
    owner.client.send("chat", { action: "send_message", content: "move" });
    const changed = await owner.client.message("media", "sfu_changed");
    expect(changed.payload).toEqual({ message: "sfu_changed", reason: "removed", available: false });
  });
});

describe("admission at the upgrade", () => {
  it("holds a newcomer when a module says so only at the upgrade", async () => {
    const room = await RoomHarness.create();
    const lateDoor = moderationWith({
      admit: (_ctx, candidate) =>
        candidate.phase === "upgrade" && candidate.kind === "guest" ? { decision: "hold" } : undefined,
    });
    await room.install(withModule(lateDoor));
    const invite = await api("POST", `/v1/rooms/${room.room.id}/invites`, { token: room.ownerToken, body: {} });
    const started = await api("POST", `/v1/rooms/${room.room.id}/start_invited`, {
      body: { invite_code: invite.body.invite_code, display_name: "Gast" },
    });
    expect(started.status).toBe(200);
    const { client } = await upgrade(room.room.id, started.body.ticket);
    // The answer to its first command is the barrier: before it, a join_success would have come first.
    const id = client!.send("chat", { action: "send_message", content: "hello?" });
    const answer = await client!.next((f) => f.transaction_id === id);
    expect(answer.payload).toMatchObject({ message: "error", error: "insufficient_permissions" });
    expect(client!.frames.some((f) => f.payload.message === "join_success")).toBe(false);
  });
});

describe("sending frames", () => {
  it("closes a connection with 1011 when a frame cannot be sent, so its client resumes (fake socket)", () => {
    const closes: [number, string][] = [];
    const socket = {
      send() {
        throw new Error("send failed");
      },
      close(code: number, reason: string) {
        closes.push([code, reason]);
      },
    } as unknown as WebSocket;
    const transport = new Transport(() => undefined as never);
    transport.sendRaw(socket, "{}");
    expect(closes).toEqual([[1011, "a frame could not be sent"]]);
  });
});
