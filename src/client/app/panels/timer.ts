import type { CommandOf, ErrorPayload, JoinSuccess, ReceivedEvent } from "../../../protocol";
import type { Signaling } from "../../signaling";
import { announce, fill, h } from "../dom";
import { language, refusalText, t, textFor } from "../i18n";
import { refusalSentence, SentCommands } from "./commands";
import type { RoomState } from "./state";

type JoinState = JoinSuccess["modules"]["timer"];
type Timer = Omit<ReceivedEvent<"timer", "started">, "message">;
type StartCommand = Extract<CommandOf<"timer">, { action: "start" }>;
type Reason = ReceivedEvent<"timer", "stopped">["reason"];
/** Commands of this panel awaiting a possible refusal. */
type Sent = "start" | "stop" | "ready";
const KINDS = ["countdown", "stopwatch"] as const;
const STYLES = ["normal", "coffee_break"] as const;
const MAX_SECONDS = 24 * 3600;
/** Ticks land this long after a whole second, so the clock has surely turned. */
const TICK_SLACK_MS = 15;

/** A number of whole seconds as mm:ss (h:mm:ss from an hour on). */
export function clockText(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n: number) => String(n).padStart(2, "0");
  const [hours, minutes, rest] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  return hours > 0 ? `${hours}:${two(minutes)}:${two(rest)}` : `${two(minutes)}:${two(rest)}`;
}

/** A duration in words for announcements ("5 Minuten und 10 Sekunden"): screen readers misread "05:10". */
export function spokenDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const parts = [
    ["hour", Math.floor(s / 3600)],
    ["minute", Math.floor((s % 3600) / 60)],
    ["second", s % 60],
  ] as const;
  const words = parts
    .filter(([unit, n]) => n > 0 || (s === 0 && unit === "second"))
    .map(([unit, n]) => new Intl.NumberFormat(language(), { style: "unit", unit, unitDisplay: "long" }).format(n));
  return new Intl.ListFormat(language(), { type: "conjunction" }).format(words);
}

/** A clock time as the page shows it (hours and minutes, and seconds for what ends within minutes). */
export function timeOfDay(ms: number, seconds = false): string {
  return new Date(ms).toLocaleTimeString(language(), {
    hour: "2-digit",
    minute: "2-digit",
    ...(seconds ? { second: "2-digit" } : {}),
  });
}

/** How long until a shown count of whole seconds changes (counting down: rounded up; counting up: down). */
export const untilNextSecond = (ms: number, down: boolean) =>
  (down ? ms % 1000 || 1000 : 1000 - (ms % 1000)) + TICK_SLACK_MS;

const kindText = (kind: string) => textFor(`timerKind_${kind}`, kind);

/** The running timer as this page knows it. */
interface Running {
  timer: Timer;
  readyCount: number;
  /** This participant is ready, as the room confirmed it. */
  ready: boolean;
  /** A ready status went out and is not confirmed: what was asked for, and what held before. */
  pending: { ready: boolean; before: boolean } | undefined;
  /** Who is ready (chairs only: ready_status about others goes to them). */
  readyIds: Set<string>;
  /** The list is complete: this page moderated when it learnt of the timer (else it knows only later changes). */
  complete: boolean;
  /** The last minute has begun (said once, when the page saw it begin). */
  lastMinute: boolean;
}

/** The parts of the running timer's card that change while it runs; the rest is built once per timer. */
interface Parts {
  clock: HTMLElement;
  readyButton: HTMLButtonElement | undefined;
  readyCount: HTMLElement | undefined;
  readyBox: HTMLElement | undefined;
  readyList: HTMLUListElement | undefined;
  readyNone: HTMLElement | undefined;
  readyPartial: HTMLElement | undefined;
}

const isCountdown = (timer: Timer) => timer.ends_at !== null;
const focusedIn = (element: Element) => element.contains(document.activeElement);

/**
 * The timer (timer). Chairs start a countdown or a stopwatch with a form (title, normal or coffee-break look,
 * optionally a ready check) and stop it. Everyone sees the running one: its title, the time left or passed as
 * mm:ss (from started_at/ends_at and this computer's clock, once a second; a role="timer" that screen readers do not
 * read out on each tick — the start, the last minute and the end are announced instead), a coffee break large. With
 * a ready check a toggle says "I am ready" and everyone sees how many are; chairs see who. When it ends, why.
 */
