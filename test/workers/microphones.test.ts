import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ack, fireTimers, type Peer, RoomHarness, sees } from "./harness";
import { api, devToken, join, setting } from "./helpers";

const camera = (audio: boolean) => ({ action: "publish", stream: "camera", audio, video: true }) as const;

/** Waits until `peer` hears that `id` publishes its camera with audio `audio`. */
const hearsAudio = (peer: Peer, id: string, audio: boolean, from = 0) =>
  peer.client.next(
    (f) => {
      const p = f.payload as any;
      return (
        p.message === "publisher_update" &&
        p.publisher.participant_id === id &&
        p.publisher.streams.camera?.audio === audio
      );
    },
    10_000,
    from,
  );

const heldMuted = async (room: RoomHarness) =>
  ((await room.dump("media")).media_muted ?? []).map((r) => r.participant_id).sort();

/** Publishes a camera with audio on (or off) and waits until `observer` has seen it (publish has no answer). */
async function publishing(peer: Peer, observer: Peer, audio = true): Promise<void> {
  const from = observer.client.frames.length;
  peer.client.send("media", camera(audio));
  await hearsAudio(observer, peer.id, audio, from);
}

const plenary = () => RoomHarness.seated();

describe("microphones (moderation: mute, restrictions)", () => {
  it("mutes one participant: told by whom, announced as audio off, held at the room; they may unmute", async () => {
    const { room, owner, member, guest } = await plenary();
    await publishing(member, owner);
    const from = guest.client.frames.length;
    const entry = await ack(owner, { action: "mute", targets: [member.id] });
    expect(entry).toMatchObject({ target: { participant_id: member.id }, details: { targets: 1, muted: 1 } });
    expect((await member.client.message("moderation", "muted")).payload).toEqual({ message: "muted", by: owner.id });
    await hearsAudio(guest, member.id, false, from);
    expect(await heldMuted(room)).toEqual([member.id]);
    // Only the target was told (the guest's own answer is the barrier: everything before it has arrived).
    await guest.alive();
    expect(guest.client.frames.some((f) => f.payload.message === "muted")).toBe(false);

    // Not restricted: the member unmutes themselves, and the room no longer holds their audio.
    await publishing(member, guest);
    expect(await heldMuted(room)).toEqual([]);

    // Nobody but chairs mutes; nobody mutes the owner; an unknown target is not found.
    expect(await guest.refused("moderation", { action: "mute", targets: [member.id] })).toBe(
      "insufficient_permissions",
    );
    expect(await member.refused("moderation", { action: "mute", targets: "all" })).toBe("insufficient_permissions");
    expect(await owner.refused("moderation", { action: "mute", targets: ["Nobody0000000000000000"] })).toBe(
      "not_found",
    );
    expect(await heldMuted(room)).toEqual([]);
  });

  it("refuses a list with a target it may not act on, muting nobody; mutes someone away until back", async () => {
    const { room, owner, moderator, member, guest } = await plenary();
    await publishing(member, owner);
    // A moderator may not mute the owner: the whole list is refused and nobody is held.
    const mixed = { action: "mute" as const, targets: [member.id, owner.id] };
    expect(await moderator.refused("moderation", mixed)).toBe("insufficient_permissions");
    expect(await heldMuted(room)).toEqual([]);
    await member.alive();
    expect(member.client.frames.some((f) => f.payload.message === "muted")).toBe(false);

    // A member drops out briefly; "all" holds them too, and their next join_success says so (their page then
    // publishes without audio; the hold stays until they unmute).
    const token = await devToken("Kurz weg");
    const away = await join(token, room.room.id);
    const awayId = String(away.joined.participant_id);
    await sees(owner, awayId);
    away.client.close(1001);
    await owner.client.next((f) => f.payload.message === "left" && (f.payload as any).participants.includes(awayId));
    const entry = await ack(owner, { action: "mute", targets: "all" });
    expect(entry.details).toEqual({ targets: "all", muted: 3 });
    expect(await heldMuted(room)).toEqual([member.id, guest.id, awayId].sort());
    const back = await join(token, room.room.id);
    expect(back.joined.participant_id).toBe(awayId);
    expect(back.joined.modules.media.muted).toBe(true);
    expect(member.joined.modules).toMatchObject({ media: { muted: false } });
  });

  it("mutes all: everyone but the owner and moderators, told once; only changed publishers announced", async () => {
    const { room, owner, moderator, member, guest } = await plenary();
    for (const peer of [moderator, member, guest]) await publishing(peer, owner);
    const from = owner.client.frames.length;
    const entry = await ack(moderator, { action: "mute", targets: "all" });
    expect(entry.details).toEqual({ targets: "all", muted: 2 });
    for (const peer of [member, guest]) {
      expect((await peer.client.message("moderation", "muted")).payload).toEqual({
        message: "muted",
        by: moderator.id,
      });
    }
    await hearsAudio(owner, member.id, false, from);
    await hearsAudio(owner, guest.id, false, from);
    expect(await heldMuted(room)).toEqual([member.id, guest.id].sort());
    // Each page's own answer comes after every frame of the command: nobody else was muted or announced, the two
    // targets were told once each.
    for (const peer of [owner, moderator, member, guest]) await peer.alive();
    const mutedFrames = (peer: Peer) => peer.client.frames.filter((f) => f.payload.message === "muted").length;
    expect([owner, moderator, member, guest].map(mutedFrames)).toEqual([0, 0, 1, 1]);
    const announced = owner.client.frames
      .slice(from)
      .filter((f) => f.payload.message === "publisher_update")
      .map((f) => (f.payload as any).publisher.participant_id);
    expect(announced.sort()).toEqual([member.id, guest.id].sort());
  });

  it("restricts microphones: only those allowed (and chairs) may publish audio, until restrictions end", async () => {
    const { room, owner, moderator, member, guest } = await plenary();
    await publishing(member, owner);
    await publishing(guest, owner);
    const refusedUnknown = await owner.refused("moderation", {
      action: "set_microphone_restrictions",
      unrestricted: ["Nobody0000000000000000"],
    });
    expect(refusedUnknown).toBe("not_found");

    const from = owner.client.frames.length;
    const entry = await ack(owner, { action: "set_microphone_restrictions", unrestricted: [member.id] });
    expect(entry.details).toEqual({ unrestricted: 1, muted: 1, sfu: false });
    const state = { message: "microphone_restrictions", enabled: true, unrestricted: [member.id] };
    for (const peer of [owner, moderator, member, guest]) {
      expect((await peer.client.message("moderation", "microphone_restrictions")).payload).toEqual(state);
    }
    expect((await guest.client.message("moderation", "muted")).payload).toEqual({ message: "muted", by: owner.id });
    await hearsAudio(owner, guest.id, false, from);
    // The guest cannot unmute, whatever they send; publishing without audio still works.
    expect(await guest.refused("media", camera(true))).toBe("insufficient_permissions");
    await publishing(guest, owner, false);
    expect(await heldMuted(room)).toEqual([guest.id]);
    // The allowed member was not muted (their own answer is the barrier), and chairs speak freely.
    await member.alive();
    expect(member.client.frames.some((f) => f.payload.message === "muted")).toBe(false);
    await publishing(member, owner);
    await publishing(moderator, owner);

    // A moderator who is demoted is restricted now: muted, by the owner who demoted them.
    await ack(owner, { action: "update_role", target: moderator.id, role: "user" });
    expect((await moderator.client.message("moderation", "muted")).payload).toEqual({ message: "muted", by: owner.id });
    expect(await moderator.refused("media", camera(true))).toBe("insufficient_permissions");

    // Someone who comes in now (in the guest's seat: a mesh carries four) learns of the restrictions with
    // join_success, may not speak either, and is held at the room although they announce no audio.
    guest.client.close();
    await owner.client.next((f) => f.payload.message === "left" && (f.payload as any).participants.includes(guest.id));
    const late = await room.join("Nachzügler");
    expect((late.joined.modules as any).moderation.microphone_restrictions).toEqual({
      enabled: true,
      unrestricted: [member.id],
    });
    expect(await late.refused("media", camera(true))).toBe("insufficient_permissions");
    await publishing(late, owner, false);
    expect(await heldMuted(room)).toEqual([guest.id, moderator.id, late.id].sort());

    // Ending them unmutes nobody, but everyone may unmute again.
    await ack(owner, { action: "clear_microphone_restrictions" });
    await late.client.next((f) => f.payload.message === "microphone_restrictions" && !(f.payload as any).enabled);
    expect(await heldMuted(room)).toEqual([guest.id, moderator.id, late.id].sort());
    await publishing(late, owner);
    expect(await heldMuted(room)).toEqual([guest.id, moderator.id].sort());
  });

  it("moves a peer-to-peer room to an SFU node when restrictions start, as soon as a node exists", async () => {
    const operator = { authorization: `Bearer ${setting("OPERATOR_TOKEN")}` };
    const node = {
      id: "mic-node-1",
      region: "de-east",
      // Nothing listens here: the room only needs the placement, no Janus request is made.
      api_url: "http://127.0.0.1:9/janus",
      admin_url: "http://127.0.0.1:9/admin",
      admin_secret: "admin-secret-of-mic-node-1",
      api_secret: "api-secret-of-mic-node-1-0123456789",
      capacity: 10,
    };
    const room = await RoomHarness.create({}, "Vorsitz");
    const owner = await room.join();
    const member = await room.join("Mitglied");
    expect((owner.joined.modules as any).media.mode).toBe("mesh");
    await publishing(member, owner);
    // No node yet: restrictions hold in the clients and in media.publish; the room stays a mesh (the ack comes
    // after the room asked the pool) and asks again on its timer.
    const entry = await ack(owner, { action: "set_microphone_restrictions", unrestricted: [] });
    expect(entry.details).toMatchObject({ sfu: false });
    expect(owner.client.frames.some((f) => f.payload.message === "sfu_changed")).toBe(false);

    expect((await api("POST", "/v1/operator/sfu/nodes", { headers: operator, body: node })).status).toBe(201);
    const pool = env.SFU_POOL.get(env.SFU_POOL.idFromName("pool"));
    // The test stands in for the pool's poll (nothing answers at the node's address): alive for the whole test.
    await runInDurableObject(pool, (_i, state) => {
      state.storage.sql.exec("UPDATE nodes SET last_seen = ?, error = NULL WHERE id = ?", Date.now() + 60_000, node.id);
    });
    await fireTimers(room.room.id);
    for (const peer of [owner, member]) {
      expect((await peer.client.message("media", "sfu_changed")).payload).toEqual({
        message: "sfu_changed",
        reason: "placed",
        available: true,
      });
    }
    const late = await room.join("Nachzügler");
    expect((late.joined.modules as any).media.mode).toBe("sfu");
    expect(await member.refused("media", camera(true))).toBe("insufficient_permissions");
  });
});
