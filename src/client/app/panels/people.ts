import type { Participant } from "../../../protocol";
import type { Signaling } from "../../signaling";
import { ask } from "../dialog";
import { announce, fill, h, removeKeepingFocus } from "../dom";
import { type TextKey, t, textFor } from "../i18n";
import type { Commands } from "./commands";
import type { RoomState } from "./state";

/** What a chair may do to one participant, in menu order. */
type MenuAction = "mute" | "make_moderator" | "make_user" | "rename" | "send_to_waiting_room" | "kick" | "ban";

/** The menu actions that remove someone from the room: each asks first (title, text, confirm label). */
const CONFIRMED: Record<"send_to_waiting_room" | "kick" | "make_user", [TextKey, TextKey, TextKey]> = {
  send_to_waiting_room: ["sendBackTitle", "sendBackText", "sendBack"],
  kick: ["kickTitle", "kickText", "kick"],
  make_user: ["demoteTitle", "demoteText", "menu_make_user"],
};

interface Entry {
  item: HTMLLIElement;
  /** Name, role and hand: text only, rewritten on every change. */
  line: HTMLSpanElement;
  menu: HTMLDetailsElement | undefined;
  /** What the menu was built for (its actions and the name it shows): it is rebuilt only when that changes. */
  menuFor: string;
}

/**
 * Presence (control): the participant list with roles and raised hands; arrivals, departures and hands announced.
 * Owners and moderators get a menu per participant they may act on (mute, roles, rename, waiting room, kick, ban).
 */
