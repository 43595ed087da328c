import { z } from "zod";
import {
  DisplayNameSchema,
  IdSchema,
  openEnum,
  type ParticipantKind,
  ParticipantKindSchema,
  type Role,
  RoleSchema,
  WaitingRoomSchema,
} from "./common";

/** Someone in the waiting room, as moderators see them. */
export const WaitingParticipantSchema = z.object({
  participant_id: IdSchema,
  display_name: z.string(),
  kind: openEnum(ParticipantKindSchema),
});
export type WaitingParticipant = z.infer<typeof WaitingParticipantSchema>;

/** Who did something (null id: an operator acting through the REST API). */
export const ModerationActorSchema = z.object({ participant_id: IdSchema.nullable(), display_name: z.string() });

/** A registered user kept out of the room, as owners and moderators see them. */
export const BanSchema = z.object({
  participant_id: IdSchema,
  display_name: z.string(),
  banned_at: z.iso.datetime(),
  banned_by: ModerationActorSchema,
});
export type Ban = z.infer<typeof BanSchema>;

/** The room's moderation settings everyone sees. */
export const RoomStateSchema = z.object({
  locked: z.boolean(),
  waiting_room: openEnum(WaitingRoomSchema),
  hands_enabled: z.boolean(),
});
export type RoomModerationState = z.infer<typeof RoomStateSchema>;

/**
 * Who may publish audio while microphone restrictions are on (owners and moderators always may); everyone else is
 * muted and may not unmute.
 */
export const MicrophoneRestrictionsSchema = z.object({ enabled: z.boolean(), unrestricted: z.array(IdSchema) });
export type MicrophoneRestrictions = z.infer<typeof MicrophoneRestrictionsSchema>;

/** The most participants one command names (a room's hard upper bound). */
export const MAX_NAMED_PARTICIPANTS = 1000;
const participantList = z.array(IdSchema).max(MAX_NAMED_PARTICIPANTS);
/** Participants named by a command, each once (e.g. a queue's order, a breakout room's list). */
export const DistinctParticipantsSchema = participantList.refine(
  (ids) => new Set(ids).size === ids.length,
  "a participant is named twice",
);

/** One accepted moderation command (or a REST change of the waiting-room setting), as the room keeps it. */
export const ModerationLogEntrySchema = z.object({
  seq: z.number().int(),
  at: z.iso.datetime(),
  actor: ModerationActorSchema,
  action: z.string(),
  target: z.object({ participant_id: IdSchema, display_name: z.string() }).optional(),
  /** What the command set, as flat values (e.g. `{ "role": "moderator", "from": "user" }`). */
  details: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
});
export type ModerationLogEntry = z.infer<typeof ModerationLogEntrySchema>;

/** A page of the log, oldest first; `more`: older entries exist (ask again with `before` = the first `seq`). */
export const ModerationLogSchema = z
  .object({ entries: z.array(ModerationLogEntrySchema), more: z.boolean() })
  .meta({ id: "ModerationLog" });
export type ModerationLog = z.infer<typeof ModerationLogSchema>;

export const LOG_PAGE_DEFAULT = 50;
export const LOG_PAGE_MAX = 200;
const LogPage = {
  before: z.number().int().positive().optional(),
  limit: z.number().int().min(1).max(LOG_PAGE_MAX).optional(),
};

/** GET /v1/rooms/{id}/moderation-log?before=&limit= */
export const ModerationLogQuerySchema = z
  .object({
    before: z.coerce.number().int().positive().optional(),
    limit: z.coerce.number().int().min(1).max(LOG_PAGE_MAX).optional(),
  })
  .strict();
export type ModerationLogQuery = z.infer<typeof ModerationLogQuerySchema>;

const target = { target: IdSchema };
const bare = <A extends string>(action: A) => z.object({ action: z.literal(action) }).strict();

export const ModerationCommandSchema = z.discriminatedUnion("action", [
  z.object({ action: z.literal("update_role"), ...target, role: z.enum(["moderator", "user"]) }).strict(),
  z.object({ action: z.literal("kick"), ...target }).strict(),
  z.object({ action: z.literal("ban"), ...target, revoke_invite: z.boolean().optional() }).strict(),
  z.object({ action: z.literal("unban"), ...target }).strict(),
  z.object({ action: z.literal("send_to_waiting_room"), ...target }).strict(),
  /** Let a participant in from the waiting room. */
  z.object({ action: z.literal("accept"), ...target }).strict(),
  bare("accept_all"),
  /** Turn a participant in the waiting room away (their connections close with 4000). */
  z.object({ action: z.literal("reject"), ...target }).strict(),
  z.object({ action: z.literal("set_waiting_room"), mode: WaitingRoomSchema }).strict(),
  bare("lock"),
  bare("unlock"),
  bare("end_meeting"),
  z.object({ action: z.literal("debrief"), scope: z.enum(["guests", "users_and_guests"]) }).strict(),
  z.object({ action: z.literal("set_hands"), enabled: z.boolean() }).strict(),
  bare("reset_hands"),
  z.object({ action: z.literal("set_display_name"), ...target, display_name: DisplayNameSchema }).strict(),
  z.object({ action: z.literal("get_log"), ...LogPage }).strict(),
  /** Switches microphones off (`all`: everyone but the owner and moderators); the SFU stops forwarding them. */
  z.object({ action: z.literal("mute"), targets: z.union([participantList.min(1), z.literal("all")]) }).strict(),
  /** Only `unrestricted` (and owners and moderators) may publish audio; everyone else is muted. */
  z.object({ action: z.literal("set_microphone_restrictions"), unrestricted: participantList }).strict(),
  bare("clear_microphone_restrictions"),
]);
export type ModerationCommand = z.infer<typeof ModerationCommandSchema>;
export type ModerationAction = ModerationCommand["action"];

