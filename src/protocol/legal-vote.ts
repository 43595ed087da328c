import { z } from "zod";
import { IdSchema, isFreeText, isVisibleText, openEnum, PublicKeySetSchema, type Role, RoomIdSchema } from "./common";
import { CHAIRS } from "./moderation";

/**
 * The evidence of a legal vote (docs/votes.md): its protocol document, the receipts voters get and the signed
 * heads everyone gets while it runs. The formats are open and versioned; a verifier re-implements them from the
 * docs alone (`npm run verify-vote`).
 */
export const VOTE_PROTOCOL_FORMAT = "plenum-vote-protocol/1";
export const VOTE_RECEIPT_FORMAT = "plenum-vote-receipt/1";
export const VOTE_HEAD_FORMAT = "plenum-vote-head/1";

/** The `prev` of the first entry: 64 zeros. */
export const GENESIS_HASH = "0".repeat(64);

const HashSchema = z.string().regex(/^[0-9a-f]{64}$/, "a lowercase hex SHA-256");
const CompactJwsSchema = z.string().regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, "a compact JWS");
/** Ballot tokens of pseudonymous votes: random, URL-safe. */
export const VoteTokenSchema = z.string().regex(/^[A-Za-z0-9_-]{16,64}$/, "malformed token");

export const VoteOptionSchema = z.enum(["yes", "no", "abstain"]);
export type VoteOption = z.infer<typeof VoteOptionSchema>;
export const VoteKindSchema = z.enum(["roll_call", "live_roll_call", "pseudonymous"]);
export type VoteKind = z.infer<typeof VoteKindSchema>;

/** Bounds the quorum's terms, so the rule's products stay far inside exact integers (at most 10^6 × 10^3). */
const MAX_QUORUM_TERM = 1000;

/** Quorum `numerator/denominator` of the eligible voters; the majority among the ballots. */
export const VoteRuleSchema = z
  .object({
    quorum: z
      .object({
        numerator: z.number().int().min(0).max(MAX_QUORUM_TERM),
        denominator: z.number().int().min(1).max(MAX_QUORUM_TERM),
      })
      .strict()
      .refine((q) => q.numerator <= q.denominator, "a quorum is at most everyone"),
    majority: z.enum(["simple", "absolute", "two_thirds"]),
  })
  .strict();
export type VoteRule = z.infer<typeof VoteRuleSchema>;

const PersonSchema = z.object({ participant_id: IdSchema, display_name: z.string() }).strict();

/** The vote as it was started: the document's `vote`, equal to its first entry's. */
export const VoteDescriptionSchema = z
  .object({
    id: IdSchema,
    room_id: RoomIdSchema,
    name: z.string(),
    subtitle: z.string().nullable(),
    topic: z.string().nullable(),
    kind: VoteKindSchema,
    options: z.array(VoteOptionSchema).min(2),
    rule: VoteRuleSchema,
    eligible: z.array(PersonSchema),
    initiator: PersonSchema,
    started_at: z.iso.datetime(),
    duration_seconds: z.number().int().positive().nullable(),
    auto_close: z.boolean(),
  })
  .strict();
export type VoteDescription = z.infer<typeof VoteDescriptionSchema>;

export const VoteOutcomeSchema = z.enum(["accepted", "rejected", "no_quorum", "canceled"]);
export type VoteOutcome = z.infer<typeof VoteOutcomeSchema>;

export const VoteResultSchema = z
  .object({
    yes: z.number().int().min(0),
    no: z.number().int().min(0),
    abstain: z.number().int().min(0),
    eligible: z.number().int().min(0),
    cast: z.number().int().min(0),
    quorum_met: z.boolean(),
    outcome: VoteOutcomeSchema,
  })
  .strict();
export type VoteResult = z.infer<typeof VoteResultSchema>;

/** A ballot names its voter (roll calls) or its token (pseudonymous), never both. */
const BallotEventSchema = z
  .object({
    type: z.literal("ballot"),
    voter: IdSchema.optional(),
    token: VoteTokenSchema.optional(),
    option: VoteOptionSchema,
  })
  .strict()
  .refine((b) => (b.voter === undefined) !== (b.token === undefined), "a ballot names a voter or a token");

export const VoteEventSchema = z.union([
  z.object({ type: z.literal("started"), vote: VoteDescriptionSchema }).strict(),
  BallotEventSchema,
  z.object({ type: z.literal("presence"), participant_id: IdSchema, present: z.boolean() }).strict(),
  z
    .object({
      type: z.literal("issue"),
      kind: z.enum(["audio", "video", "screenshare"]).nullable(),
      description: z.string().nullable(),
      participant_id: IdSchema.nullable(),
    })
    .strict(),
  z
    .object({
      type: z.literal("stopped"),
      by: IdSchema.nullable(),
      reason: z.enum(["manual", "all_voted", "expired"]),
    })
    .strict(),
  z.object({ type: z.literal("canceled"), by: IdSchema.nullable(), reason: z.string() }).strict(),
  z.object({ type: z.literal("result"), result: VoteResultSchema }).strict(),
]);
export type VoteEvent = z.infer<typeof VoteEventSchema>;

