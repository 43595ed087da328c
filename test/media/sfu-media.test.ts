import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  JANUS_NODES,
  joinInBrowser,
  type MediaRig,
  roomWithTickets,
  sfuNodes,
  sleep,
  startMediaRig,
  untilEveryoneReceives,
} from "./rig";

async function untilEveryPage(
  pages: Page[],
  predicate: () => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await Promise.all(pages.map((p) => p.evaluate(predicate)))).every(Boolean)) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}

/** Audio over one window: energy the listener's page decoded, packets the speaker's page sent, its track's state. */
interface AudioFlow {
  energy: number;
  sent: number;
  trackEnabled: boolean;
}

const AUDIO_WINDOW_MS = 2000;

/** Totals of inbound audio energy (listener) and outbound audio packets (speaker) now. */
function audioTotals(listener: Page, speaker: Page) {
  const sum = (page: Page, type: string, field: string) =>
    page.evaluate(
      async ({ type, field }) => {
        let total = 0;
        for (const pc of (window as any).media.peerConnections() as RTCPeerConnection[]) {
          for (const s of (await pc.getStats()).values())
            if (s.type === type && s.kind === "audio") total += s[field] ?? 0;
        }
        return total;
      },
      { type, field },
    );
  return Promise.all([
    sum(listener, "inbound-rtp", "totalAudioEnergy"),
    sum(speaker, "outbound-rtp", "packetsSent"),
    speaker.evaluate(() => (window as any).camera.getAudioTracks()[0].enabled as boolean),
  ]);
}

/** How much audio flowed from the speaker to the listener during one window. */
async function audioFlow(listener: Page, speaker: Page): Promise<AudioFlow> {
  const [energy0, sent0] = await audioTotals(listener, speaker);
  await sleep(AUDIO_WINDOW_MS);
  const [energy1, sent1, trackEnabled] = await audioTotals(listener, speaker);
  return { energy: energy1 - energy0, sent: sent1 - sent0, trackEnabled };
}

/** Measures window after window until one shows the flow `wanted` describes. */
async function untilAudio(
  listener: Page,
  speaker: Page,
  wanted: (flow: AudioFlow) => boolean,
  what: string,
): Promise<AudioFlow> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const flow = await audioFlow(listener, speaker);
    if (wanted(flow)) return flow;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(flow)}`);
  }
}

/** Audio energy the listener's page decoded so far from one participant's streams (by their tracks' ids). */
function energyFrom(listener: Page, participant: string): Promise<number> {
  return listener.evaluate(async (participant) => {
    const w = window as any;
    const tracks = new Set<string>();
    for (const [key, element] of Object.entries(w.remote) as [string, HTMLMediaElement][]) {
      if (!key.startsWith(`${participant}/`)) continue;
      for (const track of (element.srcObject as MediaStream).getAudioTracks()) tracks.add(track.id);
    }
    let total = 0;
    for (const pc of w.media.peerConnections() as RTCPeerConnection[]) {
      for (const s of (await pc.getStats()).values())
        if (s.type === "inbound-rtp" && s.kind === "audio" && tracks.has(s.trackIdentifier))
          total += s.totalAudioEnergy ?? 0;
    }
    return total;
  }, participant);
}

/** Measures one window after another until the energy heard from each participant in one satisfies `wanted`. */
async function untilHeard(
  listener: Page,
  participants: string[],
  wanted: (energies: number[]) => boolean,
  what: string,
): Promise<number[]> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const before = await Promise.all(participants.map((p) => energyFrom(listener, p)));
    await sleep(AUDIO_WINDOW_MS);
    const after = await Promise.all(participants.map((p) => energyFrom(listener, p)));
    const energies = after.map((e, i) => e - before[i]!);
    if (wanted(energies)) return energies;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(energies)}`);
  }
}

