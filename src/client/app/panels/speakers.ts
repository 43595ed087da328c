import type { AutomodStrategy, CommandOf, ErrorPayload, JoinSuccess, ReceivedEvent } from "../../../protocol";
import type { Signaling } from "../../signaling";
import { announce, fill, h } from "../dom";
import { refusalText, type TextKey, t, textFor } from "../i18n";
import { refusalSentence, SentCommands } from "./commands";
import type { RoomState } from "./state";
import { clockText, untilNextSecond } from "./timer";

type Settings = Omit<ReceivedEvent<"automod", "started">, "message">;
type Speaker = Omit<ReceivedEvent<"automod", "speaker_updated">, "message">;
type StartCommand = Extract<CommandOf<"automod">, { action: "start" }>;
/** Commands of this panel awaiting a possible refusal. */
type Sent = "start" | "turn" | "queue" | "stop";
const STRATEGIES: readonly AutomodStrategy[] = ["playlist", "random", "nomination", "none"];
const MAX_SECONDS = 24 * 3600;

const SPEAKER_REFUSALS: Partial<Record<string, TextKey>> = {
  insufficient_permissions: "speakersNotAllowed",
  invalid_request: "speakersInvalid",
  not_found: "speakersNotHere",
};

const strategyText = (strategy: string) => textFor(`speakersStrategy_${strategy}`, strategy);
const focusedIn = (element: Element) => element.contains(document.activeElement);

/**
 * The speaker queue (automod). Chairs start it (strategy, an order of participants picked by ticking them — or
 * everyone, or raised hands —, a time limit per turn, whether someone may speak twice and whether only the speaker
 * may use the microphone), give the floor (next, at random, to someone), reorder or shorten the queue and stop it.
 * Everyone sees who has the floor (with the time left of a limited turn), the queue in order and who has spoken;
 * the speaker passes the floor on (naming the next in a nomination round). A change of speaker is announced.
 */
