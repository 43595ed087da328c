import { CloseCode, type Participant, type Publisher, type Role, type Stream } from "../../protocol";
import { joinMedia } from "../index";
import type { MediaSession } from "../media";
import { type ServerPayload, Signaling } from "../signaling";
import { ApiError, api } from "./api";
import { announce, fill, h } from "./dom";
import { type TextKey, t } from "./i18n";

export type Who = { kind: "user"; displayName: string } | { kind: "guest"; invite: string; displayName: string };

/** Close codes after which the client must not reconnect (the protocol's 4000–4999). */
const FINAL_CLOSES: Record<number, TextKey> = {
  [CloseCode.kicked]: "kicked",
  [CloseCode.banned]: "banned",
  [CloseCode.meetingEnded]: "meetingEnded",
  [CloseCode.roomDeleted]: "roomDeleted",
};
const RETRY_MS = [500, 1000, 2000, 4000, 8000];

/** The room page: video grid, controls, participants, waiting list (moderators) and chat; reconnects on drops. */
export async function enterRoom(
  main: HTMLElement,
  roomId: string,
  who: Who,
  header: () => HTMLElement,
): Promise<{ relabel(): void }> {
  const view = new RoomView(main, roomId, who, header);
  await view.connect();
  return view;
}

class RoomView {
  private signaling: Signaling | undefined;
  private media: MediaSession | undefined;
  private camera: MediaStream | undefined;
  private screen: MediaStream | undefined;
  private resumption: string | undefined;
  private attempt = 0;
  private leaving = false;
  private inWaitingRoom = false;
  private selfId = "";
  private role: Role = "guest";
  private readonly participants = new Map<string, Participant>();
  private readonly publishers = new Map<string, Publisher>();
  private readonly speaking = new Set<string>();
  private messages: { source: string; content: string; timestamp: string; name: string }[] = [];
  private readonly tiles = new Map<string, HTMLElement>();
  private readonly status = h("p", { id: "connection", role: "status" });
  private readonly grid = h("ul", { id: "grid", class: "grid", "aria-label": t("videos") });
  private readonly people = h("ul", { id: "participants" });
  private readonly waiting = h("div", { id: "waiting" });
  private readonly chatLog = h("div", {
    id: "chat-log",
    role: "log",
    "aria-live": "polite",
    "aria-labelledby": "chat-title",
    tabindex: 0,
  });
  private readonly controls = h("div", { class: "controls", role: "toolbar", "aria-label": t("devices") });
  private laidOut = false;
  /** The room's name where the participant may read it (registered users), else the product's. */
  private title = "Plenum";

  constructor(
    private readonly main: HTMLElement,
    private readonly roomId: string,
    private readonly who: Who,
    private readonly header: () => HTMLElement,
  ) {}

  async connect(): Promise<void> {
    try {
      if (this.who.kind === "user" && this.title === "Plenum") this.title = (await api.room(this.roomId)).name;
      const started =
        this.who.kind === "user"
          ? await api.start(this.roomId, this.who.displayName)
          : await api.startInvited(this.roomId, this.who.invite, this.who.displayName, this.resumption);
      this.resumption = started.resumption;
      const signaling = await Signaling.open(location.origin, this.roomId, started.ticket);
      this.signaling = signaling;
      signaling.on((namespace, payload) => this.frame(namespace, payload));
      signaling.onClose((code) => this.closed(code));
    } catch (error) {
      // A refused start (wrong invite, deleted room) is final; a network failure is retried.
      if (error instanceof ApiError && error.status < 500 && error.status !== 429)
        return this.end(`${error.code}: ${error.message}`);
      this.retry();
    }
  }

