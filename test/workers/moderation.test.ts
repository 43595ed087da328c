import { describe, expect, it } from "vitest";
import type { FrameCollector } from "../helpers/collector";
import { api, devToken, join, newRoom, upgrade } from "./helpers";

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
    expect(chair.joined.modules.moderation).toEqual({ waiting: [] });
    // A registered user is not held when only guests wait.
    const clerk = await join(await devToken("Schriftführung"), room.id);
    expect(clerk.joined.modules.moderation).toEqual({ waiting: [] });

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