export class TimerPanel {
  private readonly title = h("h2", { id: "timer-heading" });
  private readonly card = h("div", { id: "timer-card" });
  /** Refusals of the running timer's commands (ready, stop); persists while the card changes. */
  private readonly error = h("p", { id: "timer-error", class: "error", role: "alert" });
  private readonly form: TimerForm;
  private readonly section: HTMLElement;
  private running: Running | undefined;
  /** How the last timer ended (while this page was here), until the next starts. */
  private ended: Reason | undefined;
  private parts: Parts | undefined;
  private signaling: Signaling | undefined;
  private readonly commands = new SentCommands("timer", (kind: Sent, payload) => this.refused(kind, payload));
  private moderating = false;
  private ticking: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly state: RoomState) {
    this.form = new TimerForm((command) => this.send(command, "start"));
    this.section = h(
      "section",
      { id: "timer-section", "aria-labelledby": "timer-heading" },
      this.title,
      this.form.element,
      this.card,
      this.error,
    );
    state.onChange(() => {
      if (this.running) this.forgetAbsent(this.running);
      if (this.moderating !== state.moderates()) {
        this.moderating = state.moderates();
        return this.render();
      }
      this.updateReady();
      this.showForm();
    });
  }

  listen(signaling: Signaling): void {
    this.signaling = signaling;
    // Sent on an earlier connection: their answers will not come.
    this.commands.listen(signaling);
    if (this.running) this.running.pending = undefined;
    signaling.on("timer", "started", ({ message: _message, ...timer }) => this.started(timer));
    signaling.on("timer", "stopped", ({ timer_id, reason }) => this.stopped(timer_id, reason));
    signaling.on("timer", "ready_status", ({ timer_id, participant_id, ready }) => {
      const running = this.current(timer_id);
      if (!running) return;
      if (ready) running.readyIds.add(participant_id);
      else running.readyIds.delete(participant_id);
      // Every device of this participant hears its own status (the sending one's copy acknowledges the toggle).
      if (participant_id === this.state.selfId) {
        running.ready = ready;
        if (running.pending?.ready === ready) running.pending = undefined;
      }
      this.updateReady();
    });
    signaling.on("timer", "ready_count", ({ timer_id, ready }) => {
      const running = this.current(timer_id);
      if (!running) return;
      running.readyCount = ready;
      this.updateReady();
    });
  }

  /**
   * join_success: the running timer, if any (a reconnect keeps what this page knew of the same one). Null means the
   * module could not say: what was shown stays, and its events follow.
   */
  show(joined: JoinState): void {
    this.moderating = this.state.moderates();
    if (joined) {
      const before = this.running;
      const active = joined.active;
      if (!active) {
        // It ended while this page was away: a countdown past its end ran out, anything else was stopped.
        if (before) this.ended = this.endedAway(before.timer);
        this.running = undefined;
      } else {
        const { ready_count, ready, ready_participants, ...timer } = active;
        const same = before?.timer.timer_id === timer.timer_id;
        this.running = {
          timer,
          readyCount: ready_count,
          ready,
          pending: undefined,
          readyIds: new Set(ready_participants),
          complete: this.state.moderates(),
          lastMinute: same ? before.lastMinute : this.remainingMs(timer) <= 60_000,
        };
        this.ended = undefined;
      }
    }
    this.render();
  }

  /** The section in the current language. */
  view(): HTMLElement {
    this.title.textContent = t("timer");
    this.form.relabel();
    this.render();
    return this.section;
  }

  private current(timerId: string): Running | undefined {
    return this.running?.timer.timer_id === timerId ? this.running : undefined;
  }

  private endedAway(timer: Timer): Reason {
    return timer.ends_at !== null && Date.now() >= Date.parse(timer.ends_at) ? "expired" : "by_moderator";
  }

  private send(command: CommandOf<"timer">, kind: Sent): boolean {
    if (!this.signaling) return false;
    this.error.textContent = "";
    return this.commands.send(command, kind);
  }

  private started(timer: Timer): void {
    if (this.current(timer.timer_id)) return;
    this.running = {
      timer,
      readyCount: 0,
      ready: false,
      pending: undefined,
      readyIds: new Set(),
      complete: this.state.moderates(),
      lastMinute: this.remainingMs(timer) <= 60_000,
    };
    this.ended = undefined;
    this.error.textContent = "";
    if (timer.started_by === this.state.selfId) this.form.started();
    this.render();
    const sentence = isCountdown(timer)
      ? t("timerStartedCountdown", { time: spokenDuration(this.remainingMs(timer) / 1000) })
      : t("timerStartedStopwatch");
    const what = timer.title ?? (timer.style === "coffee_break" ? t("timerStyle_coffee_break") : null);
    announce(what ? `${what} – ${sentence}` : sentence);
  }

  private stopped(timerId: string, reason: Reason): void {
    if (!this.current(timerId)) return;
    this.running = undefined;
    this.ended = reason;
    this.error.textContent = "";
    this.render();
    announce(this.endedText(reason));
  }

  private endedText(reason: Reason): string {
    return reason === "expired" ? t("timerExpired") : t("timerStopped");
  }

  private refused(sent: Sent, payload: ErrorPayload): void {
    const code = payload.error;
    const text =
      refusalText(code) ??
      (code === "insufficient_permissions"
        ? t("timerNotAllowed")
        : code === "invalid_request"
          ? t("timerNoReadyCheck")
          : code === "invalid_frame"
            ? t("timerInvalid", { text: payload.text ?? code })
            : refusalSentence(code, "timer"));
    if (sent === "start") return this.form.refused(text);
    const running = this.running;
    if (sent === "ready" && running?.pending) {
      running.ready = running.pending.before;
      running.pending = undefined;
      this.updateReady();
    }
    this.error.textContent = text;
  }

  /** Who left is no longer counted by the room (chairs, who know who was ready, count them out too). */
  private forgetAbsent(running: Running): void {
    for (const id of running.readyIds) {
      if (this.state.get(id)) continue;
      running.readyIds.delete(id);
      if (running.complete) running.readyCount = Math.max(0, running.readyCount - 1);
    }
  }

  /**
   * The form (chairs, while no timer runs), and the running timer's card or how the last one ended. Focus inside the
   * card goes to the control of the same id in the new one, else to its heading.
   */
  private render(): void {
    const focused = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const wasInCard = focused !== null && focusedIn(this.card);
    this.parts = undefined;
    const running = this.running;
    fill(
      this.card,
      running
        ? this.activeCard(running)
        : this.ended
          ? h("p", { id: "timer-ended", class: "notice", tabindex: -1 }, this.endedText(this.ended))
          : h("p", { id: "timer-none" }, t("timerNone")),
    );
    this.showForm();
    if (wasInCard && !focused.isConnected) {
      const heading = this.card.querySelector<HTMLElement>("h3, [tabindex]");
      (document.getElementById(focused.id) ?? heading ?? this.title).focus();
    }
    // Shown now, ticking once the section is in the page (a relabel builds it before the room lays it out).
    this.tick();
    queueMicrotask(() => this.tick());
  }

  private showForm(): void {
    const shown = this.state.moderates() && !this.running;
    const focused = focusedIn(this.form.element);
    this.form.element.hidden = !shown;
    if (!shown && focused) (this.card.querySelector<HTMLElement>("h3, [tabindex]") ?? this.title).focus();
  }

  private activeCard(running: Running): HTMLElement {
    const { timer } = running;
    const countdown = isCountdown(timer);
    const coffee = timer.style === "coffee_break";
    const chair = this.state.moderates();
    const heading =
      timer.title ?? (coffee ? t("timerStyle_coffee_break") : kindText(countdown ? "countdown" : "stopwatch"));
    const parts: Parts = {
      clock: h("div", {
        id: "timer-clock",
        class: "timer-clock",
        role: "timer",
        "aria-live": "off",
        "aria-labelledby": "timer-clock-label",
      }),
      readyButton: undefined,
      readyCount: undefined,
      readyBox: undefined,
      readyList: undefined,
      readyNone: undefined,
      readyPartial: undefined,
    };
    if (timer.ready_check) {
      parts.readyButton = h(
        "button",
        { type: "button", id: "timer-ready", "aria-pressed": "false", onclick: () => this.toggleReady() },
        t("timerReady"),
      );
      parts.readyCount = h("p", { id: "timer-ready-count" });
      if (chair) {
        parts.readyList = h("ul", { id: "timer-ready-list", "aria-labelledby": "timer-ready-heading" });
        parts.readyNone = h("p", { id: "timer-ready-none", class: "hint" }, t("timerReadyNobody"));
        parts.readyPartial = h("p", { id: "timer-ready-partial", class: "hint" }, t("timerReadyPartial"));
        parts.readyBox = h(
          "div",
          { id: "timer-ready-box" },
          h("h4", { id: "timer-ready-heading" }, t("timerReadyWho")),
          parts.readyList,
          parts.readyNone,
          parts.readyPartial,
        );
      }
    }
    this.parts = parts;
    const element = h(
      "article",
      {
        id: "timer-active",
        class: coffee ? "timer-card coffee-break" : "timer-card",
        "data-timer": timer.timer_id,
        "aria-labelledby": "timer-active-title",
      },
      h("h3", { id: "timer-active-title", tabindex: -1 }, heading),
      coffee && timer.title
        ? h("p", { id: "timer-coffee", class: "coffee-label" }, t("timerStyle_coffee_break"))
        : null,
      h("p", { id: "timer-clock-label", class: "timer-clock-label" }, t(countdown ? "timerRemaining" : "timerElapsed")),
      parts.clock,
      timer.ends_at !== null
        ? h("p", { id: "timer-ends", class: "hint" }, t("timerEndsAt", { time: timeOfDay(Date.parse(timer.ends_at)) }))
        : h(
            "p",
            { id: "timer-since", class: "hint" },
            t("timerSince", { time: timeOfDay(Date.parse(timer.started_at)) }),
          ),
      parts.readyButton ? h("div", { class: "buttons" }, parts.readyButton) : null,
      parts.readyCount,
      parts.readyBox,
      chair
        ? h(
            "div",
            { class: "buttons" },
            h(
              "button",
              { type: "button", id: "timer-stop", onclick: () => this.send({ action: "stop" }, "stop") },
              t("timerStop"),
            ),
          )
        : null,
    );
    this.updateReady();
    return element;
  }

  /** The ready check's changing parts, in place. */
  private updateReady(): void {
    const running = this.running;
    const parts = this.parts;
    if (!running || !parts) return;
    parts.readyButton?.setAttribute("aria-pressed", String(running.ready));
    if (parts.readyCount) {
      const count = running.readyCount;
      parts.readyCount.textContent = t(count === 1 ? "timerReadyCountOne" : "timerReadyCount", { count });
    }
    if (parts.readyList) {
      const names = [...running.readyIds]
        .filter((id) => this.state.get(id))
        .map((id) => ({ id, name: this.state.shownName(id) }))
        .sort((a, b) => a.name.localeCompare(b.name));
      fill(parts.readyList, ...names.map(({ id, name }) => h("li", { "data-participant": id }, name)));
      parts.readyList.hidden = names.length === 0;
      if (parts.readyNone) parts.readyNone.hidden = names.length > 0 || !running.complete;
      if (parts.readyPartial) parts.readyPartial.hidden = running.complete;
    }
  }

  private toggleReady(): void {
    const running = this.running;
    if (!running) return;
    const ready = !(running.pending?.ready ?? running.ready);
    if (!this.send({ action: "update_ready_status", ready }, "ready")) return;
    running.pending = { ready, before: running.pending?.before ?? running.ready };
  }

  private remainingMs(timer: Timer): number {
    if (timer.ends_at === null) return Number.POSITIVE_INFINITY;
    const [start, end] = [Date.parse(timer.started_at), Date.parse(timer.ends_at)];
    // This computer's clock may be behind the room's: never more than the whole duration.
    return Math.max(0, Math.min(end - Date.now(), end - start));
  }

  /**
   * Shows the time and sets the next tick for when the shown second changes; stops while nothing runs or the room's
   * page is gone (a later join_success or relabel starts it again).
   */
  private tick(): void {
    clearTimeout(this.ticking);
    this.ticking = undefined;
    const running = this.running;
    const clock = this.parts?.clock;
    if (!running || !clock) return;
    const go = (delay: number) => {
      if (this.section.isConnected) this.ticking = setTimeout(() => this.tick(), delay);
    };
    const { timer } = running;
    if (isCountdown(timer)) {
      const left = this.remainingMs(timer);
      const seconds = Math.ceil(left / 1000);
      clock.textContent = clockText(seconds);
      if (!running.lastMinute && seconds <= 60) {
        running.lastMinute = true;
        if (seconds > 0) announce(t("timerLastMinute"));
      }
      // At zero the room's `stopped` follows.
      if (left > 0) go(untilNextSecond(left, true));
      return;
    }
    const elapsed = Math.max(0, Date.now() - Date.parse(timer.started_at));
    clock.textContent = clockText(elapsed / 1000);
    go(untilNextSecond(elapsed, false));
  }
}

