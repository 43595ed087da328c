import { z } from "zod";
import { IdSchema, isFreeText, openEnum } from "./common";

export const MAX_CHAT_LENGTH = 4000;

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
    })
    .strict(),
]);

export const ChatMessageSchema = z.object({
  id: z.string(),
  source: IdSchema,
  content: z.string(),
  /** Only `global` today; scopes will be added (open: clients show unknown scopes as global). */
  scope: openEnum(z.enum(["global"])),
  timestamp: z.iso.datetime(),
});
export type ChatMessage = z.infer<typeof ChatMessageSchema>;

export const ChatEventSchema = z.discriminatedUnion("message", [
  z.object({ message: z.literal("message_sent"), ...ChatMessageSchema.shape }),
]);

/** Chat's part of join_success: the most recent global messages, oldest first. */
export const ChatJoinStateSchema = z.object({ messages: z.array(ChatMessageSchema) });