  private frame(namespace: string, payload: ServerPayload): void {
    const key = `${namespace}.${payload.message}`;
    switch (key) {
      case "control.join_success":
        return void this.joined(payload);
      case "moderation.in_waiting_room":
        return this.showWaitingRoom();
      case "control.joined":
        for (const p of payload.participants as Participant[]) this.participants.set(p.participant_id, p);
        announce(
          t("joinedNotice", { names: (payload.participants as Participant[]).map((p) => p.display_name).join(", ") }),
        );
        return this.renderPeople();
      case "control.left": {
        const ids = payload.participants as string[];
        announce(t("leftNotice", { names: ids.map((id) => this.participants.get(id)?.display_name ?? id).join(", ") }));
        for (const id of ids) this.participants.delete(id);
        return this.renderPeople();
      }
      case "control.update": {
        const p = payload.participant as Participant;
        const before = this.participants.get(p.participant_id);
        this.participants.set(p.participant_id, p);
        if (p.hand_raised_at && !before?.hand_raised_at) announce(t("handNotice", { name: p.display_name }));
        this.renderPeople();
        return this.renderTiles();
      }
      case "chat.message_sent":
        return this.addMessage(payload.source as string, payload.content as string, payload.timestamp as string);
      case "moderation.waiting_room_updated":
        return this.renderWaiting(payload.waiting as { participant_id: string; display_name: string }[]);
      case "media.publisher_update": {
        const publisher = payload.publisher as Publisher;
        this.publishers.set(publisher.participant_id, publisher);
        return this.renderTiles();
      }
      case "media.speaking":
        if (payload.speaking) this.speaking.add(payload.participant_id as string);
        else this.speaking.delete(payload.participant_id as string);
        return this.renderTiles();
    }
  }

  private async joined(payload: ServerPayload): Promise<void> {
    this.attempt = 0;
    this.inWaitingRoom = false;
    this.selfId = payload.participant_id as string;
    this.role = payload.role as Role;
    this.participants.clear();
    this.participants.set(this.selfId, {
      participant_id: this.selfId,
      display_name: payload.display_name as string,
      role: this.role,
      kind: this.who.kind,
      joined_at: "",
      hand_raised_at: null,
    });
    for (const p of payload.participants as Participant[]) this.participants.set(p.participant_id, p);
    const modules = payload.modules as {
      chat: { messages: { source: string; content: string; timestamp: string }[] };
      turn: { ice_servers: RTCIceServer[] } | null;
      media: { mode: "mesh" | "sfu"; publishers: Publisher[] };
      moderation: { waiting: { participant_id: string; display_name: string }[] };
    };
    this.publishers.clear();
    for (const p of modules.media.publishers) this.publishers.set(p.participant_id, p);
    this.layout();
    fill(this.chatLog);
    this.messages = [];
    for (const m of modules.chat.messages) this.addMessage(m.source, m.content, m.timestamp);
    this.renderWaiting(modules.moderation.waiting);
    this.renderPeople();
    this.status.textContent = t("connected");
    this.media = joinMedia(this.signaling!, modules.media, {
      selfId: this.selfId,
      iceServers: modules.turn?.ice_servers ?? [],
      onRemoteStream: (participant, stream, media) => this.remoteStream(participant, stream, media),
      onRemoteEnded: (participant, stream) => this.removeTile(`${participant}/${stream}`),
    });
    try {
      this.camera ??= await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
      this.media.publish("camera", this.camera);
      // After a reconnect a running screen share goes out again too.
      if (this.screen) this.media.publish("screen", this.screen);
      this.localTile();
      this.updateControls();
      await this.renderDevices();
    } catch (error) {
      console.warn("no camera or microphone:", error);
    }
    this.renderTiles();
  }

  /** The room's layout, built once; a reconnect keeps it and refreshes its content. */
  private layout(): void {
    if (this.laidOut) return;
    this.laidOut = true;
    const chatInput = h("input", {
      id: "chat-input",
      name: "chat",
      maxlength: 4000,
      autocomplete: "off",
      required: true,
    });
    const chatForm = h(
      "form",
      {
        id: "chat-form",
        onsubmit: (event: Event) => {
          event.preventDefault();
          const content = chatInput.value.trim();
          if (!content) return;
          this.signaling?.send("chat", { action: "send_message", content });
          chatInput.value = "";
        },
      },
      h("label", { for: "chat-input" }, t("message")),
      chatInput,
      h("button", { type: "submit" }, t("send")),
    );
    fill(
      this.main,
      this.header(),
      h("h1", { id: "room-title" }, this.title),
      this.status,
      h(
        "div",
        { class: "room" },
        h(
          "section",
          { class: "stage", "aria-labelledby": "videos-title" },
          h("h2", { id: "videos-title", class: "visually-hidden" }, t("videos")),
          this.grid,
          this.controls,
        ),
        h(
          "aside",
          { class: "side" },
          h(
            "section",
            { "aria-labelledby": "people-title" },
            h("h2", { id: "people-title" }, t("participants")),
            this.people,
          ),
          this.waiting,
          h(
            "section",
            { "aria-labelledby": "chat-title" },
            h("h2", { id: "chat-title" }, t("chat")),
            this.chatLog,
            chatForm,
          ),
        ),
      ),
    );
    this.buildControls();
  }

