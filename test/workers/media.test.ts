import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { readConfig } from "../../src/shared/config";
import { dumpModule } from "./harness";
import { devToken, join, newRoom } from "./helpers";

const streamsOf = async (roomId: string) =>
  (await dumpModule(roomId, "media"))
    .media_streams!.map(({ participant_id, stream, audio, video }) => ({ participant_id, stream, audio, video }))
    .sort((x, y) => `${x.participant_id}/${x.stream}`.localeCompare(`${y.participant_id}/${y.stream}`));
const fakeSdp = (size = 200) => `v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\n${"a=x\r\n".repeat(Math.ceil(size / 5))}`;

async function meshRoom() {
  const owner = await devToken("Olga");
  const room = await newRoom(owner);
  const a = await join(owner, room.id);
  const b = await join(await devToken("Bernd"), room.id);
  return { room, a, b };
}

describe("media in a room without an SFU (mesh)", () => {
  it("announces publishers and relays subscribe, offer, answer and candidates between two participants", async () => {
    const { room, a, b } = await meshRoom();
    expect(a.joined.modules.media).toEqual({ mode: "mesh", publishers: [], muted: false });
    a.client.send("media", { action: "publish", stream: "camera", audio: true, video: true });
    const update = await b.client.message("media", "publisher_update");
    expect(update.payload).toEqual({
      message: "publisher_update",
      publisher: { participant_id: a.joined.participant_id, streams: { camera: { audio: true, video: true } } },
    });

    b.client.send("media", { action: "subscribe", target: a.joined.participant_id, stream: "camera" });
    expect((await a.client.message("media", "subscribe_request")).payload).toEqual({
      message: "subscribe_request",
      subscriber: b.joined.participant_id,
      stream: "camera",
    });
    const pub = a.joined.participant_id;
    a.client.send("media", {
      action: "relay",
      target: b.joined.participant_id,
      publisher: pub,
      stream: "camera",
      kind: "offer",
      sdp: fakeSdp(),
    });
    expect((await b.client.message("media", "relay")).payload).toMatchObject({
      source: pub,
      publisher: pub,
      stream: "camera",
      kind: "offer",
      sdp: fakeSdp(),
    });
    b.client.send("media", {
      action: "relay",
      target: pub,
      publisher: pub,
      stream: "camera",
      kind: "answer",
      sdp: fakeSdp(),
    });
    expect((await a.client.message("media", "relay")).payload).toMatchObject({
      source: b.joined.participant_id,
      kind: "answer",
    });
    const candidate = {
      candidate: "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host",
      sdpMid: "0",
      sdpMLineIndex: 0,
    };
    const from = a.client.frames.length;
    b.client.send("media", {
      action: "relay",
      target: pub,
      publisher: pub,
      stream: "camera",
      kind: "candidate",
      candidate,
    });
    expect((await a.client.next((f) => f.payload.message === "relay", 5000, from)).payload).toMatchObject({
      kind: "candidate",
      candidate,
    });

    // Muting is a new publish of the same stream; a newcomer learns the publishers in join_success.
    a.client.send("media", { action: "publish", stream: "camera", audio: false, video: true });
    await b.client.next(
      (f) => f.payload.message === "publisher_update" && (f.payload as any).publisher.streams.camera?.audio === false,
    );
    const c = await join(await devToken("Carla"), room.id);
    expect(c.joined.modules.media.publishers).toEqual([
      { participant_id: a.joined.participant_id, streams: { camera: { audio: false, video: true } } },
    ]);

    // Leaving ends the publisher's streams for everyone.
    a.client.close(1000);
    const gone = await b.client.next(
      (f) => f.payload.message === "publisher_update" && Object.keys((f.payload as any).publisher.streams).length === 0,
    );
    expect((gone.payload as any).publisher.participant_id).toBe(a.joined.participant_id);
    expect(await streamsOf(room.id)).toEqual([]);
  });

  it("refuses bad media commands with error frames and keeps the room's media state", async () => {
    const { room, a, b } = await meshRoom();
    a.client.send("media", { action: "publish", stream: "camera", audio: true, video: true });
    await b.client.message("media", "publisher_update");
    const before = await streamsOf(room.id);
    const [pa, pb] = [a.joined.participant_id, b.joined.participant_id];
    const cases: [Record<string, unknown>, string][] = [
      // SDP over the limit (MAX_SDP_BYTES is 2048 in this tier; the frame itself is within its limit).
      [
        { action: "relay", target: pa, publisher: pa, stream: "camera", kind: "answer", sdp: fakeSdp(3000) },
        "frame_too_large",
      ],
      // An offer for a stream the sender does not publish (claiming it, or naming someone else's); a wrong answer.
      [
        { action: "relay", target: pa, publisher: pb, stream: "camera", kind: "offer", sdp: fakeSdp() },
        "insufficient_permissions",
      ],
      [
        { action: "relay", target: pa, publisher: pa, stream: "camera", kind: "offer", sdp: fakeSdp() },
        "insufficient_permissions",
      ],
      [
        { action: "relay", target: pa, publisher: pa, stream: "screen", kind: "answer", sdp: fakeSdp() },
        "insufficient_permissions",
      ],
      [
        {
          action: "relay",
          target: pa,
          publisher: "SomeoneElse12",
          stream: "camera",
          kind: "candidate",
          candidate: { candidate: "x" },
        },
        "insufficient_permissions",
      ],
      // Subscribing to a publisher or stream that does not exist; relaying to nobody.
      [{ action: "subscribe", target: "NoSuchParticipant1", stream: "camera" }, "not_found"],
      [{ action: "subscribe", target: a.joined.participant_id, stream: "screen" }, "not_found"],
      [
        { action: "relay", target: "NoSuchParticipant1", publisher: pb, stream: "camera", kind: "end_of_candidates" },
        "not_found",
      ],
      // Malformed: an offer without SDP, a candidate with SDP, an unknown stream, unpublishing what is not published.
      [{ action: "relay", target: pa, publisher: pa, stream: "camera", kind: "answer" }, "invalid_frame"],
      [
        { action: "relay", target: pa, publisher: pa, stream: "camera", kind: "candidate", sdp: "v=0" },
        "invalid_frame",
      ],
      [{ action: "publish", stream: "hologram", audio: true, video: true }, "invalid_frame"],
      [{ action: "unpublish", stream: "screen" }, "not_found"],
    ];
    for (const [payload, code] of cases) {
      const from = b.client.frames.length;
      b.client.send("media", payload);
      expect((await b.client.error(from)).payload, JSON.stringify(payload).slice(0, 80)).toMatchObject({ error: code });
    }
    expect(await streamsOf(room.id)).toEqual(before);
    expect(a.client.frames.some((f) => f.payload.message === "relay")).toBe(false);
  });

  it("gives rooms larger than the mesh limit a clear error instead of media", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const people = [await join(owner, room.id)];
    const meshLimit = readConfig(env as never).MESH_MAX_PARTICIPANTS;
    for (let i = 2; i <= meshLimit + 1; i++) people.push(await join(await devToken(`P${i}`), room.id));
    const last = people[meshLimit]!.client;
    const from = last.frames.length;
    last.send("media", { action: "publish", stream: "camera", audio: true, video: true });
    expect((await last.error(from)).payload).toMatchObject({ error: "media_unavailable" });
    expect(await streamsOf(room.id)).toEqual([]);
  });
});

