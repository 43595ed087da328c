import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { defineModule } from "../../durable-objects/room/module";
import { ROOM_MODULES } from "../../durable-objects/room/modules";
import { readConfig } from "../../src/shared/config";
import {
  idleChatState,
  idleModerationService,
  idleModerationState,
  ownerOnlyModeration,
  RoomHarness,
  timeTravel,
  undoubledChat,
} from "./harness";
import { api, devToken, join, newRoom, oidcToken, start, upgrade } from "./helpers";

/** A moderation double whose `accept` makes its target a moderator (the core's setRole capability). */
const promoting = defineModule({
  namespace: "moderation",
  migrations: ROOM_MODULES.find((m) => m.namespace === "moderation")!.migrations,
  permissions: ownerOnlyModeration,
  async handle(ctx, _sender, command) {
    if ("target" in command) await ctx.room.setRole(command.target, "moderator");
  },
  joinState: idleModerationState,
  service: idleModerationService,
});

/** A chat double whose message names a participant to make moderator (the core's setRole capability). */
const promotingChat = defineModule({
  namespace: "chat",
  migrations: ROOM_MODULES.find((m) => m.namespace === "chat")!.migrations,
  permissions: { send_message: ["owner"], ...undoubledChat },
  async handle(ctx, _sender, command) {
    if (command.action === "send_message") await ctx.room.setRole(command.content, "moderator");
  },
  joinState: idleChatState,
});

/** A gate the test closes: the next join state waits at it (`reached`) until the test opens it. */
let gate: { reached: Promise<void>; open(): void; arrive(): Promise<void> } | undefined;
function closeGate() {
  let arrived!: () => void;
  let release!: () => void;
  const reached = new Promise<void>((r) => (arrived = r));
  const opened = new Promise<void>((r) => (release = r));
  gate = {
    reached,
    open: release,
    arrive: () => {
      arrived();
      gate = undefined;
      return opened;
    },
  };
  return gate;
}

/** The real chat module, whose join state waits at the test's gate when one is closed. */
const realChat = ROOM_MODULES.find((m) => m.namespace === "chat")!;
const gatedChat = defineModule({
  namespace: "chat",
  migrations: realChat.migrations,
  permissions: { send_message: ["owner", "moderator", "user", "guest"], ...undoubledChat },
  handle: () => undefined,
  async joinState() {
    await gate?.arrive();
    return idleChatState();
  },
});

const config = () => readConfig(env as never);
const startAs = (token: string, roomId: string) => api("POST", `/v1/rooms/${roomId}/start`, { token, body: {} });

async function expectRefused(token: string, roomId: string, code: string): Promise<void> {
  const refused = await startAs(token, roomId);
  expect(refused.status).toBe(403);
  expect(refused.body.error.code).toBe(code);
}

/** Starts and connects; resolves at the connection's first frame (join_success or in_waiting_room). */
async function arrive(token: string, roomId: string) {
  const started = await start(token, roomId);
  const { client } = await upgrade(roomId, started.ticket);
  if (!client) throw new Error("upgrade refused");
  const first = await client.next(() => true);
  return { client, id: started.participant_id, first };
}

