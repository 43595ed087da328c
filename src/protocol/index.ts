import { z } from "zod";
import { ChatEventSchema } from "./chat";
import { ControlEventSchema } from "./control";
import { ErrorPayloadSchema, serverFrameSchema } from "./frames";
import { MediaEventSchema } from "./media";
import { ModerationEventSchema } from "./moderation";
import { TurnEventSchema } from "./turn";

export * from "./chat";
export * from "./common";
export * from "./control";
export * from "./frames";
export * from "./media";
export * from "./moderation";
export * from "./rest";
export * from "./sfu";
export * from "./turn";

/** Every server → client frame, discriminated by namespace; clients and tests parse with this. */
export const ServerFrameSchema = z.union([
  serverFrameSchema(ErrorPayloadSchema).extend({ namespace: z.string() }),
  serverFrameSchema(ControlEventSchema).extend({ namespace: z.literal("control") }),
  serverFrameSchema(ChatEventSchema).extend({ namespace: z.literal("chat") }),
  serverFrameSchema(TurnEventSchema).extend({ namespace: z.literal("turn") }),
  serverFrameSchema(MediaEventSchema).extend({ namespace: z.literal("media") }),
  serverFrameSchema(ModerationEventSchema).extend({ namespace: z.literal("moderation") }),
]);
export type ServerFrame = z.infer<typeof ServerFrameSchema>;
