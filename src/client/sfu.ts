import type { ReceivedEvent } from "../protocol";
import type { Stream } from "../protocol/media";
import { candidateOf, type MediaEvent, MediaSession } from "./media";

type SubscribedStream = ReceivedEvent<"media", "subscribe_offer">["streams"][number];
/** One participant's stream as received, one MediaStream for as long as any of its tracks arrives. */
interface RemoteStream {
  participant: string;
  stream: Stream;
  media: MediaStream;
}

/** Camera video goes out in three layers; the SFU forwards to each subscriber the one that fits its grid. */
const SIMULCAST: RTCRtpEncodingParameters[] = [
  { rid: "h", maxBitrate: 900_000 },
  { rid: "m", maxBitrate: 300_000, scaleResolutionDownBy: 2 },
  { rid: "l", maxBitrate: 100_000, scaleResolutionDownBy: 4 },
];

/**
 * The browser side of media through the room's SFU. Each local stream is one send-only connection (offer →
 * publish_answer); everything received is one receive-only connection whose offers come from the SFU via the
 * room (subscribe_offer, numbered; the newest is answered). When the room moves to another node
 * (sfu_changed) everything is set up again.
 */
export class SfuMedia extends MediaSession {
  private readonly publishers = new Map<Stream, RTCPeerConnection>();
  private subscriber: RTCPeerConnection | undefined;
  private streamsByMid = new Map<string, SubscribedStream>();
  /** The SFU's candidates that arrived before the description they belong to, by `publish/<stream>` or `subscribe`. */
  private readonly earlyCandidates = new Map<string, RTCIceCandidateInit[]>();
  /** Remote streams by `<participant>/<stream>`. */
  private readonly remote = new Map<string, RemoteStream>();

  peerConnections(): RTCPeerConnection[] {
    return [...this.publishers.values(), ...(this.subscriber ? [this.subscriber] : [])];
  }

  protected async connectLocal(stream: Stream, media: MediaStream): Promise<void> {
    this.publishers.get(stream)?.close();
    this.earlyCandidates.delete(`publish/${stream}`);
    const pc = this.newConnection();
    this.publishers.set(stream, pc);
    for (const track of media.getTracks()) {
      const simulcast = stream === "camera" && track.kind === "video";
      pc.addTransceiver(track, {
        direction: "sendonly",
        streams: [media],
        ...(simulcast ? { sendEncodings: SIMULCAST.map((e) => ({ ...e })) } : {}),
      });
    }
    pc.onicecandidate = (event) =>
      this.signaling.send("media", {
        action: "trickle",
        direction: "publish",
        stream,
        candidate: event.candidate ? candidateOf(event.candidate) : null,
      });
    await pc.setLocalDescription(await pc.createOffer());
    this.signaling.send("media", { action: "publish_offer", stream, sdp: pc.localDescription!.sdp });
  }

  protected disconnectLocal(stream: Stream): void {
    this.publishers.get(stream)?.close();
    this.publishers.delete(stream);
  }

  protected async handle(payload: MediaEvent): Promise<void> {
    switch (payload.message) {
      case "publish_answer": {
        const pc = this.publishers.get(payload.stream);
        if (pc?.signalingState !== "have-local-offer") return;
        await pc.setRemoteDescription({ type: "answer", sdp: payload.sdp });
        return this.addEarlyCandidates(pc, `publish/${payload.stream}`);
      }
      case "candidate": {
        const { direction, stream, candidate } = payload;
        if (!candidate) return;
        const key = direction === "publish" ? `publish/${stream}` : "subscribe";
        const pc = direction === "publish" ? stream && this.publishers.get(stream) : this.subscriber;
        // Janus trickles its candidates as soon as it has them, often before its answer or offer.
        if (pc?.remoteDescription) return pc.addIceCandidate(candidate);
        this.earlyCandidates.set(key, [...(this.earlyCandidates.get(key) ?? []), candidate]);
        return;
      }
      case "subscribe_offer":
        return this.answer(payload.negotiation, payload.sdp, payload.streams);
      case "sfu_changed":
        return this.restart(payload.available);
    }
  }

  private async answer(negotiation: number, sdp: string, streams: SubscribedStream[]): Promise<void> {
    if (!this.subscriber) {
      const pc = this.newConnection();
      this.subscriber = pc;
      pc.onicecandidate = (event) =>
        this.signaling.send("media", {
          action: "trickle",
          direction: "subscribe",
          candidate: event.candidate ? candidateOf(event.candidate) : null,
        });
    }
    const pc = this.subscriber;
    this.streamsByMid = new Map(streams.map((s) => [s.mid, s]));
    await pc.setRemoteDescription({ type: "offer", sdp });
    await this.addEarlyCandidates(pc, "subscribe");
    await pc.setLocalDescription(await pc.createAnswer());
    this.signaling.send("media", { action: "subscribe_answer", negotiation, sdp: pc.localDescription!.sdp });
    this.refreshRemote();
  }

  private async addEarlyCandidates(pc: RTCPeerConnection, key: string): Promise<void> {
    const early = this.earlyCandidates.get(key) ?? [];
    this.earlyCandidates.delete(key);
    for (const candidate of early) await pc.addIceCandidate(candidate);
  }

  /** Regroups received tracks by participant and stream after each negotiation; reports what came and went. */
  private refreshRemote(): void {
    const tracks = new Map<string, { described: SubscribedStream; list: MediaStreamTrack[] }>();
    for (const transceiver of this.subscriber?.getTransceivers() ?? []) {
      const described = transceiver.mid === null ? undefined : this.streamsByMid.get(transceiver.mid);
      if (!described || transceiver.currentDirection === "inactive" || transceiver.currentDirection === "stopped")
        continue;
      const id = `${described.participant_id}/${described.stream}`;
      const entry = tracks.get(id) ?? { described, list: [] };
      entry.list.push(transceiver.receiver.track);
      tracks.set(id, entry);
    }
    for (const [id, { participant, stream, media }] of this.remote) {
      if (tracks.has(id)) continue;
      this.remote.delete(id);
      for (const track of media.getTracks()) media.removeTrack(track);
      this.options.onRemoteEnded(participant, stream);
    }
    for (const [id, { described, list }] of tracks) {
      let remote = this.remote.get(id);
      const fresh = !remote;
      if (!remote) {
        remote = { participant: described.participant_id, stream: described.stream, media: new MediaStream() };
        this.remote.set(id, remote);
      }
      const { media } = remote;
      const changed = list.some((t) => !media.getTrackById(t.id)) || media.getTracks().some((t) => !list.includes(t));
      for (const track of media.getTracks()) if (!list.includes(track)) media.removeTrack(track);
      for (const track of list) if (!media.getTrackById(track.id)) media.addTrack(track);
      if (fresh || changed) this.options.onRemoteStream(remote.participant, remote.stream, media);
    }
  }

  /** The room moved to another SFU node (or the node forgot it): connect everything again. */
  private async restart(available: boolean): Promise<void> {
    for (const pc of this.peerConnections()) pc.close();
    this.publishers.clear();
    this.subscriber = undefined;
    this.streamsByMid = new Map();
    this.earlyCandidates.clear();
    this.refreshRemote();
    if (!available) return;
    for (const [stream, media] of this.local) await this.connectLocal(stream, media);
  }
}
