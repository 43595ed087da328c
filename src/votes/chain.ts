import canonicalize from "canonicalize";
import {
  GENESIS_HASH,
  VOTE_HEAD_FORMAT,
  VOTE_PROTOCOL_FORMAT,
  VOTE_RECEIPT_FORMAT,
  type VoteEntry,
  type VoteEvent,
  type VoteResult,
  type VoteRule,
} from "../protocol/legal-vote";

/**
 * The vote chain (docs/votes.md), shared by the room that writes it and every verifier: an entry's hash, what
 * each signature covers, and the outcome rules in integers.
 */

const encoder = new TextEncoder();

/** RFC 8785 canonical JSON (JCS) as UTF-8 bytes. */
export function jcsBytes(value: unknown): Uint8Array<ArrayBuffer> {
  const text = canonicalize(value);
  if (text === undefined) throw new Error("not representable as JSON");
  return new Uint8Array(encoder.encode(text));
}

async function sha256Hex(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Lowercase hex SHA-256 of JCS `{ seq, prev, at, event }`. */
export function entryHash(entry: Pick<VoteEntry, "seq" | "prev" | "at" | "event">): Promise<string> {
  const { seq, prev, at, event } = entry;
  return sha256Hex(jcsBytes({ seq, prev, at, event }));
}

/** The next link after `last` (none: the first entry). */
export async function nextEntry(
  last: Pick<VoteEntry, "seq" | "hash"> | undefined,
  at: string | null,
  event: VoteEvent,
): Promise<VoteEntry> {
  const link = { seq: last ? last.seq + 1 : 0, prev: last ? last.hash : GENESIS_HASH, at, event };
  return { ...link, hash: await entryHash(link) };
}

/**
 * What each signature covers, as JCS bytes: a document's `{ format, vote_id, head, result }`; a receipt's and a
 * head's `{ format, vote_id, seq, hash }` with their own format string, so one can never stand for the other.
 */
export const signedPayload = {
  protocol: (voteId: string, head: string, result: VoteResult) =>
    jcsBytes({ format: VOTE_PROTOCOL_FORMAT, vote_id: voteId, head, result }),
  receipt: (voteId: string, seq: number, hash: string) =>
    jcsBytes({ format: VOTE_RECEIPT_FORMAT, vote_id: voteId, seq, hash }),
  head: (voteId: string, seq: number, hash: string) =>
    jcsBytes({ format: VOTE_HEAD_FORMAT, vote_id: voteId, seq, hash }),
};

export interface Counts {
  yes: number;
  no: number;
  abstain: number;
  eligible: number;
}

/**
 * The result from the ballots' counts, in integers only (abstentions count as cast): quorum when
 * `cast × denominator ≥ numerator × eligible`; simple: yes > no; absolute: 2 × yes > eligible; two-thirds:
 * 3 × yes ≥ 2 × (yes + no) and yes + no > 0. A canceled vote's outcome is `canceled`.
 */
export function resultOf(rule: VoteRule, counts: Counts, canceled = false): VoteResult {
  const { yes, no, abstain, eligible } = counts;
  const cast = yes + no + abstain;
  const quorumMet = cast * rule.quorum.denominator >= rule.quorum.numerator * eligible;
  const passes =
    rule.majority === "simple"
      ? yes > no
      : rule.majority === "absolute"
        ? 2 * yes > eligible
        : 3 * yes >= 2 * (yes + no) && yes + no > 0;
  const outcome = canceled ? "canceled" : !quorumMet ? "no_quorum" : passes ? "accepted" : "rejected";
  return { yes, no, abstain, eligible, cast, quorum_met: quorumMet, outcome };
}
