import { describe, expect, it } from "vitest";
import {
  type Feed,
  JoinPacer,
  layerFor,
  mediaMids,
  subscriptionChanges,
  videoFeeds,
  wantedBy,
} from "../../src/sfu/subscriptions";

const camera = (feed: number, participantId = `p${feed}`): Feed => ({
  feed,
  participantId,
  stream: "camera",
  audioMid: "0",
  videoMid: "1",
});

describe("SFU subscriptions (pure logic)", () => {
  it("shows every camera while few publish, else recent speakers topped up by first publishers, plus screens", () => {
    const few = [camera(1), camera(2), camera(3)];
    expect([...videoFeeds(few, [], 6)].sort()).toEqual([1, 2, 3]);
    const many = Array.from({ length: 250 }, (_, i) => camera(i + 1));
    expect([...videoFeeds(many, [200, 17], 3)]).toEqual([200, 17, 1]);
    // A speaker who stopped publishing is skipped; a screen share always shows.
    const screen: Feed = { feed: 999, participantId: "p5", stream: "screen", audioMid: null, videoMid: "0" };
    expect([...videoFeeds([...many, screen], [4242, 9], 2)]).toEqual([9, 1, 999]);
  });

  it("wants everyone else's audio, chosen video at a layer fitting the grid, never the participant's own feeds", () => {
    const feeds = [camera(1, "alice"), camera(2, "bob"), camera(3, "carla"), { ...camera(4, "dora"), videoMid: null }];
    const wanted = wantedBy("alice", feeds, new Set([1, 2]), new Set([3]));
    expect(wanted.filter((s) => s.substream === null).map((s) => s.feed)).toEqual([2, 3, 4]);
    expect(wanted.filter((s) => s.substream !== null)).toEqual([
      { feed: 2, mid: "1", substream: 2 },
      { feed: 3, mid: "1", substream: 2 },
    ]);
    expect([layerFor("camera", 2), layerFor("camera", 6), layerFor("camera", 7), layerFor("screen", 20)]).toEqual([
      2, 1, 0, 2,
    ]);
  });

  it("turns the current subscription into the wanted one with additions, removals and layer changes", () => {
    const changes = subscriptionChanges(
      [
        { feed: 1, mid: "0", substream: null },
        { feed: 1, mid: "1", substream: 2 },
        { feed: 2, mid: "1", substream: 2 },
      ],
      [
        { feed: 1, mid: "0", substream: null },
        { feed: 1, mid: "1", substream: 1 },
        { feed: 3, mid: "1", substream: 1 },
      ],
    );
    expect(changes).toEqual({
      subscribe: [{ feed: 3, mid: "1", substream: 1 }],
      unsubscribe: [{ feed: 2, mid: "1", substream: 2 }],
      relayer: [{ feed: 1, mid: "1", substream: 1 }],
    });
  });

  it("reads the audio and video mids of an offer", () => {
    const sdp =
      "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n" +
      "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\nm=video 9 UDP 96\r\na=mid:2\r\n";
    expect(mediaMids(sdp)).toEqual({ audioMid: "0", videoMid: "1" });
    expect(mediaMids("v=0\r\nm=video 9 X 96\r\na=mid:v\r\n")).toEqual({ audioMid: null, videoMid: "v" });
  });

  it("paces a room's new SFU connections: a burst at once, then at the configured rate", () => {
    const pacer = new JoinPacer(10, 3);
    expect([0, 0, 0].map(() => pacer.delayFor(1000))).toEqual([0, 0, 0]);
    expect([pacer.delayFor(1000), pacer.delayFor(1000), pacer.delayFor(1000)]).toEqual([100, 200, 300]);
    // After a quiet second the burst is available again.
    expect(pacer.delayFor(3000)).toBe(0);
  });
});