  /** The language changed: the same room, relabelled (connections and media stay). */
  relabel(): void {
    if (!this.laidOut) return;
    this.laidOut = false;
    this.layout();
    this.updateControls();
    void this.renderDevices();
    this.grid.setAttribute("aria-label", t("videos"));
    this.renderPeople();
    fill(this.chatLog);
    for (const m of this.messages) this.renderMessage(m);
    this.status.textContent = t("connected");
  }

  /** The toolbar, built once (re-creating it would take a keyboard user's focus away); state via aria-pressed. */
  private buildControls(): void {
    const toggle = (id: string, label: string, onclick: () => void) =>
      h("button", { type: "button", id, "aria-pressed": "false", onclick }, label);
    fill(
      this.controls,
      toggle("toggle-mic", t("micOn"), () => this.setEnabled("audio", !this.localOn("audio"))),
      toggle("toggle-camera", t("camOn"), () => this.setEnabled("video", !this.localOn("video"))),
      toggle("toggle-screen", t("screenShare"), () => void this.toggleScreen()),
      toggle("toggle-hand", t("raiseHand"), () =>
        this.signaling?.send("control", {
          action: this.participants.get(this.selfId)?.hand_raised_at ? "lower_hand" : "raise_hand",
        }),
      ),
      h("button", { type: "button", id: "leave", class: "danger", onclick: () => this.leave() }, t("leave")),
      h("div", { id: "devices", class: "devices" }),
    );
  }

  private updateControls(): void {
    const pressed = (id: string, on: boolean) =>
      this.controls.querySelector(`#${id}`)?.setAttribute("aria-pressed", String(on));
    pressed("toggle-mic", this.localOn("audio"));
    pressed("toggle-camera", this.localOn("video"));
    pressed("toggle-screen", this.screen !== undefined);
    pressed("toggle-hand", Boolean(this.participants.get(this.selfId)?.hand_raised_at));
  }

  private localOn(kind: "audio" | "video"): boolean {
    return (
      (kind === "audio" ? this.camera?.getAudioTracks() : this.camera?.getVideoTracks())?.some(
        (track) => track.enabled,
      ) ?? false
    );
  }

  private setEnabled(kind: "audio" | "video", enabled: boolean): void {
    this.media?.setEnabled("camera", kind, enabled);
    this.updateControls();
    this.renderTiles();
  }

  private async toggleScreen(): Promise<void> {
    if (this.screen) {
      for (const track of this.screen.getTracks()) track.stop();
      this.screen = undefined;
      this.media?.unpublish("screen");
      this.removeTile(`${this.selfId}/screen`);
    } else {
      try {
        this.screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
        this.screen.getVideoTracks()[0]?.addEventListener("ended", () => void (this.screen && this.toggleScreen()));
        this.media?.publish("screen", this.screen);
        const preview = this.tile(`${this.selfId}/screen`).querySelector("video")!;
        preview.muted = true;
        preview.srcObject = this.screen;
        void preview.play().catch(() => undefined);
        this.renderTiles();
      } catch (error) {
        console.warn("screen sharing refused:", error);
      }
    }
    this.updateControls();
  }

