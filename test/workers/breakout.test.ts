import { describe, expect, it } from "vitest";
import type { CommandOf } from "../../src/protocol";
import type { FrameCollector } from "../helpers/collector";
import { coreState, fireTimers, type Peer, RoomHarness, sees, timeTravel } from "./harness";

type Start = Extract<CommandOf<"breakout">, { action: "start" }>;
const start = (fields: Omit<Start, "action">): CommandOf<"breakout"> => ({ action: "start", ...fields });
const heard = (client: FrameCollector, message: string, from = 0) =>
  client.next((f) => f.namespace === "breakout" && f.payload.message === message, 10_000, from);

describe("breakout rooms: rooms, assignment, moving, closing", () => {
  it("assigns by list, spreads the rest evenly, leaves chairs in the main room, returns all at the stop", async () => {
    const { room, owner, moderator, member, guest } = await RoomHarness.seated();
    const extra = [await room.join("Anna"), await room.join("Bernd"), await room.join("Cem")];
    for (const peer of extra) await sees(owner, peer.id);
    expect(await member.refused("breakout", start({ rooms: [{ name: "A" }, { name: "B" }] }))).toBe(
      "insufficient_permissions",
    );
    expect(
      await owner.refused(
        "breakout",
        start({
          rooms: [
            { name: "A", assignments: [member.id] },
            { name: "A", assignments: [member.id] },
          ],
        }),
      ),
    ).toBe("invalid_frame");

    const rooms = [{ name: "Haushalt", assignments: [member.id] }, { name: "Bau" }, { name: "Kultur" }];
    const started = await owner.command("breakout", start({ rooms, random_assignment: true }));
    const state = started.payload as any;
    expect(state.rooms).toEqual([
      { id: "b1", name: "Haushalt" },
      { id: "b2", name: "Bau" },
      { id: "b3", name: "Kultur" },
    ]);
    expect(state.assignment[member.id]).toBe("b1");
    // Everyone but the chairs is in a room; the rooms' sizes differ by at most one.
    const placed = [member, guest, ...extra].map((p) => state.assignment[p.id]);
    expect(placed.every((r: string) => ["b1", "b2", "b3"].includes(r))).toBe(true);
    expect(state.assignment[owner.id]).toBeUndefined();
    expect(state.assignment[moderator.id]).toBeUndefined();
    const sizes = ["b1", "b2", "b3"].map((id) => placed.filter((r: string) => r === id).length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    await heard(guest.client, "started");
    expect(await moderator.refused("breakout", start({ rooms: [{ name: "A" }, { name: "B" }] }))).toBe(
      "breakout_active",
    );

    // Another device of a participant joins into their room.
    const device = await room.join("Mitglied");
    expect((device.joined as any).modules.breakout).toMatchObject({ room: "b1", active: { started_by: owner.id } });

    // Without self switching only chairs move; rooms must exist.
    expect(await member.refused("breakout", { action: "switch_room", room: "b2" })).toBe("insufficient_permissions");
    expect(await owner.refused("breakout", { action: "switch_room", room: "b9" })).toBe("not_found");
    expect(await owner.refused("breakout", { action: "switch_room", room: "x" } as never)).toBe("invalid_frame");
    const moved = await owner.command("breakout", { action: "switch_room", room: "b2" });
    expect(moved.payload).toEqual({ message: "switched", participant_id: owner.id, room: "b2" });
    await guest.client.next((f) => f.payload.message === "switched" && (f.payload as any).participant_id === owner.id);

    // A stop with a delay announces the return; the room's scheduler brings everyone back.
    const closing = await moderator.command("breakout", { action: "stop", delay_seconds: 30 });
    expect(Date.parse((closing.payload as any).at) - Date.now()).toBeGreaterThan(25_000);
    await heard(member.client, "closing");
    expect(await fireTimers(room.room.id)).toBe(true);
    expect((await heard(guest.client, "stopped")).payload).toEqual({ message: "stopped", reason: "by_moderator" });
    const after = await room.join("Mitglied");
    expect((after.joined as any).modules.breakout).toEqual({ active: null, room: null });
    expect(await room.dump("breakout")).toEqual({ breakout_running: [], breakout_assigned: [] });
    expect(await owner.refused("breakout", { action: "stop" })).toBe("breakout_not_active");
  });

  it("with self switching participants move themselves; a duration closes the rooms by itself", async () => {
    const { room, owner, member, guest } = await RoomHarness.seated();
    await owner.command(
      "breakout",
      start({ rooms: [{ name: "A" }, { name: "B" }], allow_self_switch: true, duration_seconds: 600 }),
    );
    const moved = await member.command("breakout", { action: "switch_room", room: "b2" });
    expect(moved.payload).toMatchObject({ participant_id: member.id, room: "b2" });
    const back = await member.command("breakout", { action: "switch_room", room: null });
    expect(back.payload).toMatchObject({ participant_id: member.id, room: null });
    await guest.command("breakout", { action: "switch_room", room: "b1" });
    const joined = await room.joinGuest("Zweiter Gast");
    expect((joined.joined as any).modules.breakout.active.assignment).toEqual({ [guest.id]: "b1" });
    expect(await fireTimers(room.room.id)).toBe(true);
    expect((await heard(member.client, "stopped")).payload).toMatchObject({ reason: "expired" });
  });
});

/** Frames of `peer` from index `from` on that concern a participant or chat message outside `allowed`. */
const chatFrom = (peer: { client: FrameCollector }, from: number) =>
  peer.client.frames
    .slice(from)
    .filter((f) => f.namespace === "chat" && f.payload.message === "message_sent")
    .map((f) => (f.payload as any).content as string);
const presenceFrom = (peer: { client: FrameCollector }, from: number) =>
  peer.client.frames
    .slice(from)
    .filter((f) => f.namespace === "control" && ["joined", "left", "update"].includes(String(f.payload.message)))
    .flatMap((f) => {
      const p = f.payload as any;
      const ids =
        p.message === "joined"
          ? p.participants.map((x: any) => x.participant_id)
          : p.message === "left"
            ? p.participants
            : [p.participant.participant_id];
      return ids.map((id: string) => `${p.message}:${id}${p.reason ? `:${p.reason}` : ""}`);
    });
/** The join_success a move sent this connection (after index `from`). */
const welcomed = (peer: { client: FrameCollector }, from: number) =>
  peer.client.next((f) => f.namespace === "control" && f.payload.message === "join_success", 10_000, from);
const listed = (frame: { payload: unknown }) =>
  ((frame.payload as any).participants as { participant_id: string }[]).map((p) => p.participant_id).sort();

describe("breakout rooms: chat, presence, hands and tools per group", () => {
  it("keeps chat, presence and hands inside each group (every connection's frames after a barrier)", async () => {
    const { room, owner, moderator, member, guest } = await RoomHarness.seated();
    const [anna, bernd, cem] = [await room.join("Anna"), await room.join("Bernd"), await room.join("Cem")];
    await sees(owner, cem.id);
    const everyone = [owner, moderator, member, guest, anna, bernd, cem];
    const mark = everyone.map((p) => p.client.frames.length);
    await owner.command(
      "breakout",
      start({
        rooms: [
          { name: "Haushalt", assignments: [member.id, anna.id] },
          { name: "Bau", assignments: [guest.id, bernd.id] },
        ],
      }),
    );
    // Each mover gets its room's join_success: people, chat and tools of that room only.
    const b1 = await welcomed(member, mark[2]!);
    expect(listed(b1)).toEqual([anna.id]);
    expect((b1.payload as any).modules.breakout.room).toBe("b1");
    expect(listed(await welcomed(guest, mark[3]!))).toEqual([bernd.id]);
    // The main room sees the movers leave (switched); each room sees its own arrive (after the join_success too).
    const groups = { main: [owner, moderator, cem], b1: [member, anna], b2: [guest, bernd] };
    const fourLeft = (f: any) => f.payload.message === "left" && f.payload.participants.length === 4;
    for (const peer of groups.main) await peer.client.next(fourLeft, 10_000, mark[everyone.indexOf(peer)]);
    const joinedSince = (peer: Peer, id: string) =>
      peer.client.next(
        (f) =>
          (f.payload as any).message === "joined" &&
          (f.payload as any).participants.some((p: any) => p.participant_id === id),
        10_000,
        mark[everyone.indexOf(peer)],
      );
    for (const [a, b] of [groups.b1, groups.b2]) {
      await joinedSince(a!, b!.id);
      await joinedSince(b!, a!.id);
    }
    const at = everyone.map((p) => p.client.frames.length);
    // Each group talks and raises a hand; every command is answered before the next (one object: ordered sends).
    await member.command("chat", { action: "send_message", content: "b1 spricht" });
    await bernd.command("chat", { action: "send_message", content: "b2 spricht" });
    await cem.command("chat", { action: "send_message", content: "Hauptraum spricht" });
    anna.client.send("control", { action: "raise_hand" });
    const raised = (p: any) => p.hand_raised_at !== null && p.hand_raised_at !== undefined;
    for (const peer of groups.b1) await sees(peer, anna.id, raised);
    expect(
      await member.refused("chat", { action: "send_message", content: "privat", scope: "private", target: guest.id }),
    ).toBe("not_found");
    // A late arrival lands in the main room.
    const dora = await room.join("Dora");
    await sees(owner, dora.id);
    // Barrier: one last message per group, heard by every connection of the group.
    for (const [name, peers] of Object.entries(groups)) {
      await peers[0]!.command("chat", { action: "send_message", content: `ende ${name}` });
      for (const peer of peers) await peer.client.next((f) => (f.payload as any).content === `ende ${name}`);
    }
    const expected = {
      main: ["Hauptraum spricht", "ende main"],
      b1: ["b1 spricht", "ende b1"],
      b2: ["b2 spricht", "ende b2"],
    };
    for (const [name, peers] of Object.entries(groups)) {
      for (const peer of peers) {
        const i = everyone.indexOf(peer);
        expect(chatFrom(peer, at[i]!), `${name}: ${peer.id}`).toEqual(expected[name as keyof typeof expected]);
        const presence = presenceFrom(peer, at[i]!);
        if (name === "main") expect(presence).toEqual([`joined:${dora.id}`]);
        if (name === "b1") expect(presence, JSON.stringify(presence)).toEqual([`update:${anna.id}`]);
        if (name === "b2") expect(presence).toEqual([]);
      }
    }
    // History per group: a joiner in b1 (another device of the member) reads b1's messages only.
    const device = await room.join("Mitglied");
    const contents = ((device.joined as any).modules.chat.messages as { content: string }[]).map((m) => m.content);
    expect(contents).toEqual(["b1 spricht", "ende b1"]);
    expect(listed({ payload: device.joined })).toEqual([anna.id]);

    // A chair switches into b2: the main room sees a switched leave, b2 a join, the chair gets b2's join_success.
    const before = everyone.map((p) => p.client.frames.length);
    await owner.command("breakout", { action: "switch_room", room: "b2" });
    expect(listed(await welcomed(owner, before[0]!))).toEqual([bernd.id, guest.id].sort());
    await moderator.client.next((f) => (f.payload as any).message === "left", 10_000, before[1]);
    expect(presenceFrom(moderator, before[1]!)).toContain(`left:${owner.id}:switched`);
    await sees(bernd, owner.id);

    // The stop brings everyone back: each mover gets the main room's join_success with everyone in it.
    const stopMark = everyone.map((p) => p.client.frames.length);
    await moderator.command("breakout", { action: "stop" });
    const back = await welcomed(anna, stopMark[4]!);
    expect((back.payload as any).modules.breakout).toEqual({ active: null, room: null });
    const all = [owner, moderator, member, guest, bernd, cem, dora].map((p) => p.id);
    await sees(anna, guest.id);
    const returned = await welcomed(cem, stopMark[6]!);
    expect(listed(returned)).toEqual(expect.arrayContaining(all.filter((id) => id !== cem.id)));
    // The main room's chat is as it was: the rooms' messages stay in the rooms, also for those who wrote them.
    const chatOf = (frame: any) => (frame.payload.modules.chat.messages as { content: string }[]).map((m) => m.content);
    expect(chatOf(back)).toEqual(["Hauptraum spricht", "ende main"]);
    expect(chatOf(await welcomed(member, stopMark[2]!))).toEqual(["Hauptraum spricht", "ende main"]);
  });

  it("returns a reconnecting participant into the same group, and tools follow the chair's group", async () => {
    const { room, owner, moderator, member, guest } = await RoomHarness.seated();
    await owner.command(
      "breakout",
      start({
        rooms: [
          { name: "A", assignments: [member.id, moderator.id] },
          { name: "B", assignments: [guest.id] },
        ],
      }),
    );
    await welcomed(member, 1);
    await welcomed(guest, 1);
    // The member leaves: the moderator, in the same room, sees it (so the join below is a reconnect).
    const watched = moderator.client.frames.length;
    member.client.close(1000);
    await moderator.client.next(
      (f) => (f.payload as any).message === "left" && (f.payload as any).participants.includes(member.id),
      10_000,
      watched,
    );
    const again = await room.join("Mitglied");
    expect((again.joined as any).modules.breakout.room).toBe("b1");
    expect(listed({ payload: again.joined })).toEqual([moderator.id]);

    // A timer the moderator starts in b1 is b1's: the guest in b2 and the owner in the main room do not see it.
    const marks = [owner, guest].map((p) => p.client.frames.length);
    await moderator.command("timer", { action: "start", kind: "stopwatch", ready_check: true });
    await again.client.next((f) => f.namespace === "timer" && f.payload.message === "started");
    expect(await guest.refused("timer", { action: "update_ready_status", ready: true })).toBe("timer_not_active");
    const ready = await again.command("timer", { action: "update_ready_status", ready: true });
    expect(ready.payload).toMatchObject({ message: "ready_status", ready: true });
    // The guest's refusal and the owner's own command are barriers: no timer frame reached them before.
    expect(await owner.refused("timer", { action: "start", kind: "stopwatch" })).toBe("timer_active");
    for (const [i, peer] of [owner, guest].entries()) {
      const timerFrames = peer.client.frames.slice(marks[i]).filter((f) => f.namespace === "timer");
      expect(timerFrames.every((f) => f.payload.message === "error")).toBe(true);
    }
    expect((await room.join("Gast2")).joined).toMatchObject({ modules: { timer: { active: null } } });
    // After the return the timer is everyone's: those who stayed in the main room get the state afresh.
    const ownerMark = owner.client.frames.length;
    await owner.command("breakout", { action: "stop" });
    const refreshed = await welcomed(owner, ownerMark);
    expect((refreshed.payload as any).modules.timer.active).toMatchObject({ started_by: moderator.id });
    const guestBack = await welcomed(guest, marks[1]!);
    expect((guestBack.payload as any).modules.timer.active).toMatchObject({ started_by: moderator.id });
  });

  it("forgets a room's member with them; an exclusive microphone and breakout rooms exclude each other", async () => {
    const { room, owner, member, guest } = await RoomHarness.seated();
    const queue = { action: "start", strategy: "none", exclusive_microphone: true } as const;
    await owner.command("automod", queue);
    const rooms = [
      { name: "A", assignments: [member.id] },
      { name: "B", assignments: [guest.id] },
    ];
    expect(await owner.refused("breakout", start({ rooms }))).toBe("automod_active");
    await owner.command("automod", { action: "stop" });
    await owner.command("breakout", start({ rooms }));
    expect(await owner.refused("automod", queue)).toBe("breakout_active");
    await welcomed(guest, 1);
    // The guest leaves and the room forgets them: everyone hears they are back in the main room (for a return).
    const watched = owner.client.frames.length;
    guest.client.close();
    // Only once the room has seen them go can their leave be moved into the past.
    const leftAt = async () => (await coreState(room.room.id)).participants.find((p) => p.id === guest.id)?.left_at;
    await expect.poll(leftAt).toBeTypeOf("number");
    await timeTravel.leftEarlier(room.room.id, 10 * 60_000, guest.id);
    expect(await fireTimers(room.room.id)).toBe(true);
    const back = await owner.client.next((f) => f.payload.message === "switched", 10_000, watched);
    expect(back.payload).toEqual({ message: "switched", participant_id: guest.id, room: null });
    const assigned = (await room.dump("breakout")).breakout_assigned;
    expect(assigned?.map((r) => r.participant_id)).toEqual([member.id]);
  });

  it("keeps media inside each group: publishers, join states, subscriptions and relays (mesh)", async () => {
    const { room, owner, member, guest } = await RoomHarness.seated();
    const anna = await room.join("Anna");
    await sees(owner, anna.id);
    const rooms = [
      { name: "A", assignments: [member.id, anna.id] },
      { name: "B", assignments: [guest.id] },
    ];
    await owner.command("breakout", start({ rooms }));
    for (const peer of [member, anna, guest]) await welcomed(peer, 1);
    const marks = [owner, guest].map((p) => p.client.frames.length);
    member.client.send("media", { action: "publish", stream: "camera", audio: true, video: true });
    const published = await anna.client.next((f) => f.payload.message === "publisher_update", 10_000, 1);
    expect(published.payload).toMatchObject({ publisher: { participant_id: member.id } });
    // Someone in another group cannot ask for the stream, nor reach the publisher through the relay.
    expect(await guest.refused("media", { action: "subscribe", target: member.id, stream: "camera" })).toBe(
      "not_found",
    );
    const offer = { action: "relay", target: guest.id, publisher: member.id, stream: "camera", kind: "offer" } as const;
    expect(await member.refused("media", { ...offer, sdp: "v=0\r\n" })).toBe("not_found");
    // Barrier: the owner's own command is answered after the publish; no media frame reached the other groups.
    await owner.command("chat", { action: "send_message", content: "Hauptraum" });
    for (const [i, peer] of [owner, guest].entries()) {
      const media = peer.client.frames
        .slice(marks[i])
        .filter((f) => f.namespace === "media" && f.payload.message !== "error");
      expect(media).toEqual([]);
    }
    // Join states list the group's publishers only.
    const inB1 = await room.join("Anna");
    expect((inB1.joined as any).modules.media.publishers.map((p: any) => p.participant_id)).toEqual([member.id]);
    expect((await room.join()).joined).toMatchObject({ modules: { media: { publishers: [] } } });
    // The publisher moves: its old group sees its streams end; it publishes afresh in the new one.
    const annaMark = anna.client.frames.length;
    await owner.command("breakout", { action: "stop" });
    const ended = await anna.client.next((f) => f.payload.message === "publisher_update", 10_000, annaMark);
    expect(ended.payload).toEqual({
      message: "publisher_update",
      publisher: { participant_id: member.id, streams: {} },
    });
  });

  it("a vote started in a room is that room's; its eligible voters see and cast it from anywhere", async () => {
    const { owner, moderator, member, guest } = await RoomHarness.seated();
    const rooms = [
      { name: "A", assignments: [moderator.id, member.id] },
      { name: "B", assignments: [guest.id] },
    ];
    await owner.command("breakout", start({ rooms, allow_self_switch: true }));
    for (const peer of [moderator, member, guest]) await welcomed(peer, 1);
    const vote = {
      action: "start",
      name: "Arbeitsgruppe",
      kind: "roll_call",
      enable_abstain: false,
      rule: { quorum: { numerator: 1, denominator: 2 }, majority: "simple" },
      auto_close: false,
    } as const;
    // Only those in the initiator's room may be named.
    const outsider = await moderator.command("legal_vote", { ...vote, allowed_participants: [owner.id] });
    expect(outsider.payload).toMatchObject({ error: "ineligible", participant_ids: [owner.id] });
    const marks = [owner, guest].map((p) => p.client.frames.length);
    const started = await moderator.command("legal_vote", { ...vote, allowed_participants: [member.id] });
    const voteId = (started.payload as any).vote_id as string;
    await member.client.next((f) => f.namespace === "legal_vote" && f.payload.message === "started", 10_000, 1);
    // The voter moves to the main room: their join_success there still shows the vote, and their ballot counts.
    const moveMark = member.client.frames.length;
    await member.command("breakout", { action: "switch_room", room: null });
    const there = await welcomed(member, moveMark);
    expect((there.payload as any).modules.legal_vote.active).toMatchObject({ vote: { id: voteId } });
    const voted = await member.command("legal_vote", { action: "vote", vote_id: voteId, option: "yes" });
    expect(voted.payload).toMatchObject({ message: "voted" });
    await member.client.next((f) => f.namespace === "legal_vote" && f.payload.message === "updated", 10_000, moveMark);
    // Barrier: the guest's and the owner's own commands come after all of it; neither heard of the vote.
    expect(await guest.refused("legal_vote", { action: "vote", vote_id: voteId, option: "no" })).toBe("ineligible");
    await owner.command("chat", { action: "send_message", content: "Hauptraum" });
    for (const [i, peer] of [owner, guest].entries()) {
      const heard = peer.client.frames.slice(marks[i]).filter((f) => f.namespace === "legal_vote");
      expect(heard.map((f) => f.payload.message)).toEqual(peer === guest ? ["error"] : []);
    }
  });
});