describe("participant limit", () => {
  it("admits at most max_participants, unused tickets counted; owners and those within their window pass", async () => {
    const owner = await devToken("Limit-Vorsitz");
    const room = await newRoom(owner, { max_participants: 2 });
    expect(room).toMatchObject({ max_participants: 2, participant_limit: 2 });
    const [anna, bernd, clara] = await Promise.all(
      ["Limit-Anna", "Limit-Bernd", "Limit-Clara"].map((n) => devToken(n)),
    );
    const annas = await join(anna!, room.id);
    // Bernd's ticket holds his seat before he connects, so a burst of starts cannot overfill the room.
    const berndTicket = await start(bernd!, room.id);
    await expectRefused(clara!, room.id, "participant_limit_reached");
    // The owner may join a full room.
    const chair = await join(owner, room.id);
    expect((await upgrade(room.id, berndTicket.ticket)).client).toBeDefined();
    // A second device of someone in the room needs no seat.
    expect((await startAs(anna!, room.id)).status).toBe(200);
    await timeTravel.expireTickets(room.id);

    // Anna leaves: within her resumption window she may come back although the room is full again.
    annas.client.close(1000);
    await annas.client.waitClosed();
    await expectRefused(clara!, room.id, "participant_limit_reached");
    expect((await startAs(anna!, room.id)).status).toBe(200);
    await timeTravel.expireTickets(room.id);
    await timeTravel.leftEarlier(room.id, config().RESUMPTION_WINDOW_SECONDS * 1000 + 1000);
    await expectRefused(anna!, room.id, "participant_limit_reached");

    // The owner lifts the room's own limit: the server's cap applies.
    const lifted = await api("PATCH", `/v1/rooms/${room.id}`, { token: owner, body: { max_participants: null } });
    expect(lifted.body).toMatchObject({ max_participants: null, participant_limit: config().ROOM_MAX_PARTICIPANTS });
    expect((await startAs(clara!, room.id)).status).toBe(200);
    chair.client.close(1000);
  });

  it("keeps the seat of a connection still being set up", async () => {
    const room = await RoomHarness.create({ max_participants: 2 }, "Gate-Owner");
    await room.install(ROOM_MODULES.map((m) => (m.namespace === "chat" ? gatedChat : m)));
    await room.join();
    // Bernd's upgrade waits in the modules' join states (as for TURN credentials): his ticket is used, he is not
    // connected yet, and still the room has no seat for Clara.
    const gate = closeGate();
    const bernd = await start(await devToken("Gate-Bernd"), room.room.id);
    const upgrading = upgrade(room.room.id, bernd.ticket);
    await gate.reached;
    await expectRefused(await devToken("Gate-Clara"), room.room.id, "participant_limit_reached");
    gate.open();
    const { client } = await upgrading;
    expect((await client!.message("control", "join_success")).payload).toMatchObject({
      participant_id: bernd.participant_id,
    });
    await expectRefused(await devToken("Gate-Clara"), room.room.id, "participant_limit_reached");
  });

  it("refuses limits above the server's cap and nonsense", async () => {
    const owner = await devToken("Limit-Owner2");
    const cap = config().ROOM_MAX_PARTICIPANTS;
    const tooMany = await api("POST", "/v1/rooms", { token: owner, body: { max_participants: cap + 1 } });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error).toMatchObject({ code: "invalid_request", message: expect.stringContaining(`${cap}`) });
    for (const bad of [0, -1, 1.5, "10", 10_000_000]) {
      const answer = await api("POST", "/v1/rooms", { token: owner, body: { max_participants: bad } });
      expect(answer.status).toBe(400);
    }
    const room = await newRoom(owner);
    expect(room).toMatchObject({ max_participants: null, participant_limit: cap });
    const patched = await api("PATCH", `/v1/rooms/${room.id}`, { token: owner, body: { max_participants: cap + 1 } });
    expect(patched.body.error.code).toBe("invalid_request");
  });

  it("lets a moderator into a full room", async () => {
    const room = await RoomHarness.create({ max_participants: 2 }, "Limit-Chair3");
    await room.install(ROOM_MODULES.map((m) => (m.namespace === "moderation" ? promoting : m)));
    const owner = await room.join();
    const mod = await room.join("Limit-Mod");
    await owner.client.message("control", "joined");
    // Promotion arrives with the moderation issue; the core's setRole is what it will call.
    owner.client.send("moderation", { action: "accept", target: mod.id });
    await owner.client.next(
      (f) => f.payload.message === "update" && (f.payload as any).participant.role === "moderator",
    );
    mod.client.close(1000);
    await mod.client.waitClosed();
    await room.join("Limit-Filler");
    await timeTravel.leftEarlier(room.room.id, config().RESUMPTION_WINDOW_SECONDS * 1000 + 1000, mod.id);
    await expectRefused(await devToken("Limit-Other"), room.room.id, "participant_limit_reached");
    expect((await startAs(await devToken("Limit-Mod"), room.room.id)).status).toBe(200);
  });
});