/** The chairs' form that starts a timer; its inputs stay in the page (a language change relabels them). */
class TimerForm {
  readonly element = h("details", { id: "timer-new" });
  private readonly summary = h("summary", { id: "timer-new-summary" });
  private readonly form = h("form", { id: "timer-start-form", onsubmit: (event: Event) => this.submit(event) });
  private readonly error = h("p", { id: "timer-start-error", class: "error", role: "alert" });
  private readonly kind = h("select", { id: "timer-kind", name: "timer-kind", onchange: () => this.showDuration() });
  private readonly duration = h("input", {
    id: "timer-duration",
    name: "timer-duration",
    type: "number",
    inputmode: "numeric",
    min: 1,
    max: MAX_SECONDS,
    step: 1,
    value: 300,
    required: true,
    "aria-describedby": "timer-duration-hint",
  });
  private readonly durationField = h("div", { id: "timer-duration-field" });
  private readonly titleInput = h("input", {
    id: "timer-title",
    name: "timer-title",
    maxlength: 100,
    pattern: ".*\\S.*",
    autocomplete: "off",
  });
  private readonly style = h("select", { id: "timer-style", name: "timer-style" });
  private readonly readyCheck = h("input", { type: "checkbox", id: "timer-ready-check", name: "timer-ready-check" });