describe("media in a room pinned to an SFU node", () => {
  /** A room pinned to a node nothing answers on: every refusal below must happen before the room calls Janus. */
  async function pinnedRoom() {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    // As the pool does when it moves a room (before anyone joined, nobody hears of it).
    await env.ROOMS.get(env.ROOMS.idFromName(room.id)).sfuMoved(
      { nodeId: "gone-1", apiUrl: "http://127.0.0.1:9/janus", apiSecret: "api-secret-of-gone-1", region: "de-east" },
      "dead",
    );
    const a = await join(owner, room.id);
    const b = await join(await devToken("Bernd"), room.id);
    return { room, a, b };
  }
  const handlesOf = async (roomId: string) => (await dumpModule(roomId, "media")).media_handles!;

  it("refuses bad SFU media commands with error frames, keeping publishers and SFU state unchanged", async () => {
    const { room, a, b } = await pinnedRoom();
    expect(a.joined.modules.media).toEqual({ mode: "sfu", publishers: [], muted: false });
    b.client.send("media", { action: "publish", stream: "camera", audio: true, video: true });
    await a.client.message("media", "publisher_update");
    const before = await streamsOf(room.id);
    const candidate = {
      candidate: "candidate:1 1 udp 2122260223 192.0.2.1 50000 typ host",
      sdpMid: "0",
      sdpMLineIndex: 0,
    };
    const cases: [Record<string, unknown>, string][] = [
      // SDP over the limit, for publishing and for answering a subscription.
      [{ action: "publish_offer", stream: "camera", sdp: fakeSdp(3000) }, "frame_too_large"],
      [{ action: "subscribe_answer", negotiation: 1, sdp: fakeSdp(3000) }, "frame_too_large"],
      // SDP for a stream the sender has not announced (screen), an answer to an offer never made.
      [{ action: "publish_offer", stream: "screen", sdp: fakeSdp() }, "insufficient_permissions"],
      [{ action: "subscribe_answer", negotiation: 1, sdp: fakeSdp() }, "stale_negotiation"],
      // Candidates for media connections that do not exist.
      [{ action: "trickle", direction: "publish", stream: "camera", candidate }, "not_found"],
      [{ action: "trickle", direction: "subscribe", candidate: null }, "not_found"],
      // Subscribing to a publisher that does not exist; peer-to-peer signalling in an SFU room.
      [{ action: "subscribe", target: "NoSuchParticipant1", stream: "camera" }, "not_found"],
      [
        {
          action: "relay",
          target: b.joined.participant_id,
          publisher: b.joined.participant_id,
          stream: "camera",
          kind: "end_of_candidates",
        },
        "media_unavailable",
      ],
      // Malformed: publish candidates without their stream, a negotiation number that is not one.
      [{ action: "trickle", direction: "publish", candidate }, "invalid_frame"],
      [{ action: "subscribe_answer", negotiation: 0, sdp: fakeSdp() }, "invalid_frame"],
    ];
    for (const [payload, code] of cases) {
      const from = a.client.frames.length;
      a.client.send("media", payload);
      expect((await a.client.error(from)).payload, JSON.stringify(payload).slice(0, 80)).toMatchObject({ error: code });
    }
    // A valid offer for an announced stream reaches for the node, which does not answer: sfu_error, nothing kept.
    a.client.send("media", { action: "publish", stream: "camera", audio: true, video: false });
    await b.client.next(
      (f) =>
        f.payload.message === "publisher_update" &&
        (f.payload as any).publisher.participant_id === a.joined.participant_id,
    );
    // The room holds a microphone on one audio m-line named by its mid: any other offer could carry audio past it.
    const audio = (mid: string | null) => `m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n${mid ? `a=mid:${mid}\r\n` : ""}`;
    for (const sdp of [`${fakeSdp()}${audio("0")}${audio("1")}`, `${fakeSdp()}${audio(null)}`]) {
      const offered = a.client.frames.length;
      a.client.send("media", { action: "publish_offer", stream: "camera", sdp });
      expect((await a.client.error(offered)).payload).toMatchObject({ error: "invalid_request" });
    }
    const from = a.client.frames.length;
    a.client.send("media", { action: "publish_offer", stream: "camera", sdp: fakeSdp() });
    expect((await a.client.error(from, 15_000)).payload).toMatchObject({ error: "sfu_error" });
    expect(await handlesOf(room.id)).toEqual([]);
    expect((await streamsOf(room.id)).filter((r) => r.participant_id === b.joined.participant_id)).toEqual(before);
  });
});
