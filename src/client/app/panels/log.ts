import type { ModerationLogEntry } from "../../../protocol";
import type { Signaling } from "../../signaling";
import { fill, h } from "../dom";
import { language, t, textFor } from "../i18n";
import type { Commands } from "./commands";

/**
 * The text key of an entry: the action, and for some the detail that changes the sentence (`details` as
 * docs/protocol.md lists them: role, scope, enabled, mode, targets, the new name as `to`, …).
 */
function entryKey({ action, details, target }: ModerationLogEntry): string {
  if (action === "update_role" || action === "debrief") return `log_${action}_${String(details.role ?? details.scope)}`;
  if (action === "set_hands" || action === "chat_set_enabled") return `log_${action}_${details.enabled ? "on" : "off"}`;
  // `targets`: "all", or how many were named (one, when still in the room, is the entry's target).
  if (action === "mute") return `log_mute_${details.targets === "all" ? "all" : target ? "one" : "many"}`;
  return `log_${action}`;
}

const WAITING_MODES: Record<string, "waitingDisabled" | "waitingGuests" | "waitingEveryone"> = {
  disabled: "waitingDisabled",
  guests: "waitingGuests",
  everyone: "waitingEveryone",
};

/** An entry as a sentence; an action this client does not know reads "actor: action target". */
function describe(entry: ModerationLogEntry): string {
  const { actor, action, target, details } = entry;
  const mode = typeof details.mode === "string" ? details.mode : "";
  const counts = Object.entries(details).filter((detail): detail is [string, number] => typeof detail[1] === "number");
  const values = {
    // Counts (muted, unrestricted, removed) as they are.
    ...Object.fromEntries(counts),
    actor: actor.display_name,
    target: target?.display_name ?? "",
    mode: Object.hasOwn(WAITING_MODES, mode) ? t(WAITING_MODES[mode]!) : mode,
    name: typeof details.to === "string" ? details.to : "",
  };
  return textFor(entryKey(entry), t("logOther", { ...values, action }), values);
}

/**
 * The moderation log as owners and moderators read it (moderation). Opened, it asks for the latest page (get_log);
 * "older entries" pages back (`before` = the oldest shown); new entries (`logged`) join while it is open. Entries
 * are kept by sequence number, so a page and a live entry that overlap show once, in order.
 */
export class ModerationLog {
  private readonly summary = h("summary", { id: "log-summary" });
  private readonly status = h("p", { id: "log-status" });
  // Scrolls when long: focusable, so keyboard users can scroll it too.
  private readonly list = h("ol", { id: "log-entries", tabindex: 0, "aria-labelledby": "log-summary" });
  private readonly older = h("button", { type: "button", id: "log-older", hidden: true, onclick: () => this.page() });
  private readonly element = h(
    "details",
    { id: "moderation-log", ontoggle: () => this.toggled() },
    this.summary,
    this.older,
    this.list,
    this.status,
  );
  private readonly entries = new Map<number, ModerationLogEntry>();
  /** A page was asked for and has not come: one at a time, as answers do not say which request they answer. */
  private loading = false;
  private more = false;

  constructor(private readonly commands: Commands) {}

  listen(signaling: Signaling): void {
    // Asked on an earlier connection: that answer will not come.
    this.loading = false;
    signaling.on("moderation", "log", ({ entries, more }) => {
      if (!this.element.open) return;
      this.loading = false;
      this.more = more;
      for (const entry of entries) this.entries.set(entry.seq, entry);
      this.render();
    });
    signaling.on("moderation", "logged", ({ entry }) => {
      if (!this.element.open) return;
      this.entries.set(entry.seq, entry);
      this.render();
    });
  }

  /** Joined (again): an open log may have missed entries while the connection was down, so it starts over. */
  rejoined(): void {
    if (this.element.open) this.reload();
  }

  /** No longer a chair: closed and emptied. */
  close(): void {
    this.element.open = false;
    this.entries.clear();
  }

  /** The log in the current language. */
  view(): HTMLElement {
    this.summary.textContent = t("logTitle");
    this.older.textContent = t("logOlder");
    this.render();
    return this.element;
  }

  private toggled(): void {
    if (this.element.open) this.reload();
  }

  private reload(): void {
    this.entries.clear();
    this.more = false;
    this.loading = false;
    this.page();
  }

  /** Asks for the page before the oldest entry shown (the latest page when none is shown). */
  private page(): void {
    if (this.loading) return;
    this.loading = true;
    const oldest = Math.min(...this.entries.keys());
    this.commands.send(
      "moderation",
      Number.isFinite(oldest) ? { action: "get_log", before: oldest } : { action: "get_log" },
    );
    this.render();
  }

  private render(): void {
    const entries = [...this.entries.values()].sort((a, b) => a.seq - b.seq);
    fill(this.list, ...entries.map((entry) => this.item(entry)));
    this.list.hidden = entries.length === 0;
    this.list.setAttribute("aria-busy", String(this.loading));
    this.status.textContent = this.loading ? t("logLoading") : entries.length === 0 ? t("logEmpty") : "";
    // While a page loads, "older" stays where it is (with any focus on it); once the last page is in, it goes and
    // its focus moves to the entries.
    if (this.loading) return;
    if (!this.more && document.activeElement === this.older) this.list.focus();
    this.older.hidden = !this.more;
  }

  private item(entry: ModerationLogEntry): HTMLLIElement {
    const time = new Date(entry.at).toLocaleTimeString(language(), {
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    return h(
      "li",
      { "data-seq": entry.seq, "data-action": entry.action },
      h("time", { datetime: entry.at }, time),
      " ",
      describe(entry),
    );
  }
}
