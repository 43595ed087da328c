import { describe, expect, it } from "vitest";
import type { CommandOf } from "../../src/protocol";
import { ack, coreState, fireTimers, type Peer, RoomHarness, sees, timeTravel } from "./harness";

type Start = Extract<CommandOf<"automod">, { action: "start" }>;
const start = (fields: Omit<Start, "action">): CommandOf<"automod"> => ({ action: "start", ...fields });

/** The next speaker_updated `peer` hears (from frame index `from`) that `match` accepts. */
const speakerUpdate = (peer: Peer, match: (p: any) => boolean = () => true, from = 0) =>
  peer.client
    .next((f) => f.namespace === "automod" && f.payload.message === "speaker_updated" && match(f.payload), 10_000, from)
    .then((f) => f.payload as any);

/** Publishes a camera with audio; resolves with the refusal's code, or undefined once the room announces the audio. */
async function publishAudio(peer: Peer): Promise<string | undefined> {
  const from = peer.client.frames.length;
  const id = peer.client.send("media", { action: "publish", stream: "camera", audio: true, video: true });
  const answer = await peer.client.next(
    (f) => {
      const p = f.payload as any;
      if (f.transaction_id === id && p.message === "error") return true;
      return (
        p.message === "publisher_update" && p.publisher.participant_id === peer.id && p.publisher.streams.camera?.audio
      );
    },
    10_000,
    from,
  );
  return (answer.payload as { error?: string }).error;
}

