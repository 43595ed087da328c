import type { ReceivedEvent } from "../../../protocol";
import type { Signaling } from "../../signaling";
import { ask } from "../dialog";
import { announce, fill, h, removeKeepingFocus } from "../dom";
import { t } from "../i18n";
import type { Commands } from "./commands";
import type { RoomState } from "./state";

type Change = ReceivedEvent<"moderation", "waiting_room_changed">;
type Waiting = Change["added"][number];

/** Newcomers named in an announcement; more are only counted. */
const NAMED_ARRIVALS = 3;

/**
 * The waiting room (moderation) as owners and moderators see them: who waits, to let in (one or all) or turn away
 * (after asking). The list comes
 * whole in join_success and changes by `waiting_room_changed`; entries stay in the page while the list changes, so a
 * moderator's focus on one person's buttons survives others coming and going.
 */
export class WaitingPanel {
  private readonly element = h("div", { id: "waiting" });
  private readonly title = h("h2", { id: "waiting-title", tabindex: -1 });
  private readonly section = h("section", { "aria-labelledby": "waiting-title" });
  private readonly empty = h("p", { id: "nobody-waiting" });
  private readonly list = h("ul", { id: "waiting-list" });
  private readonly acceptAll = h("button", {
    type: "button",
    id: "accept-all",
    onclick: () => this.commands.send("moderation", { action: "accept_all" }),
  });
  /** Who waits, in order of arrival, with their list entries. */
  private readonly waiting = new Map<string, { person: Waiting; item: HTMLLIElement }>();
  private moderating = false;

  constructor(
    private readonly state: RoomState,
    private readonly commands: Commands,
  ) {
    state.onChange(() => {
      if (state.moderates() === this.moderating) return;
      this.moderating = state.moderates();
      // No longer a moderator: no more changes come, so the list would go stale. Whoever becomes one gets the whole
      // list as one change.
      if (!this.moderating) this.waiting.clear();
      this.render();
    });
  }

  listen(signaling: Signaling): void {
    signaling.on("moderation", "waiting_room_changed", (change) => this.change(change));
  }

  /** Who waits when this connection joined (join_success): replaces the list. */
  show(waiting: Waiting[]): void {
    this.moderating = this.state.moderates();
    this.waiting.clear();
    for (const person of waiting) this.waiting.set(person.participant_id, { person, item: this.item(person) });
    if (this.moderating && this.waiting.size > 0) announce(t("waitingNotice", { count: this.waiting.size }));
    this.render();
  }

  view(): HTMLElement {
    this.render();
    return this.element;
  }

  /**
   * Who came and who left since the last change. Removals apply first, so someone who left and came back within one
   * change stays listed; an id already listed is not added twice, and removing one not listed does nothing.
   */
  private change({ added, removed }: Change): void {
    for (const id of removed) this.drop(id);
    const newcomers: Waiting[] = [];
    for (const person of added) {
      if (this.waiting.has(person.participant_id)) continue;
      const item = this.item(person);
      this.waiting.set(person.participant_id, { person, item });
      this.list.append(item);
      newcomers.push(person);
    }
    this.showEmpty();
    if (!this.state.moderates() || newcomers.length === 0) return;
    const count = this.waiting.size;
    announce(
      newcomers.length <= NAMED_ARRIVALS
        ? t("waitingArrived", { names: newcomers.map((p) => p.display_name).join(", "), count })
        : t("waitingArrivedMany", { added: newcomers.length, count }),
    );
  }

  /** Takes someone off the list; if focus was on their buttons, it moves to a neighbour's (or the heading). */
  private drop(id: string): void {
    const entry = this.waiting.get(id);
    if (!entry) return;
    this.waiting.delete(id);
    removeKeepingFocus(entry.item, "button", this.title);
  }

  private item(person: Waiting): HTMLLIElement {
    const target = person.participant_id;
    const name = person.display_name;
    const reject = async () => {
      const question = { title: t("rejectTitle", { name }), text: t("rejectText", { name }), confirm: t("reject") };
      if (await ask({ id: "confirm", destructive: true, ...question }))
        this.commands.send("moderation", { action: "reject", target });
    };
    return h(
      "li",
      { "data-participant": target },
      h("span", {}, name),
      " ",
      h(
        "button",
        { type: "button", onclick: () => this.commands.send("moderation", { action: "accept", target }) },
        `${t("accept")}: ${name}`,
      ),
      " ",
      h("button", { type: "button", onclick: () => void reject() }, `${t("reject")}: ${name}`),
    );
  }

  /**
   * The list, or the line that says nobody waits, whichever applies (the other leaves the page); "let everyone in"
   * once two or more wait (focus on it moves to the heading when it goes).
   */
  private showEmpty(): void {
    const [shown, gone] = this.waiting.size > 0 ? [this.list, this.empty] : [this.empty, this.list];
    if (gone.parentNode === this.section) gone.replaceWith(shown);
    const hide = this.waiting.size < 2;
    if (hide && document.activeElement === this.acceptAll) this.title.focus();
    this.acceptAll.hidden = hide;
  }

  /** The whole panel, in the current language (entries are rebuilt); nothing for those who do not moderate. */
  private render(): void {
    if (!this.state.moderates()) return fill(this.element);
    this.title.textContent = t("waitingList");
    this.empty.textContent = t("nobodyWaiting");
    this.acceptAll.textContent = t("acceptAll");
    for (const entry of this.waiting.values()) entry.item = this.item(entry.person);
    fill(this.list, ...[...this.waiting.values()].map((entry) => entry.item));
    fill(this.section, this.title, this.acceptAll, this.waiting.size > 0 ? this.list : this.empty);
    this.showEmpty();
    fill(this.element, this.section);
  }
}
