import {
  type CommandOf,
  type ErrorPayload,
  type JoinSuccess,
  MAX_POLL_CHOICES,
  type Poll,
  type ReceivedEvent,
} from "../../../protocol";
import type { Signaling } from "../../signaling";
import { announce, fill, h } from "../dom";
import { refusalText, type TextKey, t, textFor } from "../i18n";
import { refusalSentence, SentCommands } from "./commands";
import type { RoomState } from "./state";
import { clockText, timeOfDay, untilNextSecond } from "./timer";

type JoinState = JoinSuccess["modules"]["polls"];
type StartCommand = Extract<CommandOf<"polls">, { action: "start" }>;
type Reason = ReceivedEvent<"polls", "done">["reason"];
/** Commands of this panel awaiting a possible refusal. */
type Sent = "start" | "vote" | "finish";
const MIN_CHOICES = 2;
const MAX_SECONDS = 24 * 3600;

/** Refusals this panel words itself (the shared sentences for these codes speak of legal votes). */
const POLL_REFUSALS: Partial<Record<string, TextKey>> = {
  already_voted: "pollAlreadyVoted",
  invalid_option: "pollInvalidOption",
  insufficient_permissions: "pollNotAllowed",
};

/** The open poll as this page knows it. */
interface Open {
  poll: Poll;
  /** Live polls: the counts per choice so far. */
  counts: number[] | undefined;
  /** This participant's answer is counted (join_success, `voted`, or an already_voted refusal). */
  voted: boolean;
  /** An answer went out and its `voted` has not come. */
  sending: boolean;
  /** What is ticked on the ballot (kept when the card is built anew, e.g. in another language). */
  selected: Set<number>;
}

/** The poll that closed last: its counts, and why, when this page saw it close. */
interface Closed {
  poll: Poll;
  counts: number[];
  voters: number;
  reason: Reason | undefined;
}

/** The parts of the open poll's card that change while it is open; the rest is built once per poll. */
interface Parts {
  ballot: HTMLElement;
  /** What `ballot` was built for: it is rebuilt only when that changes, so focus on its inputs survives updates. */
  ballotFor: string;
  counts: HTMLLIElement[];
  remaining: HTMLElement | undefined;
}

const focusedIn = (element: Element) => element.contains(document.activeElement);
const countText = (choice: string, count: number) => t("pollCount", { choice, count });

/**
 * Polls (polls). Chairs ask a question with 2–20 choices (one answer or several, counts live or at the end,
 * optionally ending by itself after some seconds) and finish it. Everyone sees the open poll and answers once
 * (radio buttons or checkboxes in a fieldset); live polls show the counts as they come, a timed one how long it stays
 * open. When it closes, the counts, how many answered and why it ended. Refusals are said in words.
 */
