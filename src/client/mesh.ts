import type { CommandOf, ReceivedEvent } from "../protocol";
import { type Publisher, type Stream, StreamSchema } from "../protocol/media";
import { candidateOf, type MediaEvent, type MediaOptions, MediaSession } from "./media";
import type { Signaling } from "./signaling";

type Relay = ReceivedEvent<"media", "relay">;
/** What a relay command carries besides its addressing. */
type RelayBody = Omit<Extract<CommandOf<"media">, { action: "relay" }>, "action" | "target" | "publisher" | "stream">;

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
    // Someone who left, or moved into another breakout room, gets none of our streams any more (theirs to us end
    // with their publisher_update).
    this.unsubscribe.push(
      signaling.on("control", "left", ({ participants }) => this.enqueue(() => this.dropSubscribers(participants))),
    );
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

  private dropSubscribers(participants: readonly string[]): void {
    const gone = new Set(participants);
    for (const [id, pc] of this.connections) {
      const [publisher, subscriber] = id.split("/");
      if (publisher === this.options.selfId && gone.has(subscriber!)) {
        pc.close();
        this.connections.delete(id);
      }
    }
  }

  private subscribeTo(publisher: Publisher): void {
    if (publisher.participant_id === this.options.selfId) return;
    for (const stream of StreamSchema.options) {
      if (
        publisher.streams[stream] &&
        !this.connections.has(key(publisher.participant_id, this.options.selfId, stream))
      ) {
        this.signaling.send("media", { action: "subscribe", target: publisher.participant_id, stream });
      }
    }
  }

  protected async handle(payload: MediaEvent): Promise<void> {
    switch (payload.message) {
      case "publisher_update": {
        const { publisher } = payload;
        for (const stream of StreamSchema.options) {
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
        return this.offer(payload.subscriber, payload.stream);
      case "relay":
        return this.relayed(payload);
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
        event.candidate
          ? { kind: "candidate", candidate: candidateOf(event.candidate) }
          : { kind: "end_of_candidates" },
      );
    this.connections.set(id, pc);
    return pc;
  }

  private relay(target: string, publisher: string, stream: Stream, body: RelayBody): void {
    this.signaling.send("media", { action: "relay", target, publisher, stream, ...body });
  }
}

const key = (publisher: string, subscriber: string, stream: Stream) => `${publisher}/${subscriber}/${stream}`;
