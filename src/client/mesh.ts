import type { Publisher, Stream } from "../protocol/media";
import { type MediaOptions, MediaSession } from "./media";
import type { ServerPayload, Signaling } from "./signaling";

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
export class MeshMedia extends MediaSession {
  /** Connections by `<publisher>/<subscriber>/<stream>`. */
  private readonly connections = new Map<string, RTCPeerConnection>();

  constructor(signaling: Signaling, options: MediaOptions, publishers: Publisher[] = []) {
    super(signaling, options);
    for (const publisher of publishers) this.subscribeTo(publisher);
  }

  peerConnections(): RTCPeerConnection[] {
    return [...this.connections.values()];
  }

  /** Subscribers ask for the stream once they learn of it (publisher_update). */
  protected connectLocal(): void {}

  protected disconnectLocal(stream: Stream): void {
    for (const [id, pc] of this.connections) {
      if (id.startsWith(`${this.options.selfId}/`) && id.endsWith(`/${stream}`)) {
        pc.close();
        this.connections.delete(id);
      }
    }
  }

  private subscribeTo(publisher: Publisher): void {
    if (publisher.participant_id === this.options.selfId) return;
    for (const stream of Object.keys(publisher.streams) as Stream[]) {
      if (!this.connections.has(key(publisher.participant_id, this.options.selfId, stream))) {
        this.signaling.send("media", { action: "subscribe", target: publisher.participant_id, stream });
      }
    }
  }

  protected async handle(payload: ServerPayload): Promise<void> {
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
      pc.ontrack = (event) =>
        this.options.onRemoteStream(r.publisher, r.stream, event.streams[0] ?? new MediaStream([event.track]));
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
    const pc = this.newConnection();
    pc.onicecandidate = (event) =>
      this.relay(
        peer,
        publisher,
        stream,
        event.candidate ? { kind: "candidate", candidate: event.candidate.toJSON() } : { kind: "end_of_candidates" },
      );
    this.connections.set(id, pc);
    return pc;
  }

  private relay(target: string, publisher: string, stream: Stream, body: Record<string, unknown>): void {
    this.signaling.send("media", { action: "relay", target, publisher, stream, ...body });
  }
}

const key = (publisher: string, subscriber: string, stream: Stream) => `${publisher}/${subscriber}/${stream}`;
