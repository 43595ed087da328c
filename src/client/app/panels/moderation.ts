import type {
  CommandOf,
  JoinSuccess,
  MicrophoneRestrictions,
  RoomModerationState,
  WaitingRoom,
} from "../../../protocol";
import type { Signaling } from "../../signaling";
import { ask } from "../dialog";
import { announce, fill, h } from "../dom";
import { type TextKey, t, textFor } from "../i18n";
import { BanList } from "./bans";
import type { Commands } from "./commands";
import { ModerationLog } from "./log";
import { MicrophoneRestrictionsView } from "./microphones";
import type { RoomState } from "./state";

const WAITING_MODES = [
  ["disabled", "waitingDisabled"],
  ["guests", "waitingGuests"],
  ["everyone", "waitingEveryone"],
] as const;

const modeText = (mode: string) => t(WAITING_MODES.find(([value]) => value === mode)?.[1] ?? "waitingDisabled");

/**
 * The room's moderation (moderation). Everyone sees what the room's settings mean for them (a line under the
 * connection status; changes are announced) and hears when their own role changes. Owners and moderators get the
 * room menu: lock, waiting room, hands, microphones (mute everyone, restrictions), chat (on or off, clear it),
 * debriefing, ending the meeting, the ban list and the log.
 */
export class ModerationPanel {
  private readonly notice = h("p", { id: "room-notice", class: "notice", hidden: true });
  private readonly element = h("div", { id: "moderation" });
  private readonly bans: BanList;
  private readonly log: ModerationLog;
  private readonly microphones: MicrophoneRestrictionsView;
  /** The menu's controls that show a setting, while the menu is shown: they follow the room's state in place. */
  private controls:
    | { lock: HTMLButtonElement; hands: HTMLButtonElement; chat: HTMLButtonElement; mode: HTMLSelectElement }
    | undefined;
  private moderating = false;

  constructor(
    private readonly state: RoomState,
    private readonly commands: Commands,
  ) {
    this.bans = new BanList(commands);
    this.log = new ModerationLog(commands);
    this.microphones = new MicrophoneRestrictionsView(state, commands);
    state.onChange(() => {
      this.showNotice();
      if (state.moderates() === this.moderating) return this.update();
      this.moderating = state.moderates();
      // No longer a chair: no more changes come, so the lists would go stale. A new chair gets them whole.
      if (!this.moderating) {
        this.bans.clear();
        this.log.close();
      }
      this.render();
    });
    // A refused change leaves the controls showing what was asked for: back to what is.
    commands.onRefused(() => this.update());
  }

  listen(signaling: Signaling): void {
    signaling.on("moderation", "room_state", ({ locked, waiting_room, hands_enabled }) =>
      this.changed({ locked, waiting_room, hands_enabled }),
    );
    signaling.on("moderation", "role_updated", ({ role }) => {
      announce(
        role === "moderator" ? t("nowModerator") : t("noLongerModerator", { role: textFor(`role_${role}`, role) }),
      );
      this.state.setRole(role);
    });
    signaling.on("moderation", "microphone_restrictions", ({ enabled, unrestricted }) =>
      this.microphonesChanged({ enabled, unrestricted }),
    );
    this.bans.listen(signaling);
    this.log.listen(signaling);
  }

  /** join_success: who is banned (chairs only), and the log read afresh if it is open. */
  show(joined: JoinSuccess["modules"]["moderation"]): void {
    this.moderating = this.state.moderates();
    this.bans.show(joined?.banned ?? []);
    this.log.rejoined();
    this.render();
  }

  /** The line everyone sees (locked, hands off), for the room's layout. */
  noticeView(): HTMLElement {
    this.showNotice();
    return this.notice;
  }

  /** The room menu in the current language (nothing for those who do not moderate). */
  view(): HTMLElement {
    this.render();
    return this.element;
  }

  /** room_state: what changed is announced (to everyone; the waiting room's mode only to chairs). */
  private changed(next: RoomModerationState): void {
    const before = this.state.settings;
    const news = [
      next.locked !== before.locked && t(next.locked ? "roomLockedNotice" : "roomUnlockedNotice"),
      next.hands_enabled !== before.hands_enabled && t(next.hands_enabled ? "handsOnNotice" : "handsOffNotice"),
      this.state.moderates() &&
        next.waiting_room !== before.waiting_room &&
        t("waitingModeNotice", { mode: modeText(next.waiting_room) }),
    ].filter(Boolean);
    this.state.setSettings(next);
    if (news.length > 0) announce(news.join(" "));
  }

  /** microphone_restrictions: announced when they start or end, or when this participant may (no longer) speak. */
  private microphonesChanged(next: MicrophoneRestrictions): void {
    const [wasOn, could] = [this.state.microphones.enabled, this.state.maySpeak()];
    this.state.setMicrophones(next);
    const may = this.state.maySpeak();
    const news =
      next.enabled !== wasOn
        ? t(next.enabled ? "micRestrictionsStarted" : "micRestrictionsEnded")
        : may !== could && t(may ? "micAllowedNotice" : "micDisallowedNotice");
    if (news) announce(news);
  }

  private showNotice(): void {
    const { locked, hands_enabled } = this.state.settings;
    const microphones = this.state.microphones.enabled;
    const lines = [
      locked && t("roomLocked"),
      !hands_enabled && t("handsOff"),
      microphones && t("micRestrictedRoom"),
      microphones && this.state.maySpeak() && t("youMaySpeak"),
    ].filter(Boolean);
    this.notice.textContent = lines.join(" ");
    this.notice.hidden = lines.length === 0;
  }

