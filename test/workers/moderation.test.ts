import { describe, expect, it } from "vitest";
import { defineModule } from "../../durable-objects/room/module";
import { ROOM_MODULES } from "../../durable-objects/room/modules";
import type { FrameCollector } from "../helpers/collector";
import {
  ack,
  coreState,
  doubledMessage,
  fireTimers,
  idleChatState,
  type Peer,
  RoomHarness,
  sees,
  timeTravel,
  undoubledChat,
} from "./harness";
import { api, devToken, join, newRoom, setting, start, upgrade } from "./helpers";

/** A guest with an invite: their connection and its first frame. */
async function guest(
  token: string,
  roomId: string,
  name: string,
): Promise<{ client: FrameCollector; participantId: string }> {
  const invite = (await api("POST", `/v1/rooms/${roomId}/invites`, { token, body: {} })).body.invite_code;
  const started = await api("POST", `/v1/rooms/${roomId}/start_invited`, {
    body: { invite_code: invite, display_name: name },
  });
  const { client } = await upgrade(roomId, started.body.ticket);
  if (!client) throw new Error("upgrade refused");
  return { client, participantId: started.body.participant_id };
}

describe("waiting room (moderation)", () => {
  it("holds guests until a moderator admits them; waiting guests see nothing of the room, may do nothing", async () => {
    const owner = await devToken("Vorsitz");
    const room = await newRoom(owner, { waiting_room: "guests" });
    const chair = await join(owner, room.id);
    expect(chair.joined.modules.moderation).toMatchObject({ waiting: [], banned: [], locked: false });
    // A registered user is not held when only guests wait.
    const clerk = await join(await devToken("Schriftführung"), room.id);
    expect(clerk.joined.modules.moderation).toMatchObject({ waiting: [], banned: [], waiting_room: "guests" });

    const citizen = await guest(owner, room.id, "Bürgerin");
    expect(
      citizen.client.frames[0]?.payload ?? (await citizen.client.message("moderation", "in_waiting_room")).payload,
    ).toEqual({
      message: "in_waiting_room",
      display_name: "Bürgerin",
    });
    const update = await chair.client.message("moderation", "waiting_room_changed");
    expect(update.payload).toEqual({
      message: "waiting_room_changed",
      added: [{ participant_id: citizen.participantId, display_name: "Bürgerin", kind: "guest" }],
      removed: [],
    });

    // Nothing of the room reaches the waiting guest, nothing they send is done.
    chair.client.send("chat", { action: "send_message", content: "Tagesordnung" });
    await clerk.client.message("chat", "message_sent");
    for (const [namespace, payload] of [
      ["chat", { action: "send_message", content: "Hallo?" }],
      ["media", { action: "publish", stream: "camera", audio: true, video: true }],
      ["media", { action: "publish_offer", stream: "camera", sdp: "v=0" }],
      ["control", { action: "raise_hand" }],
      ["moderation", { action: "accept", target: citizen.participantId }],
    ] as const) {
      const from = citizen.client.frames.length;
      citizen.client.send(namespace, payload);
      expect((await citizen.client.error(from)).payload).toMatchObject({ error: "insufficient_permissions" });
    }
    expect(citizen.client.frames.some((f) => f.namespace !== "moderation" && f.payload.message !== "error")).toBe(
      false,
    );
    expect(
      clerk.client.frames.some(
        (f) => f.payload.message === "joined" && JSON.stringify(f.payload).includes(citizen.participantId),
      ),
    ).toBe(false);

    // Only owners and moderators decide.
    const from = clerk.client.frames.length;
    clerk.client.send("moderation", { action: "accept", target: citizen.participantId });
    expect((await clerk.client.error(from)).payload).toMatchObject({ error: "insufficient_permissions" });
    chair.client.send("moderation", { action: "accept", target: "NobodyWaits1234" });
    expect((await chair.client.error(0)).payload).toMatchObject({ error: "not_found" });

    chair.client.send("moderation", { action: "accept", target: citizen.participantId });
    const welcomed = await citizen.client.message("control", "join_success");
    expect(welcomed.payload).toMatchObject({ participant_id: citizen.participantId, role: "guest" });
    expect((welcomed.payload as any).modules.chat.messages.map((m: any) => m.content)).toEqual(["Tagesordnung"]);
    const joined = await clerk.client.next(
      (f) => f.payload.message === "joined" && JSON.stringify(f.payload).includes(citizen.participantId),
    );
    expect(joined.namespace).toBe("control");
    const departure = await chair.client.next(
      (f) => f.payload.message === "waiting_room_changed" && (f.payload as any).removed.length > 0,
    );
    expect(departure.payload).toEqual({
      message: "waiting_room_changed",
      added: [],
      removed: [citizen.participantId],
    });
    // Now in the room, the guest may act.
    citizen.client.send("control", { action: "raise_hand" });
    await clerk.client.next(
      (f) => f.payload.message === "update" && (f.payload as any).participant.participant_id === citizen.participantId,
    );
  });

  it("turns a waiting guest away with close code 4000; holds everyone but the owner when set to everyone", async () => {
    const owner = await devToken("Vorsitz");
    const room = await newRoom(owner, { waiting_room: "everyone" });
    const chair = await join(owner, room.id);
    const stranger = await guest(owner, room.id, "Unbekannt");
    await chair.client.next(
      (f) => f.payload.message === "waiting_room_changed" && (f.payload as any).added.length === 1,
    );
    chair.client.send("moderation", { action: "reject", target: stranger.participantId });
    for (let i = 0; i < 100 && !stranger.client.closed; i++) await new Promise((r) => setTimeout(r, 20));
    expect(stranger.client.closed?.code).toBe(4000);
    await chair.client.next(
      (f) =>
        f.payload.message === "waiting_room_changed" && (f.payload as any).removed.includes(stranger.participantId),
    );

    const started = await api("POST", `/v1/rooms/${room.id}/start`, { token: await devToken("Mitglied"), body: {} });
    const { client } = await upgrade(room.id, started.body.ticket);
    expect((await client!.message("moderation", "in_waiting_room")).payload).toMatchObject({
      display_name: "Mitglied",
    });
  });
});

