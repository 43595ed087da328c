import { describe, expect, it } from "vitest";
import type { CommandOf } from "../../src/protocol";
import { ack, coreState, fireTimers, type Peer, RoomHarness, sees } from "./harness";

type Start = Extract<CommandOf<"automod">, { action: "start" }>;
const start = (fields: Omit<Start, "action">): CommandOf<"automod"> => ({ action: "start", ...fields });

/** The next speaker_updated `peer` hears (from frame index `from`) that `match` accepts. */
const speakerUpdate = (peer: Peer, match: (p: any) => boolean = () => true, from = 0) =>
  peer.client
    .next((f) => f.namespace === "automod" && f.payload.message === "speaker_updated" && match(f.payload), 10_000, from)
    .then((f) => f.payload as any);

/** Publishes a camera with audio; resolves with the room's answer to a later frame, or the refusal. */
async function publishAudio(peer: Peer): Promise<string | undefined> {
  const from = peer.client.frames.length;
  peer.client.send("media", { action: "publish", stream: "camera", audio: true, video: true });
  await peer.alive();
  const refusal = peer.client.frames.slice(from).find((f) => f.namespace === "media" && f.payload.message === "error");
  return (refusal?.payload as { error?: string } | undefined)?.error;
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

    // Whoever leaves leaves the queue: the floor passes over them.
    const watched = owner.client.frames.length;
    third.client.close();
    const shorter = await speakerUpdate(owner, (p) => p.queue.length === 1, watched);
    expect(shorter).toMatchObject({ speaker: member.id, queue: [guest.id] });
    const yielded = await member.command("automod", { action: "yield" });
    expect(yielded.payload).toMatchObject({ speaker: guest.id, queue: [], spoken: [member.id] });

    // The time limit ends the turn through the room's scheduler; nobody is left in the queue.
    expect(await fireTimers(room.room.id)).toBe(true);
    const ended = await speakerUpdate(moderator, (p) => p.speaker === null);
    expect(ended).toMatchObject({ queue: [], spoken: [guest.id, member.id].sort(), remaining_seconds: null });

    // A chair replaces the queue and gives the floor.
    const edited = await moderator.command("automod", { action: "edit", playlist: [owner.id, member.id] });
    expect(edited.payload).toMatchObject({ speaker: null, queue: [owner.id, member.id] });
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

  it("nomination with raised hands; a random draw from everyone, newcomers included", async () => {
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
    await owner.command("automod", { action: "stop" });

    // Without a playlist the queue is everyone in the room; a newcomer joins its end.
    const everyone = [owner.id, moderator.id, member.id, guest.id];
    const before = owner.client.frames.length;
    await owner.command("automod", start({ strategy: "random", allow_double_selection: true }));
    const drawn = await speakerUpdate(owner, () => true, before);
    expect(everyone).toContain(drawn.speaker);
    expect([...drawn.queue, drawn.speaker].sort()).toEqual([...everyone].sort());
    const mark = owner.client.frames.length;
    const late = await room.join("Nachzügler");
    const grown = await speakerUpdate(owner, (p) => p.queue.includes(late.id), mark);
    expect(grown.queue).toHaveLength(4);
    // With double selection, whoever spoke goes back to the queue's end.
    const again = await moderator.command("automod", { action: "select", how: "random" });
    expect((again.payload as any).queue.at(-1)).toBe(drawn.speaker);
    expect((again.payload as any).spoken).toEqual([]);
  });

  it("exclusive microphone: restrictions follow the floor, the speaker gets feedback, restored at stop", async () => {
    const { owner, member, guest } = await RoomHarness.seated();
    await ack(owner, { action: "set_microphone_restrictions", unrestricted: [guest.id] });
    const started = await owner.command(
      "automod",
      start({ strategy: "playlist", playlist: [member.id, guest.id], exclusive_microphone: true }),
    );
    expect(started.payload).toMatchObject({ exclusive_microphone: true });
    const only = (id: string) => (f: any) =>
      f.payload.message === "microphone_restrictions" && f.payload.unrestricted.join() === id;
    await guest.client.next(only(member.id));
    // The guest, unrestricted before, is muted now; the speaker may speak.
    expect((await guest.client.next((f) => f.payload.message === "muted")).payload).toEqual({
      message: "muted",
      by: owner.id,
    });
    expect(await publishAudio(guest)).toBe("insufficient_permissions");
    expect(await publishAudio(member)).toBeUndefined();

    // The speaker gets the feedback summary; someone not speaking does not.
    await guest.command("feedback", { action: "send", kind: "slower" });
    const summary = await member.client.next((f) => f.payload.message === "summary");
    expect(summary.payload).toMatchObject({ counts: { slower: 1 } });
    await guest.alive();
    expect(guest.client.frames.some((f) => f.payload.message === "summary")).toBe(false);

    const watched = member.client.frames.length;
    await member.command("automod", { action: "yield" });
    await member.client.next(only(guest.id), 10_000, watched);
    await member.client.next((f) => f.payload.message === "muted", 10_000, watched);
    expect(await publishAudio(member)).toBe("insufficient_permissions");
    expect(await publishAudio(guest)).toBeUndefined();

    // Stopped: the restrictions are as before the start.
    const mark = member.client.frames.length;
    await owner.command("automod", { action: "stop" });
    const restored = await member.client.next((f) => f.payload.message === "microphone_restrictions", 10_000, mark);
    expect(restored.payload).toMatchObject({ enabled: true, unrestricted: [guest.id] });
  });
});
