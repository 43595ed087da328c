import {
  CHAT_PAGE_DEFAULT,
  type ChatMessage,
  type CommandOf,
  type JoinSuccess,
  MAX_CHAT_LENGTH,
} from "../../../protocol";
import type { Signaling } from "../../signaling";
import { announce, fill, h } from "../dom";
import { language, type TextKey, t } from "../i18n";
import { refusalSentence, SentCommands } from "./commands";
import type { RoomState } from "./state";

type ChatJoinState = NonNullable<JoinSuccess["modules"]["chat"]>;

/** A message as shown: the names of its sender (and private target) as they were when it arrived. */
interface ShownMessage {
  id: string;
  scope: string;
  /** This participant wrote it. */
  mine: boolean;
  name: string;
  targetName: string;
  content: string;
  timestamp: string;
}

/** Whom a message goes to, as the scope selector offers it. */
const SCOPES = [
  ["global", "chatScopeGlobal"],
  ["private", "chatScopePrivate"],
  ["moderators", "chatScopeModerators"],
] as const satisfies readonly (readonly [string, TextKey])[];

/** Commands of this panel awaiting a possible refusal: a message (its text, to give back) or a page of history. */
type Sent = { action: "send_message"; content: string } | { action: "get_history" };

/** Messages ids are decimal numbers the room counts up, longer than a double holds exactly: compared as text. */
const byId = (a: { id: string }, b: { id: string }) =>
  a.id.length - b.id.length || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * Chat (chat): the log and the form that sends to everyone, to one person or to the moderators. Messages say in
 * words whom they went to. "Earlier messages" pages back through the history (join_success carries only the
 * newest). While a chair has chat switched off, everyone else's form is disabled with a notice; refusals (too fast,
 * chat off) are said, and the refused text goes back into the input.
 */
export class ChatPanel {
  private readonly title = h("h2", { id: "chat-title" });
  private readonly log = h("div", {
    id: "chat-log",
    role: "log",
    "aria-live": "polite",
    "aria-labelledby": "chat-title",
    tabindex: 0,
  });
  private readonly earlier = h("button", {
    type: "button",
    id: "chat-earlier",
    hidden: true,
    onclick: () => this.page(),
  });
  /** Why the form is disabled (or, to chairs, that chat is off for the others); focus goes here when it is. */
  private readonly off = h("p", { id: "chat-off", class: "notice", tabindex: -1, hidden: true });
  private readonly error = h("p", { id: "chat-error", class: "error", role: "alert" });
  private readonly input = h("input", {
    id: "chat-input",
    name: "chat",
    maxlength: MAX_CHAT_LENGTH,
    autocomplete: "off",
    required: true,
  });
  private readonly scope = h("select", { id: "chat-scope", name: "chat-scope", onchange: () => this.showTarget() });
  private readonly target = h("select", { id: "chat-target", name: "chat-target" });
  private readonly targetField = h("span", { class: "field", hidden: true });
  private readonly submit = h("button", { type: "submit", id: "chat-send" });
  private readonly form = h("form", { id: "chat-form", onsubmit: (event: Event) => this.send(event) });
  private messages: ShownMessage[] = [];
  /** A chair cleared the history: the log says so above what came after. */
  private cleared = false;
  /** Older messages this participant may read may exist. */
  private more = false;
  /** Counts what shown history starts afresh (a join, a clear), and which count the page asked for belongs to. */
  private generation = 0;
  private asked = -1;
  /** A page was asked for and has not come (one at a time: answers do not say which request they answer). */
  private loading = false;
  private signaling: Signaling | undefined;
  private readonly commands = new SentCommands("chat", (sent: Sent, payload) =>
    this.refused(sent, payload.error, payload.retry_after_ms),
  );
  /** Whom the person selector lists (ids and names), so it is rebuilt only when that changes. */
  private targetsFor = "";

  constructor(private readonly state: RoomState) {
    state.onChange(() => {
      this.renderTargets();
      this.renderAccess();
    });
  }