export const ModerationEventSchema = z.discriminatedUnion("message", [
  /** The first frame for a participant who must wait to be let in (instead of control.join_success), and the frame
   * that tells someone sent back to the waiting room. */
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
  /** Everyone: the room's moderation settings after each change. */
  z.object({ message: z.literal("room_state"), ...RoomStateSchema.shape }),
  /** To the participant whose role an owner or moderator changed (everyone also gets control.update). */
  z.object({ message: z.literal("role_updated"), role: openEnum(RoleSchema) }),
  /** Owners and moderators: bans added and lifted (the whole list is in join_success, and goes to a new chair). */
  z.object({ message: z.literal("ban_list_changed"), added: z.array(BanSchema), removed: z.array(IdSchema) }),
  /** The answer to get_log. */
  z.object({ message: z.literal("log"), ...ModerationLogSchema.shape }),
  /** To a participant whose microphone a chair switched off (`by`: that chair). */
  z.object({ message: z.literal("muted"), by: IdSchema }),
  /** Everyone: microphone restrictions started, changed or ended. */
  z.object({ message: z.literal("microphone_restrictions"), ...MicrophoneRestrictionsSchema.shape }),
  /** Owners and moderators: an entry was appended to the log (the acting chair's copy carries the command's
   * transaction_id: it acknowledges the command). */
  z.object({ message: z.literal("logged"), entry: ModerationLogEntrySchema }),
]);

/**
 * join_success.modules.moderation: the room's settings for everyone; who waits and who is banned for owners and
 * moderators (empty lists for everyone else).
 */
export const ModerationJoinStateSchema = z.object({
  ...RoomStateSchema.shape,
  microphone_restrictions: MicrophoneRestrictionsSchema,
  waiting: z.array(WaitingParticipantSchema),
  banned: z.array(BanSchema),
});

/** Close reasons of the moderation namespace (with their codes in `CloseCode`). */
export const RemovalReason = {
  kicked: "kicked",
  banned: "banned",
  meetingEnded: "meeting ended",
  debriefing: "debriefing",
  notAdmitted: "not admitted",
} as const;

// ── Who may do what: the one table the room enforces, the docs' "who" column renders and the tests expand ──

export const CHAIRS: readonly Role[] = ["owner", "moderator"];

/**
 * Where a command's target must be: in the room (admitted), in the waiting room, either, or on the ban list; and
 * which kinds of participant it applies to (others: `insufficient_permissions`). Two rules hold for every target:
 * nobody acts on the owner, and only the owner acts on a moderator (a moderator may act on themselves).
 */
export interface TargetRule {
  in: "room" | "waiting" | "room_or_waiting" | "ban_list";
  kinds?: readonly ParticipantKind[];
  /** The command names its targets as `targets`: a list (the rule holds for each) or `all` (whom it allows). */
  many?: true;
}

export interface ModerationAuthority {
  /** Roles that may issue the command; nobody in the waiting room may issue any. */
  issuers: readonly Role[];
  target?: TargetRule;
}

export const MODERATION_AUTHORITY: { readonly [A in ModerationAction]: ModerationAuthority } = {
  update_role: { issuers: CHAIRS, target: { in: "room", kinds: ["user"] } },
  kick: { issuers: CHAIRS, target: { in: "room" } },
  ban: { issuers: CHAIRS, target: { in: "room_or_waiting" } },
  unban: { issuers: CHAIRS, target: { in: "ban_list" } },
  send_to_waiting_room: { issuers: CHAIRS, target: { in: "room" } },
  accept: { issuers: CHAIRS, target: { in: "waiting" } },
  accept_all: { issuers: CHAIRS },
  reject: { issuers: CHAIRS, target: { in: "waiting" } },
  set_waiting_room: { issuers: CHAIRS },
  lock: { issuers: CHAIRS },
  unlock: { issuers: CHAIRS },
  end_meeting: { issuers: CHAIRS },
  debrief: { issuers: CHAIRS },
  set_hands: { issuers: CHAIRS },
  reset_hands: { issuers: CHAIRS },
  set_display_name: { issuers: CHAIRS, target: { in: "room", kinds: ["guest"] } },
  get_log: { issuers: CHAIRS },
  mute: { issuers: CHAIRS, target: { in: "room", many: true } },
  set_microphone_restrictions: { issuers: CHAIRS },
  clear_microphone_restrictions: { issuers: CHAIRS },
};

const KIND_WORDS: Record<ParticipantKind, string> = { user: "registered users", guest: "guests" };
const PLACE_WORDS: Record<TargetRule["in"], string> = {
  room: "in the room",
  waiting: "in the waiting room",
  room_or_waiting: "in the room or waiting",
  ban_list: "on the ban list",
};

/** The "who" cell of a command in docs/protocol.md, rendered from `MODERATION_AUTHORITY`. */
export function authorityText(action: ModerationAction): string {
  const { issuers, target } = MODERATION_AUTHORITY[action];
  const who =
    issuers.length === CHAIRS.length && CHAIRS.every((r) => issuers.includes(r)) ? "chair" : issuers.join(", ");
  if (!target) return who;
  const kinds = target.kinds ?? ["user", "guest"];
  const clauses = [`${target.many ? "each target" : "target"} ${PLACE_WORDS[target.in]}`];
  if (target.kinds) clauses.push(`${kinds.map((k) => KIND_WORDS[k]).join(" and ")} only`);
  // Moderators are registered users, and a ban demotes: only then can a target be a moderator.
  if (kinds.includes("user") && target.in !== "ban_list") clauses.push("on a moderator: owner only");
  return `${who} (${clauses.join("; ")})`;
}
