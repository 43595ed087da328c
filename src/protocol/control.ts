import { z } from "zod";
import { IdSchema, openEnum, ParticipantKindSchema, RoleSchema } from "./common";

export const ParticipantSchema = z.object({
  participant_id: IdSchema,
  display_name: z.string(),
  role: openEnum(RoleSchema),
  kind: openEnum(ParticipantKindSchema),
  joined_at: z.iso.datetime(),
  hand_raised_at: z.iso.datetime().nullable(),
});
export type Participant = z.infer<typeof ParticipantSchema>;

export const ControlCommandSchema = z.discriminatedUnion("action", [
  z.object({ action: z.literal("raise_hand") }).strict(),
  z.object({ action: z.literal("lower_hand") }).strict(),
]);

/** `switched`: into another breakout room (the group they left sees them leave, the new one sees them join). */
export const LeaveReasonSchema = openEnum(z.enum(["quit", "disconnected", "removed", "switched"]));

/** Presence events; `join_success` is added by the registry, which knows every namespace's join state. */
export const ControlEventSchema = z.discriminatedUnion("message", [
  z.object({ message: z.literal("joined"), participants: z.array(ParticipantSchema) }),
  z.object({ message: z.literal("left"), participants: z.array(IdSchema), reason: LeaveReasonSchema }),
  z.object({ message: z.literal("update"), participant: ParticipantSchema }),
]);
