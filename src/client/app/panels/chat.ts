import { type ChatMessage, MAX_CHAT_LENGTH } from "../../../protocol";
import type { Signaling } from "../../signaling";
import { fill, h } from "../dom";
import { t } from "../i18n";
import type { RoomState } from "./state";

/** A message as shown: the sender's name as it was when the message arrived. */
interface ShownMessage {
  name: string;
  content: string;
  timestamp: string;
}

/** Global chat (chat): the log and the form that sends to it. */
export class ChatPanel {
  private readonly log = h("div", {
    id: "chat-log",
    role: "log",
    "aria-live": "polite",
    "aria-labelledby": "chat-title",
    tabindex: 0,
  });
  private messages: ShownMessage[] = [];
  private signaling: Signaling | undefined;

  constructor(private readonly state: RoomState) {}

  listen(signaling: Signaling): void {
    this.signaling = signaling;
    signaling.on("chat", "message_sent", (message) => this.add(message));
  }

  /** join_success: the recent messages, replacing what was shown before a reconnect. */
  reset(recent: ChatMessage[]): void {
    fill(this.log);
    this.messages = [];
    for (const message of recent) this.add(message);
  }

  view(): HTMLElement {
    const input = h("input", {
      id: "chat-input",
      name: "chat",
      maxlength: MAX_CHAT_LENGTH,
      autocomplete: "off",
      required: true,
    });
    const form = h(
      "form",
      {
        id: "chat-form",
        onsubmit: (event: Event) => {
          event.preventDefault();
          const content = input.value.trim();
          if (!content) return;
          this.signaling?.send("chat", { action: "send_message", content });
          input.value = "";
        },
      },
      h("label", { for: "chat-input" }, t("message")),
      input,
      h("button", { type: "submit" }, t("send")),
    );
    // Times follow the language too.
    fill(this.log);
    for (const message of this.messages) this.render(message);
    return h("section", { "aria-labelledby": "chat-title" }, h("h2", { id: "chat-title" }, t("chat")), this.log, form);
  }

  private add({ source, content, timestamp }: ChatMessage): void {
    const message = { name: this.state.get(source)?.display_name ?? "…", content, timestamp };
    this.messages.push(message);
    this.render(message);
  }

  private render({ name, content, timestamp }: ShownMessage): void {
    const time = new Date(timestamp).toLocaleTimeString(document.documentElement.lang, {
      hour: "2-digit",
      minute: "2-digit",
    });
    this.log.append(h("p", { class: "message" }, h("span", { class: "meta" }, `${name}, ${time}: `), content));
  }
}