describe("connections per participant", () => {
  it("refuses the next start past MAX_CONNECTIONS_PER_PARTICIPANT; unused tickets give way to new ones", async () => {
    const owner = await devToken("Conn-Owner");
    const room = await newRoom(owner);
    const limit = config().MAX_CONNECTIONS_PER_PARTICIPANT;
    const devices = [];
    for (let i = 0; i < limit; i++) devices.push(await join(owner, room.id));
    await expectRefused(owner, room.id, "too_many_connections");
    const gone = devices.pop()!;
    gone.client.close(1000);
    await gone.client.waitClosed();

    // A client retrying over a bad network leaves tickets it never uses: the oldest give way, never the room.
    const tickets = [];
    for (let i = 0; i < limit + 2; i++) tickets.push(await start(owner, room.id));
    expect((await upgrade(room.id, tickets[0]!.ticket, { address: "192.0.2.77" })).response.status).toBe(401);
    const { client } = await upgrade(room.id, tickets.at(-1)!.ticket);
    await client!.message("control", "join_success");
    await expectRefused(owner, room.id, "too_many_connections");
  });
});

describe("waiting room bounds and changes", () => {
  it("holds at most WAITING_ROOM_MAX, tells chairs each change once, and lets nobody into a full room", async () => {
    const owner = await devToken("Wait-Chair");
    const room = await newRoom(owner, { waiting_room: "everyone", max_participants: 2 });
    const chair = await join(owner, room.id);
    const max = config().WAITING_ROOM_MAX;
    const waiting: Awaited<ReturnType<typeof arrive>>[] = [];
    for (let i = 0; i < max; i++) {
      const arrival = await arrive(await devToken(`Wait-${i}`), room.id);
      expect(arrival.first.payload.message).toBe("in_waiting_room");
      waiting.push(arrival);
    }
    await expectRefused(await devToken("Wait-Late"), room.id, "waiting_room_full");
    // Each arrival was announced alone (no list re-sent per newcomer).
    const changes = () =>
      chair.client.frames.filter((f) => f.payload.message === "waiting_room_changed").map((f) => f.payload as any);
    await chair.client.next(() => changes().length === max);
    expect(changes().map((c) => [c.added.map((w: any) => w.participant_id), c.removed])).toEqual(
      waiting.map((w) => [[w.id], []]),
    );
    // A chair's later device sees the whole list in join_success.
    const second = await join(owner, room.id);
    expect(second.joined.modules.moderation.waiting.map((w: any) => w.participant_id)).toEqual(
      waiting.map((w) => w.id),
    );

    // Waiting ones take no seat of the room: the first is let in (owner + 1 = the limit), the next cannot be.
    chair.client.send("moderation", { action: "accept", target: waiting[0]!.id });
    await waiting[0]!.client.message("control", "join_success");
    await chair.client.next(() => changes().length === max + 1);
    expect(changes()[max]).toEqual({ message: "waiting_room_changed", added: [], removed: [waiting[0]!.id] });
    const from = chair.client.frames.length;
    const id = chair.client.send("moderation", { action: "accept", target: waiting[1]!.id });
    const full = await chair.client.next((f) => f.transaction_id === id, 10_000, from);
    expect(full.payload).toMatchObject({ message: "error", error: "participant_limit_reached" });
    // The waiting room fills up again; turned away, one removal, and the freed place takes the next arrival.
    const refill = await arrive(await devToken("Wait-Refill"), room.id);
    expect(refill.first.payload.message).toBe("in_waiting_room");
    await expectRefused(await devToken("Wait-Late"), room.id, "waiting_room_full");
    chair.client.send("moderation", { action: "reject", target: waiting[1]!.id });
    await chair.client.next(() => changes().some((c) => c.removed.includes(waiting[1]!.id)));
    expect((await arrive(await devToken("Wait-Late"), room.id)).first.payload.message).toBe("in_waiting_room");
  });

  it("lets a waiter who left and comes back once the waiting room is off only into a room with a seat", async () => {
    const owner = await devToken("Wait-Off-Chair");
    const room = await newRoom(owner, { waiting_room: "everyone", max_participants: 2 });
    await join(owner, room.id);
    const annaToken = await devToken("Wait-Off-Anna");
    const anna = await arrive(annaToken, room.id);
    expect(anna.first.payload.message).toBe("in_waiting_room");
    anna.client.close(1000);
    await anna.client.waitClosed();
    await api("PATCH", `/v1/rooms/${room.id}`, { token: owner, body: { waiting_room: "disabled" } });
    await join(await devToken("Wait-Off-Bernd"), room.id);
    // Within her window Anna keeps her place in the waiting room, not a seat in the full room.
    await expectRefused(annaToken, room.id, "participant_limit_reached");
  });

  it("gives someone who becomes a moderator the whole waiting list", async () => {
    const room = await RoomHarness.create({ waiting_room: "everyone" }, "Wait-Chair2");
    // The real moderation module; only chat is a double here, whose message promotes its sender's target.
    await room.install(ROOM_MODULES.map((m) => (m.namespace === "chat" ? promotingChat : m)));
    const owner = await room.join();
    const clerk = await arrive(await devToken("Wait-Clerk"), room.room.id);
    owner.client.send("moderation", { action: "accept", target: clerk.id });
    await clerk.client.message("control", "join_success");
    const waiter = await arrive(await devToken("Wait-Someone"), room.room.id);
    // One emit reaches every chair: once the owner has it, the clerk (no chair yet) has not had it.
    await owner.client.next(
      (f) => f.payload.message === "waiting_room_changed" && JSON.stringify(f.payload).includes(waiter.id),
    );
    expect(clerk.client.frames.some((f) => f.payload.message === "waiting_room_changed")).toBe(false);
    owner.client.send("chat", { action: "send_message", content: clerk.id });
    const list = await clerk.client.message("moderation", "waiting_room_changed");
    expect(list.payload).toEqual({
      message: "waiting_room_changed",
      added: [{ participant_id: waiter.id, display_name: "Wait-Someone", kind: "user" }],
      removed: [],
    });
  });

  it("does not count waiting participants toward the mesh limit and relays nothing to them", async () => {
    const room = await RoomHarness.create({ waiting_room: "guests" }, "Mesh-Owner");
    const owner = await room.join();
    const mesh = config().MESH_MAX_PARTICIPANTS;
    const members = [owner];
    for (let i = 1; i < mesh; i++) members.push(await room.join(`Mesh-${i}`));
    const guest = await room.joinGuest("Wartend");
    expect(guest.joined.message).toBe("in_waiting_room");
    const last = members[mesh - 1]!;
    last.client.send("media", { action: "publish", stream: "camera", audio: true, video: true });
    const published = await last.client.message("media", "publisher_update");
    expect(published.payload).toMatchObject({ publisher: { participant_id: last.id } });
    const relay = await last.command("media", {
      action: "relay",
      target: guest.id,
      publisher: last.id,
      stream: "camera",
      kind: "offer",
      sdp: "v=0",
    });
    expect(relay.payload).toMatchObject({ message: "error", error: "not_found" });
    // Barrier: the guest's own command is answered after anything the room sent them before.
    expect(await guest.refused("control", { action: "raise_hand" })).toBe("insufficient_permissions");
    expect(guest.client.frames.some((f) => f.namespace === "media")).toBe(false);
  });
});