describe("speaker queue (automod)", () => {
  it("passes the floor in playlist order, skips who left, ends turns by the time limit, edits and stops", async () => {
    const { room, owner, moderator, member, guest } = await RoomHarness.seated();
    const third = await room.join("Dritte");
    await sees(owner, third.id);
    expect(await member.refused("automod", start({ strategy: "playlist", playlist: [member.id] }))).toBe(
      "insufficient_permissions",
    );
    expect(await owner.refused("automod", start({ strategy: "playlist", playlist: ["Nobody000000000000000"] }))).toBe(
      "not_found",
    );

    const playlist = [member.id, third.id, guest.id];
    const started = await owner.command("automod", start({ strategy: "playlist", playlist, time_limit_seconds: 60 }));
    expect(started.payload).toMatchObject({ message: "started", strategy: "playlist", time_limit_seconds: 60 });
    const first = await speakerUpdate(guest);
    expect(first).toMatchObject({ speaker: member.id, remaining_seconds: 60, queue: [third.id, guest.id], spoken: [] });
    expect(Date.parse(first.ends_at) - Date.now()).toBeGreaterThan(55_000);
    expect(await moderator.refused("automod", start({ strategy: "none" }))).toBe("automod_active");
    expect(await guest.refused("automod", { action: "yield" })).toBe("insufficient_permissions");
    expect(await member.refused("automod", { action: "yield", next: guest.id })).toBe("invalid_request");

    // Whoever is not in the room when their turn comes is passed over; they keep their place while they may return.
    const watched = owner.client.frames.length;
    third.client.close();
    await owner.client.next(
      (f) => f.payload.message === "left" && (f.payload as any).participants.includes(third.id),
      10_000,
      watched,
    );
    const yielded = await member.command("automod", { action: "yield" });
    expect(yielded.payload).toMatchObject({ speaker: guest.id, queue: [third.id], spoken: [member.id] });

    // The time limit ends the turn through the room's scheduler; once the room forgets the absent participant (their
    // resumption window passed), they leave the queue.
    await timeTravel.leftEarlier(room.room.id, 10 * 60_000, third.id);
    expect(await fireTimers(room.room.id)).toBe(true);
    const ended = await speakerUpdate(moderator, (p) => p.speaker === null && p.queue.length === 0);
    expect(ended).toMatchObject({ spoken: [member.id, guest.id], remaining_seconds: null });

    // A chair replaces the queue and gives the floor.
    const edited = await moderator.command("automod", { action: "edit", playlist: [owner.id, member.id] });
    expect(edited.payload).toMatchObject({ pool: "queue", speaker: null, queue: [owner.id, member.id] });
    expect(await moderator.refused("automod", { action: "edit", playlist: ["Nobody000000000000000"] })).toBe(
      "not_found",
    );
    const selected = await moderator.command("automod", { action: "select", how: "specific", target: member.id });
    expect(selected.payload).toMatchObject({ speaker: member.id, queue: [owner.id] });
    expect((await coreState(room.room.id)).timers.filter((t) => t.owner === "automod")).toHaveLength(1);
    const joined = await room.join("Spät");
    expect((joined.joined as any).modules.automod.active).toMatchObject({
      strategy: "playlist",
      speaker: member.id,
      queue: [owner.id],
      remaining_seconds: 60,
    });

    const stopped = await owner.command("automod", { action: "stop" });
    expect(stopped.payload).toEqual({ message: "stopped", reason: "by_moderator" });
    expect(await member.refused("automod", { action: "yield" })).toBe("automod_not_active");
    expect(await owner.refused("automod", { action: "stop" })).toBe("automod_not_active");
    const rows = await room.dump("automod");
    expect([rows.automod_running, rows.automod_queue, rows.automod_spoken]).toEqual([[], [], []]);
    // The stopped turn's end was disarmed with it.
    expect((await coreState(room.room.id)).timers.filter((t) => t.owner === "automod")).toEqual([]);
  });

  it("nomination with raised hands; draws from everyone, once each or again and again", async () => {
    const { room, owner, moderator, member, guest } = await RoomHarness.seated();
    await owner.command("automod", start({ strategy: "nomination", consider_hand_raise: true }));
    const from = owner.client.frames.length;
    member.client.send("control", { action: "raise_hand" });
    await sees(owner, member.id, (p) => p.hand_raised_at !== null);
    guest.client.send("control", { action: "raise_hand" });
    await speakerUpdate(owner, (p) => p.queue.join() === [member.id, guest.id].join(), from);
    const selected = await moderator.command("automod", { action: "select", how: "next" });
    expect(selected.payload).toMatchObject({ speaker: member.id, queue: [guest.id] });
    // The new speaker's hand goes down.
    await sees(owner, member.id, (p) => p.hand_raised_at === null);
    expect(await member.refused("automod", { action: "yield", next: owner.id })).toBe("invalid_request");
    const nominated = await member.command("automod", { action: "yield", next: guest.id });
    expect(nominated.payload).toMatchObject({ speaker: guest.id, queue: [], spoken: [member.id] });
    // Who had the floor is not in the queue again (no double selection).
    expect(await guest.refused("automod", { action: "yield", next: member.id })).toBe("invalid_request");
    expect((await guest.command("automod", { action: "yield" })).payload).toMatchObject({ speaker: null });
    // A lowered hand leaves the queue, and so do hands a chair lowers for everyone.
    let mark = owner.client.frames.length;
    moderator.client.send("control", { action: "raise_hand" });
    await speakerUpdate(owner, (p) => p.queue.join() === moderator.id, mark);
    mark = owner.client.frames.length;
    moderator.client.send("control", { action: "lower_hand" });
    await speakerUpdate(owner, (p) => p.queue.length === 0, mark);
    // Who has spoken does not queue again by a hand (no double selection): the owner's later hand alone joins.
    mark = owner.client.frames.length;
    member.client.send("control", { action: "raise_hand" });
    await owner.client.next(
      (f) =>
        f.payload.message === "update" &&
        (f.payload as any).participant.participant_id === member.id &&
        (f.payload as any).participant.hand_raised_at !== null,
      10_000,
      mark,
    );
    owner.client.send("control", { action: "raise_hand" });
    const handsUp = await speakerUpdate(owner, (p) => p.queue.length > 0, mark);
    expect(handsUp.queue).toEqual([owner.id]);
    mark = owner.client.frames.length;
    await ack(owner, { action: "reset_hands" });
    await speakerUpdate(owner, (p) => p.queue.length === 0, mark);
    await owner.command("automod", { action: "stop" });

    // Without a playlist the pool is everyone in the room (listed from presence, so a join sends nothing); with
    // double selection whoever spoke may be drawn again.
    const late = await room.join("Nachzügler");
    await sees(owner, late.id);
    const everyone = [owner.id, moderator.id, member.id, guest.id, late.id];
    const before = owner.client.frames.length;
    await owner.command("automod", start({ strategy: "random", allow_double_selection: true }));
    const drawn = await speakerUpdate(owner, () => true, before);
    expect(drawn.pool).toBe("everyone");
    expect(everyone).toContain(drawn.speaker);
    expect(drawn.queue).toEqual([]);
    const again = await moderator.command("automod", { action: "select", how: "random" });
    expect(everyone).toContain((again.payload as any).speaker);
    expect((again.payload as any).speaker).not.toBe(drawn.speaker);
    expect((again.payload as any).spoken).toEqual([drawn.speaker]);
    await owner.command("automod", { action: "stop" });

    // Without double selection everyone speaks once; then nobody is left to draw.
    const round = owner.client.frames.length;
    await owner.command("automod", start({ strategy: "random" }));
    const speakers = [(await speakerUpdate(owner, () => true, round)).speaker];
    for (let turn = 1; turn < everyone.length; turn++) {
      speakers.push(((await owner.command("automod", { action: "select", how: "random" })).payload as any).speaker);
    }
    expect([...speakers].sort()).toEqual([...everyone].sort());
    const last = await owner.command("automod", { action: "select", how: "next" });
    expect(last.payload).toMatchObject({ speaker: null, queue: [] });
    expect((last.payload as any).spoken).toHaveLength(everyone.length);
  });

  it("a speaker who drops keeps the floor for a moment; away longer, it passes on", async () => {
    const { room, owner, member, guest } = await RoomHarness.seated();
    const device = await room.join("Mitglied");
    await owner.command("automod", start({ strategy: "playlist", playlist: [device.id, guest.id] }));
    const awayTimers = async () =>
      (await coreState(room.room.id)).timers.filter((t) => t.owner === "automod" && t.key === "speaker-away");
    let mark = owner.client.frames.length;
    member.client.close();
    device.client.close();
    await owner.client.next((f) => f.payload.message === "left", 10_000, mark);
    expect(await awayTimers()).toHaveLength(1);
    // Back in time: still the speaker, and the grace is disarmed.
    mark = owner.client.frames.length;
    const back = await room.join("Mitglied");
    await owner.client.next(
      (f) =>
        f.payload.message === "joined" &&
        (f.payload as any).participants.some((p: any) => p.participant_id === back.id),
      10_000,
      mark,
    );
    expect(await awayTimers()).toEqual([]);
    expect((back.joined as any).modules.automod.active.speaker).toBe(back.id);
    mark = owner.client.frames.length;
    back.client.close();
    await owner.client.next((f) => f.payload.message === "left", 10_000, mark);
    expect(await fireTimers(room.room.id)).toBe(true);
    const passed = await speakerUpdate(owner, (p) => p.speaker === guest.id, mark);
    expect(passed).toMatchObject({ spoken: [back.id] });
  });

  it("exclusive microphone: restrictions follow the floor; the speaker sees feedback; as before at stop", async () => {
    const { owner, member, guest } = await RoomHarness.seated();
    const restrictions = (peer: Peer, match: (p: any) => boolean, from: number) =>
      peer.client.next((f) => f.payload.message === "microphone_restrictions" && match(f.payload), 10_000, from);
    const only = (ids: string[]) => (p: any) => p.enabled && p.unrestricted.join() === ids.join();
    const muted = (peer: Peer, from: number) => peer.client.next((f) => f.payload.message === "muted", 10_000, from);

    // Restrictions were off. With `none` nobody has the floor yet: only the chairs may speak.
    let mark = member.client.frames.length;
    await owner.command("automod", start({ strategy: "none", exclusive_microphone: true }));
    await restrictions(member, only([]), mark);
    expect((await muted(member, mark)).payload).toEqual({ message: "muted", by: owner.id });
    await muted(guest, mark);
    expect(await publishAudio(member)).toBe("insufficient_permissions");
    expect(await publishAudio(owner)).toBeUndefined();
    // A reaction before the floor is given: the speaker sees the counts as the floor passes to them.
    await guest.command("feedback", { action: "send", kind: "question" });
    mark = member.client.frames.length;
    await owner.command("automod", { action: "select", how: "specific", target: member.id });
    await restrictions(member, only([member.id]), mark);
    const summary = await member.client.next((f) => f.payload.message === "summary", 10_000, mark);
    expect(summary.payload).toMatchObject({ counts: { question: 1 } });
    expect(await publishAudio(member)).toBeUndefined();
    mark = member.client.frames.length;
    await owner.command("automod", { action: "stop" });
    expect((await restrictions(member, () => true, mark)).payload).toMatchObject({ enabled: false });

    // Restrictions were on (the guest allowed): the queue takes them over, and gives them back at the stop.
    await ack(owner, { action: "set_microphone_restrictions", unrestricted: [guest.id] });
    // The guest, muted since, unmutes (allowed now).
    expect(await publishAudio(guest)).toBeUndefined();
    mark = guest.client.frames.length;
    await owner.command(
      "automod",
      start({ strategy: "playlist", playlist: [member.id, guest.id], exclusive_microphone: true }),
    );
    await restrictions(guest, only([member.id]), mark);
    await muted(guest, mark);
    expect(await publishAudio(guest)).toBe("insufficient_permissions");
    expect(await publishAudio(member)).toBeUndefined();

    // The speaker gets the feedback summary; someone not speaking does not.
    mark = member.client.frames.length;
    await guest.command("feedback", { action: "send", kind: "slower" });
    const slower = await member.client.next(
      (f) => f.payload.message === "summary" && (f.payload as any).counts.slower === 1,
      10_000,
      mark,
    );
    expect(slower.payload).toMatchObject({ counts: { slower: 1 } });
    await guest.alive();
    expect(guest.client.frames.some((f) => f.payload.message === "summary")).toBe(false);

    mark = member.client.frames.length;
    await member.command("automod", { action: "yield" });
    await restrictions(member, only([guest.id]), mark);
    await muted(member, mark);
    expect(await publishAudio(member)).toBe("insufficient_permissions");
    expect(await publishAudio(guest)).toBeUndefined();

    mark = member.client.frames.length;
    await owner.command("automod", { action: "stop" });
    expect((await restrictions(member, () => true, mark)).payload).toMatchObject({
      enabled: true,
      unrestricted: [guest.id],
    });

    // A chair's own change while the queue runs stays at the stop.
    await owner.command("automod", start({ strategy: "playlist", playlist: [member.id], exclusive_microphone: true }));
    await ack(owner, { action: "clear_microphone_restrictions" });
    mark = member.client.frames.length;
    await owner.command("automod", { action: "stop" });
    await member.alive();
    expect(member.client.frames.slice(mark).some((f) => f.payload.message === "microphone_restrictions")).toBe(false);
  });
});
