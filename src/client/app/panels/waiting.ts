import type { ReceivedEvent } from "../../../protocol";
import type { Signaling } from "../../signaling";
import { announce, fill, h } from "../dom";
import { t } from "../i18n";
import type { RoomState } from "./state";

type Waiting = ReceivedEvent<"moderation", "waiting_room_updated">["waiting"];

/** The waiting room (moderation) as owners and moderators see it: who waits, to let in or turn away. */
export class WaitingPanel {
  private readonly element = h("div", { id: "waiting" });
  private waiting: Waiting = [];
  private signaling: Signaling | undefined;

  constructor(private readonly state: RoomState) {}

  listen(signaling: Signaling): void {
    this.signaling = signaling;
    signaling.on("moderation", "waiting_room_updated", ({ waiting }) => this.show(waiting));
  }

  /** Who waits now (join_success or waiting_room_updated). */
  show(waiting: Waiting): void {
    this.waiting = waiting;
    if (this.state.moderates() && waiting.length > 0) announce(t("waitingNotice", { count: waiting.length }));
    this.render();
  }

  view(): HTMLElement {
    this.render();
    return this.element;
  }

  private render(): void {
    if (!this.state.moderates()) return fill(this.element);
    const decide = (action: "accept" | "reject", w: Waiting[number]) =>
      h(
        "button",
        { type: "button", onclick: () => this.signaling?.send("moderation", { action, target: w.participant_id }) },
        `${t(action)}: ${w.display_name}`,
      );
    fill(
      this.element,
      h(
        "section",
        { "aria-labelledby": "waiting-title" },
        h("h2", { id: "waiting-title" }, t("waitingList")),
        this.waiting.length === 0
          ? h("p", {}, t("nobodyWaiting"))
          : h(
              "ul",
              {},
              ...this.waiting.map((w) =>
                h("li", {}, h("span", {}, w.display_name), " ", decide("accept", w), " ", decide("reject", w)),
              ),
            ),
      ),
    );
  }
}