export class PollsPanel {
  private readonly title = h("h2", { id: "polls-heading" });
  private readonly card = h("div", { id: "poll-card" });
  /** Refusals of the open poll's commands (vote, finish); persists while the card changes. */
  private readonly error = h("p", { id: "poll-error", class: "error", role: "alert" });
  private readonly form: PollForm;
  private readonly section: HTMLElement;
  private open: Open | undefined;
  private closed: Closed | undefined;
  private parts: Parts | undefined;
  private signaling: Signaling | undefined;
  private readonly commands = new SentCommands("polls", (kind: Sent, payload) => this.refused(kind, payload));
  private moderating = false;
  private ticking: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly state: RoomState) {
    this.form = new PollForm((command) => this.send(command, "start"));
    this.section = h(
      "section",
      { id: "polls-section", "aria-labelledby": "polls-heading" },
      this.title,
      this.form.element,
      this.card,
      this.error,
    );
    state.onChange(() => {
      if (this.moderating !== state.moderates()) {
        this.moderating = state.moderates();
        return this.render();
      }
      this.showForm();
    });
  }

  listen(signaling: Signaling): void {
    this.signaling = signaling;
    // Sent on an earlier connection: their answers will not come (join_success says whether the answer counted).
    this.commands.listen(signaling);
    signaling.on("polls", "started", ({ message: _message, ...poll }) => this.started(poll));
    signaling.on("polls", "voted", ({ poll_id }) => this.voted(poll_id));
    signaling.on("polls", "live_update", ({ poll_id, counts }) => {
      const open = this.current(poll_id);
      if (!open) return;
      open.counts = counts;
      this.updateActive();
    });
    signaling.on("polls", "done", ({ poll_id, counts, voters, reason }) => this.done(poll_id, counts, voters, reason));
  }

  /**
   * join_success: the open poll (with whether this participant answered, and live counts) and the last closed one.
   * Null means the module could not say: what was shown stays, and its events follow.
   */
  show(joined: JoinState): void {
    this.moderating = this.state.moderates();
    if (joined) {
      const before = this.open;
      if (joined.active) {
        const { counts, voted, ...poll } = joined.active;
        const same = before?.poll.poll_id === poll.poll_id;
        this.open = {
          poll,
          counts: counts ?? (poll.live ? poll.choices.map(() => 0) : undefined),
          voted,
          sending: false,
          selected: same && !voted ? before.selected : new Set(),
        };
      } else this.open = undefined;
      const last = joined.last;
      if (last) {
        const { counts, voters, reason, ...poll } = last;
        this.closed = { poll, counts, voters, reason };
      } else this.closed = undefined;
    }
    this.render();
  }

  /** The section in the current language. */
  view(): HTMLElement {
    this.title.textContent = t("polls");
    this.form.relabel();
    this.render();
    return this.section;
  }

  private current(pollId: string): Open | undefined {
    return this.open?.poll.poll_id === pollId ? this.open : undefined;
  }

  private send(command: CommandOf<"polls">, kind: Sent): boolean {
    if (!this.signaling) return false;
    this.error.textContent = "";
    return this.commands.send(command, kind);
  }

  private started(poll: Poll): void {
    if (this.current(poll.poll_id)) return;
    this.open = {
      poll,
      counts: poll.live ? poll.choices.map(() => 0) : undefined,
      voted: false,
      sending: false,
      selected: new Set(),
    };
    this.error.textContent = "";
    if (poll.started_by === this.state.selfId) this.form.started();
    this.render();
    announce(t("pollStartedNotice", { topic: poll.topic }));
  }

  private voted(pollId: string): void {
    const open = this.current(pollId);
    if (!open) return;
    open.voted = true;
    open.sending = false;
    this.updateActive();
    announce(t("pollCounted"));
  }

  private done(pollId: string, counts: number[], voters: number, reason: Reason): void {
    const open = this.current(pollId);
    if (!open) return;
    this.open = undefined;
    this.closed = { poll: open.poll, counts, voters, reason };
    this.error.textContent = "";
    this.render();
    announce(t("pollEndedNotice", { topic: open.poll.topic }));
  }

  private refused(sent: Sent, payload: ErrorPayload): void {
    const code = payload.error;
    const own = Object.hasOwn(POLL_REFUSALS, code) ? POLL_REFUSALS[code] : undefined;
    const text = own
      ? t(own)
      : (refusalText(code) ??
        (code === "invalid_frame" ? t("pollInvalid", { text: payload.text ?? code }) : refusalSentence(code, "polls")));
    if (sent === "start") return this.form.refused(text);
    const open = this.open;
    if (sent === "vote" && open) {
      open.sending = false;
      // Answered already (on another device, or before a dropped connection).
      if (code === "already_voted") open.voted = true;
      this.updateActive();
    }
    this.error.textContent = text;
  }

  /**
   * The form (chairs, while no poll is open), and the open poll's card or the last result. Focus inside the card
   * goes to the control of the same id in the new one, else to its heading.
   */
  private render(): void {
    const focused = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const wasInCard = focused !== null && focusedIn(this.card);
    this.parts = undefined;
    const card = this.open ? this.activeCard(this.open) : this.closed ? this.resultCard(this.closed) : undefined;
    fill(this.card, card ?? h("p", { id: "poll-none" }, t("pollNone")));
    this.showForm();
    if (wasInCard && !focused.isConnected) {
      (document.getElementById(focused.id) ?? this.card.querySelector<HTMLElement>("h3") ?? this.title).focus();
    }
    // Shown now, ticking once the section is in the page (a relabel builds it before the room lays it out).
    this.tick();
    queueMicrotask(() => this.tick());
  }

  private showForm(): void {
    const shown = this.state.moderates() && !this.open;
    const focused = focusedIn(this.form.element);
    this.form.element.hidden = !shown;
    if (!shown && focused) (this.card.querySelector<HTMLElement>("h3") ?? this.title).focus();
  }

  private activeCard(open: Open): HTMLElement {
    const { poll } = open;
    const by = this.state.get(poll.started_by) ? this.state.shownName(poll.started_by) : undefined;
    const parts: Parts = {
      ballot: h("div", { id: "poll-ballot" }),
      ballotFor: "",
      counts: poll.choices.map(() => h("li", {})),
      remaining: poll.ends_at !== null ? h("p", { id: "poll-remaining" }) : undefined,
    };
    this.parts = parts;
    const rules = [
      t(poll.multiple_choice ? "pollMultipleHint" : "pollSingleHint"),
      t(poll.live ? "pollLiveHint" : "pollHiddenHint"),
      by ? t("pollStartedBy", { name: by }) : null,
    ];
    const element = h(
      "article",
      { id: "poll-active", class: "poll-card", "data-poll": poll.poll_id, "aria-labelledby": "poll-active-title" },
      h("h3", { id: "poll-active-title", tabindex: -1 }, t("pollRunningTitle")),
      h("p", { id: "poll-question", class: "poll-topic" }, poll.topic),
      h("p", { id: "poll-rules", class: "hint" }, rules.filter(Boolean).join(" ")),
      parts.remaining,
      parts.ballot,
      poll.live
        ? h(
            "div",
            { id: "poll-live" },
            h("h4", { id: "poll-counts-title" }, t("pollCountsTitle")),
            h("ul", { id: "poll-counts", "aria-labelledby": "poll-counts-title" }, ...parts.counts),
          )
        : null,
      this.state.moderates()
        ? h(
            "div",
            { class: "buttons" },
            h(
              "button",
              {
                type: "button",
                id: "poll-finish",
                onclick: () => this.send({ action: "finish", poll_id: poll.poll_id }, "finish"),
              },
              t("pollFinish"),
            ),
          )
        : null,
    );
    this.updateActive();
    return element;
  }

  /** The open poll's changing parts, in place. */
  private updateActive(): void {
    const open = this.open;
    const parts = this.parts;
    if (!open || !parts) return;
    open.poll.choices.forEach((choice, index) => {
      const item = parts.counts[index];
      if (item) item.textContent = countText(choice, open.counts?.[index] ?? 0);
    });
    this.renderBallot(open, parts);
  }

  /** What this participant can do: answer (the choices), wait for the answer to count, or read that it did. */
  private renderBallot(open: Open, parts: Parts): void {
    const mode = open.voted ? "voted" : open.sending ? "sending" : "choices";
    if (mode === parts.ballotFor) return;
    parts.ballotFor = mode;
    const focused = focusedIn(parts.ballot);
    if (mode === "choices") {
      const { poll } = open;
      const type = poll.multiple_choice ? "checkbox" : "radio";
      const inputs = poll.choices.map((choice, index) =>
        h(
          "label",
          { class: "check" },
          h("input", {
            type,
            id: `poll-option-${index}`,
            name: "poll-answer",
            value: index,
            checked: open.selected.has(index),
            onchange: (event: Event) => {
              const box = event.target as HTMLInputElement;
              if (!poll.multiple_choice) open.selected.clear();
              if (box.checked) open.selected.add(index);
              else open.selected.delete(index);
            },
          }),
          h("span", {}, choice),
        ),
      );
      fill(
        parts.ballot,
        h(
          "form",
          { id: "poll-ballot-form", onsubmit: (event: Event) => this.vote(event, open) },
          h(
            "fieldset",
            { id: "poll-choices-field", "aria-describedby": "poll-question" },
            h("legend", {}, t("pollYourAnswer")),
            h("div", { class: "poll-options" }, ...inputs),
          ),
          h("button", { type: "submit", id: "poll-vote" }, t("pollVote")),
        ),
      );
    } else {
      const key = mode === "voted" ? "pollCounted" : "pollSending";
      fill(parts.ballot, h("p", { id: "poll-status", class: "notice", tabindex: -1 }, t(key)));
    }
    if (focused) parts.ballot.querySelector<HTMLElement>("input, [tabindex]")?.focus();
  }

  private vote(event: Event, open: Open): void {
    event.preventDefault();
    if (this.open !== open || open.voted || open.sending) return;
    const choices = [...open.selected].sort((a, b) => a - b);
    if (choices.length === 0) {
      this.error.textContent = t("pollChooseFirst");
      document.getElementById("poll-option-0")?.focus();
      return;
    }
    if (!this.send({ action: "vote", poll_id: open.poll.poll_id, choices }, "vote")) return;
    open.sending = true;
    this.updateActive();
  }

  private resultCard(closed: Closed): HTMLElement {
    const { poll, counts, voters, reason } = closed;
    return h(
      "article",
      { id: "poll-result", class: "poll-card", "data-poll": poll.poll_id, "aria-labelledby": "poll-result-title" },
      h("h3", { id: "poll-result-title", tabindex: -1 }, t("pollResultTitle")),
      h("p", { class: "poll-topic" }, poll.topic),
      reason ? h("p", { id: "poll-reason" }, textFor(`pollReason_${reason}`, t("pollReason_finished"))) : null,
      h(
        "ul",
        { id: "poll-result-counts" },
        ...poll.choices.map((choice, index) => h("li", {}, countText(choice, counts[index] ?? 0))),
      ),
      h("p", { id: "poll-voters" }, t("pollVoters", { voters })),
    );
  }

  /** How long a timed poll stays open, once a second while it is; the room's `done` follows at zero. */
  private tick(): void {
    clearTimeout(this.ticking);
    this.ticking = undefined;
    const endsAt = this.open?.poll.ends_at;
    const remaining = this.parts?.remaining;
    if (!endsAt || !remaining) return;
    const end = Date.parse(endsAt);
    const left = Math.max(0, end - Date.now());
    remaining.textContent = t("pollEndsIn", {
      time: clockText(Math.ceil(left / 1000)),
      at: timeOfDay(end, left < 3_600_000),
    });
    if (left > 0 && this.section.isConnected) this.ticking = setTimeout(() => this.tick(), untilNextSecond(left, true));
  }
}

