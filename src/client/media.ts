import type { ReceivedEventOf } from "../protocol";
import type { Stream } from "../protocol/media";
import type { Signaling } from "./signaling";

export type MediaEvent = ReceivedEventOf<"media">;

export interface MediaOptions {
  selfId: string;
  iceServers: RTCIceServer[];
  iceTransportPolicy?: RTCIceTransportPolicy;
  /** A remote participant's stream arrived or its tracks changed (the same MediaStream object per stream). */
  onRemoteStream(participantId: string, stream: Stream, media: MediaStream): void;
  /** A remote participant's stream is no longer received. */
  onRemoteEnded(participantId: string, stream: Stream): void;
}

/**
 * What the browser's media has in common with or without an SFU: local streams and their mute state announced
 * to the room, fresh ICE servers from `turn.credentials`, and media events handled one after another (so a
 * candidate never overtakes its offer). Subclasses connect the media.
 */
export abstract class MediaSession {
  protected readonly local = new Map<Stream, MediaStream>();
  /** Listeners to remove at the close (subclasses add theirs). */
  protected readonly unsubscribe: (() => void)[];
  private queue: Promise<void> = Promise.resolve();

  constructor(
    protected readonly signaling: Signaling,
    protected readonly options: MediaOptions,
  ) {
    this.unsubscribe = [
      signaling.onNamespace("media", (payload) => this.enqueue(() => this.handle(payload))),
      signaling.on("turn", "credentials", (credentials) => {
        this.options.iceServers = credentials.ice_servers;
      }),
    ];
  }

  /** Starts sending a local stream (camera: camera and microphone; screen: a display capture). */
  publish(stream: Stream, media: MediaStream): void {
    this.local.set(stream, media);
    this.sendState(stream);
    this.enqueue(() => this.connectLocal(stream, media));
  }

  /** Stops sending a local stream. */
  unpublish(stream: Stream): void {
    if (!this.local.delete(stream)) return;
    this.signaling.send("media", { action: "unpublish", stream });
    this.enqueue(() => this.disconnectLocal(stream));
  }

  /** Swaps a published stream's tracks (another camera or microphone) without renegotiating. */
  async replace(stream: Stream, media: MediaStream): Promise<void> {
    const old = this.local.get(stream);
    if (!old) return this.publish(stream, media);
    this.local.set(stream, media);
    for (const pc of this.peerConnections()) {
      for (const sender of pc.getSenders()) {
        const track =
          sender.track && old.getTracks().includes(sender.track)
            ? media.getTracks().find((t) => t.kind === sender.track!.kind)
            : undefined;
        if (track) await sender.replaceTrack(track);
      }
    }
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
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    for (const pc of this.peerConnections()) pc.close();
  }

  /** Connections for tests and the UI (e.g. getStats). */
  abstract peerConnections(): RTCPeerConnection[];

  protected abstract handle(payload: MediaEvent): Promise<void> | void;
  protected abstract connectLocal(stream: Stream, media: MediaStream): Promise<void> | void;
  protected abstract disconnectLocal(stream: Stream): Promise<void> | void;

  protected newConnection(): RTCPeerConnection {
    return new RTCPeerConnection({
      iceServers: this.options.iceServers,
      iceTransportPolicy: this.options.iceTransportPolicy ?? "all",
    });
  }

  protected enqueue(task: () => Promise<void> | void): void {
    this.queue = this.queue.then(task).catch((error: unknown) => console.warn("media signalling failed:", error));
  }

  private sendState(stream: Stream): void {
    const media = this.local.get(stream)!;
    const on = (tracks: MediaStreamTrack[]) => tracks.some((t) => t.enabled);
    this.signaling.send("media", {
      action: "publish",
      stream,
      audio: on(media.getAudioTracks()),
      video: on(media.getVideoTracks()),
    });
  }
}

/** A local ICE candidate as the protocol carries it. */
export const candidateOf = (candidate: RTCIceCandidate) => ({
  candidate: candidate.candidate,
  sdpMid: candidate.sdpMid,
  sdpMLineIndex: candidate.sdpMLineIndex,
  usernameFragment: candidate.usernameFragment,
});
