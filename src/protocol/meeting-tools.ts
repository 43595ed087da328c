import { z } from "zod";
import { IdSchema, isFreeText, isVisibleText, openEnum, type Role } from "./common";
import { CHAIRS, DistinctParticipantsSchema } from "./moderation";

/**
 * Meeting tools (docs/protocol.md): polls, the timer (countdown, stopwatch, coffee break with ready check), the
 * speaker queue (automod) and anonymous feedback.
 */

const EVERYONE: readonly Role[] = ["owner", "moderator", "user", "guest"];
const visible = (max: number) =>
  z.string().trim().min(1).max(max).refine(isVisibleText, "control and format characters are not allowed");
const freeText = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine(isFreeText, "control characters other than line feed and tab are not allowed");
const MAX_TOOL_SECONDS = 24 * 3600;

// ── polls ─────────────────────────────

export const MAX_POLL_CHOICES = 20;
const pollId = { poll_id: IdSchema };

export const PollsCommandSchema = z.discriminatedUnion("action", [
  z
    .object({
      action: z.literal("start"),
      topic: freeText(500),
      choices: z.array(visible(200)).min(2).max(MAX_POLL_CHOICES),
      multiple_choice: z.boolean(),
      /** Everyone sees the counts while the poll is open. */
      live: z.boolean(),
      duration_seconds: z.number().int().min(5).max(MAX_TOOL_SECONDS).optional(),
    })
    .strict(),
  /** `choices`: indexes into the poll's choices (exactly one unless it is multiple choice), each once. */
  z
    .object({
      action: z.literal("vote"),
      ...pollId,
      choices: z
        .array(
          z
            .number()
            .int()
            .min(0)
            .max(MAX_POLL_CHOICES - 1),
        )
        .min(1)
        .max(MAX_POLL_CHOICES)
        .refine((c) => new Set(c).size === c.length, "a choice is named twice"),
    })
    .strict(),
  z.object({ action: z.literal("finish"), ...pollId }).strict(),
]);
export type PollsAction = z.infer<typeof PollsCommandSchema>["action"];

export const POLLS_AUTHORITY: { readonly [A in PollsAction]: readonly Role[] } = {
  start: CHAIRS,
  vote: EVERYONE,
  finish: CHAIRS,
};

const counts = z.array(z.number().int().min(0));
export const PollSchema = z.object({
  ...pollId,
  topic: z.string(),
  choices: z.array(z.string()),
  multiple_choice: z.boolean(),
  live: z.boolean(),
  /** When it ends by itself (null: when a chair finishes it). */
  ends_at: z.iso.datetime().nullable(),
  started_by: IdSchema,
});
export type Poll = z.infer<typeof PollSchema>;

export const PollsEventSchema = z.discriminatedUnion("message", [
  /** Everyone: a poll opened. */
  z.object({ message: z.literal("started"), ...PollSchema.shape }),
  /** To every connection of the voter: the ballot is counted. */
  z.object({ message: z.literal("voted"), ...pollId }),
  /** Everyone, in live polls: the counts per choice after each ballot. */
  z.object({ message: z.literal("live_update"), ...pollId, counts }),
  /** Everyone: the poll closed (a chair finished it, or its time ran out); the counts per choice. */
  z.object({
    message: z.literal("done"),
    ...pollId,
    counts,
    voters: z.number().int().min(0),
    reason: openEnum(z.enum(["finished", "expired", "meeting_ended"])),
  }),
]);

/**
 * join_success.modules.polls: the open poll (its counts only when live; whether the joiner has voted) and the last
 * closed one with its counts.
 */
export const PollsJoinStateSchema = z.object({
  active: z.object({ ...PollSchema.shape, counts: counts.optional(), voted: z.boolean() }).nullable(),
  last: z
    .object({
      ...PollSchema.shape,
      counts,
      voters: z.number().int().min(0),
      reason: openEnum(z.enum(["finished", "expired", "meeting_ended"])),
    })
    .nullable(),
});

// ── timer ─────────────────────────────

