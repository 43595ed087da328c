import {
  type CommandOf,
  type ErrorPayload,
  type JoinSuccess,
  MAX_BREAKOUT_CLOSING_SECONDS,
  MAX_BREAKOUT_ROOMS,
  MIN_BREAKOUT_ROOMS,
} from "../../../protocol";
import type { Signaling } from "../../signaling";
import { announce, dropMissing, fill, h } from "../dom";
import { refusalText, type TextKey, t } from "../i18n";
import { refusalSentence, SentCommands } from "./commands";
import type { RoomState } from "./state";
import { clockText, spokenDuration, timeOfDay, untilNextSecond } from "./timer";

type JoinState = JoinSuccess["modules"]["breakout"];
/** The running breakout rooms, as join_success and `started` describe them. */
type Breakout = NonNullable<NonNullable<JoinState>["active"]>;
type StartCommand = Extract<CommandOf<"breakout">, { action: "start" }>;
/** Commands of this panel awaiting a possible refusal. */
type Sent = "start" | "switch" | "stop";
/** How long after a chair's stop everyone returns (the chair picks one). */
const STOP_DELAYS = [0, 30, 60, 120, 300].filter((s) => s <= MAX_BREAKOUT_CLOSING_SECONDS);
const MAX_MINUTES = 24 * 60;

/** Refusals this panel words itself, by the command refused (the shared sentences speak of other people). */
const BREAKOUT_REFUSALS: Partial<Record<string, Record<Sent, TextKey>>> = {
  insufficient_permissions: { start: "breakoutNotAllowed", stop: "breakoutNotAllowed", switch: "breakoutNoSwitch" },
  not_found: { start: "breakoutNotHere", stop: "breakoutRoomGone", switch: "breakoutRoomGone" },
};

const focusedIn = (element: Element) => element.contains(document.activeElement);
/** A room as `data-room` and element ids name it: its id, or `main` for the main room. */
const roomKey = (room: string | null) => room ?? "main";

/** What held before a change, to say what changed. */
interface Before {
  running: boolean;
  room: string | null;
  closingAt: string | null;
}

/**
 * Breakout rooms (breakout). Chairs open 2–50 rooms with a form (their names, for each other participant a select
 * of main room or room N, the rest spread at random if asked, an optional duration in minutes, whether
 * participants may switch themselves), move between the rooms and close them, at once or after a delay. Everyone
 * sees the room they are in, a countdown to the rooms' end or announced return, the rooms and who is in each (names
 * where this page knows them, else the id), and, where switching is allowed, a button into each room. Moves, the
 * opening, the announced return and the closing are announced.
 *
 * A move of this participant (by the start's lists, its own switch, or the end) brings a fresh join_success for the
 * new group: `show` replaces what the panel knew, and the events, which come too, change nothing more.
 */