// ── The moderation namespace's commands (issue: roles, kick, ban, waiting room, lock, end, debrief, log) ──

const leftWith = (peer: Peer, id: string) =>
  peer.client.next((f) => f.payload.message === "left" && (f.payload as any).participants.includes(id));
const startStatus = async (token: string, roomId: string, body: Record<string, unknown> = {}) =>
  api("POST", `/v1/rooms/${roomId}/start`, { token, body });

/** A guest's start with a given invite code (and resumption), as its own client address. */
const guestStart = (roomId: string, invite: string, name: string, resumption?: string) =>
  api("POST", `/v1/rooms/${roomId}/start_invited`, {
    body: { invite_code: invite, display_name: name, resumption },
    headers: { "x-test-client": `guest-${roomId}` },
  });

/** A guest with a fresh invite: the invite, the start's answer, the connection (after its first frame). */
async function guestIn(room: RoomHarness, name: string) {
  const invite = (await api("POST", `/v1/rooms/${room.room.id}/invites`, { token: room.ownerToken, body: {} })).body;
  const first = await guestStart(room.room.id, invite.invite_code, name);
  const client = (await upgrade(room.room.id, first.body.ticket)).client!;
  await client.next(() => true);
  return { invite, first, client };
}

/** A registered user who joins and is made moderator by the owner; their token serves later starts. */
async function moderatorIn(room: RoomHarness, owner: Peer, name: string) {
  const token = await devToken(name);
  const mod = await join(token, room.room.id);
  const id = mod.joined.participant_id as string;
  await ack(owner, { action: "update_role", target: id, role: "moderator" });
  return { token, mod, id };
}