/** One link of the chain: `hash` covers `{ seq, prev, at, event }` (JCS, SHA-256). */
export const VoteEntrySchema = z
  .object({
    seq: z.number().int().min(0),
    prev: HashSchema,
    /** Null for ballots of pseudonymous votes (no time that could link a ballot to a moment someone acted). */
    at: z.iso.datetime().nullable(),
    event: VoteEventSchema,
    hash: HashSchema,
  })
  .strict();
export type VoteEntry = z.infer<typeof VoteEntrySchema>;

export const VoteProtocolSchema = z
  .object({
    format: z.literal(VOTE_PROTOCOL_FORMAT),
    vote: VoteDescriptionSchema,
    entries: z.array(VoteEntrySchema).min(1),
    result: VoteResultSchema,
    head: HashSchema,
    /** ES256 over JCS `{ format, vote_id, head, result }`. */
    signature: CompactJwsSchema,
  })
  .strict();
export type VoteProtocol = z.infer<typeof VoteProtocolSchema>;

/**
 * A signed link of the chain (receipts and heads): which entry, and an ES256 signature over JCS `{ format,
 * vote_id, seq, hash }` with the evidence's own format string.
 */
const signedLink = <F extends string>(format: F) => ({
  format: z.literal(format),
  vote_id: IdSchema,
  seq: z.number().int().min(0),
  hash: HashSchema,
  signature: CompactJwsSchema,
});

export const VoteReceiptSchema = z
  .object({
    ...signedLink(VOTE_RECEIPT_FORMAT),
    ballot: z.object({ option: VoteOptionSchema, token: VoteTokenSchema.optional() }).strict(),
  })
  .strict();
export type VoteReceipt = z.infer<typeof VoteReceiptSchema>;

export const VoteHeadSchema = z.object(signedLink(VOTE_HEAD_FORMAT)).strict();
export type VoteHead = z.infer<typeof VoteHeadSchema>;

/** The deployment's vote keys (`GET /v1/rooms/{id}/votes/keys`): the key in use first, then retired ones. */
export const VoteKeySetSchema = PublicKeySetSchema.meta({ id: "VoteKeySet" });
export type VoteKeySet = z.infer<typeof VoteKeySetSchema>;

/** `POST /v1/operator/votes/rotate-key`: the new key's id (the old one stays in the key set). */
export const RotatedVoteKeySchema = z.object({ kid: z.string() }).meta({ id: "RotatedVoteKey" });

// ── The legal_vote namespace (docs/protocol.md) ─────────────────────────────

/** The most voters one vote names (a room's hard upper bound of participants). */
export const MAX_VOTERS = 1000;
export const MAX_VOTE_DURATION_SECONDS = 24 * 3600;

const VoteNameSchema = z.string().trim().min(1).max(150).refine(isVisibleText, "control characters are not allowed");
const VoteTextSchema = (max: number) =>
  z
    .string()
    .trim()
    .min(1)
    .max(max)
    .refine(isFreeText, "control characters other than line feed and tab are not allowed");
const voteId = { vote_id: IdSchema };

export const LegalVoteCommandSchema = z.discriminatedUnion("action", [
  z
    .object({
      action: z.literal("start"),
      name: VoteNameSchema,
      subtitle: VoteNameSchema.optional(),
      topic: VoteTextSchema(2000).optional(),
      kind: VoteKindSchema,
      allowed_participants: z
        .array(IdSchema)
        .min(1)
        .max(MAX_VOTERS)
        .refine((ids) => new Set(ids).size === ids.length, "a participant is named twice"),
      enable_abstain: z.boolean(),
      rule: VoteRuleSchema,
      duration_seconds: z.number().int().min(10).max(MAX_VOTE_DURATION_SECONDS).optional(),
      auto_close: z.boolean(),
    })
    .strict(),
  /** `token`: the one the voter got privately in a pseudonymous vote (absent in roll calls). */
  z
    .object({ action: z.literal("vote"), ...voteId, option: VoteOptionSchema, token: VoteTokenSchema.optional() })
    .strict(),
  z.object({ action: z.literal("stop"), ...voteId }).strict(),
  z.object({ action: z.literal("cancel"), ...voteId, reason: VoteTextSchema(300) }).strict(),
  z
    .object({
      action: z.literal("report_issue"),
      ...voteId,
      kind: z.enum(["audio", "video", "screenshare"]).optional(),
      description: VoteTextSchema(1000).optional(),
    })
    .strict(),
]);
export type LegalVoteCommand = z.infer<typeof LegalVoteCommandSchema>;
export type LegalVoteAction = LegalVoteCommand["action"];