export class BreakoutPanel {
  private readonly title = h("h2", { id: "breakout-title" });
  private readonly card = h("div", { id: "breakout-card" });
  /** Refusals of the running rooms' commands (switch, stop); persists while the card changes. */
  private readonly error = h("p", { id: "breakout-error", class: "error", role: "alert" });
  private readonly form: BreakoutForm;
  private readonly section: HTMLElement;
  private readonly commands = new SentCommands("breakout", (kind: Sent, payload) => this.refused(kind, payload));
  private running: Breakout | undefined;
  /** Who is in which breakout room (the main room's participants are left out), kept current by `switched`. */
  private assignment = new Map<string, string>();
  /** This participant's room (null: the main room). */
  private room: string | null = null;
  /** The group the room state's participants are of: the room of the last join_success. */
  private stateRoom: string | null = null;
  /** Who was in the main room when this page last saw it, and who returned to it since. */
  private mainIds = new Set<string>();
  /** Names of everyone this page has seen, for those now in other groups (whose presence it no longer hears). */
  private readonly names = new Map<string, string>();
  /** How the last rooms ended (while this page was here), until the next open. */
  private ended: { wasAway: boolean } | undefined;
  /** A join_success was shown: later ones say what changed. */
  private shown = false;
  private renderQueued = false;
  private clock: HTMLElement | undefined;
  private ticking: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly state: RoomState) {
    this.form = new BreakoutForm(state, (command) => this.send(command, "start"));
    this.section = h(
      "section",
      { id: "breakout", "aria-labelledby": "breakout-title" },
      this.title,
      this.form.element,
      this.card,
      this.error,
    );
    // Once per task: join_success resets the room state before `show` says which group it is of, and a mass join
    // changes it many times.
    state.onChange(() => {
      if (this.renderQueued) return;
      this.renderQueued = true;
      queueMicrotask(() => {
        this.renderQueued = false;
        this.render();
      });
    });
  }

  listen(signaling: Signaling): void {
    // Sent on an earlier connection: their answers will not come.
    this.commands.listen(signaling);
    signaling.on("breakout", "started", ({ message: _message, ...breakout }) => this.started(breakout));
    signaling.on("breakout", "switched", ({ participant_id, room }) => this.switched(participant_id, room));
    signaling.on("breakout", "closing", ({ at }) =>
      this.change(() => {
        if (this.running) this.running = { ...this.running, closing_at: at };
      }),
    );
    signaling.on("breakout", "stopped", () => {
      this.error.textContent = "";
      this.change(() => this.close());
    });
  }

  /**
   * join_success (on joining, and after every move of this participant): the running rooms and this participant's
   * room, replacing what was known. Null means the module could not say: what was shown stays, and its events follow.
   */
  show(joined: JoinState): void {
    const say = this.shown;
    this.shown = true;
    if (!joined) return this.render();
    const { active, room } = joined;
    this.change(() => {
      this.stateRoom = active ? room : null;
      if (!active) return this.close();
      this.running = active;
      this.assignment = new Map(Object.entries(active.assignment));
      // The room's own word on where this connection is.
      if (room === null) this.assignment.delete(this.state.selfId);
      else this.assignment.set(this.state.selfId, room);
      this.room = room;
      this.ended = undefined;
    }, say);
  }

  /** The section in the current language. */
  view(): HTMLElement {
    this.title.textContent = t("breakout");
    this.form.relabel();
    this.render();
    return this.section;
  }

  private send(command: CommandOf<"breakout">, kind: Sent): boolean {
    this.error.textContent = "";
    return this.commands.send(command, kind);
  }

  private started(breakout: Breakout): void {
    this.error.textContent = "";
    if (breakout.started_by === this.state.selfId) this.form.started();
    this.change(() => {
      this.running = breakout;
      this.assignment = new Map(Object.entries(breakout.assignment));
      this.room = this.assignment.get(this.state.selfId) ?? null;
      this.ended = undefined;
    });
  }

  private switched(participantId: string, room: string | null): void {
    this.change(() => {
      if (!this.running) return;
      if (room === null) {
        this.assignment.delete(participantId);
        this.mainIds.add(participantId);
      } else this.assignment.set(participantId, room);
      if (participantId === this.state.selfId) this.room = room;
    });
  }

  /** The rooms closed: everyone is in the main room. */
  private close(): void {
    if (this.running) this.ended = { wasAway: this.room !== null };
    this.running = undefined;
    this.assignment.clear();
    this.room = null;
  }

  /** Applies `update`, shows the result and (with `say`) announces what changed for this participant. */
  private change(update: () => void, say = true): void {
    const before: Before = {
      running: this.running !== undefined,
      room: this.room,
      closingAt: this.running?.closing_at ?? null,
    };
    update();
    this.render();
    const text = say ? this.changeText(before) : undefined;
    if (text) announce(text);
  }

  private changeText(before: Before): string | undefined {
    const running = this.running;
    const where = () =>
      this.room === null ? t("breakoutNowMain") : t("breakoutNowIn", { room: this.roomName(this.room) });
    if (!running) return before.running ? this.endedText() : undefined;
    if (!before.running) return `${t("breakoutOpened")} ${this.room === null ? t("breakoutStayMain") : where()}`;
    const parts = [before.room !== this.room ? where() : null];
    if (running.closing_at !== null && running.closing_at !== before.closingAt) {
      const seconds = (Date.parse(running.closing_at) - Date.now()) / 1000;
      parts.push(t("breakoutClosingNotice", { time: spokenDuration(seconds) }));
    }
    return parts.filter(Boolean).join(" ") || undefined;
  }

  private endedText(): string {
    return t(this.ended?.wasAway ? "breakoutClosedBack" : "breakoutClosed");
  }

  private refused(kind: Sent, payload: ErrorPayload): void {
    const code = payload.error;
    const own = Object.hasOwn(BREAKOUT_REFUSALS, code) ? BREAKOUT_REFUSALS[code]?.[kind] : undefined;
    const text =
      refusalText(code) ??
      (own
        ? t(own)
        : code === "invalid_frame"
          ? t("breakoutInvalid", { text: payload.text ?? code })
          : refusalSentence(code, "breakout"));
    if (kind === "start") return this.form.refused(text);
    this.error.textContent = text;
  }

  /** A room's name (null: the main room). */
  private roomName(room: string | null): string {
    if (room === null) return t("breakoutMainRoom");
    return this.running?.rooms.find((r) => r.id === room)?.name ?? room;
  }

  /** A participant's name: from the room state while in this group, else as last seen, else the id. */
  private label(id: string): string {
    return this.state.get(id) ? this.state.shownName(id) : (this.names.get(id) ?? id);
  }

  /**
   * Who is in `room`: the breakout rooms' lists, or for the main room who was seen there and is in none; for the
   * group the room state is of, only who is present in it.
   */
  private members(room: string | null, present: ReadonlySet<string>): string[] {
    const ids =
      room === null
        ? [...this.mainIds, ...(this.room === null ? [this.state.selfId] : [])].filter((id) => !this.assignment.has(id))
        : [...this.assignment].filter(([, r]) => r === room).map(([id]) => id);
    return [...new Set(ids)]
      .filter((id) => room !== this.stateRoom || present.has(id))
      .map((id) => ({ id, name: this.label(id) }))
      .sort((a, b) => a.name.localeCompare(b.name))
      .map(({ id }) => id);
  }

  /**
   * The form (chairs, while no rooms are open), and the running rooms' card or how the last ones ended. Focus inside
   * the card goes to the control of the same id in the new one, else to its heading.
   */
  private render(): void {
    const focused =
      document.activeElement instanceof HTMLElement && focusedIn(this.card) ? document.activeElement : null;
    // What a chair chose in the card's selects stays chosen when it is built anew.
    const selects = this.card.querySelectorAll<HTMLSelectElement>("select[id]");
    const chosen = [...selects].map((select) => [select.id, select.value] as const);
    const people = this.state.sorted();
    const present = new Set(people.map((p) => p.participant_id));
    for (const p of people) this.names.set(p.participant_id, p.display_name);
    if (this.stateRoom === null) this.mainIds = new Set(present);
    this.clock = undefined;
    const running = this.running;
    fill(
      this.card,
      running
        ? this.activeCard(running, present)
        : this.ended
          ? h("p", { id: "breakout-ended", class: "notice", tabindex: -1 }, this.endedText())
          : h("p", { id: "breakout-none" }, t("breakoutNone")),
    );
    for (const [id, value] of chosen) {
      const select = this.card.querySelector<HTMLSelectElement>(`select#${id}`);
      if (select && [...select.options].some((o) => o.value === value)) select.value = value;
    }
    this.showForm();
    if (focused && !focused.isConnected) {
      const fallback = this.card.querySelector<HTMLElement>("h3, [tabindex]") ?? this.title;
      (document.getElementById(focused.id) ?? fallback).focus();
    }
    // Shown now, ticking once the section is in the page (a relabel builds it before the room lays it out).
    this.tick();
    queueMicrotask(() => this.tick());
  }

  private showForm(): void {
    const shown = this.state.moderates() && !this.running;
    const focused = focusedIn(this.form.element);
    this.form.element.hidden = !shown;
    if (shown) this.form.refresh();
    else if (focused) (this.card.querySelector<HTMLElement>("h3, [tabindex]") ?? this.title).focus();
  }

  private activeCard(running: Breakout, present: ReadonlySet<string>): HTMLElement {
    const chair = this.state.moderates();
    if (this.end(running)) {
      this.clock = h("p", { id: "breakout-countdown", class: "breakout-countdown", role: "timer", "aria-live": "off" });
    }
    const rooms: { id: string | null; name: string }[] = [{ id: null, name: t("breakoutMainRoom") }, ...running.rooms];
    const mayMove = chair || running.allow_self_switch;
    return h(
      "article",
      { id: "breakout-active", class: "breakout-card", "aria-labelledby": "breakout-active-title" },
      h("h3", { id: "breakout-active-title", tabindex: -1 }, t("breakoutActive")),
      h(
        "p",
        { id: "breakout-current", class: "breakout-current" },
        t("breakoutCurrent", { room: this.roomName(this.room) }),
      ),
      this.clock,
      h(
        "p",
        { id: "breakout-rules", class: "hint" },
        t(running.allow_self_switch ? "breakoutSelfOn" : "breakoutSelfOff"),
      ),
      h("h4", { id: "breakout-rooms-title" }, t("breakoutRooms")),
      h(
        "ul",
        { id: "breakout-rooms", "aria-labelledby": "breakout-rooms-title" },
        ...rooms.map(({ id, name }) => this.roomItem(id, name, this.members(id, present), mayMove)),
      ),
      chair ? this.stopControls() : null,
    );
  }

  private roomItem(room: string | null, name: string, members: string[], mayMove: boolean): HTMLElement {
    const here = room === this.room;
    const key = roomKey(room);
    const count = members.length;
    return h(
      "li",
      { class: here ? "breakout-room here" : "breakout-room", "data-room": key, "aria-current": here ? "true" : false },
      h("span", { class: "breakout-room-name" }, name),
      " ",
      h("span", { class: "hint" }, t(count === 1 ? "breakoutMembersOne" : "breakoutMembers", { count })),
      here ? h("span", { class: "breakout-here" }, ` – ${t("breakoutHere")}`) : null,
      count > 0
        ? h("ul", { class: "breakout-members" }, ...members.map((id) => h("li", { "data-member": id }, this.label(id))))
        : null,
      mayMove && !here
        ? h(
            "button",
            {
              type: "button",
              id: `breakout-switch-${key}`,
              class: "breakout-switch",
              "data-room": key,
              onclick: () => this.send({ action: "switch_room", room }, "switch"),
            },
            room === null ? t("breakoutGoToMain") : t("breakoutGoTo", { room: name }),
          )
        : null,
    );
  }

  private stopControls(): HTMLElement {
    const delay = h(
      "select",
      { id: "breakout-stop-delay", name: "breakout-stop-delay" },
      ...STOP_DELAYS.map((s) =>
        h("option", { value: s }, s === 0 ? t("breakoutStopNow") : t("breakoutStopIn", { time: spokenDuration(s) })),
      ),
    );
    const stop = () => {
      const seconds = Number(delay.value);
      this.send({ action: "stop", ...(seconds > 0 ? { delay_seconds: seconds } : {}) }, "stop");
    };
    return h(
      "div",
      { id: "breakout-chair" },
      h("label", { for: "breakout-stop-delay" }, t("breakoutStopWhen")),
      delay,
      h(
        "div",
        { class: "buttons" },
        h("button", { type: "button", id: "breakout-stop", onclick: stop }, t("breakoutStop")),
      ),
    );
  }

  /** What comes first: the rooms' end (their duration) or the return a chair announced; undefined: neither. */
  private end(running: Breakout): { at: number; closing: boolean } | undefined {
    const endsAt = running.ends_at === null ? Number.POSITIVE_INFINITY : Date.parse(running.ends_at);
    const closingAt = running.closing_at === null ? Number.POSITIVE_INFINITY : Date.parse(running.closing_at);
    const at = Math.min(endsAt, closingAt);
    return Number.isFinite(at) ? { at, closing: closingAt <= endsAt } : undefined;
  }

  /** The time left, once a second while the section is in the page; the room's `stopped` follows at zero. */
  private tick(): void {
    clearTimeout(this.ticking);
    this.ticking = undefined;
    const end = this.running && this.end(this.running);
    const clock = this.clock;
    if (!end || !clock) return;
    const left = Math.max(0, end.at - Date.now());
    clock.textContent = t(end.closing ? "breakoutClosingIn" : "breakoutEndsIn", {
      time: clockText(Math.ceil(left / 1000)),
      at: timeOfDay(end.at, left < 3_600_000),
    });
    if (left > 0 && this.section.isConnected) this.ticking = setTimeout(() => this.tick(), untilNextSecond(left, true));
  }
}

