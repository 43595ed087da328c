import type { JoinSuccess, Publisher, Stream } from "../../../protocol";
import { joinMedia } from "../../index";
import type { MediaSession } from "../../media";
import type { Signaling } from "../../signaling";
import { h } from "../dom";
import { t } from "../i18n";
import type { RoomState } from "./state";

type Kind = "audio" | "video";
interface Tile {
  participant: string;
  stream: Stream;
  element: HTMLElement;
}

type MediaState = NonNullable<JoinSuccess["modules"]["media"]>;

/**
 * Media (media): the video grid, one tile per received or local stream, and the local camera, microphone and
 * screen share, which outlive a reconnect and go out again on the next connection. A room that ran peer to peer
 * and gets an SFU (sfu_changed, reason placed) changes its media session here: the mesh closes, the SFU's opens and
 * the local streams go out through it. While this participant may not speak, their microphone stays off.
 */
export class StagePanel {
  private readonly grid = h("ul", { id: "grid", class: "grid", "aria-label": t("videos") });
  /** By `<participant>/<stream>`. */
  private readonly tiles = new Map<string, Tile>();
  private readonly publishers = new Map<string, Publisher>();
  private readonly speaking = new Set<string>();
  private media: MediaSession | undefined;
  /** The current session's kind ("mesh" too for a mode this client does not know: joinMedia's choice). */
  private mode: "mesh" | "sfu" = "mesh";
  /** The connection the session is on, and its newest ICE servers (for a session set up later). */
  private signaling: Signaling | undefined;
  private iceServers: RTCIceServer[] = [];
  private localCamera: MediaStream | undefined;
  private screen: MediaStream | undefined;

  /** `onLocalChange`: a local stream started, stopped or was muted (the toolbar shows it). */
  constructor(
    private readonly state: RoomState,
    private readonly onLocalChange: () => void,
  ) {
    state.onChange(() => {
      this.holdMicrophone();
      this.renderTiles();
    });
  }

  listen(signaling: Signaling): void {
    signaling.on("media", "publisher_update", ({ publisher }) => {
      this.publishers.set(publisher.participant_id, publisher);
      this.renderTiles();
    });
    signaling.on("media", "speaking", ({ participant_id, speaking }) => {
      if (speaking) this.speaking.add(participant_id);
      else this.speaking.delete(participant_id);
      this.renderTiles();
    });
    signaling.on("turn", "credentials", ({ ice_servers }) => {
      this.iceServers = ice_servers;
    });
    signaling.on("media", "sfu_changed", ({ reason, available }) => {
      // A session set up now would get this very event too (listeners added while it is handed out are called):
      // the change waits until it has been. An SFU session handles every reason itself (it starts over).
      if (reason === "placed" && available && this.mode === "mesh") queueMicrotask(() => this.moveToSfu(signaling));
    });
  }

  /**
   * join_success (of a new connection, or of this one moved into another breakout group): media for this connection,
   * with the camera (and a running screen share) published. Without the
   * media module's state (the room could not tell its mode) this connection has no media; the camera shows locally.
   * While the room holds this participant's microphone off (`muted`: a chair muted them, also before a reconnect or
   * reload), it goes out off: announced with audio, the stream would count as unmuting.
   */
  async start(signaling: Signaling, joined: JoinSuccess): Promise<void> {
    const { media, turn } = joined.modules;
    // Another join_success on this connection (moved into another breakout group, or the rooms closed around it):
    // its media starts over, as after a reconnect (the room dropped its old streams).
    if (this.media) this.disconnect();
    this.publishers.clear();
    for (const p of media?.publishers ?? []) this.publishers.set(p.participant_id, p);
    if (!media) console.warn("no media in this connection: join_success carried no media state");
    this.signaling = signaling;
    this.iceServers = turn?.ice_servers ?? [];
    this.media = media ? this.session(signaling, media) : undefined;
    try {
      this.localCamera ??= await navigator.mediaDevices.getUserMedia({
        audio: true,
        video: { width: 640, height: 360 },
      });
      // The connection may have dropped while the browser asked for the camera; the next join publishes then.
      this.publishLocal(media?.muted ?? false);
      this.localTile();
    } catch (error) {
      console.warn("no camera or microphone:", error);
    }
    this.localChanged();
  }