export class SpeakersPanel {
  private readonly title = h("h2", { id: "speakers-heading" });
  private readonly card = h("div", { id: "speakers-card" });
  private readonly error = h("p", { id: "speakers-error", class: "error", role: "alert" });
  private readonly form: SpeakersForm;
  private readonly section: HTMLElement;
  private readonly commands = new SentCommands("automod", (kind: Sent, payload) => this.refused(kind, payload));
  private settings: Settings | undefined;
  private speaker: Speaker | undefined;
  private clock: HTMLElement | undefined;
  private ticking: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly state: RoomState,
    /** Whether this participant has the floor changed (the feedback panel shows the speaker the summary). */
    private readonly onSpeakingChanged: () => void,
  ) {
    this.form = new SpeakersForm(state, (command) => this.send(command, "start"));
    this.section = h(
      "section",
      { id: "speakers-section", "aria-labelledby": "speakers-heading" },
      this.title,
      this.form.element,
      this.card,
      this.error,
    );
    state.onChange(() => this.render());
  }

  listen(signaling: Signaling): void {
    this.commands.listen(signaling);
    signaling.on("automod", "started", ({ message: _message, ...settings }) => {
      this.settings = settings;
      this.speaker = undefined;
      this.error.textContent = "";
      if (settings.started_by === this.state.selfId) this.form.started();
      announce(t("speakersStarted", { strategy: strategyText(settings.strategy) }));
      this.render();
    });
    signaling.on("automod", "speaker_updated", ({ message: _message, ...speaker }) => this.updated(speaker));
    signaling.on("automod", "stopped", () => {
      if (!this.settings) return;
      const wasSpeaking = this.speaking();
      this.settings = undefined;
      this.speaker = undefined;
      announce(t("speakersStopped"));
      this.render();
      if (wasSpeaking) this.onSpeakingChanged();
    });
  }

  /** join_success: the running queue, if any (null: the module could not say, what was shown stays). */
  show(joined: JoinSuccess["modules"]["automod"]): void {
    if (joined) {
      const wasSpeaking = this.speaking();
      const active = joined.active;
      if (active) {
        const { pool, speaker, remaining_seconds, ends_at, queue, spoken, ...settings } = active;
        this.settings = settings;
        this.speaker = { pool, speaker, remaining_seconds, ends_at, queue, spoken };
      } else {
        this.settings = undefined;
        this.speaker = undefined;
      }
      if (wasSpeaking !== this.speaking()) this.onSpeakingChanged();
    }
    this.render();
  }

  view(): HTMLElement {
    this.title.textContent = t("speakers");
    this.form.relabel();
    this.render();
    return this.section;
  }

  /** This participant has the floor. */
  speaking(): boolean {
    return this.speaker?.speaker === this.state.selfId && this.state.selfId !== "";
  }

  private updated(speaker: Speaker): void {
    const before = this.speaker?.speaker ?? null;
    const wasSpeaking = this.speaking();
    this.speaker = speaker;
    this.render();
    if (speaker.speaker !== before) {
      announce(
        speaker.speaker === null
          ? t("speakersNobody")
          : speaker.speaker === this.state.selfId
            ? t("speakersYou")
            : t("speakersHas", { name: this.state.shownName(speaker.speaker) }),
      );
    }
    if (wasSpeaking !== this.speaking()) this.onSpeakingChanged();
  }

  private send(command: CommandOf<"automod">, kind: Sent): boolean {
    this.error.textContent = "";
    return this.commands.send(command, kind);
  }

  private refused(kind: Sent, payload: ErrorPayload): void {
    const code = payload.error;
    const key = Object.hasOwn(SPEAKER_REFUSALS, code) ? SPEAKER_REFUSALS[code] : undefined;
    const text =
      refusalText(code) ??
      (key
        ? t(key)
        : code === "invalid_frame"
          ? t("speakersInvalidFields", { text: payload.text ?? code })
          : refusalSentence(code, "automod"));
    if (kind === "start") return this.form.refused(text);
    this.error.textContent = text;
  }

  /**
   * The queue as the room keeps it: its list, or (pool `everyone`) everyone here by arrival who is not speaking and
   * has not spoken — with double selection, those who spoke after them, in the order they spoke.
   */
  private shownQueue(): string[] {
    const speaker = this.speaker;
    if (!speaker) return [];
    if (speaker.pool !== "everyone") return speaker.queue;
    const had = new Set(speaker.spoken);
    // The room's order: by arrival, then by id (compared as the server does, not by locale).
    const byArrival = (a: { joined_at: string; participant_id: string }, b: typeof a) =>
      Date.parse(a.joined_at) - Date.parse(b.joined_at) || (a.participant_id < b.participant_id ? -1 : 1);
    const fresh = this.state
      .sorted()
      .filter((p) => !had.has(p.participant_id) && p.participant_id !== speaker.speaker)
      .sort(byArrival)
      .map((p) => p.participant_id);
    const again = this.settings?.allow_double_selection
      ? speaker.spoken.filter((id) => id !== speaker.speaker && this.state.get(id))
      : [];
    return [...fresh, ...again];
  }

  /** The queue with `id` moved one place forward, or left out. */
  private editQueue(id: string, change: "up" | "remove"): void {
    const queue = this.shownQueue();
    const at = queue.indexOf(id);
    if (at < 0) return;
    if (change === "remove") queue.splice(at, 1);
    else if (at > 0) [queue[at - 1], queue[at]] = [queue[at]!, queue[at - 1]!];
    this.send({ action: "edit", playlist: queue }, "queue");
  }

  private render(): void {
    const focused =
      document.activeElement instanceof HTMLElement && focusedIn(this.card) ? document.activeElement : null;
    // What a chair or the speaker chose in the card's selects stays chosen when it is built anew.
    const chosen = [...this.card.querySelectorAll("select")].map((select) => [select.id, select.value] as const);
    this.clock = undefined;
    const settings = this.settings;
    fill(this.card, settings ? this.activeCard(settings) : h("p", { id: "speakers-none" }, t("speakersNone")));
    for (const [id, value] of chosen) {
      const select = this.card.querySelector<HTMLSelectElement>(`select#${id}`);
      if (select && [...select.options].some((o) => o.value === value)) select.value = value;
    }
    this.form.element.hidden = !this.state.moderates() || settings !== undefined;
    if (focused && !focused.isConnected) {
      (document.getElementById(focused.id) ?? this.card.querySelector<HTMLElement>("h3") ?? this.title).focus();
    }
    this.tick();
    queueMicrotask(() => this.tick());
  }

  private activeCard(settings: Settings): HTMLElement {
    const speaker = this.speaker ?? {
      pool: "queue",
      speaker: null,
      remaining_seconds: null,
      ends_at: null,
      queue: [],
      spoken: [],
    };
    const chair = this.state.moderates();
    const name = (id: string) => this.state.shownName(id);
    const current = speaker.speaker;
    if (speaker.ends_at !== null) {
      this.clock = h("span", { id: "speakers-clock", class: "timer-clock", role: "timer", "aria-live": "off" });
    }
    const queue = this.shownQueue();
    const edit = (id: string, change: "up" | "remove", label: TextKey, symbol: string) =>
      h(
        "button",
        {
          type: "button",
          id: `speakers-${change}-${id}`,
          class: "small",
          "aria-label": t(label, { name: name(id) }),
          onclick: () => this.editQueue(id, change),
        },
        symbol,
      );
    const queueItems = queue.map((id, index) =>
      h(
        "li",
        { "data-participant": id },
        h("span", {}, name(id)),
        chair && index > 0 ? edit(id, "up", "speakersMoveUp", "↑") : null,
        chair ? edit(id, "remove", "speakersRemove", "✕") : null,
      ),
    );
    const speaking = this.speaking();
    const nominee =
      speaking && settings.strategy === "nomination"
        ? h(
            "select",
            { id: "speakers-nominee", "aria-label": t("speakersNominee") },
            h("option", { value: "" }, t("speakersNominateNobody")),
            ...queue.map((id) => h("option", { value: id }, name(id))),
          )
        : undefined;
    const yieldFloor = () => {
      const next = nominee?.value;
      this.send({ action: "yield", ...(next ? { next } : {}) }, "turn");
    };
    return h(
      "article",
      { id: "speakers-active", "aria-labelledby": "speakers-active-title" },
      h("h3", { id: "speakers-active-title", tabindex: -1 }, strategyText(settings.strategy)),
      h(
        "p",
        { id: "speakers-settings", class: "hint" },
        [
          settings.time_limit_seconds !== null
            ? t("speakersLimit", { time: clockText(settings.time_limit_seconds) })
            : null,
          settings.exclusive_microphone ? t("speakersExclusive") : null,
          settings.consider_hand_raise ? t("speakersHands") : null,
        ]
          .filter(Boolean)
          .join(" · "),
      ),
      h(
        "p",
        { id: "speakers-current", "data-speaker": current ?? "" },
        h(
          "span",
          { id: "speakers-current-text" },
          current === null
            ? t("speakersNobody")
            : current === this.state.selfId
              ? t("speakersYou")
              : t("speakersHas", { name: name(current) }),
        ),
        this.clock ? " " : null,
        this.clock,
      ),
      speaking
        ? h(
            "div",
            { id: "speakers-you", class: "notice" },
            settings.exclusive_microphone ? h("p", { class: "hint" }, t("speakersUnmute")) : null,
            nominee ? h("label", { for: "speakers-nominee" }, t("speakersNominee")) : null,
            nominee,
            h("button", { type: "button", id: "speakers-yield", onclick: yieldFloor }, t("speakersYield")),
          )
        : null,
      h("h4", { id: "speakers-queue-heading" }, t("speakersQueue")),
      queueItems.length > 0
        ? h("ol", { id: "speakers-queue", "aria-labelledby": "speakers-queue-heading" }, ...queueItems)
        : h("p", { id: "speakers-queue-empty", class: "hint" }, t("speakersQueueEmpty")),
      speaker.spoken.length > 0
        ? h("p", { id: "speakers-spoken" }, t("speakersSpoken", { names: speaker.spoken.map(name).join(", ") }))
        : null,
      chair ? this.chairControls() : null,
    );
  }

  private chairControls(): HTMLElement {
    const target = h(
      "select",
      { id: "speakers-target" },
      ...this.state
        .sorted()
        .map((p) => h("option", { value: p.participant_id }, this.state.shownName(p.participant_id))),
    );
    const queued = new Set(this.shownQueue());
    const addable = this.state.sorted().filter((p) => !queued.has(p.participant_id));
    const add = h(
      "select",
      { id: "speakers-add-target" },
      ...addable.map((p) => h("option", { value: p.participant_id }, this.state.shownName(p.participant_id))),
    );
    const button = (id: string, key: TextKey, onclick: () => void) =>
      h("button", { type: "button", id, onclick }, t(key));
    return h(
      "div",
      { id: "speakers-chair" },
      h(
        "div",
        { class: "buttons" },
        button("speakers-next", "speakersNext", () => this.send({ action: "select", how: "next" }, "turn")),
        button("speakers-random", "speakersRandom", () => this.send({ action: "select", how: "random" }, "turn")),
      ),
      h("label", { for: "speakers-target" }, t("speakersGiveTo")),
      target,
      button("speakers-give", "speakersGive", () =>
        this.send({ action: "select", how: "specific", target: target.value }, "turn"),
      ),
      addable.length > 0 ? h("label", { for: "speakers-add-target" }, t("speakersAddTo")) : null,
      addable.length > 0 ? add : null,
      addable.length > 0
        ? button("speakers-add", "speakersAdd", () =>
            this.send({ action: "edit", playlist: [...this.shownQueue(), add.value] }, "queue"),
          )
        : null,
      h(
        "div",
        { class: "buttons" },
        button("speakers-stop", "speakersStop", () => this.send({ action: "stop" }, "stop")),
      ),
    );
  }

  /** The time left of a limited turn, once a second while the section is in the page. */
  private tick(): void {
    clearTimeout(this.ticking);
    this.ticking = undefined;
    const endsAt = this.speaker?.ends_at;
    if (!this.clock || !endsAt) return;
    const left = Math.max(0, Date.parse(endsAt) - Date.now());
    this.clock.textContent = clockText(Math.ceil(left / 1000));
    if (left > 0 && this.section.isConnected) this.ticking = setTimeout(() => this.tick(), untilNextSecond(left, true));
  }
}