  listen(signaling: Signaling): void {
    this.signaling = signaling;
    // Asked on an earlier connection: those answers will not come.
    this.commands.listen(signaling);
    this.loading = false;
    signaling.on("chat", "message_sent", (message) => this.add(message));
    signaling.on("chat", "history", ({ messages, more }) => {
      if (this.asked === this.generation) return this.prepend(messages, more);
      this.loading = false;
      this.log.removeAttribute("aria-busy");
    });
    signaling.on("chat", "chat_state", ({ enabled }) => {
      if (enabled !== this.state.chatEnabled) announce(t(enabled ? "chatOnNotice" : "chatOff"));
      this.state.setChatEnabled(enabled);
    });
    signaling.on("chat", "history_cleared", () => {
      // A page asked for before the history was cleared would bring deleted messages back: its answer is dropped.
      this.generation++;
      this.messages = [];
      this.cleared = true;
      this.more = false;
      this.renderLog();
    });
  }

  /** join_success: whether chat is on (in the room's state) and the newest messages, replacing what was shown. */
  reset(joined: ChatJoinState | null | undefined): void {
    this.messages = [...(joined?.messages ?? [])].sort(byId).map((m) => this.shown(m));
    this.cleared = false;
    this.log.removeAttribute("aria-busy");
    // The join state carries the newest messages that fit its budget, and says whether older ones exist.
    this.more = joined?.more ?? false;
    this.generation++;
    this.renderLog();
  }

  view(): HTMLElement {
    this.title.textContent = t("chat");
    this.earlier.textContent = t("chatEarlier");
    this.submit.textContent = t("send");
    const chosen = this.scope.value || "global";
    fill(this.scope, ...SCOPES.map(([value, key]) => h("option", { value, selected: value === chosen }, t(key))));
    fill(this.targetField, h("label", { for: "chat-target" }, t("chatTarget")), this.target);
    fill(
      this.form,
      h("span", { class: "field" }, h("label", { for: "chat-scope" }, t("chatScope")), this.scope),
      this.targetField,
      h("label", { for: "chat-input" }, t("message")),
      this.input,
      this.submit,
    );
    this.showTarget();
    this.renderTargets();
    this.renderAccess();
    // Times and scopes follow the language too.
    this.renderLog();
    return h(
      "section",
      { "aria-labelledby": "chat-title" },
      this.title,
      this.earlier,
      this.log,
      this.off,
      this.error,
      this.form,
    );
  }

  private send(event: Event): void {
    event.preventDefault();
    const content = this.input.value.trim();
    if (!content || !this.signaling) return;
    const scope = this.scope.value;
    const target = this.target.value;
    // Nobody chosen (or the chosen one left): said, and the text stays in the input.
    if (scope === "private" && !target) {
      this.error.textContent = t(this.state.others().length > 0 ? "chatChooseFirst" : "chatNobody");
      this.target.focus();
      return;
    }
    const command: CommandOf<"chat"> =
      scope === "private"
        ? { action: "send_message", content, scope, target }
        : scope === "moderators"
          ? { action: "send_message", content, scope }
          : { action: "send_message", content };
    this.error.textContent = "";
    this.commands.send(command, { action: "send_message", content });
    this.input.value = "";
  }

  /** Older messages: the page before the oldest shown. */
  private page(): void {
    const oldest = this.messages[0];
    if (this.loading || !oldest || !this.signaling) return;
    this.loading = true;
    this.log.setAttribute("aria-busy", "true");
    this.asked = this.generation;
    const command = { action: "get_history", before: oldest.id, limit: CHAT_PAGE_DEFAULT } as const;
    this.commands.send(command, { action: "get_history" });
  }

  /** A refused message: said why, and its text is back in the input (unless something new was typed meanwhile). */
  private refused(sent: Sent, code: string, retryAfterMs: number | undefined): void {
    if (sent.action === "get_history") {
      this.loading = false;
      this.log.removeAttribute("aria-busy");
    } else if (!this.input.value) this.input.value = sent.content;
    if (code === "chat_disabled") {
      // The room says chat is off (chat_state may still be on its way): the notice says it, not an error.
      this.error.textContent = "";
      return this.state.setChatEnabled(false);
    }
    const seconds = Math.max(1, Math.ceil((retryAfterMs ?? 1000) / 1000));
    this.error.textContent = code === "slow_down" ? t("chatSlowDown", { seconds }) : refusalSentence(code, "chat");
  }

