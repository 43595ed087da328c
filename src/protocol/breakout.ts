import { z } from "zod";
import { IdSchema, isVisibleText, openEnum, type Role } from "./common";
import { CHAIRS, DistinctParticipantsSchema } from "./moderation";

/** Breakout rooms (docs/protocol.md, namespace breakout): working groups over the same connection. */

const EVERYONE: readonly Role[] = ["owner", "moderator", "user", "guest"];
export const MIN_BREAKOUT_ROOMS = 2;
export const MAX_BREAKOUT_ROOMS = 50;
const MAX_BREAKOUT_SECONDS = 24 * 3600;
/** The longest a chair may announce the return in advance. */
export const MAX_BREAKOUT_CLOSING_SECONDS = 600;

/** A breakout room's id within its room: `b1` … `b50`, in the order the rooms were given. */
export const BreakoutRoomIdSchema = z.string().regex(/^b([1-9]|[1-4][0-9]|50)$/, "a breakout room id (b1 … b50)");

export const BreakoutCommandSchema = z.discriminatedUnion("action", [
  z
    .object({
      action: z.literal("start"),
      rooms: z
        .array(
          z
            .object({
              name: z
                .string()
                .trim()
                .min(1)
                .max(100)
                .refine(isVisibleText, "control and format characters are not allowed"),
              assignments: DistinctParticipantsSchema.optional(),
            })
            .strict(),
        )
        .min(MIN_BREAKOUT_ROOMS)
        .max(MAX_BREAKOUT_ROOMS)
        .refine(
          (rooms) => {
            const named = rooms.flatMap((r) => r.assignments ?? []);
            return new Set(named).size === named.length;
          },
          { message: "a participant is assigned to two rooms" },
        ),
      /** Whoever no room names is spread evenly over the rooms (owners and moderators stay in the main room). */
      random_assignment: z.boolean().optional(),
      /** The rooms close by themselves after this long (everyone returns). */
      duration_seconds: z.number().int().min(60).max(MAX_BREAKOUT_SECONDS).optional(),
      /** Participants may move between the rooms themselves. */
      allow_self_switch: z.boolean().optional(),
    })
    .strict(),
  /** Moves the sender into a breakout room (null: the main room). */
  z.object({ action: z.literal("switch_room"), room: BreakoutRoomIdSchema.nullable() }).strict(),
  /** Everyone returns, at once or after `delay_seconds` (announced with `closing`). */
  z
    .object({
      action: z.literal("stop"),
      delay_seconds: z.number().int().min(0).max(MAX_BREAKOUT_CLOSING_SECONDS).optional(),
    })
    .strict(),
]);
export type BreakoutAction = z.infer<typeof BreakoutCommandSchema>["action"];

/** `switch_room` is everyone's by role; the room refuses others than chairs unless the rooms allow switching. */
export const BREAKOUT_AUTHORITY: { readonly [A in BreakoutAction]: readonly Role[] } = {
  start: CHAIRS,
  switch_room: EVERYONE,
  stop: CHAIRS,
};

const BreakoutRoomSchema = z.object({ id: z.string(), name: z.string() });

/** The running breakout: its rooms, who is in which (participants in the main room are left out), its end. */
export const BreakoutSchema = z.object({
  rooms: z.array(BreakoutRoomSchema),
  assignment: z.record(IdSchema, z.string()),
  ends_at: z.iso.datetime().nullable(),
  allow_self_switch: z.boolean(),
  /** When everyone returns, once a chair announced it (`closing`). */
  closing_at: z.iso.datetime().nullable(),
  started_by: IdSchema,
});

export const BreakoutEventSchema = z.discriminatedUnion("message", [
  /** Everyone: the breakout rooms opened, and who went where. */
  z.object({ message: z.literal("started"), ...BreakoutSchema.shape }),
  /** Everyone: a participant moved (room null: to the main room). */
  z.object({ message: z.literal("switched"), participant_id: IdSchema, room: z.string().nullable() }),
  /** Everyone: a chair stopped the rooms with a delay; everyone returns at `at`. */
  z.object({ message: z.literal("closing"), at: z.iso.datetime() }),
  /** Everyone: the rooms closed; everyone is back in the main room. */
  z.object({
    message: z.literal("stopped"),
    reason: openEnum(z.enum(["by_moderator", "expired", "meeting_ended"])),
  }),
]);

/** join_success.modules.breakout: the running breakout (or null) and the joiner's room in it (null: the main room). */
export const BreakoutJoinStateSchema = z.object({
  active: BreakoutSchema.nullable(),
  room: z.string().nullable(),
});
