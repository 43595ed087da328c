import { z } from "zod";
import { ChatJoinStateSchema } from "./chat";
import { IdSchema, RoleSchema } from "./common";
import { MediaJoinStateSchema } from "./media";
import { ModerationJoinStateSchema } from "./moderation";
import { TurnCredentialsSchema } from "./turn";

export const ParticipantSchema = z.object({
  participant_id: IdSchema,
  display_name: z.string(),
  role: RoleSchema,
  kind: z.enum(["user", "guest"]),
  joined_at: z.iso.datetime(),
  hand_raised_at: z.iso.datetime().nullable(),
});
export type Participant = z.infer<typeof ParticipantSchema>;

export const ControlCommandSchema = z.discriminatedUnion("action", [
  z.object({ action: z.literal("raise_hand") }).strict(),
  z.object({ action: z.literal("lower_hand") }).strict(),
]);
export type ControlCommand = z.infer<typeof ControlCommandSchema>;

export const LeaveReasonSchema = z.enum(["quit", "disconnected", "removed"]);

export const ControlEventSchema = z.discriminatedUnion("message", [
  z.object({
    message: z.literal("join_success"),
    participant_id: IdSchema,
    role: RoleSchema,
    display_name: z.string(),
    /** Everyone else currently in the room. */
    participants: z.array(ParticipantSchema),
    /** Each module's state for the joiner, keyed by namespace (turn is null when minting failed; it follows). */
    modules: z.object({
      chat: ChatJoinStateSchema,
      turn: TurnCredentialsSchema.nullable(),
      media: MediaJoinStateSchema,
      moderation: ModerationJoinStateSchema,
    }),
  }),
  z.object({ message: z.literal("joined"), participants: z.array(ParticipantSchema) }),
  z.object({ message: z.literal("left"), participants: z.array(IdSchema), reason: LeaveReasonSchema }),
  z.object({ message: z.literal("update"), participant: ParticipantSchema }),
]);
export type ControlEvent = z.infer<typeof ControlEventSchema>;
