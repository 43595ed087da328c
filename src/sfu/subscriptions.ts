import type { Stream } from "../protocol/media";

/** A live publisher stream on the SFU: one Janus feed, with the m-line ids (mids) of its audio and video. */
export interface Feed {
  feed: number;
  participantId: string;
  stream: Stream;
  audioMid: string | null;
  videoMid: string | null;
}

/** One subscribed m-line: a feed's audio or video, with the simulcast layer wanted for video. */
export interface Subscription {
  feed: number;
  mid: string;
  /** Simulcast layer (0 lowest … 2 highest); null for audio. */
  substream: number | null;
}

/**
 * The video everyone receives: every camera while at most `lastN` publish, else the `lastN` most recent speakers
 * (topped up with the earliest publishers, so a silent room still shows faces), plus every screen share.
 */
export function videoFeeds(feeds: Feed[], recentSpeakers: readonly number[], lastN: number): Set<number> {
  const cameras = feeds.filter((f) => f.stream === "camera" && f.videoMid !== null);
  const chosen = new Set<number>();
  if (cameras.length <= lastN) {
    for (const f of cameras) chosen.add(f.feed);
  } else {
    const live = new Set(cameras.map((f) => f.feed));
    for (const feed of [...recentSpeakers, ...cameras.map((f) => f.feed).sort((a, b) => a - b)]) {
      if (chosen.size >= lastN) break;
      if (live.has(feed)) chosen.add(feed);
    }
  }
  for (const f of feeds) if (f.stream === "screen" && f.videoMid !== null) chosen.add(f.feed);
  return chosen;
}

/** The simulcast layer that fits a grid of `tiles` videos: one or two large tiles get the top layer. */
export function layerFor(stream: Stream, tiles: number): number {
  if (stream === "screen" || tiles <= 2) return 2;
  return tiles <= 6 ? 1 : 0;
}

/**
 * What one participant's connection should receive: the audio of every other publisher, and video of the chosen
 * feeds plus those it asked for, at a layer that fits how many videos it shows.
 */
export function wantedBy(
  participantId: string,
  feeds: Feed[],
  video: Set<number>,
  requested: Set<number>,
): Subscription[] {
  const others = feeds.filter((f) => f.participantId !== participantId);
  const shown = others.filter((f) => f.videoMid !== null && (video.has(f.feed) || requested.has(f.feed)));
  const cameraTiles = shown.filter((f) => f.stream === "camera").length;
  const wanted: Subscription[] = [];
  for (const f of others) if (f.audioMid !== null) wanted.push({ feed: f.feed, mid: f.audioMid, substream: null });
  for (const f of shown) wanted.push({ feed: f.feed, mid: f.videoMid!, substream: layerFor(f.stream, cameraTiles) });
  return wanted;
}

export const subscriptionKey = (s: { feed: number; mid: string }) => `${s.feed}/${s.mid}`;

/** The update that turns `current` into `wanted`: m-lines to add, to drop, and video whose layer changes. */
export function subscriptionChanges(current: Subscription[], wanted: Subscription[]) {
  const had = new Map(current.map((s) => [subscriptionKey(s), s]));
  const want = new Map(wanted.map((s) => [subscriptionKey(s), s]));
  return {
    subscribe: wanted.filter((s) => !had.has(subscriptionKey(s))),
    unsubscribe: current.filter((s) => !want.has(subscriptionKey(s))),
    relayer: wanted.filter((s) => {
      const before = had.get(subscriptionKey(s));
      return before !== undefined && before.substream !== s.substream;
    }),
  };
}

/** The mids of an SDP's audio and video sections (the first of each kind). */
export function mediaMids(sdp: string): { audioMid: string | null; videoMid: string | null } {
  const mids: { audioMid: string | null; videoMid: string | null } = { audioMid: null, videoMid: null };
  let kind: "audio" | "video" | null = null;
  for (const line of sdp.split(/\r?\n/)) {
    if (line.startsWith("m="))
      kind = line.startsWith("m=audio") ? "audio" : line.startsWith("m=video") ? "video" : null;
    const mid = /^a=mid:(\S+)/.exec(line)?.[1];
    if (mid && kind === "audio" && mids.audioMid === null) mids.audioMid = mid;
    if (mid && kind === "video" && mids.videoMid === null) mids.videoMid = mid;
  }
  return mids;
}

/**
 * Paces new SFU connections of one room: a burst of `burst` goes at once, then one every 1/`perSecond` s. Returns
 * how long the caller waits for its slot (clock injected, so it is testable).
 */
export class JoinPacer {
  private lastSlot = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {}

  delayFor(now: number): number {
    const interval = 1000 / this.perSecond;
    const slot = Math.max(now - (this.burst - 1) * interval, this.lastSlot + interval);
    this.lastSlot = slot;
    return Math.max(0, slot - now);
  }
}
