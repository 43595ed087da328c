import { type FeedbackKind, FeedbackKindSchema, type JoinSuccess } from "../../../protocol";
import type { Signaling } from "../../signaling";
import { fill, h } from "../dom";
import { t, textFor } from "../i18n";
import { refusalSentence, SentCommands } from "./commands";
import type { RoomState } from "./state";

const KINDS = FeedbackKindSchema.options;
const kindText = (kind: string) => textFor(`feedbackKind_${kind}`, kind);

/**
 * Anonymous feedback (feedback): everyone reacts with one of six buttons (counted once per kind and window; the page
 * says whether it counted); owners, moderators and the current speaker of the speaker queue see the window's counts.
 */
export class FeedbackPanel {
  private readonly title = h("h2", { id: "feedback-heading" });
  private readonly buttons = h("div", { id: "feedback-buttons", class: "buttons", role: "group" });
  private readonly status = h("p", { id: "feedback-status", role: "status" });
  private readonly summary = h("div", { id: "feedback-summary" });
  private readonly section = h(
    "section",
    { id: "feedback-section", "aria-labelledby": "feedback-heading" },
    this.title,
    this.buttons,
    this.status,
    this.summary,
  );
  private readonly commands = new SentCommands("feedback", (_kind: FeedbackKind, { error }) => {
    this.status.textContent = refusalSentence(error, "feedback");
  });
  private counts: Record<string, number> = {};
  private windowSeconds = 10;

  constructor(
    private readonly state: RoomState,
    /** This participant has the floor in the speaker queue. */
    private readonly speaking: () => boolean,
  ) {
    state.onChange(() => this.renderSummary());
  }

  listen(signaling: Signaling): void {
    this.commands.listen(signaling);
    signaling.on("feedback", "received", ({ kind, counted }) => {
      this.status.textContent = t(counted ? "feedbackCounted" : "feedbackAlready", {
        kind: kindText(kind),
        seconds: this.windowSeconds,
      });
    });
    signaling.on("feedback", "summary", ({ counts, window_seconds }) => {
      this.counts = counts;
      this.windowSeconds = window_seconds;
      this.renderSummary();
    });
  }

  show(joined: JoinSuccess["modules"]["feedback"]): void {
    if (joined) {
      this.counts = joined.counts;
      this.windowSeconds = joined.window_seconds;
    }
    this.renderSummary();
  }

  /** Who sees the counts changed (the floor passed): shown or hidden. */
  refresh(): void {
    this.renderSummary();
  }

  view(): HTMLElement {
    this.title.textContent = t("feedback");
    this.buttons.setAttribute("aria-label", t("feedbackHint"));
    fill(
      this.buttons,
      ...KINDS.map((kind) =>
        h(
          "button",
          {
            type: "button",
            id: `feedback-${kind}`,
            onclick: () => {
              this.status.textContent = "";
              this.commands.send({ action: "send", kind }, kind);
            },
          },
          kindText(kind),
        ),
      ),
    );
    this.renderSummary();
    return this.section;
  }

  private renderSummary(): void {
    const shown = this.state.moderates() || this.speaking();
    this.summary.hidden = !shown;
    if (!shown) return fill(this.summary);
    const given = KINDS.filter((kind) => (this.counts[kind] ?? 0) > 0);
    fill(
      this.summary,
      h("h3", { id: "feedback-summary-heading" }, t("feedbackSummary", { seconds: this.windowSeconds })),
      given.length > 0
        ? h(
            "ul",
            { id: "feedback-counts", "aria-labelledby": "feedback-summary-heading" },
            ...given.map((kind) =>
              h("li", { "data-kind": kind }, t("feedbackCount", { kind: kindText(kind), count: this.counts[kind]! })),
            ),
          )
        : h("p", { id: "feedback-none", class: "hint" }, t("feedbackNone")),
    );
  }
}
