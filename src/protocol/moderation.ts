import { z } from "zod";
import { IdSchema, openEnum, ParticipantKindSchema } from "./common";

/** Someone in the waiting room, as moderators see them. */
export const WaitingParticipantSchema = z.object({
  participant_id: IdSchema,
  display_name: z.string(),
  kind: openEnum(ParticipantKindSchema),
});
export type WaitingParticipant = z.infer<typeof WaitingParticipantSchema>;

export const ModerationCommandSchema = z.discriminatedUnion("action", [
  /** Let a participant in from the waiting room. */
  z.object({ action: z.literal("accept"), target: IdSchema }).strict(),
  /** Turn a participant in the waiting room away (their connections close with 4000). */
  z.object({ action: z.literal("reject"), target: IdSchema }).strict(),
]);

export const ModerationEventSchema = z.discriminatedUnion("message", [
  /** The first frame for a participant who must wait to be let in (instead of control.join_success). */
  z.object({ message: z.literal("in_waiting_room"), display_name: z.string() }),
  /**
   * Owners and moderators: who came into the waiting room and who left it (let in, turned away, gone) since the
   * last change; the whole list is in join_success (and goes to someone who becomes a moderator as `added`).
   */
  z.object({
    message: z.literal("waiting_room_changed"),
    added: z.array(WaitingParticipantSchema),
    removed: z.array(IdSchema),
  }),
]);

/** join_success.modules.moderation: the waiting list for owners and moderators, empty for everyone else. */
export const ModerationJoinStateSchema = z.object({ waiting: z.array(WaitingParticipantSchema) });