interface NameEntry {
  item: HTMLLIElement;
  label: HTMLLabelElement;
  input: HTMLInputElement;
  /** The chair typed in it (else it holds the default name, which follows the language). */
  edited: boolean;
}

interface PickEntry {
  item: HTMLLIElement;
  label: HTMLLabelElement;
  select: HTMLSelectElement;
}

/**
 * The chairs' form that opens breakout rooms: how many, their names, per other participant a select
 * of main room or room N, random spread of the rest, duration in minutes, self switching. Its inputs stay in the
 * page (a language change relabels them); the list of people is built only while the form is open and shown.
 */
class BreakoutForm {
  readonly element = h("details", { id: "breakout-new" });
  private readonly summary = h("summary", { id: "breakout-new-summary" });
  private readonly form = h("form", { id: "breakout-start-form", onsubmit: (event: Event) => this.submit(event) });
  private readonly error = h("p", { id: "breakout-start-error", class: "error", role: "alert" });
  private readonly count = h("input", {
    id: "breakout-count",
    name: "breakout-count",
    type: "number",
    inputmode: "numeric",
    min: MIN_BREAKOUT_ROOMS,
    max: MAX_BREAKOUT_ROOMS,
    step: 1,
    value: MIN_BREAKOUT_ROOMS,
    required: true,
    "aria-describedby": "breakout-count-hint",
    oninput: () => this.resize(),
  });
  private readonly namesLegend = h("legend", {});
  private readonly namesList = h("ol", { id: "breakout-names" });
  private readonly pickLegend = h("legend", {});
  private readonly pickHint = h("p", { id: "breakout-assign-hint", class: "hint" });
  private readonly pickNobody = h("p", { id: "breakout-assign-nobody", class: "hint" });
  private readonly pickList = h("ul", { id: "breakout-assign-list" });
  private readonly random = h("input", { type: "checkbox", id: "breakout-random", name: "breakout-random" });
  private readonly duration = h("input", {
    id: "breakout-duration",
    name: "breakout-duration",
    type: "number",
    inputmode: "numeric",
    min: 1,
    max: MAX_MINUTES,
    step: 1,
    "aria-describedby": "breakout-duration-hint",
  });
  private readonly selfSwitch = h("input", { type: "checkbox", id: "breakout-self-switch", name: "breakout-self" });
  private readonly names: NameEntry[] = [];
  private readonly picks = new Map<string, PickEntry>();

