import type {
  CommandOf,
  ErrorPayload,
  JoinSuccess,
  Participant,
  VoteDescription,
  VoteHead,
  VoteKind,
  VoteList,
  VoteOption,
  VoteReceipt,
  VoteResult,
} from "../../../protocol";
import type { Signaling } from "../../signaling";
import { ApiError, api } from "../api";
import { ask } from "../dialog";
import { announce, dropMissing, fill, h } from "../dom";
import { language, refusalText, type TextKey, t, textFor } from "../i18n";
import { refusalSentence, SentCommands } from "./commands";
import type { RoomState } from "./state";

type JoinState = JoinSuccess["modules"]["legal_vote"];
type StartCommand = Extract<CommandOf<"legal_vote">, { action: "start" }>;
type IssueKind = "audio" | "video" | "screenshare";
type Tally = { yes: number; no: number; abstain: number };
interface Issue {
  kind: string | null;
  description: string | null;
  participant_id: string | null;
}

const KINDS: readonly VoteKind[] = ["roll_call", "live_roll_call", "pseudonymous"];
const MAJORITIES = ["simple", "absolute", "two_thirds"] as const;
const ISSUE_KINDS: readonly IssueKind[] = ["audio", "video", "screenshare"];
/** The ids of this panel's dialogs: closed (as cancelled) when the vote they are about ends. */
const DIALOGS = ["vote-confirm", "vote-stop", "vote-cancel", "vote-issue"];

/** The running vote as this page knows it. */
interface Running {
  vote: VoteDescription;
  cast: number;
  /** This participant has voted: join_success (roll calls), a stored receipt, `voted`, or an already_voted refusal. */
  voted: boolean;
  /** A ballot went out and its receipt has not come. */
  sending: VoteOption | undefined;
  /** Pseudonymous: the vote started while this page was here, so its token is on its way. */
  tokenExpected: boolean;
  /** Live roll calls: the tally, and each voter's option so far. */
  tally: Tally | undefined;
  ballots: Map<string, string>;
  /** The latest signed head of the chain (evidence every participant may keep); none only briefly after a restart. */
  head: VoteHead | undefined;
  /** Reports of problems (to the initiator only). */
  issues: Issue[];
}

/** The vote that ended last: its result (absent when it ended while this page was away) or why it was canceled. */
interface Ended {
  vote: VoteDescription;
  result: VoteResult | undefined;
  canceled: string | undefined;
  head: VoteHead | undefined;
}

/** The parts of the running vote's card that change while it runs; the rest is built once per vote. */
interface ActiveParts {
  cast: HTMLElement;
  tally: HTMLElement | undefined;
  ballots: HTMLUListElement | undefined;
  ballot: HTMLElement;
  /** What `ballot` was built for: it is rebuilt only when that changes, so focus on its buttons survives updates. */
  ballotFor: string;
  chair: HTMLElement;
  chairFor: string;
  head: HTMLElement;
  headButton: HTMLButtonElement;
  issues: HTMLUListElement | undefined;
}

/** Commands of this panel awaiting a possible refusal. */
type Sent = "start" | "vote" | "stop" | "cancel" | "report_issue";

const optionText = (option: string) => textFor(`voteOption_${option}`, option);
const kindText = (kind: string) => textFor(`voteKind_${kind}`, kind);
const outcomeText = (outcome: string) => textFor(`voteOutcome_${outcome}`, outcome);

/** Where this browser keeps a vote's evidence and ballot token (see the class comment). */
const tokenKey = (room: string, vote: string) => `plenum.vote-token.${room}.${vote}`;
const receiptKey = (room: string, vote: string, self: string) => `plenum.vote-receipt.${room}.${vote}.${self}`;
const headKey = (room: string, vote: string) => `plenum.vote-head.${room}.${vote}`;

/** Storage may be full or switched off: evidence is then only kept for this page's life. */
function store(storage: Storage, key: string, value: string | null): void {
  try {
    if (value === null) storage.removeItem(key);
    else storage.setItem(key, value);
  } catch {
    console.warn(`could not keep ${key} in the browser's storage`);
  }
}