interface ChoiceEntry {
  item: HTMLLIElement;
  label: HTMLLabelElement;
  input: HTMLInputElement;
  remove: HTMLButtonElement;
  removeName: HTMLSpanElement;
}

/**
 * The chairs' form that asks a question: the question, 2–20 choices (one text field each, added and removed with
 * buttons; focus follows), one answer or several, counts live or at the end, and an optional duration in seconds.
 * Its inputs stay in the page (a language change relabels them); a started poll empties them for the next.
 */
class PollForm {
  readonly element = h("details", { id: "poll-new" });
  private readonly summary = h("summary", { id: "poll-new-summary" });
  private readonly form = h("form", { id: "poll-start-form", onsubmit: (event: Event) => this.submit(event) });
  private readonly error = h("p", { id: "poll-start-error", class: "error", role: "alert" });
  private readonly topic = h("textarea", {
    id: "poll-topic",
    name: "poll-topic",
    maxlength: 500,
    rows: 2,
    required: true,
  });
  private readonly legend = h("legend", {});
  private readonly list = h("ol", { id: "poll-choice-list" });
  private readonly add = h("button", { type: "button", id: "poll-choice-add", onclick: () => this.addChoice(true) });
  private readonly multiple = h("input", { type: "checkbox", id: "poll-multiple", name: "poll-multiple" });
  private readonly live = h("input", { type: "checkbox", id: "poll-live", name: "poll-live" });
  private readonly duration = h("input", {
    id: "poll-duration",
    name: "poll-duration",
    type: "number",
    inputmode: "numeric",
    min: 5,
    max: MAX_SECONDS,
    step: 1,
    "aria-describedby": "poll-duration-hint",
  });
  private readonly entries: ChoiceEntry[] = [];