describe("moderation commands", () => {
  it("protects the owner; only the owner demotes a moderator; roles are announced and told", async () => {
    const room = await RoomHarness.create();
    const owner = await room.join();
    const mod = await room.join("Moderatorin");
    const other = await room.join("Zweiter");
    const guest = await room.joinGuest("Gast");
    // A new moderator hears of it, everyone sees the role, and they get the chairs' lists.
    await ack(owner, { action: "update_role", target: mod.id, role: "moderator" });
    expect((await mod.client.message("moderation", "role_updated")).payload).toEqual({
      message: "role_updated",
      role: "moderator",
    });
    await sees(other, mod.id, (p) => p.role === "moderator");
    await mod.client.message("moderation", "ban_list_changed");
    await ack(owner, { action: "update_role", target: other.id, role: "moderator" });
    for (const command of [
      { action: "kick", target: owner.id },
      { action: "ban", target: owner.id },
      { action: "send_to_waiting_room", target: owner.id },
      { action: "update_role", target: other.id, role: "user" },
      { action: "kick", target: other.id },
    ] as const) {
      expect(await mod.refused("moderation", command), JSON.stringify(command)).toBe("insufficient_permissions");
    }
    expect(await owner.refused("moderation", { action: "update_role", target: guest.id, role: "moderator" })).toBe(
      "insufficient_permissions",
    );
    expect(await owner.refused("moderation", { action: "kick", target: "Nobody0000000000000000" })).toBe("not_found");
    // The owner demotes; the former moderator may no longer moderate.
    await ack(owner, { action: "update_role", target: other.id, role: "user" });
    await other.client.next((f) => f.payload.message === "role_updated" && (f.payload as any).role === "user");
    expect(await other.refused("moderation", { action: "lock" })).toBe("insufficient_permissions");
    // A moderator acts on users and guests.
    await ack(mod, { action: "kick", target: guest.id });
    expect(await guest.client.waitClosed()).toEqual({ code: 4000, reason: "kicked" });
    expect((await leftWith(other, guest.id)).payload).toMatchObject({ reason: "removed" });
  });

  it("kicks with 4000 (they may start again) and bans users with 4001, also across a reconnect", async () => {
    const room = await RoomHarness.create();
    const owner = await room.join();
    const watcher = await room.join("Zuschauer");
    const kickedToken = await devToken("Störer");
    const kicked = await join(kickedToken, room.room.id);
    const kickedId = kicked.joined.participant_id as string;
    await sees(watcher, kickedId);
    await ack(owner, { action: "kick", target: kickedId });
    expect(await kicked.client.waitClosed()).toEqual({ code: 4000, reason: "kicked" });
    expect((await leftWith(watcher, kickedId)).payload).toMatchObject({ reason: "removed" });
    const back = await join(kickedToken, room.room.id);
    expect(back.joined.participant_id).toBe(kickedId);

    // A ticket issued before the ban does not open a socket after it (the ban voids it).
    const spare = await start(kickedToken, room.room.id);
    const entry = await ack(owner, { action: "ban", target: kickedId });
    expect(entry).toMatchObject({ target: { participant_id: kickedId, display_name: "Störer" } });
    expect(await back.client.waitClosed()).toEqual({ code: 4001, reason: "banned" });
    const list = await owner.client.message("moderation", "ban_list_changed");
    expect(list.payload).toMatchObject({ added: [{ participant_id: kickedId, display_name: "Störer" }], removed: [] });
    expect((list.payload as any).added[0].banned_by).toEqual({ participant_id: owner.id, display_name: "Owner" });
    const refused = await startStatus(kickedToken, room.room.id);
    expect([refused.status, refused.body.error.code]).toEqual([403, "banned_from_room"]);
    expect((await upgrade(room.room.id, spare.ticket)).response.status).toBe(401);
    // Chairs see the ban list when they join; others do not.
    const chairAgain = await join(room.ownerToken, room.room.id);
    expect(chairAgain.joined.modules.moderation.banned).toMatchObject([{ participant_id: kickedId }]);
    const viewer = await room.join("Gast-Nutzer");
    expect(viewer.joined.modules).toMatchObject({ moderation: { banned: [], waiting: [] } });

    await ack(owner, { action: "unban", target: kickedId });
    await owner.client.next((f) => f.payload.message === "ban_list_changed" && (f.payload as any).removed.length > 0);
    expect((await join(kickedToken, room.room.id)).joined.participant_id).toBe(kickedId);
  });

  it("a ban demotes a moderator; a banned guest loses resumption and, asked, the invite", async () => {
    const room = await RoomHarness.create();
    const owner = await room.join();
    const { token: modToken, id: modId } = await moderatorIn(room, owner, "Mod");
    await ack(owner, { action: "ban", target: modId });
    await ack(owner, { action: "unban", target: modId });
    const back = await join(modToken, room.room.id);
    expect(back.joined.role).toBe("user");

    // A guest is kicked and cannot come back as the same guest; the invite still works for a new one.
    const { invite, first, client } = await guestIn(room, "Gast");
    await ack(owner, { action: "ban", target: first.body.participant_id });
    expect(await client.waitClosed()).toEqual({ code: 4000, reason: "kicked" });
    const anew = await guestStart(room.room.id, invite.invite_code, "Gast", first.body.resumption);
    expect(anew.status).toBe(200);
    expect(anew.body.participant_id).not.toBe(first.body.participant_id);
    // Asked to, the ban revokes the invite the guest came with.
    const second = (await upgrade(room.room.id, anew.body.ticket)).client!;
    await second.message("control", "join_success");
    await ack(owner, { action: "ban", target: anew.body.participant_id, revoke_invite: true });
    expect(await second.waitClosed()).toEqual({ code: 4000, reason: "kicked" });
    const again = await guestStart(room.room.id, invite.invite_code, "Gast", anew.body.resumption);
    expect([again.status, again.body.error.code]).toEqual([403, "invalid_invite"]);
    // Guests are not on the ban list (they have no identity to keep out).
    const rejoined = await join(room.ownerToken, room.room.id);
    expect(rejoined.joined.modules.moderation.banned).toEqual([]);
  });

  it("sends someone back to the waiting room until let in again, whatever the room's setting", async () => {
    const room = await RoomHarness.create();
    const owner = await room.join();
    const watcher = await room.join("Zuschauer");
    const memberToken = await devToken("Mitglied");
    const member = await join(memberToken, room.room.id);
    const memberId = member.joined.participant_id as string;
    member.client.send("control", { action: "raise_hand" });
    await sees(watcher, memberId, (p) => p.hand_raised_at !== null);
    await ack(owner, { action: "send_to_waiting_room", target: memberId });
    expect((await member.client.message("moderation", "in_waiting_room")).payload).toMatchObject({
      display_name: "Mitglied",
    });
    expect((await leftWith(watcher, memberId)).payload).toMatchObject({ reason: "removed" });
    expect((await owner.client.message("moderation", "waiting_room_changed")).payload).toMatchObject({
      added: [{ participant_id: memberId }],
    });
    const from = member.client.frames.length;
    member.client.send("chat", { action: "send_message", content: "Hallo?" });
    expect((await member.client.error(from)).payload).toMatchObject({ error: "insufficient_permissions" });
    // A reload does not get them in, though the room has no waiting room.
    member.client.close();
    await owner.client.next(
      (f) => f.payload.message === "waiting_room_changed" && (f.payload as any).removed.includes(memberId),
    );
    const reloaded = await start(memberToken, room.room.id);
    const { client } = await upgrade(room.room.id, reloaded.ticket);
    await client!.message("moderation", "in_waiting_room");
    await ack(owner, { action: "accept", target: memberId });
    const welcomed = (await client!.message("control", "join_success")).payload as any;
    // Their hand went down when they left the room.
    expect(welcomed.participants.map((p: any) => p.hand_raised_at)).toEqual([null, null]);
    await watcher.client.next(
      (f) =>
        f.payload.message === "joined" &&
        (f.payload as any).participants.some((p: any) => p.participant_id === memberId),
    );
  });

  it("accept_all lets everyone in; set_waiting_room does what PATCH does, and PATCH is logged too", async () => {
    const room = await RoomHarness.create({ waiting_room: "everyone" });
    const owner = await room.join();
    const inside = await room.arrive("Schon drin");
    await ack(owner, { action: "accept", target: inside.id });
    await inside.client.message("control", "join_success");
    const a = await room.arrive("Erste");
    const b = await room.joinGuest("Zweiter");
    expect([a.joined.message, b.joined.message]).toEqual(["in_waiting_room", "in_waiting_room"]);
    expect((await ack(owner, { action: "accept_all" })).details).toEqual({ admitted: 2 });
    for (const p of [a, b]) await p.client.message("control", "join_success");

    // By command: off admits the one now waiting; everyone hears the room's state.
    const c = await room.arrive("Dritte");
    await ack(owner, { action: "set_waiting_room", mode: "disabled" });
    await c.client.message("control", "join_success");
    expect((await inside.client.message("moderation", "room_state")).payload).toEqual({
      message: "room_state",
      locked: false,
      waiting_room: "disabled",
      hands_enabled: true,
    });
    expect((await api("GET", `/v1/rooms/${room.room.id}`, { token: room.ownerToken })).body.waiting_room).toBe(
      "disabled",
    );
    // By PATCH: the same, with the same announcement and a log entry naming the owner.
    const patched = await api("PATCH", `/v1/rooms/${room.room.id}`, {
      token: room.ownerToken,
      body: { waiting_room: "everyone" },
    });
    expect(patched.status).toBe(200);
    await inside.client.next(
      (f) => f.payload.message === "room_state" && (f.payload as any).waiting_room === "everyone",
    );
    const logged = await owner.client.next(
      (f) => f.payload.message === "logged" && (f.payload as any).entry.details.mode === "everyone",
    );
    expect((logged.payload as any).entry).toMatchObject({
      action: "set_waiting_room",
      actor: { participant_id: owner.id, display_name: "Owner" },
    });
    // Switching it on holds nobody who is inside, also when they come back (a newcomer waits).
    inside.client.close();
    await leftWith(owner, inside.id);
    expect((await room.arrive("Schon drin")).joined.message).toBe("join_success");
    const d = await room.arrive("Vierte");
    expect(d.joined.message).toBe("in_waiting_room");
    await api("PATCH", `/v1/rooms/${room.room.id}`, { token: room.ownerToken, body: { waiting_room: "disabled" } });
    await d.client.message("control", "join_success");
  });

  it("rejected users stay out for this meeting; guests lose their resumption", async () => {
    const room = await RoomHarness.create({ waiting_room: "everyone" });
    const owner = await room.join();
    const token = await devToken("Abgewiesen");
    const started = await start(token, room.room.id);
    const { client } = await upgrade(room.room.id, started.ticket);
    await client!.message("moderation", "in_waiting_room");
    await ack(owner, { action: "reject", target: started.participant_id });
    expect(await client!.waitClosed()).toEqual({ code: 4000, reason: "not admitted" });
    const again = await startStatus(token, room.room.id);
    expect([again.status, again.body.error.code]).toEqual([403, "rejected"]);

    const { invite, first, client: guest } = await guestIn(room, "Gast");
    await ack(owner, { action: "reject", target: first.body.participant_id });
    await guest.waitClosed();
    const resumed = await guestStart(room.room.id, invite.invite_code, "Gast", first.body.resumption);
    expect(resumed.status).toBe(200);
    expect(resumed.body.participant_id).not.toBe(first.body.participant_id);

    // The meeting ends: the rejection with it.
    await ack(owner, { action: "end_meeting" });
    expect((await startStatus(token, room.room.id)).status).toBe(200);
  });

  it("locks the room for newcomers but not for a dropped connection coming back", async () => {
    const room = await RoomHarness.create();
    const owner = await room.join();
    const memberToken = await devToken("Mitglied");
    const member = await join(memberToken, room.room.id);
    const { invite, first: guestFirst, client: guest } = await guestIn(room, "Gast");
    const { token: modToken, mod } = await moderatorIn(room, owner, "Mod");
    mod.client.close();
    await ack(owner, { action: "lock" });
    expect((await member.client.message("moderation", "room_state")).payload).toMatchObject({ locked: true });

    const newcomer = await startStatus(await devToken("Neu"), room.room.id);
    expect([newcomer.status, newcomer.body.error.code]).toEqual([403, "room_locked"]);
    const newGuest = await guestStart(room.room.id, invite.invite_code, "Neuer Gast");
    expect([newGuest.status, newGuest.body.error.code]).toEqual([403, "room_locked"]);
    // Moderators and the owner come in; so does a dropped connection with its resumption token, and a second
    // device of someone inside.
    expect((await startStatus(modToken, room.room.id)).status).toBe(200);
    expect((await startStatus(memberToken, room.room.id)).status).toBe(200);
    member.client.close();
    await leftWith(owner, member.joined.participant_id);
    const noToken = await startStatus(memberToken, room.room.id);
    expect(noToken.body.error?.code).toBe("room_locked");
    const withToken = await startStatus(memberToken, room.room.id, { resumption: member.started.resumption });
    expect(withToken.status).toBe(200);
    guest.close();
    await leftWith(owner, guestFirst.body.participant_id);
    const guestBack = await guestStart(room.room.id, invite.invite_code, "Gast", guestFirst.body.resumption);
    expect(guestBack.body.participant_id).toBe(guestFirst.body.participant_id);

    await ack(owner, { action: "unlock" });
    expect((await startStatus(await devToken("Neu"), room.room.id)).status).toBe(200);
  });

  it("ends the meeting for all (4002): the room stays, bans stay, lock and hands setting end", async () => {
    const room = await RoomHarness.create({ waiting_room: "guests" });
    const owner = await room.join();
    const member = await room.join("Mitglied");
    const waiting = await room.joinGuest("Wartend");
    const bannedToken = await devToken("Gesperrt");
    const banned = await join(bannedToken, room.room.id);
    await ack(owner, { action: "ban", target: banned.joined.participant_id });
    await ack(owner, { action: "lock" });
    await ack(owner, { action: "set_hands", enabled: false });
    await ack(owner, { action: "end_meeting" });
    for (const peer of [owner, member, waiting]) {
      expect(await peer.client.waitClosed()).toEqual({ code: 4002, reason: "meeting ended" });
    }
    expect((await api("GET", `/v1/rooms/${room.room.id}`, { token: room.ownerToken })).status).toBe(200);
    expect((await startStatus(bannedToken, room.room.id)).body.error.code).toBe("banned_from_room");
    const next = await room.join("Nächste Sitzung");
    expect(next.joined.modules).toMatchObject({ moderation: { locked: false, hands_enabled: true } });
  });

  it("ends a meeting when the room stayed empty for the resumption window", async () => {
    const room = await RoomHarness.create();
    const owner = await room.join();
    await ack(owner, { action: "lock" });
    owner.client.close();
    await expect.poll(async () => (await coreState(room.room.id)).timers.map((t) => t.key)).toContain("meeting_over");
    await timeTravel.leftEarlier(room.room.id, 10 * 60_000);
    expect(await fireTimers(room.room.id)).toBe(true);
    expect((await startStatus(await devToken("Später"), room.room.id)).status).toBe(200);
  });

  it("a lock keeps out whom a chair removed, also with their resumption token", async () => {
    const room = await RoomHarness.create();
    const owner = await room.join();
    const { token: modToken, mod } = await moderatorIn(room, owner, "Mod");
    const token = await devToken("Mitglied");
    const member = await join(token, room.room.id);
    const { invite, first } = await guestIn(room, "Gast");
    await ack(owner, { action: "lock" });
    await ack(owner, { action: "kick", target: member.joined.participant_id });
    await ack(owner, { action: "debrief", scope: "guests" });
    const user = await startStatus(token, room.room.id, { resumption: member.started.resumption });
    expect([user.status, user.body.error.code]).toEqual([403, "room_locked"]);
    const back = await guestStart(room.room.id, invite.invite_code, "Gast", first.body.resumption);
    expect([back.status, back.body.error.code]).toEqual([403, "room_locked"]);
    // A moderator the owner removed is kept out by the lock as well.
    await ack(owner, { action: "kick", target: mod.joined.participant_id });
    expect((await startStatus(modToken, room.room.id)).body.error?.code).toBe("room_locked");
    // Once unlocked, a kicked guest may start again, as themselves.
    await ack(owner, { action: "unlock" });
    const resumed = await guestStart(room.room.id, invite.invite_code, "Gast", first.body.resumption);
    expect(resumed.body.participant_id).toBe(first.body.participant_id);
  });

  it("keeps a moderator the owner sent back waiting, also across their own new start", async () => {
    const room = await RoomHarness.create();
    const owner = await room.join();
    const { token, mod, id: modId } = await moderatorIn(room, owner, "Mod");
    await ack(owner, { action: "send_to_waiting_room", target: modId });
    await mod.client.message("moderation", "in_waiting_room");
    // A second start while still connected, then a second device: both wait.
    const again = await start(token, room.room.id);
    const device = (await upgrade(room.room.id, again.ticket)).client!;
    expect((await device.next(() => true)).payload).toMatchObject({ message: "in_waiting_room" });
    expect((await owner.command("moderation", { action: "get_log" })).payload).toMatchObject({ message: "log" });
    const from = mod.client.frames.length;
    mod.client.send("moderation", { action: "lock" });
    expect((await mod.client.error(from)).payload).toMatchObject({ error: "insufficient_permissions" });
    await ack(owner, { action: "accept", target: modId });
    for (const c of [mod.client, device]) await c.message("control", "join_success");
  });

  it("a meeting goes on when someone comes back within the resumption window", async () => {
    const room = await RoomHarness.create();
    const owner = await room.join();
    await ack(owner, { action: "lock" });
    owner.client.close();
    await expect.poll(async () => (await coreState(room.room.id)).timers.map((t) => t.key)).toContain("meeting_over");
    const back = await room.join();
    expect(back.joined.modules).toMatchObject({ moderation: { locked: true } });
    expect(await fireTimers(room.room.id)).toBe(true);
    const newcomer = await startStatus(await devToken("Neu"), room.room.id);
    expect([newcomer.status, newcomer.body.error.code]).toEqual([403, "room_locked"]);
  });

  it("debriefs guests, or users and guests: owner and moderators stay", async () => {
    const { room, owner, moderator: mod, member, guest } = await RoomHarness.seated("Owner");
    await ack(mod, { action: "debrief", scope: "guests" });
    expect(await guest.client.waitClosed()).toEqual({ code: 4000, reason: "debriefing" });
    expect((await leftWith(member, guest.id)).payload).toMatchObject({ reason: "removed" });
    const guest2 = await room.joinGuest("Gast Zwei");
    expect((await ack(mod, { action: "debrief", scope: "users_and_guests" })).details).toEqual({
      scope: "users_and_guests",
      removed: 2,
    });
    for (const p of [member, guest2]) expect(await p.client.waitClosed()).toEqual({ code: 4000, reason: "debriefing" });
    // Owner and moderator are still in: their connections answer.
    for (const p of [owner, mod]) await p.alive();
  });

  it("switches hands off (lowering them) and on, lowers all hands, renames guests for good", async () => {
    const room = await RoomHarness.create();
    const owner = await room.join();
    const member = await room.join("Mitglied");
    const { invite, first, client: guest } = await guestIn(room, "gast123");
    // The member is announced first: a hand raised within the joining batch would arrive as part of `joined`.
    await sees(owner, member.id);
    const raisedBy = (id: string) => (f: any) =>
      f.payload.message === "update" &&
      f.payload.participant.participant_id === id &&
      f.payload.participant.hand_raised_at;
    member.client.send("control", { action: "raise_hand" });
    await owner.client.next(raisedBy(member.id));
    expect((await ack(owner, { action: "set_hands", enabled: false })).details).toEqual({ enabled: false, lowered: 1 });
    await owner.client.next(
      (f) => f.payload.message === "update" && (f.payload as any).participant.hand_raised_at === null,
    );
    expect(await member.refused("control", { action: "raise_hand" })).toBe("insufficient_permissions");
    await ack(owner, { action: "set_hands", enabled: true });
    member.client.send("control", { action: "raise_hand" });
    await owner.client.next(raisedBy(member.id), 10_000, owner.client.frames.length);
    expect((await ack(owner, { action: "reset_hands" })).details).toEqual({ lowered: 1 });

    await ack(owner, { action: "set_display_name", target: first.body.participant_id, display_name: "Frau Müller" });
    const renamed = await member.client.next(
      (f) => f.payload.message === "update" && (f.payload as any).participant.display_name === "Frau Müller",
    );
    expect((renamed.payload as any).participant.participant_id).toBe(first.body.participant_id);
    // The guest's own reconnect keeps the name the chair gave.
    guest.close();
    await leftWith(owner, first.body.participant_id);
    const back = await guestStart(room.room.id, invite.invite_code, "gast123", first.body.resumption);
    const again = (await upgrade(room.room.id, back.body.ticket)).client!;
    expect(((await again.message("control", "join_success")).payload as any).display_name).toBe("Frau Müller");
    expect(
      await owner.refused("moderation", { action: "set_display_name", target: member.id, display_name: "X" }),
    ).toBe("insufficient_permissions");
  });

  it("logs every accepted command in order; pages by command and REST (owner, moderators, operators)", async () => {
    const room = await RoomHarness.create();
    const owner = await room.join();
    const mod = await room.join("Mod");
    const member = await room.join("Mitglied");
    await ack(owner, { action: "update_role", target: mod.id, role: "moderator" });
    await ack(mod, { action: "lock" });
    await ack(mod, { action: "unlock" });
    await ack(owner, { action: "kick", target: member.id });
    const actions = ["update_role", "lock", "unlock", "kick"];
    const page = await owner.command("moderation", { action: "get_log", limit: 2 });
    expect(page.payload).toMatchObject({ message: "log", more: true });
    const entries = (page.payload as any).entries;
    expect(entries.map((e: any) => e.action)).toEqual(actions.slice(2));
    const older = await owner.command("moderation", { action: "get_log", before: entries[0].seq });
    expect((older.payload as any).entries.map((e: any) => e.action)).toEqual(actions.slice(0, 2));
    expect((older.payload as any).more).toBe(false);
    expect((older.payload as any).entries[1]).toMatchObject({
      actor: { participant_id: mod.id, display_name: "Mod" },
      action: "lock",
      details: {},
    });
    expect((older.payload as any).entries[0]).toMatchObject({
      actor: { participant_id: owner.id },
      target: { participant_id: mod.id, display_name: "Mod" },
      details: { from: "user", role: "moderator" },
    });

    const path = `/v1/rooms/${room.room.id}/moderation-log`;
    const rest = await api("GET", `${path}?limit=200`, { token: room.ownerToken });
    expect(rest.status).toBe(200);
    // The two readings are logged too, after the four commands.
    expect(rest.body.entries.map((e: any) => e.action)).toEqual([...actions, "get_log", "get_log"]);
    expect(rest.body.entries.map((e: any) => e.seq)).toEqual(
      [...rest.body.entries.map((e: any) => e.seq)].sort((x, y) => x - y),
    );
    expect(
      (await api("GET", `${path}?limit=1&before=${rest.body.entries[1].seq}`, { token: room.ownerToken })).body,
    ).toMatchObject({ entries: [{ action: "update_role" }], more: false });
    expect((await api("GET", path, { token: await devToken("Mod") })).status).toBe(200);
    const other = await api("GET", path, { token: await devToken("Mitglied") });
    expect([other.status, other.body.error.code]).toEqual([403, "insufficient_permissions"]);
    expect((await api("GET", path, { token: setting("OPERATOR_TOKEN") })).status).toBe(200);
    expect((await api("GET", path, { token: await devToken("Fremd", "anderes-land") })).status).toBe(404);
    for (const bad of ["limit=0", "limit=201", "before=-1", "limit=abc", "extra=1"]) {
      expect((await api("GET", `${path}?${bad}`, { token: room.ownerToken })).status, bad).toBe(400);
    }
  });
});