export const TimerCommandSchema = z.discriminatedUnion("action", [
  z
    .object({
      action: z.literal("start"),
      kind: z.enum(["countdown", "stopwatch"]),
      /** Countdowns only (required there). */
      duration_seconds: z.number().int().min(1).max(MAX_TOOL_SECONDS).optional(),
      title: visible(100).optional(),
      style: z.enum(["normal", "coffee_break"]).optional(),
      /** Participants say when they are ready (e.g. back from the break). */
      ready_check: z.boolean().optional(),
    })
    .strict()
    .refine((c) => (c.kind === "countdown") === (c.duration_seconds !== undefined), {
      message: "a countdown has a duration; a stopwatch has none",
      path: ["duration_seconds"],
    }),
  z.object({ action: z.literal("stop") }).strict(),
  z.object({ action: z.literal("update_ready_status"), ready: z.boolean() }).strict(),
]);
export type TimerAction = z.infer<typeof TimerCommandSchema>["action"];

export const TIMER_AUTHORITY: { readonly [A in TimerAction]: readonly Role[] } = {
  start: CHAIRS,
  stop: CHAIRS,
  update_ready_status: EVERYONE,
};

const timerId = { timer_id: IdSchema };
export const TimerSchema = z.object({
  ...timerId,
  kind: openEnum(z.enum(["countdown", "stopwatch"])),
  started_at: z.iso.datetime(),
  /** Countdowns: when it ends. */
  ends_at: z.iso.datetime().nullable(),
  title: z.string().nullable(),
  style: openEnum(z.enum(["normal", "coffee_break"])),
  ready_check: z.boolean(),
  started_by: IdSchema,
});

export const TimerEventSchema = z.discriminatedUnion("message", [
  z.object({ message: z.literal("started"), ...TimerSchema.shape }),
  z.object({
    message: z.literal("stopped"),
    ...timerId,
    reason: openEnum(z.enum(["by_moderator", "expired", "meeting_ended"])),
  }),
  /** To chairs: who said they are ready (or not any more). */
  z.object({ message: z.literal("ready_status"), ...timerId, participant_id: IdSchema, ready: z.boolean() }),
  /** Everyone: how many are ready (the sender's copy acknowledges their command). */
  z.object({ message: z.literal("ready_count"), ...timerId, ready: z.number().int().min(0) }),
]);

/** join_success.modules.timer: the running timer (or null), how many are ready, whether the joiner is, and for
 * chairs who is. */
export const TimerJoinStateSchema = z.object({
  active: z
    .object({
      ...TimerSchema.shape,
      ready_count: z.number().int().min(0),
      ready: z.boolean(),
      ready_participants: z.array(IdSchema),
    })
    .nullable(),
});

// ── feedback ─────────────────────────────

export const FeedbackKindSchema = z.enum(["agree", "disagree", "slower", "louder", "question", "break"]);
export type FeedbackKind = z.infer<typeof FeedbackKindSchema>;

export const FeedbackCommandSchema = z.discriminatedUnion("action", [
  z.object({ action: z.literal("send"), kind: FeedbackKindSchema }).strict(),
]);
export type FeedbackAction = z.infer<typeof FeedbackCommandSchema>["action"];

export const FEEDBACK_AUTHORITY: { readonly [A in FeedbackAction]: readonly Role[] } = { send: EVERYONE };

/** Reactions per kind in the current window (kinds nobody chose are left out). */
const FeedbackCountsSchema = z.record(z.string(), z.number().int().min(0));

export const FeedbackEventSchema = z.discriminatedUnion("message", [
  /** To the sender's connection: whether the reaction counted (once per kind and window). */
  z.object({ message: z.literal("received"), kind: openEnum(FeedbackKindSchema), counted: z.boolean() }),
  /**
   * To owners and moderators, and the current speaker of the speaker queue (also when the floor passes to them), at
   * most every 2 s while reactions come: the current window's counts.
   */
  z.object({ message: z.literal("summary"), counts: FeedbackCountsSchema, window_seconds: z.number().int() }),
]);

/**
 * join_success.modules.feedback: the window's length, and for chairs and the current speaker its counts so far
 * (empty for others).
 */
export const FeedbackJoinStateSchema = z.object({ counts: FeedbackCountsSchema, window_seconds: z.number().int() });

// ── automod (the speaker queue, or talking stick) ─────────────────────────────

/** A speaker whose connection dropped keeps the floor this long to come back (a reload, a network change). */
export const SPEAKER_AWAY_MS = 10_000;

export const AutomodStrategySchema = z.enum(["none", "playlist", "random", "nomination"]);
export type AutomodStrategy = z.infer<typeof AutomodStrategySchema>;