describe("rooms per user and the room list", () => {
  it("lists the caller's own rooms newest first and refuses more than MAX_ROOMS_PER_USER", async () => {
    const owner = await devToken("Quota-Owner");
    const other = await devToken("Quota-Other");
    const elsewhere = await devToken("Quota-Owner", "other-tenant");
    const max = config().MAX_ROOMS_PER_USER;
    const created: string[] = [];
    for (let i = 0; i < max; i++) created.push((await newRoom(owner, { name: `Raum ${i}` })).id);
    const over = await api("POST", "/v1/rooms", { token: owner, body: { name: "zu viel" } });
    expect(over.status).toBe(403);
    expect(over.body.error.code).toBe("quota_exceeded");
    // Others are not limited by it, and see none of these rooms.
    expect((await api("POST", "/v1/rooms", { token: other, body: {} })).status).toBe(201);
    expect((await api("GET", "/v1/rooms", { token: elsewhere })).body).toEqual({ rooms: [] });

    const listed = await api("GET", "/v1/rooms", { token: owner });
    expect(listed.status).toBe(200);
    expect(listed.body.rooms.map((r: { id: string }) => r.id).sort()).toEqual([...created].sort());
    const times = listed.body.rooms.map((r: { created_at: string }) => Date.parse(r.created_at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(listed.body.rooms[0]).toMatchObject({ is_owner: true, participant_limit: expect.any(Number) });

    // Deleting a room gives its place back.
    expect((await api("DELETE", `/v1/rooms/${created[0]}`, { token: owner })).status).toBe(204);
    const again = await api("POST", "/v1/rooms", { token: owner, body: { name: "wieder" } });
    expect(again.status).toBe(201);
    const after = (await api("GET", "/v1/rooms", { token: owner })).body.rooms.map((r: { id: string }) => r.id);
    expect(after).not.toContain(created[0]);
    expect(after).toContain(again.body.id);
    const operator = await api("GET", "/v1/rooms", { headers: { authorization: `Bearer ${env.OPERATOR_TOKEN}` } });
    expect(operator.body.error.code).toBe("insufficient_permissions");
  });
});

describe("text fields", () => {
  it("refuses control characters in chat (but line feeds and tabs) and bounds the history a joiner gets", async () => {
    const room = await RoomHarness.create({}, "Chat-Owner");
    const owner = await room.join();
    for (const bad of ["\u0001", "a\u0000b", "\u001b[31mrot", "zeile\r\nzwei", "\u007f", "\u0085", "a\ud800b"]) {
      expect(await owner.refused("chat", { action: "send_message", content: bad })).toBe("invalid_frame");
    }
    // A `__proto__` key is an unknown key like any other (found by the fuzzing: it used to slip through).
    const sneaky = JSON.parse('{"action":"send_message","content":"hi","__proto__":{}}') as Record<string, unknown>;
    const id = owner.client.send("chat", sneaky);
    const answer = await owner.client.next((f) => f.transaction_id === id);
    expect(answer.payload).toMatchObject({ message: "error", error: "invalid_frame" });
    expect((await room.dump("chat")).chat_messages).toEqual([]);
    const fine = await owner.command("chat", { action: "send_message", content: "Punkt 1:\n\tHaushalt" });
    expect(fine.payload).toMatchObject({ message: "message_sent", content: "Punkt 1:\n\tHaushalt" });

    // History by bytes: large messages push the oldest out of join_success (the room keeps them). Another
    // participant writes them, within the slow-down's burst.
    const budget = config().CHAT_JOIN_HISTORY_BYTES;
    const big = "ä".repeat(1500); // 3,000 bytes
    const count = Math.ceil(budget / 3000) + 2;
    expect(count).toBeLessThanOrEqual(config().CHAT_BURST);
    const writer = await room.join("Chat-Writer");
    for (let i = 0; i < count; i++) await writer.command("chat", { action: "send_message", content: `${i}${big}` });
    const joiner = await room.join("Chat-Joiner");
    const messages = (joiner.joined.modules as any).chat.messages as { content: string }[];
    expect(messages.length).toBeGreaterThan(0);
    expect(messages.length).toBeLessThan(count);
    expect(new TextEncoder().encode(JSON.stringify(messages)).byteLength).toBeLessThanOrEqual(budget);
    expect(messages.at(-1)!.content).toBe(`${count - 1}${big}`);
    // Older ones are there to page back to.
    expect((joiner.joined.modules as any).chat.more).toBe(true);
  });

  it("refuses format characters in display names (keeps joiners), also as an identity provider's name", async () => {
    const owner = await devToken("Name-Owner");
    const room = await newRoom(owner);
    for (const name of ["\u202eevil.exe", "a\u2066b", "x\u200by", "\u0007", "line\u2028break", "\ud800"]) {
      const devLogin = await api("POST", "/v1/auth/dev-login", { body: { name } });
      expect(devLogin.status).toBe(400);
      const started = await api("POST", `/v1/rooms/${room.id}/start`, { token: owner, body: { display_name: name } });
      expect(started.body.error.code).toBe("invalid_request");
    }
    const named = await api("POST", "/v1/rooms", { token: owner, body: { name: "Rat\u202e" } });
    expect(named.status).toBe(400);
    // Emoji sequences and scripts need the zero-width joiners.
    const joined = await join(owner, room.id, { display_name: "👩‍💻 Anna" });
    expect(joined.joined.display_name).toBe("👩‍💻 Anna");
    joined.client.close(1000);
    // A name claim that could not have been typed is not shown; the neutral default is.
    const spoofer = await oidcToken({ sub: "spoofer", name: "\u202egnp.exe" });
    const theirs = await newRoom(spoofer);
    expect((await join(spoofer, theirs.id)).joined.display_name).toBe("Participant");
  });
});
