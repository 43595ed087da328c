import { CloseCode, type JoinSuccess, RemovalReason } from "../../protocol";
import { Signaling } from "../signaling";
import { ApiError, api } from "./api";
import { closeDialogs } from "./dialog";
import { fill, h } from "./dom";
import { refusalText, type TextKey, t } from "./i18n";
import { BreakoutPanel } from "./panels/breakout";
import { ChatPanel } from "./panels/chat";
import { Commands } from "./panels/commands";
import { FeedbackPanel } from "./panels/feedback";
import { ModerationPanel } from "./panels/moderation";
import { PeoplePanel } from "./panels/people";
import { PollsPanel } from "./panels/polls";
import { SpeakersPanel } from "./panels/speakers";
import { StagePanel } from "./panels/stage";
import { RoomState } from "./panels/state";
import { TimerPanel } from "./panels/timer";
import { Toolbar } from "./panels/toolbar";
import { VotesPanel } from "./panels/votes";
import { WaitingPanel } from "./panels/waiting";
import { RECONNECT_BACKOFF_MS } from "./reconnect";

export type Who = { kind: "user"; displayName: string } | { kind: "guest"; invite: string; displayName: string };

/** Close codes after which the client must not reconnect (the protocol's 4000–4999). */
const FINAL_CLOSES: Record<number, TextKey> = {
  [CloseCode.kicked]: "kicked",
  [CloseCode.banned]: "banned",
  [CloseCode.meetingEnded]: "meetingEnded",
  [CloseCode.roomDeleted]: "roomDeleted",
  [CloseCode.rateLimited]: "closedRateLimited",
};

/** Removals by moderation, told apart by the close reason (4000 alone covers kicked, debriefing and not admitted). */
const REMOVALS: Record<string, TextKey> = {
  [RemovalReason.kicked]: "kicked",
  [RemovalReason.banned]: "banned",
  [RemovalReason.meetingEnded]: "meetingEnded",
  [RemovalReason.debriefing]: "debriefing",
  [RemovalReason.notAdmitted]: "notAdmitted",
};

/** Why the server closed for good, in words; a code and reason this client does not know show the reason. */
function finalText(code: number, reason: string): string {
  const key = (Object.hasOwn(REMOVALS, reason) ? REMOVALS[reason] : undefined) ?? FINAL_CLOSES[code];
  return key ? t(key) : t("ended", { reason: reason || String(code) });
}

/**
 * The room page: video grid, controls, participants, waiting list and room menu (moderators) and chat; reconnects
 * on drops.
 */
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
  private readonly state = new RoomState();
  private readonly commands = new Commands();
  private readonly people = new PeoplePanel(this.state, this.commands);
  private readonly chat = new ChatPanel(this.state);
  private readonly waiting = new WaitingPanel(this.state, this.commands);
  private readonly moderation = new ModerationPanel(this.state, this.commands);
  /** Built in the constructor: it needs the room's id (for its REST calls and the evidence it keeps). */
  private readonly votes: VotesPanel;
  private readonly polls = new PollsPanel(this.state);
  private readonly timer = new TimerPanel(this.state);
  private readonly breakout = new BreakoutPanel(this.state);
  private readonly speakers = new SpeakersPanel(this.state, () => this.feedback.refresh());
  private readonly feedback = new FeedbackPanel(this.state, () => this.speakers.speaking());
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
    this.votes = new VotesPanel(this.state, roomId);
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
      const panels = [
        this.commands,
        this.people,
        this.chat,
        this.waiting,
        this.moderation,
        this.votes,
        this.polls,
        this.timer,
        this.breakout,
        this.speakers,
        this.feedback,
        this.stage,
        this.toolbar,
      ];
      for (const panel of panels) panel.listen(signaling);
      signaling.onClose((code, reason) => this.closed(code, reason));
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
    this.layout();
    this.state.reset(joined, this.who.kind);
    this.chat.reset(joined.modules.chat);
    this.waiting.show(joined.modules.moderation?.waiting ?? []);
    this.moderation.show(joined.modules.moderation);
    this.votes.show(joined.modules.legal_vote);
    this.polls.show(joined.modules.polls);
    this.timer.show(joined.modules.timer);
    this.breakout.show(joined.modules.breakout);
    this.speakers.show(joined.modules.automod);
    this.feedback.show(joined.modules.feedback);
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
      this.moderation.noticeView(),
      this.commands.view(),
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
        h(
          "aside",
          { class: "side" },
          this.people.view(),
          this.waiting.view(),
          this.moderation.view(),
          this.votes.view(),
          this.polls.view(),
          this.timer.view(),
          this.breakout.view(),
          this.speakers.view(),
          this.feedback.view(),
          this.chat.view(),
        ),
      ),
    );
  }

  private setStatus(key: TextKey): void {
    this.statusKey = key;
    this.status.textContent = t(key);
  }

  /**
   * Held in the waiting room: on arrival, or sent back by a chair, when the room's media (camera, microphone, every
   * peer connection) ends until a later join_success lets them in again and lays the room out anew.
   */
  private showWaitingRoom(): void {
    const sentBack = this.laidOut;
    closeDialogs();
    this.stage.disconnect();
    this.stage.stopLocal();
    this.laidOut = false;
    fill(
      this.main,
      this.header(),
      h("h1", {}, t("waitingTitle")),
      sentBack ? h("p", { id: "sent-back" }, t("sentBack")) : null,
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

  private closed(code: number, reason: string): void {
    this.stage.disconnect();
    if (this.leaving) return;
    if (code >= 4000 && code <= 4999) {
      this.stage.stopLocal();
      return this.end(finalText(code, reason));
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
    closeDialogs();
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