  constructor(private readonly start: (command: StartCommand) => boolean) {
    this.element.append(this.summary, this.form);
    for (let i = 0; i < MIN_CHOICES; i++) this.addChoice(false);
  }

  /** The form in the current language; what was typed and chosen stays. */
  relabel(): void {
    this.summary.textContent = t("pollNew");
    this.legend.textContent = t("pollChoices", { min: MIN_CHOICES, max: MAX_POLL_CHOICES });
    this.add.textContent = t("pollChoiceAdd");
    const check = (box: HTMLInputElement, label: string) => h("label", { class: "check" }, box, h("span", {}, label));
    fill(
      this.form,
      h("label", { for: "poll-topic" }, t("pollTopic")),
      this.topic,
      h("fieldset", { id: "poll-choices" }, this.legend, this.list, this.add),
      check(this.multiple, t("pollMultiple")),
      check(this.live, t("pollLive")),
      h("label", { for: "poll-duration" }, t("pollDuration")),
      this.duration,
      h("p", { id: "poll-duration-hint", class: "hint" }, t("pollDurationHint")),
      this.error,
      h("button", { type: "submit", id: "poll-start" }, t("pollStart")),
    );
    this.renumber();
  }

  /** A poll this chair started is open: the form closes, and the next poll starts from an empty one. */
  started(): void {
    this.topic.value = "";
    for (const entry of this.entries.splice(MIN_CHOICES)) entry.item.remove();
    for (const entry of this.entries) entry.input.value = "";
    this.duration.value = "";
    this.error.textContent = "";
    this.renumber();
    this.element.open = false;
  }