  /**
   * The menu's controls show the settings as they are (never what was just clicked: room_state, chat_state and
   * microphone_restrictions confirm).
   */
  private update(): void {
    if (!this.controls) return;
    const { locked, hands_enabled, waiting_room } = this.state.settings;
    this.controls.lock.setAttribute("aria-pressed", String(locked));
    this.controls.hands.setAttribute("aria-pressed", String(hands_enabled));
    this.controls.chat.setAttribute("aria-pressed", String(this.state.chatEnabled));
    if (this.controls.mode.value !== waiting_room) this.controls.mode.value = waiting_room;
    this.microphones.update();
  }

  private render(): void {
    if (!this.state.moderates()) {
      this.controls = undefined;
      return fill(this.element);
    }
    const send = (command: CommandOf<"moderation">) => this.commands.send("moderation", command);
    const lock = h(
      "button",
      {
        type: "button",
        id: "toggle-lock",
        onclick: () => send({ action: this.state.settings.locked ? "unlock" : "lock" }),
      },
      t("lockRoom"),
    );
    const hands = h(
      "button",
      {
        type: "button",
        id: "toggle-hands",
        onclick: () => void this.toggleHands(),
      },
      t("allowHands"),
    );
    const mode = h(
      "select",
      { id: "waiting-mode", onchange: () => send({ action: "set_waiting_room", mode: mode.value as WaitingRoom }) },
      ...WAITING_MODES.map(([value, key]) => h("option", { value }, t(key))),
    );
    const chat = h(
      "button",
      {
        type: "button",
        id: "toggle-chat",
        onclick: () => this.commands.send("chat", { action: "set_enabled", enabled: !this.state.chatEnabled }),
      },
      t("allowChat"),
    );
    this.controls = { lock, hands, chat, mode };
    this.update();
    fill(
      this.element,
      h(
        "section",
        { id: "room-moderation", "aria-labelledby": "moderation-title" },
        h("h2", { id: "moderation-title" }, t("moderation")),
        h("div", { class: "buttons" }, lock, hands, this.resetHands()),
        h("label", { for: "waiting-mode" }, t("waitingRoomSetting")),
        mode,
        h(
          "div",
          { class: "buttons" },
          this.confirmed("mute-all", "muteAll", ["muteAllTitle", "muteAllText", "muteAll"], false, () =>
            send({ action: "mute", targets: "all" }),
          ),
          chat,
          this.confirmed("clear-chat", "clearChat", ["clearChatTitle", "clearChatText", "clear"], true, () =>
            this.commands.send("chat", { action: "clear_history" }),
          ),
        ),
        this.microphones.view(),
        this.debrief(),
        h(
          "button",
          { type: "button", id: "end-meeting", class: "danger", onclick: () => void this.end() },
          t("endMeeting"),
        ),
        this.bans.view(),
        this.log.view(),
      ),
    );
  }

  /** Switching hands off lowers every raised hand too: asked first; switching on is not. */
  private async toggleHands(): Promise<void> {
    const enabled = !this.state.settings.hands_enabled;
    const question = { title: t("handsOffTitle"), text: t("handsOffText"), confirm: t("switchOff") };
    if (enabled || (await ask({ id: "confirm", destructive: true, ...question })))
      this.commands.send("moderation", { action: "set_hands", enabled });
  }

  private resetHands(): HTMLButtonElement {
    return this.confirmed("reset-hands", "resetHands", ["resetHandsTitle", "resetHandsText", "resetHands"], true, () =>
      this.commands.send("moderation", { action: "reset_hands" }),
    );
  }

  /** A button whose action is asked first (title, text and confirm label of the dialog); `destructive`: see ask. */
  private confirmed(
    id: string,
    label: TextKey,
    [title, text, confirm]: [TextKey, TextKey, TextKey],
    destructive: boolean,
    act: () => void,
  ): HTMLButtonElement {
    const question = async () => {
      if (await ask({ id: "confirm", destructive, title: t(title), text: t(text), confirm: t(confirm) })) act();
    };
    return h("button", { type: "button", id, onclick: () => void question() }, t(label));
  }

  /** Who leaves for the debriefing (guests by default), and the button that starts it after asking. */
  private debrief(): HTMLElement {
    const choice = (value: "guests" | "users_and_guests", id: string, label: string) =>
      h(
        "label",
        { class: "check" },
        h("input", { type: "radio", name: "debrief-scope", id, value, checked: value === "guests" }),
        " ",
        label,
      );
    const scopes = h(
      "fieldset",
      { id: "debrief-scope" },
      h("legend", {}, t("debriefScope")),
      choice("guests", "debrief-guests", t("debriefGuests")),
      choice("users_and_guests", "debrief-users-and-guests", t("debriefUsersAndGuests")),
    );
    const start = async () => {
      const checked = scopes.querySelector<HTMLInputElement>("input:checked")?.value;
      const scope = checked === "users_and_guests" ? "users_and_guests" : "guests";
      const text = t(scope === "guests" ? "debriefGuestsText" : "debriefUsersText");
      if (await ask({ id: "confirm", destructive: true, title: t("debriefTitle"), text, confirm: t("debrief") }))
        this.commands.send("moderation", { action: "debrief", scope });
    };
    return h(
      "div",
      { class: "debrief" },
      scopes,
      h("button", { type: "button", id: "debrief", onclick: () => void start() }, t("debrief")),
    );
  }

  private async end(): Promise<void> {
    const question = { title: t("endTitle"), text: t("endText"), confirm: t("end") };
    if (await ask({ id: "confirm", destructive: true, ...question }))
      this.commands.send("moderation", { action: "end_meeting" });
  }
}