export const AutomodCommandSchema = z.discriminatedUnion("action", [
  z
    .object({
      action: z.literal("start"),
      /**
       * Who speaks when a turn ends: `playlist` the queue's first, `random` anyone of the queue, `nomination` whom
       * the speaker names, `none` nobody until a chair selects.
       */
      strategy: AutomodStrategySchema,
      /** The queue, in order; without it (and without `consider_hand_raise`) everyone in the room (pool `everyone`). */
      playlist: DistinctParticipantsSchema.optional(),
      /** Each turn ends by itself after this long. */
      time_limit_seconds: z.number().int().min(5).max(MAX_TOOL_SECONDS).optional(),
      /** Raising a hand joins the queue's end; lowering it leaves the queue (if the hand put them there). */
      consider_hand_raise: z.boolean().optional(),
      /** Whoever spoke may have the floor again (at the queue's end); else once, unless a chair picks them. */
      allow_double_selection: z.boolean().optional(),
      /** Only the speaker (and owners and moderators) may publish audio: microphone restrictions follow the turn. */
      exclusive_microphone: z.boolean().optional(),
    })
    .strict(),
  /** A chair gives the floor: to the queue's first, to anyone of the queue at random, or to `target`. */
  z
    .object({ action: z.literal("select"), how: z.enum(["next", "random", "specific"]), target: IdSchema.optional() })
    .strict()
    .refine((c) => (c.how === "specific") === (c.target !== undefined), {
      message: "`target` names the participant of a specific selection (and only there)",
      path: ["target"],
    }),
  /** The speaker ends their turn; with the nomination strategy, `next` (one of the queue) speaks after them. */
  z.object({ action: z.literal("yield"), next: IdSchema.optional() }).strict(),
  /** A chair replaces the queue (the pool becomes `queue`). */
  z.object({ action: z.literal("edit"), playlist: DistinctParticipantsSchema }).strict(),
  z.object({ action: z.literal("stop") }).strict(),
]);
export type AutomodAction = z.infer<typeof AutomodCommandSchema>["action"];

/** `yield` is everyone's by role; the room answers anyone but the current speaker `insufficient_permissions`. */
export const AUTOMOD_AUTHORITY: { readonly [A in AutomodAction]: readonly Role[] } = {
  start: CHAIRS,
  select: CHAIRS,
  yield: EVERYONE,
  edit: CHAIRS,
  stop: CHAIRS,
};

export const AutomodSettingsSchema = z.object({
  strategy: openEnum(AutomodStrategySchema),
  time_limit_seconds: z.number().int().nullable(),
  consider_hand_raise: z.boolean(),
  allow_double_selection: z.boolean(),
  exclusive_microphone: z.boolean(),
  started_by: IdSchema,
});

/** Who has the floor, for how long, who waits (in order) and who has had a turn. */
export const SpeakerSchema = z.object({
  /**
   * `queue`: the queue is the list in `queue`. `everyone`: everyone in the room, by arrival (`joined_at`), who is not
   * speaking and has not spoken — with double selection, those who have spoken after them, in `spoken` order — and
   * `queue` is empty (clients list it from presence: a join changes nothing to send); `edit` makes it `queue`.
   */
  pool: openEnum(z.enum(["queue", "everyone"])),
  speaker: IdSchema.nullable(),
  /** Of the speaker's turn, when there is a time limit (null otherwise). */
  remaining_seconds: z.number().int().min(0).nullable(),
  ends_at: z.iso.datetime().nullable(),
  queue: z.array(IdSchema),
  /** Who has had a turn, in the order they had it. */
  spoken: z.array(IdSchema),
});

export const AutomodEventSchema = z.discriminatedUnion("message", [
  /** Everyone: a chair started the speaker queue (a speaker_updated follows). */
  z.object({ message: z.literal("started"), ...AutomodSettingsSchema.shape }),
  /** Everyone: the floor or the queue changed. */
  z.object({ message: z.literal("speaker_updated"), ...SpeakerSchema.shape }),
  /** Everyone: the speaker queue ended (microphone restrictions are back as they were before it started). */
  z.object({ message: z.literal("stopped"), reason: openEnum(z.enum(["by_moderator", "meeting_ended"])) }),
]);

/** join_success.modules.automod: the running speaker queue (or null). */
export const AutomodJoinStateSchema = z.object({
  active: z.object({ ...AutomodSettingsSchema.shape, ...SpeakerSchema.shape }).nullable(),
});