/** Saves a file the way a link with `download` does (so browsers, and Playwright, see a download). */
function save(file: string, body: Blob): void {
  const url = URL.createObjectURL(body);
  const link = h("a", { href: url, download: file, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  // Chromium reads the blob after the click returns: revoked once the download has surely started.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

const json = (text: string) => new Blob([text], { type: "application/json" });

/** Why a vote's file could not be fetched, in words (the protocol exists only once the vote has ended). */
function fileError(error: unknown): string {
  if (!(error instanceof ApiError)) return t("voteFileFailed", { text: String(error) });
  if (error.status === 401 || error.status === 403) return t("voteFileForbidden");
  if (error.status === 404) return t("voteFileMissing");
  if (error.status === 409) return t("voteFileRunning");
  return t("voteFileFailed", { text: `${error.code}: ${error.message}` });
}

const focusedIn = (element: Element) => element.contains(document.activeElement);

/**
 * Legal votes (legal_vote). Chairs start one with a form (title, kind, who may vote, abstention, quorum, majority,
 * duration). While it runs everyone sees a card: what is voted on, under which rule, how many have voted (live roll
 * calls: the tally and who voted what); eligible voters vote after confirming (a ballot cannot be changed), keep
 * their receipt and may report a problem; chairs stop or cancel it; the initiator reads reported problems. When it
 * ends, the result in words, and downloads: the protocol and the PDF report (for chairs and eligible voters), the
 * receipt, the last signed head. Earlier votes of the room are listed on request with their downloads.
 *
 * Evidence stays in the browser: receipts in localStorage per room, vote and participant (so a reload or a later
 * visit can still download them), the latest signed head per vote likewise, and a pseudonymous vote's ballot token
 * in sessionStorage for the tab (the room sends it once and cannot issue it again).
 */
export class VotesPanel {
  private readonly title = h("h2", { id: "votes-title" });
  private readonly card = h("div", { id: "vote-card" });
  /** Refusals of the running vote's commands (vote, stop, cancel, report); persists while the card changes. */
  private readonly error = h("p", { id: "vote-error", class: "error", role: "alert" });
  /** Said once a report went out (the room's `issue_reported` copy to the reporter acknowledges it). */
  private readonly issueStatus = h("p", { id: "vote-issue-status", role: "status" });
  private readonly downloadError = h("p", { id: "vote-download-error", class: "error", role: "alert" });
  private readonly form: StartForm;
  private readonly history: VoteHistory;
  private readonly section: HTMLElement;
  private running: Running | undefined;
  private ended: Ended | undefined;
  private parts: ActiveParts | undefined;
  private signaling: Signaling | undefined;
  private readonly commands = new SentCommands("legal_vote", (kind: Sent, payload) => this.refused(kind, payload));
  private moderating = false;

  constructor(
    private readonly state: RoomState,
    private readonly roomId: string,
  ) {
    this.form = new StartForm(state, (command) => this.send(command, "start"));
    this.history = new VoteHistory(roomId, (voteId) => this.storedReceipt(voteId));
    this.section = h(
      "section",
      { id: "votes-section", "aria-labelledby": "votes-title" },
      this.title,
      this.form.element,
      this.card,
      this.history.element,
    );
    state.onChange(() => {
      this.form.update();
      if (this.moderating !== state.moderates()) {
        this.moderating = state.moderates();
        // What a chair may download (and start) changed: the card is built anew.
        return this.render();
      }
      this.updateActive();
      this.showForm();
    });
  }

  listen(signaling: Signaling): void {
    this.signaling = signaling;
    // Sent on an earlier connection: their answers will not come.
    this.commands.listen(signaling);
    signaling.on("legal_vote", "started", ({ vote, head }) => this.started(vote, head));
    signaling.on("legal_vote", "token", ({ vote_id, token }) => {
      store(sessionStorage, tokenKey(this.roomId, vote_id), token);
      this.updateActive();
    });
    signaling.on("legal_vote", "voted", ({ vote_id, receipt }) => this.voted(vote_id, receipt));
    signaling.on("legal_vote", "updated", ({ vote_id, cast, tally, ballots }) => {
      const running = this.current(vote_id);
      if (!running) return;
      running.cast = cast;
      if (tally) running.tally = tally;
      for (const ballot of ballots ?? []) running.ballots.set(ballot.participant_id, ballot.option);
      if (running.ballots.has(this.state.selfId)) running.voted = true;
      this.updateActive();
    });
    signaling.on("legal_vote", "head", ({ vote_id, head }) => {
      const running = this.current(vote_id);
      if (!running) return;
      running.head = head;
      this.keepHead(head);
      this.updateActive();
    });
    signaling.on("legal_vote", "issue_reported", ({ vote_id, kind, description, participant_id }) => {
      const running = this.current(vote_id);
      if (!running) return;
      const issue = { kind, description, participant_id };
      running.issues.push(issue);
      this.parts?.issues?.append(h("li", {}, this.issueText(running.vote, issue)));
      this.updateActive();
      announce(t("voteIssueNotice", { text: this.issueText(running.vote, issue) }));
    });
    signaling.on("legal_vote", "stopped", ({ vote_id, result, head }) =>
      this.finish(vote_id, { result, canceled: undefined, head }),
    );
    signaling.on("legal_vote", "canceled", ({ vote_id, reason, head }) =>
      this.finish(vote_id, { result: undefined, canceled: reason, head }),
    );
  }

  /**
   * join_success: the running vote, if any (a reconnect keeps what this page knew of the same vote: the problems
   * reported to it). Null means the module could not say: what was shown stays, and its events follow.
   */
  show(joined: JoinState): void {
    this.moderating = this.state.moderates();
    if (joined) {
      const active = joined.active;
      const before = this.running;
      if (!active) {
        // It ended while this page was away: said so, with the evidence this page holds.
        if (before) this.ended = { vote: before.vote, result: undefined, canceled: undefined, head: before.head };
        this.running = undefined;
      } else {
        const id = active.vote.id;
        // A roll call hands this voter's receipt back (voted on another device, or before a dropped connection).
        if (active.receipt && this.storedReceipt(id) === undefined) {
          store(localStorage, receiptKey(this.roomId, id, this.state.selfId), JSON.stringify(active.receipt, null, 2));
        }
        const ballots = new Map((active.ballots ?? []).map((b) => [b.participant_id, b.option] as const));
        this.running = {
          vote: active.vote,
          cast: active.cast,
          voted: active.voted === true || ballots.has(this.state.selfId) || this.storedReceipt(id) !== undefined,
          sending: undefined,
          tokenExpected: false,
          tally: active.tally,
          ballots,
          head: active.head ?? (before?.vote.id === id ? before.head : undefined),
          issues: before?.vote.id === id ? before.issues : [],
        };
        if (before?.vote.id !== id) this.ended = undefined;
        if (active.head) this.keepHead(active.head);
      }
    }
    this.render();
  }

  /** The section in the current language. */
  view(): HTMLElement {
    this.title.textContent = t("votes");
    this.form.relabel();
    this.history.relabel();
    this.render();
    return this.section;
  }

  private current(voteId: string): Running | undefined {
    return this.running?.vote.id === voteId ? this.running : undefined;
  }

  private eligible(vote: VoteDescription): boolean {
    return vote.eligible.some((p) => p.participant_id === this.state.selfId);
  }

  /** Who may fetch a vote's protocol and report: chairs and the vote's eligible voters. */
  private mayFetch(vote: VoteDescription): boolean {
    return this.state.moderates() || this.eligible(vote);
  }

  private guest(): boolean {
    return this.state.get(this.state.selfId)?.kind === "guest";
  }

  private nameOf(vote: VoteDescription, id: string): string {
    const name = vote.eligible.find((p) => p.participant_id === id)?.display_name ?? this.state.get(id)?.display_name;
    return `${name ?? "…"}${id === this.state.selfId ? ` (${t("you")})` : ""}`;
  }

  private token(voteId: string): string | undefined {
    return sessionStorage.getItem(tokenKey(this.roomId, voteId)) ?? undefined;
  }

  /** The receipt as received, pretty-printed (the text the download saves). */
  private storedReceipt(voteId: string): string | undefined {
    if (!this.state.selfId) return undefined;
    return localStorage.getItem(receiptKey(this.roomId, voteId, this.state.selfId)) ?? undefined;
  }

  private keepHead(head: VoteHead): void {
    store(localStorage, headKey(this.roomId, head.vote_id), JSON.stringify(head, null, 2));
  }

  private send(command: CommandOf<"legal_vote">, kind: Sent): boolean {
    if (!this.signaling) return false;
    this.error.textContent = "";
    return this.commands.send(command, kind);
  }

  private started(vote: VoteDescription, head: VoteHead | null): void {
    // Already known (join_success raced the event): nothing new but the head.
    if (this.current(vote.id)) return;
    const mine = vote.eligible.some((p) => p.participant_id === this.state.selfId);
    this.running = {
      vote,
      cast: 0,
      voted: false,
      sending: undefined,
      tokenExpected: vote.kind === "pseudonymous" && mine,
      tally: vote.kind === "live_roll_call" ? { yes: 0, no: 0, abstain: 0 } : undefined,
      ballots: new Map(),
      head: head ?? undefined,
      issues: [],
    };
    this.ended = undefined;
    this.error.textContent = "";
    this.issueStatus.textContent = "";
    if (head) this.keepHead(head);
    if (vote.initiator.participant_id === this.state.selfId) this.form.started();
    this.render();
    announce(`${t("voteStartedNotice", { name: vote.name })} ${t(mine ? "voteYouMayVote" : "voteNotEligible")}`);
  }

  private voted(voteId: string, receipt: VoteReceipt): void {
    store(localStorage, receiptKey(this.roomId, voteId, this.state.selfId), JSON.stringify(receipt, null, 2));
    const running = this.current(voteId);
    // The receipt must confirm the ballot this page sent (its option, and its token): the server signs what it
    // recorded, so a receipt for another ballot is the voter's only evidence that it recorded the wrong one.
    const token = sessionStorage.getItem(tokenKey(this.roomId, voteId)) ?? undefined;
    const sent = running?.sending;
    const mismatch =
      (sent !== undefined && receipt.ballot.option !== sent) ||
      (token !== undefined && receipt.ballot.token !== undefined && receipt.ballot.token !== token);
    // The token is spent: the receipt carries it.
    store(sessionStorage, tokenKey(this.roomId, voteId), null);
    if (running) {
      running.voted = true;
      running.sending = undefined;
      this.updateActive();
    } else if (this.ended?.vote.id === voteId) this.render();
    if (mismatch) {
      const text = t("voteReceiptMismatch", {
        recorded: optionText(receipt.ballot.option),
        sent: optionText(sent ?? ""),
      });
      this.error.textContent = text;
      announce(text);
    } else announce(t("voteStoredAs", { option: optionText(receipt.ballot.option) }));
  }

  private finish(voteId: string, end: Omit<Ended, "vote">): void {
    const running = this.current(voteId);
    if (!running) return;
    for (const id of DIALOGS) document.querySelector<HTMLDialogElement>(`#${id}-dialog`)?.close();
    this.running = undefined;
    this.ended = { vote: running.vote, ...end };
    if (end.head) this.keepHead(end.head);
    this.error.textContent = "";
    this.render();
    this.history.refresh();
    const outcome = end.canceled !== undefined ? outcomeText("canceled") : outcomeText(end.result?.outcome ?? "");
    announce(t("voteEndedNotice", { name: running.vote.name, outcome }));
  }

  private refused(sent: Sent, payload: ErrorPayload): void {
    const code = payload.error;
    const names = (payload.participant_ids ?? []).map((id) => this.state.get(id)?.display_name ?? id).join(", ");
    const text =
      refusalText(code, { names }) ??
      (code === "insufficient_permissions"
        ? t("voteNotAllowed")
        : code === "invalid_frame"
          ? t("voteInvalid", { text: payload.text ?? code })
          : refusalSentence(code, "legal_vote"));
    if (sent === "start") return this.form.refused(text);
    const running = this.running;
    if (sent === "vote" && running) {
      running.sending = undefined;
      // Voted already (on another device, or the receipt was lost with a dropped connection).
      if (code === "already_voted") running.voted = true;
    }
    if (sent === "report_issue") this.issueStatus.textContent = "";
    this.error.textContent = text;
    this.updateActive();
  }

  /**
   * The form (chairs, while no vote runs), and the running vote's card or the last result. Focus inside the card
   * goes to the control of the same id in the new one, else to its heading.
   */
  private render(): void {
    const focused = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const wasInCard = focused !== null && focusedIn(this.card);
    const wasInForm = focused !== null && focusedIn(this.form.element);
    this.parts = undefined;
    const card = this.running ? this.activeCard(this.running) : this.ended ? this.resultCard(this.ended) : undefined;
    fill(this.card, card ?? h("p", { id: "vote-none" }, t("voteNone")));
    this.showForm();
    this.history.element.hidden = this.guest();
    const heading = this.card.querySelector<HTMLElement>("h3");
    if (wasInCard && !focused.isConnected) (document.getElementById(focused.id) ?? heading ?? this.title).focus();
    else if (wasInForm && this.form.element.hidden) (heading ?? this.title).focus();
  }

  private showForm(): void {
    const shown = this.state.moderates() && !this.running;
    const focused = focusedIn(this.form.element);
    this.form.element.hidden = !shown;
    if (!shown && focused) (this.card.querySelector<HTMLElement>("h3") ?? this.title).focus();
  }

  // ── The running vote ─────────────────────────────

  private activeCard(running: Running): HTMLElement {
    const { vote } = running;
    const live = vote.kind === "live_roll_call";
    const initiator = vote.initiator.participant_id === this.state.selfId;
    this.parts = {
      cast: h("p", { id: "vote-cast" }),
      tally: live ? h("p", { id: "vote-tally" }) : undefined,
      ballots: live ? h("ul", { id: "vote-ballots", "aria-labelledby": "vote-ballots-title" }) : undefined,
      ballot: h("div", { id: "vote-ballot" }),
      ballotFor: "",
      chair: h("div", { class: "buttons" }),
      chairFor: "",
      head: h("p", { id: "vote-head-hint", class: "hint" }),
      headButton: h(
        "button",
        { type: "button", id: "vote-download-head", onclick: () => running.head && this.saveHead(running.head) },
        t("voteDownloadHead"),
      ),
      issues: initiator ? h("ul", { id: "vote-issues", "aria-labelledby": "vote-issues-title" }) : undefined,
    };
    const parts = this.parts;
    for (const issue of running.issues) parts.issues?.append(h("li", {}, this.issueText(vote, issue)));
    const element = h(
      "article",
      { id: "vote-active", class: "vote-card", "data-vote": vote.id, "aria-labelledby": "vote-active-title" },
      h("h3", { id: "vote-active-title", tabindex: -1 }, t("voteRunningTitle", { name: vote.name })),
      ...this.description(vote),
      parts.cast,
      live
        ? h(
            "div",
            { id: "vote-live" },
            parts.tally,
            h("h4", { id: "vote-ballots-title" }, t("voteWhoVoted")),
            parts.ballots,
          )
        : null,
      parts.ballot,
      this.error,
      this.eligible(vote)
        ? h(
            "div",
            { class: "buttons" },
            h(
              "button",
              { type: "button", id: "vote-report-issue", onclick: () => void this.reportIssue(running) },
              t("voteReportIssue"),
            ),
          )
        : null,
      this.issueStatus,
      parts.chair,
      parts.issues
        ? h("div", { id: "vote-issues-box" }, h("h4", { id: "vote-issues-title" }, t("voteIssues")), parts.issues)
        : null,
      parts.head,
      h("div", { class: "buttons" }, parts.headButton),
    );
    this.updateActive();
    return element;
  }

  /** Subtitle, topic, kind and rule in words; eligible voters listed on request. */
  private description(vote: VoteDescription): (HTMLElement | null)[] {
    const { quorum, majority } = vote.rule;
    const eligible = vote.eligible.length;
    const needed = Math.ceil((quorum.numerator * eligible) / quorum.denominator);
    const ends =
      vote.duration_seconds === null
        ? null
        : new Date(Date.parse(vote.started_at) + vote.duration_seconds * 1000).toLocaleTimeString(language(), {
            hour: "2-digit",
            minute: "2-digit",
          });
    const fact = (term: string, detail: string) => h("div", {}, h("dt", {}, term), h("dd", {}, detail));
    const facts = h(
      "dl",
      { class: "vote-facts" },
      fact(t("voteKindLabel"), kindText(vote.kind)),
      fact(t("voteQuorum"), t("voteQuorumRule", { ...quorum, eligible, needed })),
      fact(t("voteMajority"), textFor(`voteMajority_${majority}`, majority)),
      fact(t("voteOptions"), vote.options.map(optionText).join(", ")),
      ends ? fact(t("voteEnds"), t("voteEndsAt", { time: ends })) : null,
      vote.auto_close ? fact(t("voteAutoCloseTitle"), t("voteAutoCloses")) : null,
      fact(t("voteInitiator"), this.nameOf(vote, vote.initiator.participant_id)),
    );
    return [
      vote.subtitle ? h("p", { class: "vote-subtitle" }, vote.subtitle) : null,
      vote.topic ? h("p", { class: "vote-topic" }, vote.topic) : null,
      facts,
      h(
        "details",
        { id: "vote-eligible" },
        h("summary", {}, t("voteEligibleList", { count: eligible })),
        h("ul", {}, ...vote.eligible.map((p) => h("li", {}, this.nameOf(vote, p.participant_id)))),
      ),
    ];
  }

  /** The running vote's changing parts, in place. */
  private updateActive(): void {
    const running = this.running;
    const parts = this.parts;
    if (!running || !parts) return;
    const { vote } = running;
    parts.cast.textContent = t("voteCast", { cast: running.cast, eligible: vote.eligible.length });
    if (parts.tally && running.tally) parts.tally.textContent = this.tallyText(vote, running.tally);
    if (parts.ballots) {
      fill(
        parts.ballots,
        ...[...running.ballots].map(([id, option]) =>
          h(
            "li",
            { "data-participant": id },
            t("voteBallotOf", { name: this.nameOf(vote, id), option: optionText(option) }),
          ),
        ),
      );
    }
    // The initiator's list of reported problems shows once there is one.
    const issuesBox = parts.issues?.parentElement;
    if (issuesBox) issuesBox.hidden = running.issues.length === 0;
    parts.head.textContent = running.head ? t("voteHeadAt", { seq: running.head.seq }) : "";
    parts.headButton.hidden = !running.head;
    this.renderBallot(running, parts);
    this.renderChair(running, parts);
  }

  private tallyText(vote: VoteDescription, tally: Tally): string {
    return t("voteTally", {
      counts: vote.options.map((o) => `${optionText(o)} ${tally[o as keyof Tally] ?? 0}`).join(", "),
    });
  }

  /** What this participant can do: vote (the options), wait for the receipt, keep it, or read why not. */
  private renderBallot(running: Running, parts: ActiveParts): void {
    const { vote } = running;
    const mode = !this.eligible(vote)
      ? "ineligible"
      : running.voted
        ? this.storedReceipt(vote.id)
          ? "stored"
          : "voted"
        : running.sending
          ? "sending"
          : vote.kind === "pseudonymous" && !this.token(vote.id)
            ? running.tokenExpected
              ? "token-expected"
              : "no-token"
            : "options";
    const ballotFor = `${mode}|${language()}`;
    if (ballotFor === parts.ballotFor) return;
    parts.ballotFor = ballotFor;
    const focused = focusedIn(parts.ballot);
    const status = (key: TextKey) => h("p", { id: "vote-ballot-status", class: "notice", tabindex: -1 }, t(key));
    switch (mode) {
      case "options":
        fill(
          parts.ballot,
          h("p", { id: "vote-ballot-label" }, t("voteYourBallot")),
          h(
            "div",
            { role: "group", "aria-labelledby": "vote-ballot-label", class: "vote-options" },
            ...vote.options.map((option) =>
              h(
                "button",
                { type: "button", id: `vote-option-${option}`, onclick: () => void this.cast(running, option) },
                optionText(option),
              ),
            ),
          ),
          h("p", { class: "hint" }, t("voteFinalHint")),
        );
        break;
      case "stored":
        fill(
          parts.ballot,
          status("voteStored"),
          this.receiptButton(vote.id),
          h("p", { class: "hint" }, t("voteReceiptHint")),
        );
        break;
      default:
        fill(
          parts.ballot,
          status(
            (
              {
                ineligible: "voteNotEligible",
                voted: "voteVotedElsewhere",
                sending: "voteSending",
                "token-expected": "voteTokenExpected",
                "no-token": "voteNoToken",
              } as const
            )[mode],
          ),
        );
    }
    if (focused) parts.ballot.querySelector<HTMLElement>("button, [tabindex]")?.focus();
  }

  /** Stop and cancel, for chairs. */
  private renderChair(running: Running, parts: ActiveParts): void {
    const chairFor = `${this.state.moderates()}|${language()}`;
    if (chairFor === parts.chairFor) return;
    parts.chairFor = chairFor;
    const focused = focusedIn(parts.chair);
    if (!this.state.moderates()) {
      fill(parts.chair);
      if (focused) this.card.querySelector<HTMLElement>("h3")?.focus();
      return;
    }
    fill(
      parts.chair,
      h("button", { type: "button", id: "vote-stop", onclick: () => void this.stop(running) }, t("voteStop")),
      h(
        "button",
        { type: "button", id: "vote-cancel", class: "danger", onclick: () => void this.cancel(running) },
        t("voteCancel"),
      ),
    );
  }

  private receiptButton(voteId: string): HTMLButtonElement {
    return h(
      "button",
      {
        type: "button",
        id: "vote-download-receipt",
        onclick: () => {
          const text = this.storedReceipt(voteId);
          if (text) save(`vote-${voteId}-receipt.json`, json(text));
        },
      },
      t("voteDownloadReceipt"),
    );
  }

  private saveHead(head: VoteHead): void {
    save(`vote-${head.vote_id}-head-${head.seq}.json`, json(JSON.stringify(head, null, 2)));
  }

  /** A ballot is final: asked first, sent once confirmed (if the vote still runs and nothing was sent meanwhile). */
  private async cast(running: Running, option: VoteOption): Promise<void> {
    const confirmed = await ask({
      id: "vote-confirm",
      title: t("voteConfirmTitle"),
      text: t("voteConfirmText", { option: optionText(option) }),
      confirm: t("voteConfirm"),
    });
    if (!confirmed || this.running !== running || running.voted || running.sending) return;
    const token = running.vote.kind === "pseudonymous" ? this.token(running.vote.id) : undefined;
    const command = { action: "vote", vote_id: running.vote.id, option, ...(token ? { token } : {}) } as const;
    if (!this.send(command, "vote")) return;
    running.sending = option;
    this.updateActive();
  }

  private async stop(running: Running): Promise<void> {
    const confirmed = await ask({
      id: "vote-stop",
      destructive: true,
      title: t("voteStopTitle"),
      text: t("voteStopText", { cast: running.cast, eligible: running.vote.eligible.length }),
      confirm: t("voteStop"),
    });
    if (confirmed && this.running === running) this.send({ action: "stop", vote_id: running.vote.id }, "stop");
  }

  /** Canceling needs a reason (it goes into the protocol); the dialog opens with focus on it. */
  private async cancel(running: Running): Promise<void> {
    const reason = h("input", {
      id: "vote-cancel-reason",
      name: "reason",
      required: true,
      maxlength: 300,
      pattern: ".*\\S.*",
      autocomplete: "off",
    });
    const answer = ask({
      id: "vote-cancel",
      destructive: true,
      title: t("voteCancelTitle"),
      text: t("voteCancelText"),
      confirm: t("voteCancel"),
      fields: [h("label", { for: "vote-cancel-reason" }, t("voteCancelReason")), reason],
    });
    // Destructive, so the confirming button is red; focus goes to the reason, which Enter cannot skip (required).
    reason.focus();
    const confirmed = await answer;
    const text = reason.value.trim();
    if (confirmed && this.running === running && text)
      this.send({ action: "cancel", vote_id: running.vote.id, reason: text }, "cancel");
  }

  /** A problem (audio, video, screen share, or described): a kind or a description is needed. */
  private async reportIssue(running: Running): Promise<void> {
    const description = h("textarea", {
      id: "vote-issue-description",
      name: "description",
      maxlength: 1000,
      rows: 3,
      required: true,
      "aria-describedby": "vote-issue-hint",
    });
    const kind = h(
      "select",
      {
        id: "vote-issue-kind",
        name: "kind",
        onchange: () => {
          description.required = kind.value === "";
        },
      },
      h("option", { value: "" }, t("voteIssueKindNone")),
      ...ISSUE_KINDS.map((k) => h("option", { value: k }, t(`voteIssue_${k}`))),
    );
    const answer = ask({
      id: "vote-issue",
      title: t("voteReportIssue"),
      text: t("voteIssueText"),
      confirm: t("voteIssueSend"),
      fields: [
        h("label", { for: "vote-issue-kind" }, t("voteIssueKind")),
        kind,
        h("label", { for: "vote-issue-description" }, t("voteIssueDescription")),
        description,
        h("p", { id: "vote-issue-hint", class: "hint" }, t("voteIssueHint")),
      ],
    });
    kind.focus();
    if (!(await answer) || this.running !== running) return;
    const chosen = ISSUE_KINDS.find((k) => k === kind.value);
    const described = description.value.trim();
    if (!chosen && !described) return;
    const command = {
      action: "report_issue",
      vote_id: running.vote.id,
      ...(chosen ? { kind: chosen } : {}),
      ...(described ? { description: described } : {}),
    } as const;
    if (this.send(command, "report_issue")) this.issueStatus.textContent = t("voteIssueSent");
  }

  private issueText(vote: VoteDescription, issue: Issue): string {
    const what = [issue.kind ? textFor(`voteIssue_${issue.kind}`, issue.kind) : null, issue.description]
      .filter(Boolean)
      .join(": ");
    const who = issue.participant_id
      ? t("voteIssueBy", { name: this.nameOf(vote, issue.participant_id) })
      : t("voteIssueAnonymous");
    return `${what} (${who})`;
  }

  // ── The result ─────────────────────────────

  private resultCard(ended: Ended): HTMLElement {
    const { vote, result, canceled, head } = ended;
    const outcome =
      canceled !== undefined
        ? t("voteOutcomeIs", { outcome: outcomeText("canceled") })
        : result
          ? t("voteOutcomeIs", { outcome: outcomeText(result.outcome) })
          : t("voteEndedAway");
    const count = (option: VoteOption) =>
      h("li", {}, t("voteCount", { option: optionText(option), count: result?.[option] ?? 0 }));
    const receipt = this.storedReceipt(vote.id);
    const fetchable = this.mayFetch(vote) && !this.guest();
    this.downloadError.textContent = "";
    const download = (id: string, label: string, file: "protocol" | "report.pdf", name: string) =>
      h(
        "button",
        {
          type: "button",
          id,
          onclick: () =>
            void api
              .voteFile(this.roomId, vote.id, file)
              .then((blob) => {
                this.downloadError.textContent = "";
                save(name, blob);
              })
              .catch((error: unknown) => {
                this.downloadError.textContent = fileError(error);
              }),
        },
        label,
      );
    return h(
      "article",
      { id: "vote-result", class: "vote-card", "data-vote": vote.id, "aria-labelledby": "vote-result-title" },
      h("h3", { id: "vote-result-title", tabindex: -1 }, t("voteResultTitle", { name: vote.name })),
      vote.subtitle ? h("p", { class: "vote-subtitle" }, vote.subtitle) : null,
      h("p", { id: "vote-outcome", class: "vote-outcome" }, outcome),
      canceled !== undefined
        ? h("p", { id: "vote-canceled-reason" }, t("voteCanceledReason", { reason: canceled }))
        : null,
      result
        ? h(
            "ul",
            { id: "vote-counts" },
            ...vote.options.map(count),
            h("li", {}, t("voteCastOf", { cast: result.cast, eligible: result.eligible })),
            h("li", {}, t(result.quorum_met ? "voteQuorumMet" : "voteQuorumMissed")),
          )
        : null,
      h(
        "div",
        { class: "buttons" },
        fetchable
          ? download("vote-download-protocol", t("voteDownloadProtocol"), "protocol", `vote-${vote.id}-protocol.json`)
          : null,
        fetchable
          ? download("vote-download-report", t("voteDownloadReport"), "report.pdf", `vote-${vote.id}-report.pdf`)
          : null,
        receipt ? this.receiptButton(vote.id) : null,
        head
          ? h(
              "button",
              { type: "button", id: "vote-download-head", onclick: () => this.saveHead(head) },
              t("voteDownloadHead"),
            )
          : null,
      ),
      this.downloadError,
    );
  }
}

interface VoterEntry {
  item: HTMLLIElement;
  box: HTMLInputElement;
  text: HTMLSpanElement;
}

/**
 * The chairs' form that starts a vote. Its inputs stay in the page (a language change relabels them, a vote keeps
 * them for the next one but the title); who may vote follows the room: one box per participant, registered users
 * ticked when they arrive, guests listed but not selectable.
 */
class StartForm {
  readonly element = h("details", { id: "vote-new" });
  private readonly summary = h("summary", { id: "vote-new-summary" });
  private readonly form = h("form", { id: "vote-start-form", onsubmit: (event: Event) => this.submit(event) });
  private readonly error = h("p", { id: "vote-start-error", class: "error", role: "alert" });
  private readonly name = h("input", {
    id: "vote-name",
    name: "vote-name",
    required: true,
    maxlength: 150,
    pattern: ".*\\S.*",
    autocomplete: "off",
  });
  private readonly subtitle = h("input", { id: "vote-subtitle", name: "vote-subtitle", maxlength: 150 });
  private readonly topic = h("textarea", { id: "vote-topic", name: "vote-topic", maxlength: 2000, rows: 3 });
  private readonly kind = h("select", { id: "vote-kind", name: "vote-kind", "aria-describedby": "vote-kind-hint" });
  private readonly voters = h("ul", { id: "vote-voters" });
  private readonly abstain = h("input", { type: "checkbox", id: "vote-abstain", name: "vote-abstain", checked: true });
  private readonly numerator = h("input", {
    id: "vote-quorum-numerator",
    name: "vote-quorum-numerator",
    type: "number",
    inputmode: "numeric",
    min: 0,
    max: 1000,
    step: 1,
    value: 1,
    required: true,
  });
  private readonly denominator = h("input", {
    id: "vote-quorum-denominator",
    name: "vote-quorum-denominator",
    type: "number",
    inputmode: "numeric",
    min: 1,
    max: 1000,
    step: 1,
    value: 2,
    required: true,
  });
  private readonly majority = h("select", { id: "vote-majority", name: "vote-majority" });
  private readonly duration = h("input", {
    id: "vote-duration",
    name: "vote-duration",
    type: "number",
    inputmode: "numeric",
    min: 1,
    max: 1440,
    step: 1,
    "aria-describedby": "vote-duration-hint",
  });
  private readonly autoClose = h("input", {
    type: "checkbox",
    id: "vote-auto-close",
    name: "vote-auto-close",
    checked: true,
  });
  private readonly entries = new Map<string, VoterEntry>();

  constructor(
    private readonly state: RoomState,
    private readonly start: (command: StartCommand) => boolean,
  ) {
    this.element.append(this.summary, this.form);
  }

  /** The form in the current language; what was typed and chosen stays. */
  relabel(): void {
    this.summary.textContent = t("voteNew");
    const kind = this.kind.value || "roll_call";
    fill(this.kind, ...KINDS.map((k) => h("option", { value: k, selected: k === kind }, t(`voteKind_${k}`))));
    const majority = this.majority.value || "simple";
    fill(
      this.majority,
      ...MAJORITIES.map((m) => h("option", { value: m, selected: m === majority }, t(`voteMajority_${m}`))),
    );
    const check = (box: HTMLInputElement, label: string) => h("label", { class: "check" }, box, h("span", {}, label));
    fill(
      this.form,
      h("label", { for: "vote-name" }, t("voteName")),
      this.name,
      h("label", { for: "vote-subtitle" }, t("voteSubtitle")),
      this.subtitle,
      h("label", { for: "vote-topic" }, t("voteTopic")),
      this.topic,
      h("label", { for: "vote-kind" }, t("voteKindLabel")),
      this.kind,
      h("p", { id: "vote-kind-hint", class: "hint" }, t("voteKindHint")),
      h(
        "fieldset",
        { id: "vote-voters-field" },
        h("legend", {}, t("voteVoters")),
        h("p", { class: "hint" }, t("voteVotersHint")),
        this.voters,
      ),
      check(this.abstain, t("voteAbstain")),
      h(
        "fieldset",
        { id: "vote-quorum", "aria-describedby": "vote-quorum-hint" },
        h("legend", {}, t("voteQuorum")),
        h("p", { id: "vote-quorum-hint", class: "hint" }, t("voteQuorumHint")),
        h(
          "span",
          { class: "field" },
          h("label", { for: "vote-quorum-numerator" }, t("voteQuorumNumerator")),
          this.numerator,
        ),
        h(
          "span",
          { class: "field" },
          h("label", { for: "vote-quorum-denominator" }, t("voteQuorumDenominator")),
          this.denominator,
        ),
      ),
      h("label", { for: "vote-majority" }, t("voteMajority")),
      this.majority,
      h("label", { for: "vote-duration" }, t("voteDuration")),
      this.duration,
      h("p", { id: "vote-duration-hint", class: "hint" }, t("voteDurationHint")),
      check(this.autoClose, t("voteAutoClose")),
      this.error,
      h("button", { type: "submit", id: "vote-start" }, t("voteStart")),
    );
    this.update();
  }

  /** Who may vote: the room's participants by name, the entries staying in the page while people come and go. */
  update(): void {
    const self = this.state.get(this.state.selfId);
    const people = [...(self ? [self] : []), ...this.state.others()].sort((a, b) =>
      a.display_name.localeCompare(b.display_name),
    );
    dropMissing(this.entries, new Set(people.map((p) => p.participant_id)), "input", this.summary);
    people.forEach((p, index) => {
      const entry = this.entries.get(p.participant_id) ?? this.entry(p);
      const name = this.state.shownName(p.participant_id);
      entry.text.textContent = p.kind === "user" ? name : t("voteVoterGuest", { name });
      const here = this.voters.children[index];
      if (here !== entry.item) this.voters.insertBefore(entry.item, here ?? null);
    });
  }

  /** A vote this chair started is running: the form closes, and the next vote gets its own title. */
  started(): void {
    for (const input of [this.name, this.subtitle, this.topic]) input.value = "";
    this.error.textContent = "";
    this.element.open = false;
  }

  refused(text: string): void {
    this.element.open = true;
    this.error.textContent = text;
  }

  private entry(p: Participant): VoterEntry {
    const user = p.kind === "user";
    const box = h("input", {
      type: "checkbox",
      id: `vote-voter-${p.participant_id}`,
      value: p.participant_id,
      checked: user,
      disabled: !user,
    });
    const text = h("span", {});
    const item = h("li", { "data-participant": p.participant_id }, h("label", { class: "check" }, box, text));
    const entry = { item, box, text };
    this.entries.set(p.participant_id, entry);
    return entry;
  }

  private submit(event: Event): void {
    event.preventDefault();
    const [numerator, denominator] = [Number(this.numerator.value), Number(this.denominator.value)];
    const allowed = [...this.entries.values()].filter((e) => e.box.checked && !e.box.disabled).map((e) => e.box.value);
    const problem = numerator > denominator ? "voteQuorumInvalid" : allowed.length === 0 ? "voteNobodyChosen" : null;
    this.error.textContent = problem ? t(problem) : "";
    if (problem === "voteQuorumInvalid") this.numerator.focus();
    if (problem === "voteNobodyChosen") this.voters.querySelector<HTMLInputElement>("input:not(:disabled)")?.focus();
    if (problem) return;
    const [subtitle, topic, minutes] = [this.subtitle.value.trim(), this.topic.value.trim(), this.duration.value];
    const majority = MAJORITIES.find((m) => m === this.majority.value) ?? "simple";
    const command: StartCommand = {
      action: "start",
      name: this.name.value.trim(),
      ...(subtitle ? { subtitle } : {}),
      ...(topic ? { topic } : {}),
      kind: KINDS.find((k) => k === this.kind.value) ?? "roll_call",
      allowed_participants: allowed,
      enable_abstain: this.abstain.checked,
      rule: { quorum: { numerator, denominator }, majority },
      ...(minutes ? { duration_seconds: Number(minutes) * 60 } : {}),
      auto_close: this.autoClose.checked,
    };
    this.start(command);
  }
}

type VoteSummary = VoteList["votes"][number];

/**
 * The room's earlier votes (REST), read when opened and after a vote ends while open: each with its outcome and
 * its downloads (protocol, report, and the receipt if this browser keeps one), for after a reload.
 */
class VoteHistory {
  readonly element = h("details", { id: "vote-history" });
  private readonly summary = h("summary", {});
  private readonly list = h("div", { id: "vote-history-list" });
  private readonly error = h("p", { id: "vote-history-error", class: "error", role: "alert" });
  private votes: VoteSummary[] | undefined;
  private loading = 0;

  constructor(
    private readonly roomId: string,
    private readonly receipt: (voteId: string) => string | undefined,
  ) {
    this.element.append(this.summary, this.list, this.error);
    this.element.addEventListener("toggle", () => {
      if (this.element.open) this.refresh();
    });
  }

  relabel(): void {
    this.summary.textContent = t("voteHistory");
    this.render();
  }

  /** Reads the list anew if it is open (a later answer replaces an earlier one). */
  refresh(): void {
    if (!this.element.open) return;
    const attempt = ++this.loading;
    this.list.setAttribute("aria-busy", "true");
    api
      .votes(this.roomId)
      .then(({ votes }) => {
        if (attempt !== this.loading) return;
        this.votes = votes;
        this.error.textContent = "";
        this.render();
      })
      .catch((error: unknown) => {
        if (attempt !== this.loading) return;
        if (!this.votes) fill(this.list);
        const forbidden = error instanceof ApiError && (error.status === 401 || error.status === 403);
        this.error.textContent = forbidden ? t("voteHistoryForbidden") : fileError(error);
      })
      .finally(() => {
        if (attempt === this.loading) this.list.removeAttribute("aria-busy");
      });
  }

  private render(): void {
    if (!this.votes) return fill(this.list, h("p", {}, t("voteHistoryLoading")));
    if (this.votes.length === 0) return fill(this.list, h("p", { id: "vote-history-empty" }, t("voteHistoryEmpty")));
    fill(this.list, h("ul", {}, ...this.votes.map((v) => this.item(v))));
  }

  private item(v: VoteSummary): HTMLLIElement {
    const date = new Date(v.started_at).toLocaleString(language(), { dateStyle: "medium", timeStyle: "short" });
    const outcome = v.outcome ? outcomeText(v.outcome) : t("voteHistoryRunning");
    const download = (file: "protocol" | "report.pdf", name: string) => () =>
      void api
        .voteFile(this.roomId, v.vote_id, file)
        .then((blob) => {
          this.error.textContent = "";
          save(name, blob);
        })
        .catch((error: unknown) => {
          this.error.textContent = fileError(error);
        });
    const receipt = this.receipt(v.vote_id);
    const button = (label: string, onclick: () => void) =>
      h("button", { type: "button", class: "link", onclick }, label);
    return h(
      "li",
      { "data-vote": v.vote_id },
      h("span", { class: "name" }, v.name),
      " ",
      h("span", { class: "meta" }, t("voteHistoryItem", { kind: kindText(v.kind), date, outcome })),
      v.outcome
        ? h(
            "span",
            { class: "buttons" },
            button(t("voteDownloadProtocol"), download("protocol", `vote-${v.vote_id}-protocol.json`)),
            button(t("voteDownloadReport"), download("report.pdf", `vote-${v.vote_id}-report.pdf`)),
            receipt
              ? button(t("voteDownloadReceipt"), () => save(`vote-${v.vote_id}-receipt.json`, json(receipt)))
              : null,
          )
        : null,
    );
  }
}