  constructor(
    private readonly state: RoomState,
    private readonly start: (command: StartCommand) => boolean,
  ) {
    this.element.append(this.summary, this.form);
    this.element.addEventListener("toggle", () => this.refresh());
    this.resize();
  }

  /** The form in the current language; what was typed and chosen stays. */
  relabel(): void {
    this.summary.textContent = t("breakoutNew");
    this.namesLegend.textContent = t("breakoutNames");
    this.pickLegend.textContent = t("breakoutAssign");
    this.pickHint.textContent = t("breakoutAssignHint");
    this.pickNobody.textContent = t("breakoutAssignNobody");
    const check = (box: HTMLInputElement, label: string) => h("label", { class: "check" }, box, h("span", {}, label));
    fill(
      this.form,
      h("label", { for: "breakout-count" }, t("breakoutCount")),
      this.count,
      h(
        "p",
        { id: "breakout-count-hint", class: "hint" },
        t("breakoutCountHint", { min: MIN_BREAKOUT_ROOMS, max: MAX_BREAKOUT_ROOMS }),
      ),
      h("fieldset", { id: "breakout-names-field" }, this.namesLegend, this.namesList),
      h("fieldset", { id: "breakout-assign" }, this.pickLegend, this.pickHint, this.pickNobody, this.pickList),
      check(this.random, t("breakoutRandom")),
      h("label", { for: "breakout-duration" }, t("breakoutDuration")),
      this.duration,
      h("p", { id: "breakout-duration-hint", class: "hint" }, t("breakoutDurationHint", { max: MAX_MINUTES })),
      check(this.selfSwitch, t("breakoutSelfSwitch")),
      this.error,
      h("button", { type: "submit", id: "breakout-start" }, t("breakoutStart")),
    );
    for (const [index, entry] of this.names.entries()) this.labelName(entry, index);
    for (const [id, entry] of this.picks) this.labelPick(id, entry);
  }