  /** The connection closed: received media ends; local streams stay for the next connection. */
  disconnect(): void {
    this.media?.close();
    this.media = undefined;
    for (const { participant, stream } of [...this.tiles.values()])
      if (participant !== this.state.selfId) this.removeTile(participant, stream);
  }

  /** A media session on the connection (which keeps its ICE servers fresh from then on). */
  private session(signaling: Signaling, state: MediaState): MediaSession {
    this.mode = state.mode === "sfu" ? "sfu" : "mesh";
    return joinMedia(signaling, state, {
      selfId: this.state.selfId,
      iceServers: this.iceServers,
      onRemoteStream: (participant, stream, remote) => this.remoteStream(participant, stream, remote),
      onRemoteEnded: (participant, stream) => this.removeTile(participant, stream),
    });
  }

  /**
   * The peer-to-peer room has an SFU now: what the mesh received goes (it comes back through the SFU), and the
   * local streams go out through the SFU. Only for the connection whose mesh this is (not one that followed it).
   * The microphone stays as the local track has it (a chair's mute switched it off already): not `muted` here.
   */
  private moveToSfu(signaling: Signaling): void {
    if (!this.media || this.mode !== "mesh" || this.signaling !== signaling) return;
    this.disconnect();
    this.media = this.session(signaling, {
      mode: "sfu",
      publishers: [...this.publishers.values()],
      muted: false,
    });
    this.publishLocal();
  }

  /**
   * Sends the local streams through the current session (the microphone off first where it must stay off, and
   * where the room holds it off: `muted`).
   */
  private publishLocal(muted = false): void {
    this.holdMicrophone(muted);
    if (this.localCamera) this.media?.publish("camera", this.localCamera);
    if (this.screen) this.media?.publish("screen", this.screen);
  }

  /**
   * While this participant may not speak (microphones restricted), the microphone stays off: the room refuses a
   * stream announced with audio, and would refuse the camera with it. `muted`: off as well (the room holds it off).
   */
  private holdMicrophone(muted = false): void {
    if ((muted || !this.state.maySpeak()) && this.localOn("audio")) this.setEnabled("audio", false);
  }

  /** Releases camera, microphone and screen (left, removed, or sent to wait: a later join asks for them anew). */
  stopLocal(): void {
    for (const stream of [this.localCamera, this.screen]) for (const track of stream?.getTracks() ?? []) track.stop();
    this.localCamera = undefined;
    this.screen = undefined;
    this.removeTile(this.state.selfId, "camera");
    this.removeTile(this.state.selfId, "screen");
    this.localChanged();
  }

  view(): HTMLElement {
    this.grid.setAttribute("aria-label", t("videos"));
    this.renderTiles();
    return this.grid;
  }

  get camera(): MediaStream | undefined {
    return this.localCamera;
  }

  get sharingScreen(): boolean {
    return this.screen !== undefined;
  }

  localOn(kind: Kind): boolean {
    const tracks = kind === "audio" ? this.localCamera?.getAudioTracks() : this.localCamera?.getVideoTracks();
    return tracks?.some((track) => track.enabled) ?? false;
  }

  /** Switches the camera or microphone on or off (the microphone on only while this participant may speak). */
  setEnabled(kind: Kind, enabled: boolean): void {
    if (kind === "audio" && enabled && !this.state.maySpeak()) return;
    const tracks = kind === "audio" ? this.localCamera?.getAudioTracks() : this.localCamera?.getVideoTracks();
    for (const track of tracks ?? []) track.enabled = enabled;
    this.media?.setEnabled("camera", kind, enabled);
    this.localChanged();
  }

