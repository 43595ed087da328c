import type { CommandOf } from "../../../protocol";
import type { Signaling } from "../../signaling";
import { h } from "../dom";
import { type TextKey, t } from "../i18n";

/** The namespaces whose commands a person issues from the room's menus and buttons (and so must hear refused). */
type Namespace = "moderation" | "control";

/** Refusals said in a sentence; other codes show as they are. */
const REFUSALS: Partial<Record<string, TextKey>> = {
  insufficient_permissions: "notAllowed",
  not_found: "notThere",
  participant_limit_reached: "roomFullForAccept",
  rate_limited: "tooFast",
};

/**
 * Moderation and presence commands, and the line that says why the server refused one (an error frame of the
 * command's namespace). It clears when the next command goes out, so it always speaks of the latest.
 */
export class Commands {
  private readonly status = h("p", { id: "command-status", class: "error", role: "alert" });
  private readonly refusedListeners: (() => void)[] = [];
  private signaling: Signaling | undefined;
  private refusal: { namespace: Namespace; code: string } | undefined;

  listen(signaling: Signaling): void {
    this.signaling = signaling;
    signaling.onError((namespace, { error }) => {
      if (namespace !== "moderation" && namespace !== "control") return;
      this.refusal = { namespace, code: error };
      this.render();
      for (const listener of this.refusedListeners) listener();
    });
  }

  send<N extends Namespace>(namespace: N, payload: CommandOf<N>): void {
    this.refusal = undefined;
    this.render();
    this.signaling?.send(namespace, payload);
  }

  /** A command was refused: controls that showed what was asked for go back to what is. */
  onRefused(listener: () => void): void {
    this.refusedListeners.push(listener);
  }

  view(): HTMLElement {
    this.render();
    return this.status;
  }

  private render(): void {
    if (!this.refusal) {
      this.status.textContent = "";
      return;
    }
    const { namespace, code } = this.refusal;
    // The only control command refused for permissions is raising a hand while hands are switched off.
    const said = Object.hasOwn(REFUSALS, code) ? REFUSALS[code] : undefined;
    const key = namespace === "control" && code === "insufficient_permissions" ? "handsOff" : said;
    this.status.textContent = key ? t(key) : t("error", { text: code });
  }
}
