import type { Publisher, Stream } from "../protocol/media";
import type { ServerPayload, Signaling } from "./signaling";

export interface MeshOptions {
  selfId: string;
  iceServers: RTCIceServer[];
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** A remote participant's stream arrived (or was replaced). */
  onRemoteStream(participantId: string, stream: Stream, media: MediaStream): void;
  /** A remote participant stopped publishing a stream. */
  onRemoteEnded(participantId: string, stream: Stream): void;
}

interface Relay extends ServerPayload {
  source: string;
  publisher: string;
  stream: Stream;
  kind: "offer" | "answer" | "candidate" | "end_of_candidates";
  sdp?: string;
  candidate?: RTCIceCandidateInit;
}

/**
 * The browser side of media in a room without an SFU: every participant subscribes to every published stream;
 * each subscription is one RTCPeerConnection between publisher and subscriber, negotiated through the room's
 * relay (the publisher offers).
 */
export class MeshMedia {
  /** Connections by `<publisher>/<subscriber>/<stream>`. */
  private readonly connections = new Map<string, RTCPeerConnection>();
  private readonly local = new Map<Stream, MediaStream>();
  private readonly unsubscribe: () => void;
  /** Media events are handled one after another, so a candidate never overtakes its offer. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly signaling: Signaling,
    private readonly options: MeshOptions,
    publishers: Publisher[] = [],
  ) {
    this.unsubscribe = signaling.on((namespace, payload) => {
      if (namespace === "media") {
        this.queue = this.queue.then(() => this.handle(payload)).catch((error: unknown) => console.warn("media signalling failed:", error));
      }
      if (namespace === "turn" && payload.message === "credentials") this.options.iceServers = payload.ice_servers as RTCIceServer[];
    });
    for (const publisher of publishers) this.subscribeTo(publisher);
  }

  publish(stream: Stream, media: MediaStream): void {
    this.local.set(stream, media);
    this.sendState(stream);
  }

  /** Mutes or unmutes local tracks and tells the room. */
  setEnabled(stream: Stream, kind: "audio" | "video", enabled: boolean): void {
    const media = this.local.get(stream);
    if (!media) return;
    for (const track of kind === "audio" ? media.getAudioTracks() : media.getVideoTracks()) track.enabled = enabled;
    this.sendState(stream);
  }

  close(): void {
    this.unsubscribe();
    for (const pc of this.connections.values()) pc.close();
    this.connections.clear();
  }

  private sendState(stream: Stream): void {
    const media = this.local.get(stream)!;
    const on = (tracks: MediaStreamTrack[]) => tracks.some((t) => t.enabled);
    this.signaling.send("media", { action: "publish", stream, audio: on(media.getAudioTracks()), video: on(media.getVideoTracks()) });
  }

  private subscribeTo(publisher: Publisher): void {
    if (publisher.participant_id === this.options.selfId) return;
    for (const stream of Object.keys(publisher.streams) as Stream[]) {
      if (!this.connections.has(key(publisher.participant_id, this.options.selfId, stream))) {
        this.signaling.send("media", { action: "subscribe", target: publisher.participant_id, stream });
      }
    }
  }

  private async handle(payload: ServerPayload): Promise<void> {
    switch (payload.message) {
      case "publisher_update": {
        const publisher = payload.publisher as Publisher;
        for (const stream of ["camera", "screen"] as const) {
          const id = key(publisher.participant_id, this.options.selfId, stream);
          if (!publisher.streams[stream] && this.connections.has(id)) {
            this.connections.get(id)!.close();
            this.connections.delete(id);
            this.options.onRemoteEnded(publisher.participant_id, stream);
          }
        }
        return this.subscribeTo(publisher);
      }
      case "subscribe_request":
        return this.offer(payload.subscriber as string, payload.stream as Stream);
      case "relay":
        return this.relayed(payload as Relay);
    }
  }

  /** As publisher: a new connection carrying our stream to the subscriber. */
  private async offer(subscriber: string, stream: Stream): Promise<void> {
    const media = this.local.get(stream);
    if (!media) return;
    const pc = this.connection(this.options.selfId, subscriber, stream, subscriber);
    for (const track of media.getTracks()) pc.addTrack(track, media);
    await pc.setLocalDescription(await pc.createOffer());
    this.relay(subscriber, this.options.selfId, stream, { kind: "offer", sdp: pc.localDescription!.sdp });
  }

  private async relayed(r: Relay): Promise<void> {
    const subscriber = r.publisher === r.source ? this.options.selfId : r.source;
    if (r.kind === "offer") {
      const pc = this.connection(r.publisher, subscriber, r.stream, r.source);
      pc.ontrack = (event) => this.options.onRemoteStream(r.publisher, r.stream, event.streams[0] ?? new MediaStream([event.track]));
      await pc.setRemoteDescription({ type: "offer", sdp: r.sdp! });
      await pc.setLocalDescription(await pc.createAnswer());
      return this.relay(r.source, r.publisher, r.stream, { kind: "answer", sdp: pc.localDescription!.sdp });
    }
    const pc = this.connections.get(key(r.publisher, subscriber, r.stream));
    if (!pc) return;
    if (r.kind === "answer") await pc.setRemoteDescription({ type: "answer", sdp: r.sdp! });
    if (r.kind === "candidate") await pc.addIceCandidate(r.candidate);
  }

  private connection(publisher: string, subscriber: string, stream: Stream, peer: string): RTCPeerConnection {
    const id = key(publisher, subscriber, stream);
    this.connections.get(id)?.close();
    const pc = new RTCPeerConnection({ iceServers: this.options.iceServers, iceTransportPolicy: this.options.iceTransportPolicy ?? "all" });
    pc.onicecandidate = (event) =>
      this.relay(peer, publisher, stream, event.candidate ? { kind: "candidate", candidate: event.candidate.toJSON() } : { kind: "end_of_candidates" });
    this.connections.set(id, pc);
    return pc;
  }

  private relay(target: string, publisher: string, stream: Stream, body: Record<string, unknown>): void {
    this.signaling.send("media", { action: "relay", target, publisher, stream, ...body });
  }

  /** Connections for tests and the UI (e.g. getStats). */
  peerConnections(): RTCPeerConnection[] {
    return [...this.connections.values()];
  }
}

const key = (publisher: string, subscriber: string, stream: Stream) => `${publisher}/${subscriber}/${stream}`;
