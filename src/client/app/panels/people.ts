import type { Signaling } from "../../signaling";
import { announce, fill, h } from "../dom";
import { t, textFor } from "../i18n";
import type { RoomState } from "./state";

/** Presence (control): the participant list with roles and raised hands; arrivals, departures and hands announced. */
export class PeoplePanel {
  private readonly list = h("ul", { id: "participants" });
  private signaling: Signaling | undefined;

  constructor(private readonly state: RoomState) {
    state.onChange(() => this.render());
  }

  listen(signaling: Signaling): void {
    this.signaling = signaling;
    signaling.on("control", "joined", ({ participants }) => {
      announce(t("joinedNotice", { names: participants.map((p) => p.display_name).join(", ") }));
      this.state.put(participants);
    });
    signaling.on("control", "left", ({ participants }) => {
      announce(t("leftNotice", { names: participants.map((id) => this.state.get(id)?.display_name ?? id).join(", ") }));
      this.state.remove(participants);
    });
    signaling.on("control", "update", ({ participant }) => {
      const raised = participant.hand_raised_at && !this.state.handRaised(participant.participant_id);
      if (raised) announce(t("handNotice", { name: participant.display_name }));
      this.state.put([participant]);
    });
  }

  /** Raises this participant's hand, or lowers it. */
  toggleHand(): void {
    this.signaling?.send("control", { action: this.state.handRaised() ? "lower_hand" : "raise_hand" });
  }

  view(): HTMLElement {
    this.render();
    return h(
      "section",
      { "aria-labelledby": "people-title" },
      h("h2", { id: "people-title" }, t("participants")),
      this.list,
    );
  }

  private render(): void {
    fill(
      this.list,
      ...this.state
        .sorted()
        .map((p) =>
          h(
            "li",
            { "data-participant": p.participant_id },
            h("span", { class: "name" }, this.state.shownName(p.participant_id)),
            " ",
            h("span", { class: "role" }, textFor(`role_${p.role}`, p.role)),
            p.hand_raised_at ? h("span", { class: "hand" }, ` – ${t("handRaised")}`) : null,
          ),
        ),
    );
  }
}