  private async renderDevices(): Promise<void> {
    const target = this.controls.querySelector("#devices");
    if (!target || !this.camera) return;
    const devices = await navigator.mediaDevices.enumerateDevices();
    const select = (kind: "audioinput" | "videoinput", id: string, label: string) => {
      const current = (
        kind === "audioinput" ? this.camera!.getAudioTracks() : this.camera!.getVideoTracks()
      )[0]?.getSettings().deviceId;
      const element = h(
        "select",
        { id, onchange: () => void this.switchDevice(kind, element.value) },
        ...devices
          .filter((d) => d.kind === kind)
          .map((d, i) =>
            h("option", { value: d.deviceId, selected: d.deviceId === current }, d.label || `${label} ${i + 1}`),
          ),
      );
      return h("span", {}, h("label", { for: id }, label), element);
    };
    fill(
      target,
      select("audioinput", "select-microphone", t("microphone")),
      select("videoinput", "select-camera", t("camera")),
    );
  }

  private async switchDevice(kind: "audioinput" | "videoinput", deviceId: string): Promise<void> {
    if (!this.camera) return;
    const wanted = await navigator.mediaDevices.getUserMedia(
      kind === "audioinput"
        ? { audio: { deviceId: { exact: deviceId } } }
        : { video: { deviceId: { exact: deviceId } } },
    );
    const keep = kind === "audioinput" ? this.camera.getVideoTracks() : this.camera.getAudioTracks();
    const replaced = kind === "audioinput" ? this.camera.getAudioTracks() : this.camera.getVideoTracks();
    const next = new MediaStream([...keep, ...wanted.getTracks()]);
    await this.media?.replace("camera", next);
    for (const track of replaced) track.stop();
    this.camera = next;
    this.localTile();
  }

  private localTile(): void {
    const tile = this.tile(`${this.selfId}/camera`);
    const video = tile.querySelector("video")!;
    video.muted = true;
    if (video.srcObject !== this.camera) video.srcObject = this.camera ?? null;
    void video.play().catch(() => undefined);
  }

  private remoteStream(participant: string, stream: Stream, media: MediaStream): void {
    const video = this.tile(`${participant}/${stream}`).querySelector("video")!;
    if (video.srcObject !== media) video.srcObject = media;
    void video.play().catch(() => undefined);
    this.renderTiles();
  }

  private tile(key: string): HTMLElement {
    let tile = this.tiles.get(key);
    if (!tile) {
      tile = h(
        "li",
        { class: "tile", "data-key": key },
        h("video", { autoplay: true, playsinline: true }),
        h("p", { class: "label" }),
      );
      this.tiles.set(key, tile);
      this.grid.append(tile);
    }
    return tile;
  }

  private removeTile(key: string): void {
    this.tiles.get(key)?.remove();
    this.tiles.delete(key);
  }

  /** Tile captions: name, and in words (never by colour alone) muted, camera off, hand raised, speaking. */
  private renderTiles(): void {
    for (const [key, tile] of this.tiles) {
      const [participantId, stream] = key.split("/") as [string, Stream];
      const participant = this.participants.get(participantId);
      const state =
        participantId === this.selfId
          ? { audio: this.localOn("audio"), video: this.localOn("video") }
          : this.publishers.get(participantId)?.streams[stream];
      const notes = [
        stream === "screen" ? t("screenShare") : null,
        state && !state.audio && stream === "camera" ? t("muted") : null,
        state && !state.video ? t("cameraOff") : null,
        participant?.hand_raised_at ? t("handRaised") : null,
        this.speaking.has(participantId) ? t("speaking") : null,
      ].filter(Boolean);
      const name = `${participant?.display_name ?? "…"}${participantId === this.selfId ? ` (${t("you")})` : ""}`;
      tile.querySelector(".label")!.textContent = notes.length > 0 ? `${name} – ${notes.join(", ")}` : name;
      tile.classList.toggle("speaking", this.speaking.has(participantId));
      tile.querySelector("video")!.setAttribute("aria-label", name);
    }
  }