  async toggleScreen(): Promise<void> {
    if (this.screen) {
      for (const track of this.screen.getTracks()) track.stop();
      this.screen = undefined;
      this.media?.unpublish("screen");
      this.removeTile(this.state.selfId, "screen");
    } else {
      try {
        this.screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
        this.screen.getVideoTracks()[0]?.addEventListener("ended", () => void (this.screen && this.toggleScreen()));
        this.media?.publish("screen", this.screen);
        const preview = this.video(this.state.selfId, "screen");
        preview.muted = true;
        preview.srcObject = this.screen;
        void preview.play().catch(() => undefined);
      } catch (error) {
        console.warn("screen sharing refused:", error);
      }
    }
    this.localChanged();
  }

  /**
   * Another microphone or camera: its tracks replace the old ones without renegotiating. They come on or off as
   * the old ones were (a new track is on: a muted microphone would come back on), and the microphone off where it
   * must stay off, before the room hears of them.
   */
  async switchDevice(kind: "audioinput" | "videoinput", deviceId: string): Promise<void> {
    if (!this.localCamera) return;
    const wanted = await navigator.mediaDevices.getUserMedia(
      kind === "audioinput"
        ? { audio: { deviceId: { exact: deviceId } } }
        : { video: { deviceId: { exact: deviceId } } },
    );
    const audio = kind === "audioinput";
    const keep = audio ? this.localCamera.getVideoTracks() : this.localCamera.getAudioTracks();
    const replaced = audio ? this.localCamera.getAudioTracks() : this.localCamera.getVideoTracks();
    const added = wanted.getTracks();
    if (replaced.length > 0) {
      const enabled = replaced.some((track) => track.enabled);
      for (const track of added) track.enabled = enabled;
    }
    const next = new MediaStream([...keep, ...added]);
    this.localCamera = next;
    this.holdMicrophone();
    await this.media?.replace("camera", next);
    for (const track of replaced) track.stop();
    this.localTile();
    this.localChanged();
  }

  private localChanged(): void {
    this.onLocalChange();
    this.renderTiles();
  }

  private localTile(): void {
    const video = this.video(this.state.selfId, "camera");
    video.muted = true;
    if (video.srcObject !== this.localCamera) video.srcObject = this.localCamera ?? null;
    void video.play().catch(() => undefined);
  }

  private remoteStream(participant: string, stream: Stream, media: MediaStream): void {
    const video = this.video(participant, stream);
    if (video.srcObject !== media) video.srcObject = media;
    void video.play().catch(() => undefined);
    this.renderTiles();
  }

  /** The video element of a stream's tile, which is created on first use. */
  private video(participant: string, stream: Stream): HTMLVideoElement {
    const key = `${participant}/${stream}`;
    let tile = this.tiles.get(key);
    if (!tile) {
      const element = h(
        "li",
        { class: "tile", "data-key": key },
        h("video", { autoplay: true, playsinline: true }),
        h("p", { class: "label" }),
      );
      tile = { participant, stream, element };
      this.tiles.set(key, tile);
      this.grid.append(element);
    }
    return tile.element.querySelector("video")!;
  }

  private removeTile(participant: string, stream: Stream): void {
    const key = `${participant}/${stream}`;
    this.tiles.get(key)?.element.remove();
    this.tiles.delete(key);
  }

  /** Tile captions: name, and in words (never by colour alone) muted, camera off, hand raised, speaking. */
  private renderTiles(): void {
    for (const { participant, stream, element } of this.tiles.values()) {
      const state =
        participant === this.state.selfId
          ? { audio: this.localOn("audio"), video: this.localOn("video") }
          : this.publishers.get(participant)?.streams[stream];
      const notes = [
        stream === "screen" ? t("screenShare") : null,
        state && !state.audio && stream === "camera" ? t("muted") : null,
        state && !state.video ? t("cameraOff") : null,
        this.state.handRaised(participant) ? t("handRaised") : null,
        this.speaking.has(participant) ? t("speaking") : null,
      ].filter(Boolean);
      const name = this.state.shownName(participant);
      element.querySelector(".label")!.textContent = notes.length > 0 ? `${name} – ${notes.join(", ")}` : name;
      element.classList.toggle("speaking", this.speaking.has(participant));
      element.querySelector("video")!.setAttribute("aria-label", name);
    }
  }
}