/** The chairs' form that starts the speaker queue; its inputs stay in the page (a language change relabels them). */
class SpeakersForm {
  readonly element = h("details", { id: "speakers-new" });
  private readonly summary = h("summary", { id: "speakers-new-summary" });
  private readonly form = h("form", { id: "speakers-start-form", onsubmit: (event: Event) => this.submit(event) });
  private readonly error = h("p", { id: "speakers-start-error", class: "error", role: "alert" });
  private readonly strategy = h("select", { id: "speakers-strategy", name: "speakers-strategy" });
  private readonly pick = h("fieldset", { id: "speakers-pick" });
  /** Whom the chair ticked, in the order they ticked them: the queue's order. */
  private picked: string[] = [];
  private readonly limit = h("input", {
    id: "speakers-limit",
    name: "speakers-limit",
    type: "number",
    inputmode: "numeric",
    min: 5,
    max: MAX_SECONDS,
    step: 1,
    "aria-describedby": "speakers-limit-hint",
  });
  private readonly hands = h("input", { type: "checkbox", id: "speakers-hands" });
  private readonly double = h("input", { type: "checkbox", id: "speakers-double" });
  private readonly exclusive = h("input", { type: "checkbox", id: "speakers-exclusive" });

  constructor(
    private readonly state: RoomState,
    private readonly start: (command: StartCommand) => boolean,
  ) {
    this.element.append(this.summary, this.form);
    // The list of people is built only while the form is open (a mass join would otherwise rebuild it each time).
    this.element.addEventListener("toggle", () => this.renderPick());
    state.onChange(() => this.renderPick());
  }

