import type { Ban } from "../../../protocol";
import type { Signaling } from "../../signaling";
import { fill, h, removeKeepingFocus } from "../dom";
import { language, t } from "../i18n";
import type { Commands } from "./commands";

/**
 * The ban list (moderation) as owners and moderators see it: who is kept out, since when and by whom, each with a
 * button that lifts the ban. It comes whole in join_success (and as one change to a new chair), then changes by
 * `ban_list_changed`; entries stay in the page meanwhile, so focus on one survives others coming and going.
 */
export class BanList {
  private readonly title = h("h3", { id: "bans-title", tabindex: -1 });
  private readonly list = h("ul", { id: "ban-list" });
  private readonly empty = h("p", { id: "nobody-banned" });
  private readonly bans = new Map<string, { ban: Ban; item: HTMLLIElement }>();

  constructor(private readonly commands: Commands) {}

  listen(signaling: Signaling): void {
    signaling.on("moderation", "ban_list_changed", ({ added, removed }) => {
      for (const id of removed) this.drop(id);
      for (const ban of added) this.add(ban);
      this.showEmpty();
    });
  }

  /** The list when this connection joined: replaces what was shown. */
  show(bans: Ban[]): void {
    this.clear();
    for (const ban of bans) this.add(ban);
    this.showEmpty();
  }

  /** No longer a chair: no more changes come, so the list would go stale. */
  clear(): void {
    this.bans.clear();
    fill(this.list);
  }

  /** The list in the current language (entries rebuilt). */
  view(): HTMLElement {
    this.title.textContent = t("bannedTitle");
    this.empty.textContent = t("nobodyBanned");
    for (const entry of this.bans.values()) entry.item = this.item(entry.ban);
    fill(this.list, ...[...this.bans.values()].map((entry) => entry.item));
    this.showEmpty();
    return h("section", { "aria-labelledby": "bans-title" }, this.title, this.list, this.empty);
  }

  /** Adds a ban, or replaces the entry of one already listed (in place). */
  private add(ban: Ban): void {
    const item = this.item(ban);
    const listed = this.bans.get(ban.participant_id);
    if (listed) listed.item.replaceWith(item);
    else this.list.append(item);
    this.bans.set(ban.participant_id, { ban, item });
  }

  /** Lifts an entry; if focus was on its button, it moves to a neighbour's (or the heading). */
  private drop(id: string): void {
    const entry = this.bans.get(id);
    if (!entry) return;
    this.bans.delete(id);
    removeKeepingFocus(entry.item, "button", this.title);
  }

  private item(ban: Ban): HTMLLIElement {
    const when = new Date(ban.banned_at).toLocaleString(language(), { dateStyle: "short", timeStyle: "short" });
    return h(
      "li",
      { "data-participant": ban.participant_id },
      h("span", { class: "name" }, ban.display_name),
      " ",
      h("span", { class: "meta" }, t("bannedBy", { date: when, name: ban.banned_by.display_name })),
      " ",
      h(
        "button",
        {
          type: "button",
          "data-action": "unban",
          onclick: () => this.commands.send("moderation", { action: "unban", target: ban.participant_id }),
        },
        t("unban", { name: ban.display_name }),
      ),
    );
  }

  private showEmpty(): void {
    this.list.hidden = this.bans.size === 0;
    this.empty.hidden = this.bans.size > 0;
  }
}