  refused(text: string): void {
    this.element.open = true;
    this.error.textContent = text;
  }

  private addChoice(focus: boolean): void {
    if (this.entries.length >= MAX_POLL_CHOICES) return;
    const input = h("input", {
      class: "choice-input",
      name: "poll-choice",
      maxlength: 200,
      required: true,
      pattern: ".*\\S.*",
      autocomplete: "off",
    });
    const removeName = h("span", { class: "visually-hidden" });
    const entry: ChoiceEntry = {
      item: h("li", {}),
      label: h("label", {}),
      input,
      remove: h("button", { type: "button", class: "link" }),
      removeName,
    };
    entry.remove.addEventListener("click", () => this.removeChoice(entry));
    entry.item.append(entry.label, h("span", { class: "choice-row" }, input, entry.remove));
    this.entries.push(entry);
    this.list.append(entry.item);
    this.renumber();
    if (focus) input.focus();
  }

  /** Removes a choice; focus goes to the choice that takes its place (or the one before it). */
  private removeChoice(entry: ChoiceEntry): void {
    const index = this.entries.indexOf(entry);
    if (index < 0 || this.entries.length <= MIN_CHOICES) return;
    this.entries.splice(index, 1);
    entry.item.remove();
    this.renumber();
    this.entries[Math.min(index, this.entries.length - 1)]?.input.focus();
  }

  /** Ids and labels follow the order (`poll-choice-0` …); removing is offered above the minimum, adding below 20. */
  private renumber(): void {
    const removable = this.entries.length > MIN_CHOICES;
    this.entries.forEach((entry, index) => {
      const n = index + 1;
      entry.input.id = `poll-choice-${index}`;
      entry.label.htmlFor = entry.input.id;
      entry.label.textContent = t("pollChoice", { n });
      entry.remove.id = `poll-choice-remove-${index}`;
      entry.removeName.textContent = ` (${t("pollChoice", { n })})`;
      entry.remove.replaceChildren(t("pollChoiceRemove"), entry.removeName);
      entry.remove.hidden = !removable;
    });
    const full = this.entries.length >= MAX_POLL_CHOICES;
    if (full && document.activeElement === this.add) this.entries.at(-1)?.input.focus();
    this.add.hidden = full;
  }

  private submit(event: Event): void {
    event.preventDefault();
    const topic = this.topic.value.trim();
    if (!topic) {
      this.error.textContent = t("pollTopicMissing");
      this.topic.focus();
      return;
    }
    this.error.textContent = "";
    const seconds = this.duration.value;
    const command: StartCommand = {
      action: "start",
      topic,
      choices: this.entries.map((entry) => entry.input.value.trim()),
      multiple_choice: this.multiple.checked,
      live: this.live.checked,
      ...(seconds ? { duration_seconds: Number(seconds) } : {}),
    };
    this.start(command);
  }
}
