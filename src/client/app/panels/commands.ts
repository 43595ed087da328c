import type { CommandOf, ErrorPayload, Namespace as ProtocolNamespace } from "../../../protocol";
import type { Signaling } from "../../signaling";
import { h } from "../dom";
import { type TextKey, t } from "../i18n";

/**
 * The namespaces whose commands a person issues from the room's menus and buttons (and so must hear refused). Chat's
 * error frames also answer the messages the chat panel sends: only those of commands sent from here are shown.
 */
type Namespace = "moderation" | "control" | "chat";

/** How many of a panel's sent commands are remembered for their refusals (older ones are long answered). */
const REMEMBERED = 20;

/**
 * The commands a panel sent on the current connection (the latest REMEMBERED), by transaction id: an error frame
 * answering one reaches `refused` with what the panel noted for it. A new connection forgets them (their answers
 * will not come).
 */
export class SentCommands<N extends ProtocolNamespace, K> {
  private readonly sent = new Map<number, K>();
  private signaling: Signaling | undefined;

  constructor(
    private readonly namespace: N,
    private readonly refused: (kind: K, payload: ErrorPayload) => void,
  ) {}

  listen(signaling: Signaling): void {
    this.signaling = signaling;
    this.sent.clear();
    signaling.onError((namespace, payload, transactionId) => {
      const kind =
        namespace === this.namespace && transactionId !== undefined ? this.sent.get(transactionId) : undefined;
      if (kind === undefined) return;
      this.sent.delete(transactionId!);
      this.refused(kind, payload);
    });
  }

  /** Sends on the current connection and remembers it as `kind`; false while there is none. */
  send(payload: CommandOf<N>, kind: K): boolean {
    if (!this.signaling) return false;
    this.sent.set(this.signaling.send(this.namespace, payload), kind);
    if (this.sent.size > REMEMBERED) this.sent.delete(this.sent.keys().next().value!);
    return true;
  }
}

/** Refusals said in a sentence; other codes show as they are. */
const REFUSALS: Partial<Record<string, TextKey>> = {
  insufficient_permissions: "notAllowed",
  not_found: "notThere",
  participant_limit_reached: "roomFullForAccept",
  rate_limited: "tooFast",
};

/** A refusal in a sentence where this client has one (`namespace`'s own first), else the code as it came. */
export function refusalSentence(code: string, namespace?: string): string {
  // The only control command refused for permissions is raising a hand while hands are switched off.
  if (namespace === "control" && code === "insufficient_permissions") return t("handsOff");
  const key = Object.hasOwn(REFUSALS, code) ? REFUSALS[code] : undefined;
  return key ? t(key) : t("error", { text: code });
}

/**
 * Moderation and presence commands (and chairs' chat commands), and the line that says why the server refused one
 * (an error frame of the command's namespace). It clears when the next command goes out, so it always speaks of the
 * latest.
 */
export class Commands {
  private readonly status = h("p", { id: "command-status", class: "error", role: "alert" });
  private readonly refusedListeners: (() => void)[] = [];
  private signaling: Signaling | undefined;
  private refusal: { namespace: string; code: string } | undefined;
  /** Transaction ids of the chat commands sent from here (a chair's), whose refusals this line shows. */
  private readonly chatCommands = new Set<number>();

  listen(signaling: Signaling): void {
    this.signaling = signaling;
    this.chatCommands.clear();
    signaling.onError((namespace, { error }, transactionId) => {
      const chat = transactionId !== undefined && this.chatCommands.delete(transactionId);
      if (namespace !== "moderation" && namespace !== "control" && !chat) return;
      this.refusal = { namespace, code: error };
      this.render();
      for (const listener of this.refusedListeners) listener();
    });
  }

  send<N extends Namespace>(namespace: N, payload: CommandOf<N>): void {
    this.refusal = undefined;
    this.render();
    const transactionId = this.signaling?.send(namespace, payload);
    if (namespace === "chat" && transactionId !== undefined) this.chatCommands.add(transactionId);
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
    this.status.textContent = refusalSentence(this.refusal.code, this.refusal.namespace);
  }
}
