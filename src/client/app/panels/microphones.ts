import type { MicrophoneRestrictions, Participant } from "../../../protocol";
import { dropMissing, h } from "../dom";
import { t } from "../i18n";
import type { Commands } from "./commands";
import { isChair, type RoomState } from "./state";

interface Entry {
  item: HTMLLIElement;
  box: HTMLInputElement;
  text: HTMLSpanElement;
}

/**
 * Microphone restrictions as chairs set them (moderation), a part of the room menu: whether they are on and who
 * may speak, in words; a checkbox per participant who does not moderate ("may speak"); a button that starts them
 * with the checked ones allowed (or, while on, saves who is), and one that lifts them. The boxes show the room's
 * list whenever it changes (join_success, then microphone_restrictions); in between a chair's ticks stay, and
 * entries stay in the page while people come and go, so focus on one survives.
 */
export class MicrophoneRestrictionsView {
  private readonly summary = h("summary", { id: "mic-restrictions-summary" });
  private readonly status = h("p", { id: "mic-restrictions-status" });
  private readonly legend = h("legend", {});
  private readonly list = h("ul", { id: "may-speak" });
  private readonly nobody = h("p", { id: "nobody-to-allow", class: "hint" });
  private readonly apply = h("button", { type: "button", id: "mic-restrictions-set", onclick: () => this.set() });
  private readonly lift = h("button", {
    type: "button",
    id: "mic-restrictions-clear",
    onclick: () => this.commands.send("moderation", { action: "clear_microphone_restrictions" }),
  });
  private readonly element = h(
    "details",
    { id: "mic-restrictions" },
    this.summary,
    this.status,
    h("fieldset", {}, this.legend, this.list, this.nobody),
    h("div", { class: "buttons" }, this.apply, this.lift),
  );
  private readonly entries = new Map<string, Entry>();
  /** The room's list the boxes were last set from. */
  private synced: MicrophoneRestrictions | undefined;

  constructor(
    private readonly state: RoomState,
    private readonly commands: Commands,
  ) {}

  /** The section in the current language. */
  view(): HTMLElement {
    this.summary.textContent = t("micRestrictions");
    this.legend.textContent = t("maySpeakLegend");
    this.nobody.textContent = t("nobodyToAllow");
    this.lift.textContent = t("micRestrictionsClear");
    this.update();
    return this.element;
  }

  /** Follows the room: who is here (and not a chair), the restrictions and their state in words. */
  update(): void {
    const { enabled, unrestricted } = this.state.microphones;
    const resync = this.synced !== this.state.microphones;
    this.synced = this.state.microphones;
    const people = this.state.others().filter((p) => !isChair(p.role));
    dropMissing(this.entries, new Set(people.map((p) => p.participant_id)), "input", this.summary);
    people.forEach((p, index) => {
      const entry = this.entries.get(p.participant_id) ?? this.entry(p);
      if (resync) entry.box.checked = unrestricted.includes(p.participant_id);
      entry.text.textContent = t("maySpeak", { name: p.display_name });
      const here = this.list.children[index];
      if (here !== entry.item) this.list.insertBefore(entry.item, here ?? null);
    });
    this.list.hidden = people.length === 0;
    this.nobody.hidden = people.length > 0;
    const allowed = unrestricted.filter((id) => this.state.get(id)).map((id) => this.state.shownName(id));
    this.status.textContent = !enabled
      ? t("micRestrictionsOff")
      : allowed.length > 0
        ? t("micRestrictionsOn", { names: allowed.join(", ") })
        : t("micRestrictionsOnNobody");
    this.apply.textContent = t(enabled ? "micRestrictionsUpdate" : "micRestrictionsStart");
    // While off there is nothing to lift; focus on the button moves to the one that starts them.
    if (!enabled && document.activeElement === this.lift) this.apply.focus();
    this.lift.hidden = !enabled;
  }

  private entry(p: Participant): Entry {
    const id = p.participant_id;
    const box = h("input", {
      type: "checkbox",
      id: `may-speak-${id}`,
      value: id,
      checked: this.state.microphones.unrestricted.includes(id),
    });
    const text = h("span", {});
    const entry = { item: h("li", { "data-participant": id }, h("label", { class: "check" }, box, text)), box, text };
    this.entries.set(id, entry);
    return entry;
  }

  /**
   * Starts the restrictions, or sets anew who may speak: those ticked, and those the room's list allows who are not
   * here (they have no box; saving must not drop them).
   */
  private set(): void {
    const ticked = [...this.entries.values()].filter((e) => e.box.checked).map((e) => e.box.value);
    const absent = this.state.microphones.unrestricted.filter((id) => !this.entries.has(id));
    const unrestricted = [...new Set([...ticked, ...absent])];
    this.commands.send("moderation", { action: "set_microphone_restrictions", unrestricted });
  }
}