  private add(message: ChatMessage): void {
    if (this.messages.some((m) => m.id === message.id)) return;
    const shown = this.shown(message);
    this.messages.push(shown);
    this.log.append(this.item(shown));
  }

  /** A page of history (oldest first), before what is shown; where the reader was in the log stays in view. */
  private prepend(page: ChatMessage[], more: boolean): void {
    this.loading = false;
    this.log.removeAttribute("aria-busy");
    this.more = more;
    const known = new Set(this.messages.map((m) => m.id));
    const older = page.filter((m) => !known.has(m.id)).map((m) => this.shown(m));
    this.messages = [...older, ...this.messages].sort(byId);
    const fromBottom = this.log.scrollHeight - this.log.scrollTop;
    const items = document.createDocumentFragment();
    items.append(...older.map((m) => this.item(m)));
    this.log.insertBefore(items, this.log.querySelector(".message"));
    this.log.scrollTop = this.log.scrollHeight - fromBottom;
    this.showEarlier();
  }

  private shown(message: ChatMessage): ShownMessage {
    const name = (id: string | undefined) => (id && this.state.get(id)?.display_name) || "…";
    return {
      id: message.id,
      scope: message.scope,
      mine: message.source === this.state.selfId,
      name: name(message.source),
      targetName: name(message.target),
      content: message.content,
      timestamp: message.timestamp,
    };
  }

  private renderLog(): void {
    fill(
      this.log,
      this.cleared ? h("p", { id: "chat-cleared", class: "notice" }, t("chatCleared")) : null,
      ...this.messages.map((m) => this.item(m)),
    );
    this.showEarlier();
  }

  /** "Earlier messages" while there may be some; once there are none, focus on it moves to the log. */
  private showEarlier(): void {
    const shown = this.more && this.messages.length > 0;
    if (!shown && document.activeElement === this.earlier) this.log.focus();
    this.earlier.hidden = !shown;
  }

  /** Who wrote a message, and to whom when not to everyone (a scope this client does not know: as to everyone). */
  private item(m: ShownMessage): HTMLElement {
    const time = new Date(m.timestamp).toLocaleTimeString(document.documentElement.lang, {
      hour: "2-digit",
      minute: "2-digit",
    });
    const who =
      m.scope === "private"
        ? m.mine
          ? t("chatPrivateTo", { name: m.targetName })
          : t("chatPrivateFrom", { name: m.name })
        : m.scope === "moderators"
          ? t("chatToModerators", { name: m.name })
          : m.name;
    return h(
      "p",
      { class: "message", "data-id": m.id, "data-scope": m.scope },
      h("span", { class: "meta" }, `${who}, ${time}: `),
      m.content,
    );
  }

  /** The person selector, shown for private messages only. */
  private showTarget(): void {
    this.targetField.hidden = this.scope.value !== "private";
  }

  /**
   * Everyone in the room but this participant, after an empty "choose a person": the chosen one stays chosen while
   * they are here; once they leave (and at first) nobody is, so a private message never goes to someone else.
   */
  private renderTargets(): void {
    const others = this.state.others();
    const targetsFor = JSON.stringify([language(), ...others.map((p) => [p.participant_id, p.display_name])]);
    if (targetsFor === this.targetsFor) return;
    this.targetsFor = targetsFor;
    const chosen = this.target.value;
    const stays = others.some((p) => p.participant_id === chosen);
    fill(
      this.target,
      h("option", { value: "", selected: !stays }, t("chatChoosePerson")),
      ...others.map((p) =>
        h("option", { value: p.participant_id, selected: p.participant_id === chosen }, p.display_name),
      ),
    );
  }

  /** Chat off: a notice for everyone, and the form disabled for those who do not moderate. */
  private renderAccess(): void {
    const on = this.state.chatEnabled;
    const blocked = !this.state.mayChat();
    this.off.textContent = on ? "" : t(blocked ? "chatOff" : "chatOffChair");
    this.off.hidden = on;
    // Disabled controls lose focus: it goes to the notice that says why.
    if (blocked && this.form.contains(document.activeElement)) this.off.focus();
    for (const control of [this.scope, this.target, this.input, this.submit]) control.disabled = blocked;
  }
}