/**
 * Who may issue each command (the room enforces it). Voting and reporting are open to every role here: whether
 * someone may is the vote's eligibility (a guest never is), answered `ineligible`.
 */
export const LEGAL_VOTE_AUTHORITY: { readonly [A in LegalVoteAction]: readonly Role[] } = {
  start: CHAIRS,
  vote: ["owner", "moderator", "user", "guest"],
  stop: CHAIRS,
  cancel: CHAIRS,
  report_issue: ["owner", "moderator", "user", "guest"],
};

const TallySchema = z.object({ yes: z.number().int(), no: z.number().int(), abstain: z.number().int() });
/** A live roll call's ballot as shown: who (with the name the vote lists them under) voted what. */
const NamedBallotSchema = z.object({
  participant_id: IdSchema,
  display_name: z.string(),
  option: openEnum(VoteOptionSchema),
});

export const LegalVoteEventSchema = z.discriminatedUnion("message", [
  /**
   * Everyone: a vote started; `head` is the signed head of its first entries (null when the vote key could not sign
   * at that moment: a `head` event follows).
   */
  z.object({
    message: z.literal("started"),
    ...voteId,
    vote: VoteDescriptionSchema,
    head: VoteHeadSchema.nullable(),
  }),
  /** To each eligible voter of a pseudonymous vote, privately: the single-use token to vote with. */
  z.object({ message: z.literal("token"), ...voteId, token: VoteTokenSchema }),
  /** To the voter, once the ballot is stored: the signed receipt (keep it to check the protocol later). */
  z.object({ message: z.literal("voted"), ...voteId, receipt: VoteReceiptSchema }),
  /**
   * Everyone, at most once per PRESENCE_BATCH_MS: how many have voted; in live roll calls also the tally and the
   * ballots cast since the previous update.
   */
  z.object({
    message: z.literal("updated"),
    ...voteId,
    cast: z.number().int(),
    tally: TallySchema.optional(),
    ballots: z.array(NamedBallotSchema).optional(),
  }),
  /** Everyone, at most once a second while the vote runs and its chain grew: a signed head of the chain. */
  z.object({ message: z.literal("head"), ...voteId, head: VoteHeadSchema }),
  /** To the vote's initiator: an eligible voter reported a problem (`participant_id` null in pseudonymous votes). */
  z.object({
    message: z.literal("issue_reported"),
    ...voteId,
    kind: z.string().nullable(),
    description: z.string().nullable(),
    participant_id: IdSchema.nullable(),
  }),
  z.object({ message: z.literal("stopped"), ...voteId, result: VoteResultSchema, head: VoteHeadSchema }),
  z.object({ message: z.literal("canceled"), ...voteId, reason: z.string(), head: VoteHeadSchema }),
]);

/**
 * join_success.modules.legal_vote: the running vote (or null) — its description, how many have voted, whether the
 * joiner has (null in pseudonymous votes: the room does not know) and their receipt, the tally and ballots in live
 * roll calls, and the latest signed head.
 */
export const LegalVoteJoinStateSchema = z.object({
  active: z
    .object({
      vote: VoteDescriptionSchema,
      cast: z.number().int(),
      voted: z.boolean().nullable(),
      /** Roll calls: the joiner's receipt, when they voted (from another device, or before a reconnect). */
      receipt: VoteReceiptSchema.optional(),
      tally: TallySchema.optional(),
      ballots: z.array(NamedBallotSchema).optional(),
      /** Null only briefly after a restart that came between storing the start and signing its first head. */
      head: VoteHeadSchema.nullable(),
    })
    .nullable(),
});

// ── REST ─────────────────────────────

export const VoteSummarySchema = z.object({
  vote_id: IdSchema,
  name: z.string(),
  kind: VoteKindSchema,
  started_at: z.iso.datetime(),
  stopped_at: z.iso.datetime().nullable(),
  /** Null while the vote runs. */
  outcome: VoteOutcomeSchema.nullable(),
});
export type VoteSummary = z.infer<typeof VoteSummarySchema>;
export const VoteListSchema = z.object({ votes: z.array(VoteSummarySchema) }).meta({ id: "VoteList" });
export type VoteList = z.infer<typeof VoteListSchema>;

export const VoteParamsSchema = z.object({ id: RoomIdSchema, vote_id: IdSchema });

/** DELETE /v1/rooms/{id}?erase_votes=true also erases the room's vote protocols (otherwise 409 votes_retained). */
export const DeleteRoomQuerySchema = z.object({ erase_votes: z.enum(["true", "false"]).optional() }).strict();