  constructor(private readonly start: (command: StartCommand) => boolean) {
    this.element.append(this.summary, this.form);
  }

  /** The form in the current language; what was typed and chosen stays. */
  relabel(): void {
    this.summary.textContent = t("timerNew");
    const kind = this.kind.value || "countdown";
    fill(this.kind, ...KINDS.map((k) => h("option", { value: k, selected: k === kind }, kindText(k))));
    const style = this.style.value || "normal";
    fill(this.style, ...STYLES.map((s) => h("option", { value: s, selected: s === style }, t(`timerStyle_${s}`))));
    fill(
      this.durationField,
      h("label", { for: "timer-duration" }, t("timerDuration")),
      this.duration,
      h("p", { id: "timer-duration-hint", class: "hint" }, t("timerDurationHint")),
    );
    fill(
      this.form,
      h("label", { for: "timer-kind" }, t("timerKind")),
      this.kind,
      this.durationField,
      h("label", { for: "timer-title" }, t("timerTitle")),
      this.titleInput,
      h("label", { for: "timer-style" }, t("timerStyle")),
      this.style,
      h("label", { class: "check" }, this.readyCheck, h("span", {}, t("timerReadyCheck"))),
      this.error,
      h("button", { type: "submit", id: "timer-start" }, t("timerStart")),
    );
    this.showDuration();
  }

  /** A timer this chair started runs: the form closes (its choices stay for the next one, the title goes). */
  started(): void {
    this.titleInput.value = "";
    this.error.textContent = "";
    this.element.open = false;
  }

  refused(text: string): void {
    this.element.open = true;
    this.error.textContent = text;
  }

  /** Only a countdown has a duration: for a stopwatch the field is hidden and disabled (so not required). */
  private showDuration(): void {
    const countdown = this.kind.value !== "stopwatch";
    this.durationField.hidden = !countdown;
    this.duration.disabled = !countdown;
  }

  private submit(event: Event): void {
    event.preventDefault();
    const kind = KINDS.find((k) => k === this.kind.value) ?? "countdown";
    const title = this.titleInput.value.trim();
    this.error.textContent = "";
    const command: StartCommand = {
      action: "start",
      kind,
      ...(kind === "countdown" ? { duration_seconds: Number(this.duration.value) } : {}),
      ...(title ? { title } : {}),
      style: STYLES.find((s) => s === this.style.value) ?? "normal",
      ready_check: this.readyCheck.checked,
    };
    this.start(command);
  }
}