describe("media through real Janus nodes (in a private network namespace)", () => {
  let rig: MediaRig;

  beforeAll(async () => {
    rig = await startMediaRig();
  });

  afterAll(async () => {
    await rig?.stop();
  });

  const closeAll = (pages: Page[]) => Promise.all(pages.map((p) => p.context().close()));

  it("three participants on one Janus node decode each other's video and audio; moving nodes restores it", async () => {
    const { roomId, tickets } = await roomWithTickets(rig.server.base, ["Vorsitz", "Schriftführung", "Bürgerin"]);
    const joined = [];
    for (const ticket of tickets) joined.push(await joinInBrowser(rig, roomId, ticket));
    const pages = joined.map((j) => j.page);
    try {
      expect(joined.map((j) => j.mode)).toEqual(["sfu", "sfu", "sfu"]);
      const before = await untilEveryoneReceives(pages, 2);
      for (const r of before) expect(r.frames).toBeGreaterThan(0);

      // The room is pinned to one node; kill it as in a crash.
      const pinned = (await sfuNodes(rig.server.base)).find((n) => n.rooms > 0);
      expect(JANUS_NODES).toContain(pinned?.id);
      const other = JANUS_NODES.find((id) => id !== pinned!.id)!;
      await rig.janus[pinned!.id]!.kill();

      // The pool repins the room, every client is told and sets up again, and video decodes on the other node.
      await untilEveryPage(pages, () => (window as any).sfuChanges === 1, "every client told of the move");
      const after = await untilEveryoneReceives(pages, 2);
      for (const r of after) expect(r.videos).toBe(2);
      const nodes = await sfuNodes(rig.server.base);
      expect(nodes.find((n) => n.id === other)!.rooms).toBe(1);
      expect(nodes.find((n) => n.id === pinned!.id)!.alive).toBe(false);
      await rig.janus[pinned!.id]!.start();
    } finally {
      await closeAll(pages);
    }
  });

  it("a chair's mute holds at Janus: the guest's page keeps sending, the chair hears it again on unmute", async () => {
    const { roomId, tickets, ids } = await roomWithTickets(rig.server.base, ["Vorsitz"], ["Gast"]);
    const [chair, guest] = [
      await joinInBrowser(rig, roomId, tickets[0]!),
      await joinInBrowser(rig, roomId, tickets[1]!),
    ];
    const guestId = ids[1]!;
    try {
      await untilEveryoneReceives([chair.page, guest.page], 1);
      const before = await audioFlow(chair.page, guest.page);
      expect(before.energy).toBeGreaterThan(0);
      expect(before.sent).toBeGreaterThan(0);

      // The guest's page ignores the mute (its track stays enabled and keeps sending): Janus drops the audio.
      await chair.page.evaluate(
        (target) => (window as any).signaling.send("moderation", { action: "mute", targets: [target] }),
        guestId,
      );
      const muted = await untilAudio(chair.page, guest.page, (flow) => flow.energy < before.energy * 0.02, "silence");
      expect(muted.trackEnabled).toBe(true);
      expect(muted.sent).toBeGreaterThan(before.sent * 0.5);

      // The guest unmutes (publish with audio): Janus forwards their audio again.
      await guest.page.evaluate(() => (window as any).media.setEnabled("camera", "audio", true));
      await untilAudio(chair.page, guest.page, (flow) => flow.energy > before.energy * 0.3, "audio again");
    } finally {
      await closeAll([chair.page, guest.page]);
    }
  });

  it("exclusive microphone of the speaker queue: Janus forwards only the speaker's audio, then the next", async () => {
    const { roomId, tickets, ids } = await roomWithTickets(rig.server.base, ["Vorsitz", "Erste", "Zweiter"]);
    const [chair, first, second] = [
      await joinInBrowser(rig, roomId, tickets[0]!),
      await joinInBrowser(rig, roomId, tickets[1]!),
      await joinInBrowser(rig, roomId, tickets[2]!),
    ];
    const speakers = [ids[1]!, ids[2]!];
    const pages = [chair.page, first.page, second.page];
    try {
      await untilEveryoneReceives(pages, 2);
      const open = await untilHeard(chair.page, speakers, (e) => e.every((x) => x > 0), "both heard");

      // Neither page mutes itself (their tracks stay enabled and keep sending): Janus drops the second's audio.
      await chair.page.evaluate(
        (playlist) =>
          (window as any).signaling.send("automod", {
            action: "start",
            strategy: "playlist",
            playlist,
            exclusive_microphone: true,
          }),
        speakers,
      );
      await untilHeard(
        chair.page,
        speakers,
        ([a, b]) => a! > open[0]! * 0.3 && b! < open[1]! * 0.02,
        "only the first speaker heard",
      );
      expect(await second.page.evaluate(() => (window as any).camera.getAudioTracks()[0].enabled)).toBe(true);

      // The first yields: Janus holds them; the second, allowed now, unmutes and is heard alone.
      await first.page.evaluate(() => (window as any).signaling.send("automod", { action: "yield" }));
      await untilHeard(chair.page, speakers, ([a]) => a! < open[0]! * 0.02, "the first speaker silenced");
      await second.page.evaluate(() => (window as any).media.setEnabled("camera", "audio", true));
      await untilHeard(
        chair.page,
        speakers,
        ([a, b]) => a! < open[0]! * 0.02 && b! > open[1]! * 0.3,
        "only the second speaker heard",
      );
    } finally {
      await closeAll(pages);
    }
  });

  it("relay-only participants (iceTransportPolicy relay) get media through coturn to the SFU", async () => {
    const { roomId, tickets } = await roomWithTickets(rig.server.base, ["Relais A", "Relais B"]);
    const pages = [];
    for (const ticket of tickets) pages.push((await joinInBrowser(rig, roomId, ticket, true)).page);
    try {
      const media = await untilEveryoneReceives(pages, 1);
      for (const r of media) {
        expect(r.localCandidates.length).toBeGreaterThanOrEqual(2); // publishing and subscribing connections
        expect(new Set(r.localCandidates)).toEqual(new Set(["relay"]));
      }
    } finally {
      await closeAll(pages);
    }
    // Everyone left: the rooms' handles and sessions are gone from the nodes (as the admin API counts them) and
    // the rooms gave their placements back.
    const deadline = Date.now() + 30_000;
    while ((await sfuNodes(rig.server.base)).some((n) => n.sessions > 0 || n.handles > 0 || n.rooms > 0)) {
      if (Date.now() > deadline)
        throw new Error(`SFU state left behind: ${JSON.stringify(await sfuNodes(rig.server.base))}`);
      await sleep(250);
    }
  });
});
