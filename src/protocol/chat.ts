import { z } from "zod";
import { IdSchema, isFreeText, openEnum, type Role } from "./common";

export const MAX_CHAT_LENGTH = 4000;
export const CHAT_PAGE_DEFAULT = 50;
export const CHAT_PAGE_MAX = 100;

/**
 * Who a message reaches: everyone in the room; one participant (`target`) and the sender; or the owner and the
 * moderators (and the sender).
 */
export const ChatScopeSchema = z.enum(["global", "private", "moderators"]);
export type ChatScope = z.infer<typeof ChatScopeSchema>;

/** A message's id: the room numbers its messages in order (a decimal below 10^15, exact as a JSON number). */
export const MessageIdSchema = z.string().regex(/^[1-9][0-9]{0,14}$/, "malformed message id");

export const ChatCommandSchema = z.discriminatedUnion("action", [
  z
    .object({
      action: z.literal("send_message"),
      content: z
        .string()
        .trim()
        .min(1)
        .max(MAX_CHAT_LENGTH)
        .refine(isFreeText, "control characters other than line feed and tab, and lone surrogates, are not allowed"),
      scope: ChatScopeSchema.optional(),
      target: IdSchema.optional(),
    })
    .strict()
    .refine((c) => (c.scope === "private") === (c.target !== undefined), {
      message: "a private message names its target; other scopes have none",
      path: ["target"],
    }),
  /** A page of the history this participant may see, oldest first, older than `before` (a message id). */
  z
    .object({
      action: z.literal("get_history"),
      scope: ChatScopeSchema.optional(),
      before: MessageIdSchema.optional(),
      limit: z.number().int().min(1).max(CHAT_PAGE_MAX).optional(),
    })
    .strict(),
  /** Chairs: chat on or off for everyone else (chairs may still write). */
  z.object({ action: z.literal("set_enabled"), enabled: z.boolean() }).strict(),
  /** Chairs: deletes every stored message. */
  z.object({ action: z.literal("clear_history") }).strict(),
]);

export type ChatAction = z.infer<typeof ChatCommandSchema>["action"];

/** Who may issue each chat command (the room enforces it; the fuzz oracle and the docs read it). */
export const CHAT_AUTHORITY: { readonly [A in ChatAction]: readonly Role[] } = {
  send_message: ["owner", "moderator", "user", "guest"],
  get_history: ["owner", "moderator", "user", "guest"],
  set_enabled: ["owner", "moderator"],
  clear_history: ["owner", "moderator"],
};

export const ChatMessageSchema = z.object({
  id: MessageIdSchema,
  source: IdSchema,
  content: z.string(),
  /** Open: clients show a scope they do not know without its label, as a message to everyone. */
  scope: openEnum(ChatScopeSchema),
  /** `private`: the participant the message was written to. */
  target: IdSchema.optional(),
  timestamp: z.iso.datetime(),
});
export type ChatMessage = z.infer<typeof ChatMessageSchema>;

export const ChatEventSchema = z.discriminatedUnion("message", [
  z.object({ message: z.literal("message_sent"), ...ChatMessageSchema.shape }),
  /** The answer to get_history; `more`: older messages this participant may see exist. */
  z.object({ message: z.literal("history"), messages: z.array(ChatMessageSchema), more: z.boolean() }),
  /** Everyone: chat was switched on or off. */
  z.object({ message: z.literal("chat_state"), enabled: z.boolean() }),
  /** Everyone: a chair deleted the history. */
  z.object({ message: z.literal("history_cleared") }),
]);

/**
 * Chat's part of join_success: whether chat is on, the newest messages the joiner may see (oldest first), and
 * whether older ones exist (get_history pages back).
 */
export const ChatJoinStateSchema = z.object({
  enabled: z.boolean(),
  messages: z.array(ChatMessageSchema),
  more: z.boolean(),
});
