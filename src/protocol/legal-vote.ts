import { z } from "zod";
import { IdSchema } from "./common";

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

/** Quorum `numerator/denominator` of the eligible voters; the majority among the ballots. */
export const VoteRuleSchema = z
  .object({
    quorum: z
      .object({ numerator: z.number().int().min(0), denominator: z.number().int().min(1) })
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
    room_id: IdSchema,
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
export const VoteKeySetSchema = z
  .object({
    keys: z.array(
      z
        .object({ kty: z.literal("EC"), crv: z.literal("P-256"), x: z.string(), y: z.string(), kid: z.string() })
        .loose(),
    ),
  })
  .meta({ id: "VoteKeySet" });
export type VoteKeySet = z.infer<typeof VoteKeySetSchema>;

/** `POST /v1/operator/votes/rotate-key`: the new key's id (the old one stays in the key set). */
export const RotatedVoteKeySchema = z.object({ kid: z.string() }).meta({ id: "RotatedVoteKey" });