  /** Rooms this chair opened are running: the form closes (its choices stay for the next time). */
  started(): void {
    this.error.textContent = "";
    this.element.open = false;
  }

  refused(text: string): void {
    this.element.open = true;
    this.error.textContent = text;
  }

  /**
   * The list of people follows the room while the form is open: a select per other participant, by
   * name; those who left drop out (focus moves to the neighbouring select).
   */
  refresh(): void {
    if (!this.element.open || this.element.hidden) return;
    const people = this.state.others();
    dropMissing(this.picks, new Set(people.map((p) => p.participant_id)), "select", this.random);
    const items = people.map(({ participant_id: id }) => {
      let entry = this.picks.get(id);
      if (!entry) {
        const select = h("select", {
          id: `breakout-assign-${id}`,
          name: `breakout-assign-${id}`,
          "data-participant": id,
        });
        const label = h("label", { for: select.id });
        entry = { item: h("li", {}, label, select), label, select };
        this.picks.set(id, entry);
        this.syncOptions(select);
      }
      this.labelPick(id, entry);
      return entry.item;
    });
    if (items.some((item, index) => this.pickList.children[index] !== item)) {
      const focused = document.activeElement instanceof HTMLElement ? document.activeElement : null;
      this.pickList.append(...items);
      if (focused?.isConnected && document.activeElement !== focused) focused.focus();
    }
    this.pickList.hidden = items.length === 0;
    this.pickNobody.hidden = items.length > 0;
  }