  relabel(): void {
    this.summary.textContent = t("speakersNew");
    const chosen = this.strategy.value || "playlist";
    fill(this.strategy, ...STRATEGIES.map((s) => h("option", { value: s, selected: s === chosen }, strategyText(s))));
    this.renderPick();
    fill(
      this.form,
      h("label", { for: "speakers-strategy" }, t("speakersStrategy")),
      this.strategy,
      this.pick,
      h("label", { for: "speakers-limit" }, t("speakersLimitLabel")),
      this.limit,
      h("p", { id: "speakers-limit-hint", class: "hint" }, t("speakersLimitHint")),
      h("label", { class: "check" }, this.hands, h("span", {}, t("speakersHandsLabel"))),
      h("label", { class: "check" }, this.double, h("span", {}, t("speakersDoubleLabel"))),
      h("label", { class: "check" }, this.exclusive, h("span", {}, t("speakersExclusiveLabel"))),
      this.error,
      h("button", { type: "submit", id: "speakers-start" }, t("speakersStart")),
    );
  }

  started(): void {
    this.picked = [];
    this.error.textContent = "";
    this.element.open = false;
    this.renderPick();
  }

  refused(text: string): void {
    this.element.open = true;
    this.error.textContent = text;
  }

  /** One checkbox per participant; the ticked ones show their place in the queue. */
  private renderPick(): void {
    if (!this.element.open) return;
    const present = new Set(this.state.sorted().map((p) => p.participant_id));
    this.picked = this.picked.filter((id) => present.has(id));
    const focused = focusedIn(this.pick) ? document.activeElement?.id : undefined;
    fill(
      this.pick,
      h("legend", {}, t("speakersPick")),
      h("p", { id: "speakers-pick-hint", class: "hint" }, t("speakersPickHint")),
      ...this.state.sorted().map((p) => {
        const id = p.participant_id;
        const place = this.picked.indexOf(id) + 1;
        const box = h("input", {
          type: "checkbox",
          id: `speakers-pick-${id}`,
          value: id,
          checked: place > 0,
          onchange: (event: Event) => {
            const checked = (event.target as HTMLInputElement).checked;
            this.picked = checked ? [...this.picked, id] : this.picked.filter((x) => x !== id);
            this.renderPick();
          },
        });
        return h(
          "label",
          { class: "check" },
          box,
          h("span", {}, this.state.shownName(id), place > 0 ? ` (${place})` : ""),
        );
      }),
    );
    if (focused) document.getElementById(focused)?.focus();
  }

  private submit(event: Event): void {
    event.preventDefault();
    this.error.textContent = "";
    const strategy = STRATEGIES.find((s) => s === this.strategy.value) ?? "playlist";
    const limit = this.limit.value.trim();
    this.start({
      action: "start",
      strategy,
      ...(this.picked.length > 0 ? { playlist: [...this.picked] } : {}),
      ...(limit ? { time_limit_seconds: Number(limit) } : {}),
      consider_hand_raise: this.hands.checked,
      allow_double_selection: this.double.checked,
      exclusive_microphone: this.exclusive.checked,
    });
  }
}