export class PeoplePanel {
  private readonly list = h("ul", { id: "participants" });
  private readonly title = h("h2", { id: "people-title", tabindex: -1 });
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly state: RoomState,
    private readonly commands: Commands,
  ) {
    state.onChange(() => this.render());
  }

  listen(signaling: Signaling): void {
    signaling.on("control", "joined", ({ participants }) => {
      announce(t("joinedNotice", { names: participants.map((p) => p.display_name).join(", ") }));
      this.state.put(participants);
    });
    signaling.on("control", "left", ({ participants }) => {
      // Someone this page never saw (they came and went within one batch) is not announced.
      const names = participants.flatMap((id) => this.state.get(id)?.display_name ?? []);
      if (names.length > 0) announce(t("leftNotice", { names: names.join(", ") }));
      this.state.remove(participants);
    });
    signaling.on("control", "update", ({ participant }) => {
      const raised = participant.hand_raised_at && !this.state.handRaised(participant.participant_id);
      if (raised) announce(t("handNotice", { name: participant.display_name }));
      this.state.put([participant]);
    });
  }

  /** Raises this participant's hand, or lowers it (raising only while the room allows hands). */
  toggleHand(): void {
    if (!this.state.mayToggleHand()) return;
    this.commands.send("control", { action: this.state.handRaised() ? "lower_hand" : "raise_hand" });
  }

  /** The list in the current language: entries are built anew. */
  view(): HTMLElement {
    this.entries.clear();
    fill(this.list);
    this.title.textContent = t("participants");
    this.render();
    return h("section", { "aria-labelledby": "people-title" }, this.title, this.list);
  }

  /**
   * Entries stay in the page while the list changes (only those out of order move), so an open menu stays open and
   * a keyboard user's focus in it survives others' hands, arrivals and departures.
   */
  private render(): void {
    const sorted = this.state.sorted();
    const present = new Set(sorted.map((p) => p.participant_id));
    for (const id of [...this.entries.keys()]) if (!present.has(id)) this.drop(id);
    const focused = document.activeElement;
    sorted.forEach((p, index) => {
      let entry = this.entries.get(p.participant_id);
      if (!entry) {
        const line = h("span", { class: "who" });
        entry = { item: h("li", { "data-participant": p.participant_id }, line), line, menu: undefined, menuFor: "" };
        this.entries.set(p.participant_id, entry);
      }
      fill(
        entry.line,
        h("span", { class: "name" }, this.state.shownName(p.participant_id)),
        " ",
        h("span", { class: "role" }, textFor(`role_${p.role}`, p.role)),
        p.hand_raised_at ? h("span", { class: "hand" }, ` – ${t("handRaised")}`) : null,
      );
      this.updateMenu(entry, p);
      const here = this.list.children[index];
      if (here !== entry.item) this.list.insertBefore(entry.item, here ?? null);
    });
    // Moving an entry takes the focus out of it: give it back.
    if (focused instanceof HTMLElement && focused.isConnected && focused !== document.activeElement) focused.focus();
  }

  /** Takes someone off the list; if focus was in their entry, it moves to a neighbour's menu (or the heading). */
  private drop(id: string): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    this.entries.delete(id);
    removeKeepingFocus(entry.item, "summary", this.title);
  }

  private actionsFor(p: Participant): MenuAction[] {
    if (!this.state.mayActOn(p)) return [];
    // Roles are for registered users, renaming for guests (the room's rules).
    const own: MenuAction[] = [];
    if (p.kind === "user") own.push(p.role === "moderator" ? "make_user" : "make_moderator");
    if (p.kind === "guest") own.push("rename");
    return ["mute", ...own, "send_to_waiting_room", "kick", "ban"];
  }

  /** The entry's menu, rebuilt only when its actions or the name change; it stays open if it was. */
  private updateMenu(entry: Entry, p: Participant): void {
    const actions = this.actionsFor(p);
    const menuFor = actions.length > 0 ? `${actions.join()}|${p.display_name}` : "";
    if (menuFor === entry.menuFor) return;
    entry.menuFor = menuFor;
    const old = entry.menu;
    const focused = old?.contains(document.activeElement) ?? false;
    entry.menu = actions.length > 0 ? this.menu(p, actions, old?.open ?? false) : undefined;
    if (old && entry.menu) old.replaceWith(entry.menu);
    else if (old) old.remove();
    else if (entry.menu) entry.item.append(entry.menu);
    if (focused) (entry.menu?.querySelector("summary") ?? this.title).focus();
  }

  private menu(p: Participant, actions: MenuAction[], open: boolean): HTMLDetailsElement {
    return h(
      "details",
      { class: "participant-actions", open },
      h("summary", {}, t("actionsFor", { name: p.display_name })),
      h(
        "div",
        { class: "actions" },
        ...actions.map((action) =>
          h(
            "button",
            { type: "button", "data-action": action, onclick: () => void this.act(action, p) },
            t(`menu_${action}`),
          ),
        ),
      ),
    );
  }

  private async act(action: MenuAction, p: Participant): Promise<void> {
    const target = p.participant_id;
    const name = p.display_name;
    switch (action) {
      case "mute":
        return this.commands.send("moderation", { action: "mute", targets: [target] });
      case "make_moderator":
        return this.commands.send("moderation", { action: "update_role", target, role: "moderator" });
      case "rename":
        return this.rename(p);
      case "ban":
        return this.ban(p);
      default: {
        const [title, text, confirm] = CONFIRMED[action];
        const question = { title: t(title, { name }), text: t(text, { name }), confirm: t(confirm) };
        if (!(await ask({ id: "confirm", destructive: true, ...question }))) return;
        if (action === "make_user") this.commands.send("moderation", { action: "update_role", target, role: "user" });
        else this.commands.send("moderation", { action, target });
      }
    }
  }

  /** Banning a guest may also revoke the invitation they came with (so it lets nobody else in either). */
  private async ban(p: Participant): Promise<void> {
    const name = p.display_name;
    const guest = p.kind === "guest";
    const revoke = h("input", { type: "checkbox", id: "confirm-revoke-invite" });
    const confirmed = await ask({
      id: "confirm",
      title: t("banTitle", { name }),
      text: t("banText", { name }),
      confirm: t("ban"),
      destructive: true,
      fields: guest ? [h("label", { class: "check" }, revoke, " ", t("revokeInvite", { name }))] : [],
    });
    if (!confirmed) return;
    const target = p.participant_id;
    this.commands.send(
      "moderation",
      guest ? { action: "ban", target, revoke_invite: revoke.checked } : { action: "ban", target },
    );
  }

  private async rename(p: Participant): Promise<void> {
    const input = h("input", {
      id: "rename-input",
      name: "display-name",
      value: p.display_name,
      required: true,
      maxlength: 100,
      // Not blank: the server refuses a name of spaces only.
      pattern: ".*\\S.*",
      autocomplete: "off",
    });
    const confirmed = await ask({
      id: "rename",
      title: t("renameTitle", { name: p.display_name }),
      text: t("renameText"),
      confirm: t("rename"),
      fields: [h("label", { for: "rename-input" }, t("newName")), input],
    });
    const display_name = input.value.trim();
    if (confirmed && display_name !== p.display_name)
      this.commands.send("moderation", { action: "set_display_name", target: p.participant_id, display_name });
  }
}