  /** The number of rooms changed: name fields are added or removed (typed names stay), the selects follow. */
  private resize(): void {
    const wanted = Number(this.count.value);
    if (!Number.isInteger(wanted) || wanted < MIN_BREAKOUT_ROOMS || wanted > MAX_BREAKOUT_ROOMS) return;
    while (this.names.length > wanted) this.names.pop()?.item.remove();
    while (this.names.length < wanted) {
      const index = this.names.length;
      const input = h("input", {
        id: `breakout-name-${index + 1}`,
        name: "breakout-name",
        class: "breakout-name",
        maxlength: 100,
        required: true,
        pattern: ".*\\S.*",
        autocomplete: "off",
      });
      const entry: NameEntry = { item: h("li", {}), label: h("label", { for: input.id }), input, edited: false };
      input.addEventListener("input", () => {
        entry.edited = true;
        this.syncAllOptions();
      });
      entry.item.append(entry.label, input);
      this.names.push(entry);
      this.namesList.append(entry.item);
      this.labelName(entry, index);
    }
    this.syncAllOptions();
  }

  private labelName(entry: NameEntry, index: number): void {
    entry.label.textContent = t("breakoutName", { n: index + 1 });
    if (!entry.edited) entry.input.value = t("breakoutDefaultName", { n: index + 1 });
  }

  private labelPick(id: string, entry: PickEntry): void {
    entry.label.textContent = this.state.shownName(id);
    this.syncOptions(entry.select);
  }

  private roomName(index: number): string {
    return this.names[index]?.input.value.trim() || t("breakoutDefaultName", { n: index + 1 });
  }

  private syncAllOptions(): void {
    for (const { select } of this.picks.values()) this.syncOptions(select);
  }

  /** A participant's select offers the main room (value "") and each room by its name (value: its index). */
  private syncOptions(select: HTMLSelectElement): void {
    const value = select.value;
    const labels = [t("breakoutMainRoom"), ...this.names.map((_, index) => this.roomName(index))];
    while (select.options.length > labels.length) select.remove(select.options.length - 1);
    labels.forEach((label, index) => {
      const option = select.options[index] ?? select.appendChild(h("option", { value: index === 0 ? "" : index - 1 }));
      option.textContent = label;
    });
    select.value = [...select.options].some((o) => o.value === value) ? value : "";
  }

  private submit(event: Event): void {
    event.preventDefault();
    this.error.textContent = "";
    const chosen = [...this.picks].map(([id, { select }]) => [id, select.value] as const);
    const rooms = this.names.map((_, index) => {
      const assignments = chosen.filter(([, value]) => value === String(index)).map(([id]) => id);
      return { name: this.roomName(index), ...(assignments.length > 0 ? { assignments } : {}) };
    });
    const minutes = this.duration.value.trim();
    this.start({
      action: "start",
      rooms,
      random_assignment: this.random.checked,
      ...(minutes ? { duration_seconds: Number(minutes) * 60 } : {}),
      allow_self_switch: this.selfSwitch.checked,
    });
  }
}