  private renderPeople(): void {
    const sorted = [...this.participants.values()].sort(
      (a, b) =>
        (a.hand_raised_at ?? "~").localeCompare(b.hand_raised_at ?? "~") ||
        a.display_name.localeCompare(b.display_name),
    );
    fill(
      this.people,
      ...sorted.map((p) =>
        h(
          "li",
          { "data-participant": p.participant_id },
          h("span", { class: "name" }, p.display_name + (p.participant_id === this.selfId ? ` (${t("you")})` : "")),
          " ",
          h("span", { class: "role" }, t(`role_${p.role}` as TextKey)),
          p.hand_raised_at ? h("span", { class: "hand" }, ` – ${t("handRaised")}`) : null,
        ),
      ),
    );
    this.updateControls();
    this.renderTiles();
  }

  private renderWaiting(waiting: { participant_id: string; display_name: string }[]): void {
    if (this.role !== "owner" && this.role !== "moderator") return;
    if (waiting.length > 0) announce(t("waitingNotice", { count: waiting.length }));
    fill(
      this.waiting,
      h(
        "section",
        { "aria-labelledby": "waiting-title" },
        h("h2", { id: "waiting-title" }, t("waitingList")),
        waiting.length === 0
          ? h("p", {}, t("nobodyWaiting"))
          : h(
              "ul",
              {},
              ...waiting.map((w) =>
                h(
                  "li",
                  {},
                  h("span", {}, w.display_name),
                  " ",
                  h(
                    "button",
                    {
                      type: "button",
                      onclick: () => this.signaling?.send("moderation", { action: "accept", target: w.participant_id }),
                    },
                    `${t("accept")}: ${w.display_name}`,
                  ),
                  " ",
                  h(
                    "button",
                    {
                      type: "button",
                      onclick: () => this.signaling?.send("moderation", { action: "reject", target: w.participant_id }),
                    },
                    `${t("reject")}: ${w.display_name}`,
                  ),
                ),
              ),
            ),
      ),
    );
  }

  private addMessage(source: string, content: string, timestamp: string): void {
    const message = { source, content, timestamp, name: this.participants.get(source)?.display_name ?? "…" };
    this.messages.push(message);
    this.renderMessage(message);
  }

  private renderMessage(m: { source: string; content: string; timestamp: string; name?: string }): void {
    const name = m.name ?? this.participants.get(m.source)?.display_name ?? "…";
    const time = new Date(m.timestamp).toLocaleTimeString(document.documentElement.lang, {
      hour: "2-digit",
      minute: "2-digit",
    });
    this.chatLog.append(h("p", { class: "message" }, h("span", { class: "meta" }, `${name}, ${time}: `), m.content));
  }

  private showWaitingRoom(): void {
    this.inWaitingRoom = true;
    fill(
      this.main,
      this.header(),
      h("h1", {}, t("waitingTitle")),
      h("p", { role: "status", id: "waiting-status" }, t("waitingText")),
      this.leaveButton(),
    );
  }

  private leaveButton(): HTMLElement {
    return h("button", { type: "button", id: "leave", onclick: () => this.leave() }, t("leave"));
  }

  private leave(): void {
    this.leaving = true;
    this.signaling?.close();
    this.stopLocal();
    this.end(t("left"));
  }

  private closed(code: number): void {
    this.media?.close();
    this.media = undefined;
    for (const key of [...this.tiles.keys()]) if (!key.startsWith(`${this.selfId}/`)) this.removeTile(key);
    if (this.leaving) return;
    if (code >= 4000 && code <= 4999) {
      this.stopLocal();
      return this.end(
        t(this.inWaitingRoom && code === CloseCode.kicked ? "notAdmitted" : (FINAL_CLOSES[code] ?? "kicked")),
      );
    }
    this.retry();
  }

  private retry(): void {
    this.status.textContent = t("reconnecting");
    const delay = RETRY_MS[Math.min(this.attempt++, RETRY_MS.length - 1)]!;
    setTimeout(() => void this.connect(), delay);
  }

  private stopLocal(): void {
    for (const stream of [this.camera, this.screen]) for (const track of stream?.getTracks() ?? []) track.stop();
  }

  private end(reason: string): void {
    fill(
      this.main,
      this.header(),
      h("h1", {}, t("appTitle")),
      h("p", { role: "alert", id: "ended" }, reason),
      h("a", { href: "/", class: "button" }, t("backHome")),
    );
  }
}
