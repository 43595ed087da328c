import { CloseCode, type JoinSuccess } from "../../protocol";
import { Signaling } from "../signaling";
import { ApiError, api } from "./api";
import { fill, h } from "./dom";
import { refusalText, type TextKey, t } from "./i18n";
import { ChatPanel } from "./panels/chat";
import { PeoplePanel } from "./panels/people";
import { StagePanel } from "./panels/stage";
import { RoomState } from "./panels/state";
import { Toolbar } from "./panels/toolbar";
import { WaitingPanel } from "./panels/waiting";
import { RECONNECT_BACKOFF_MS } from "./reconnect";

export type Who = { kind: "user"; displayName: string } | { kind: "guest"; invite: string; displayName: string };

/** Close codes after which the client must not reconnect (the protocol's 4000–4999). */
const FINAL_CLOSES: Record<number, TextKey> = {
  [CloseCode.kicked]: "kicked",
  [CloseCode.banned]: "banned",
  [CloseCode.meetingEnded]: "meetingEnded",
  [CloseCode.roomDeleted]: "roomDeleted",
};

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

/**
 * The connection's life (start, waiting room, join, reconnect, the end) and the page's layout; each namespace's
 * events are shown by its panel, which subscribes to them on every new connection.
 */
class RoomView {
  private signaling: Signaling | undefined;
  /** A guest's resumption token, kept for the tab so a reload comes back as the same guest (no new invite use). */
  private resumption: string | undefined;
  private attempt = 0;
  private leaving = false;
  private inWaitingRoom = false;
  private readonly state = new RoomState();
  private readonly people = new PeoplePanel(this.state);
  private readonly chat = new ChatPanel(this.state);
  private readonly waiting = new WaitingPanel(this.state);
  private readonly stage = new StagePanel(this.state, () => this.toolbar.update());
  private readonly toolbar = new Toolbar(this.state, this.stage, {
    toggleHand: () => this.people.toggleHand(),
    leave: () => this.leave(),
  });
  private readonly status = h("p", { id: "connection", role: "status" });
  private statusKey: TextKey = "connected";
  private laidOut = false;
  /** The room's name where the participant may read it (registered users), else the product's. */
  private title = "Plenum";

  constructor(
    private readonly main: HTMLElement,
    private readonly roomId: string,
    private readonly who: Who,
    private readonly header: () => HTMLElement,
  ) {
    if (who.kind === "guest") this.resumption = sessionStorage.getItem(`plenum.resumption.${roomId}`) ?? undefined;
  }

  async connect(): Promise<void> {
    try {
      if (this.who.kind === "user" && this.title === "Plenum") this.title = (await api.room(this.roomId)).name;
      const started =
        this.who.kind === "user"
          ? await api.start(this.roomId, this.who.displayName)
          : await api.startInvited(this.roomId, this.who.invite, this.who.displayName, this.resumption);
      this.resumption = started.resumption;
      if (this.who.kind === "guest") sessionStorage.setItem(`plenum.resumption.${this.roomId}`, started.resumption);
      const signaling = await Signaling.open(location.origin, this.roomId, started.ticket);
      this.signaling = signaling;
      signaling.on("control", "join_success", (joined) => void this.joined(signaling, joined));
      signaling.on("moderation", "in_waiting_room", () => this.showWaitingRoom());
      signaling.onError((namespace, { error, text }, transactionId) =>
        console.warn(`signalling error in ${namespace} (transaction ${transactionId ?? "none"}): ${error}`, text ?? ""),
      );
      for (const panel of [this.people, this.chat, this.waiting, this.stage]) panel.listen(signaling);
      signaling.onClose((code) => this.closed(code));
    } catch (error) {
      // A refused start (wrong invite, deleted room, full room) is final; a network failure is retried. Refusals a
      // person can act on read as a sentence, with the code kept small for support.
      if (error instanceof ApiError && error.status < 500 && error.status !== 429) {
        const sentence = refusalText(error.code);
        return sentence ? this.end(sentence, error.code) : this.end(`${error.code}: ${error.message}`);
      }
      this.retry();
    }
  }

  /** The language changed: the same room, relabelled (connections and media stay). */
  relabel(): void {
    if (!this.laidOut) return;
    this.laidOut = false;
    this.layout();
    this.setStatus(this.statusKey);
  }

  private async joined(signaling: Signaling, joined: JoinSuccess): Promise<void> {
    this.attempt = 0;
    this.inWaitingRoom = false;
    this.layout();
    this.state.reset(joined, this.who.kind);
    this.chat.reset(joined.modules.chat?.messages ?? []);
    this.waiting.show(joined.modules.moderation?.waiting ?? []);
    this.setStatus("connected");
    await this.stage.start(signaling, joined);
    await this.toolbar.renderDevices();
  }

  /** The room's layout, built on joining; a reconnect keeps it and its panels refresh their content. */
  private layout(): void {
    if (this.laidOut) return;
    this.laidOut = true;
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
          this.stage.view(),
          this.toolbar.view(),
        ),
        h("aside", { class: "side" }, this.people.view(), this.waiting.view(), this.chat.view()),
      ),
    );
  }

  private setStatus(key: TextKey): void {
    this.statusKey = key;
    this.status.textContent = t(key);
  }

  private showWaitingRoom(): void {
    this.inWaitingRoom = true;
    this.laidOut = false;
    fill(
      this.main,
      this.header(),
      h("h1", {}, t("waitingTitle")),
      h("p", { role: "status", id: "waiting-status" }, t("waitingText")),
      h("button", { type: "button", id: "leave", onclick: () => this.leave() }, t("leave")),
    );
  }

  private leave(): void {
    this.leaving = true;
    this.signaling?.close();
    this.stage.stopLocal();
    this.end(t("left"));
  }

  private closed(code: number): void {
    this.stage.disconnect();
    if (this.leaving) return;
    if (code >= 4000 && code <= 4999) {
      this.stage.stopLocal();
      return this.end(
        t(this.inWaitingRoom && code === CloseCode.kicked ? "notAdmitted" : (FINAL_CLOSES[code] ?? "kicked")),
      );
    }
    this.retry();
  }

  private retry(): void {
    this.setStatus("reconnecting");
    const delay = RECONNECT_BACKOFF_MS[Math.min(this.attempt++, RECONNECT_BACKOFF_MS.length - 1)]!;
    setTimeout(() => void this.connect(), delay);
  }

  /**
   * The final screen; the room's layout is gone, so a language change no longer redraws it. `code`: the error code
   * behind a refusal explained in words, shown small.
   */
  private end(reason: string, code?: string): void {
    this.laidOut = false;
    fill(
      this.main,
      this.header(),
      h("h1", {}, t("appTitle")),
      h(
        "p",
        { role: "alert", id: "ended" },
        reason,
        code ? " " : null,
        code ? h("small", { class: "code", id: "ended-code" }, t("errorCode", { code })) : null,
      ),
      h("a", { href: "/", class: "button" }, t("backHome")),
    );
  }
}