describe("chairs acting while a connection is being set up", () => {
  /**
   * A chat module whose join state waits until someone sends the chat message "open" (its own table is the gate,
   * as promises cannot cross from the test into the object): the upgrade of whoever joins pauses right where the
   * room gathers join states (in production TURN credentials and SFU placement take that moment), and it notes
   * "reached" there for the test to wait for.
   */
  const chat = ROOM_MODULES.find((m) => m.namespace === "chat")!;
  const gatedChat = defineModule({
    namespace: "chat",
    migrations: chat.migrations,
    permissions: { send_message: ["owner", "moderator", "user", "guest"], ...undoubledChat },
    handle(ctx, sender, command) {
      if (command.action !== "send_message") return;
      const sql = "INSERT INTO chat_messages (source, content, sent_at) VALUES (?, ?, ?)";
      ctx.sql.exec(sql, sender.participantId, command.content, ctx.now());
      ctx.reply(sender, doubledMessage(sender.participantId, command.content));
    },
    async joinState(ctx) {
      const reached = ctx.sql
        .exec<{ id: number }>(
          "INSERT INTO chat_messages (source, content, sent_at) VALUES ('gate', 'reached', ?) RETURNING id",
          ctx.now(),
        )
        .one().id;
      const opened = () =>
        ctx.sql.exec("SELECT 1 FROM chat_messages WHERE content = 'open' AND id > ?", reached).toArray().length > 0;
      while (!opened()) await new Promise((resolve) => setTimeout(resolve, 10));
      return idleChatState();
    },
  });

  it("a removal meanwhile voids the ticket; a send-back meanwhile holds the new connection", async () => {
    const room = await RoomHarness.create();
    const owner = await room.join();
    await room.install(ROOM_MODULES.map((m) => (m.namespace === "chat" ? gatedChat : m)));
    const reached = async () =>
      (await room.dump("chat")).chat_messages!.filter((row) => row.content === "reached").length;
    for (const [i, action] of (["kick", "send_to_waiting_room"] as const).entries()) {
      const started = await start(await devToken(`Neu ${action}`), room.room.id);
      const upgrading = upgrade(room.room.id, started.ticket);
      await expect.poll(reached).toBe(i + 1);
      await ack(owner, { action, target: started.participant_id });
      await owner.command("chat", { action: "send_message", content: "open" });
      const { response, client } = await upgrading;
      if (action === "kick") {
        expect(response.status).toBe(401);
        continue;
      }
      expect((await client!.next(() => true)).payload).toMatchObject({ message: "in_waiting_room" });
      await owner.client.next(
        (f) =>
          f.payload.message === "waiting_room_changed" &&
          (f.payload as any).added.some((w: any) => w.participant_id === started.participant_id),
      );
    }
  });
});
