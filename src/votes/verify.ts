import { compactVerify, createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet } from "jose";
import {
  GENESIS_HASH,
  type VoteDescription,
  type VoteEntry,
  type VoteHead,
  VoteHeadSchema,
  type VoteProtocol,
  VoteProtocolSchema,
  type VoteReceipt,
  VoteReceiptSchema,
} from "../protocol/legal-vote";
import { entryHash, jcsBytes, resultOf, signedPayload } from "./chain";

export interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface Evidence {
  /** The protocol document as read (checked against its schema here). */
  protocol: unknown;
  /** Receipts voters kept. */
  receipts?: unknown[];
  /** Signed heads participants kept while the vote ran. */
  heads?: unknown[];
  /** The deployment's vote keys (JWKS, retired keys included); without them no signature can be checked. */
  keys?: JSONWebKeySet;
}

const sameJson = (a: unknown, b: unknown) => {
  const [x, y] = [jcsBytes(a), jcsBytes(b)];
  return x.length === y.length && x.every((byte, i) => byte === y[i]);
};

/** Checks a compact JWS with the keys and that it signs exactly `expected`; the key id when it does. */
async function signatureCheck(jws: string, expected: Uint8Array, keys: JSONWebKeySet | undefined): Promise<string> {
  if (!keys) throw new Error("no keys: pass --keys FILE or --keys-url URL");
  const header = decodeProtectedHeader(jws);
  if (header.alg !== "ES256") throw new Error(`algorithm ${String(header.alg)}, not ES256`);
  const { payload } = await compactVerify(jws, createLocalJWKSet(keys), { algorithms: ["ES256"] });
  if (payload.length !== expected.length || !payload.every((byte, i) => byte === expected[i])) {
    throw new Error("the signature covers other content");
  }
  return String(header.kid ?? "");
}

/** The chain's links: each entry's seq, prev and hash. Returns the first problem. */
async function chainProblem(entries: readonly VoteEntry[]): Promise<string | undefined> {
  let prev = GENESIS_HASH;
  for (const [i, entry] of entries.entries()) {
    if (entry.seq !== i) return `entry ${i} has seq ${entry.seq}`;
    if (entry.prev !== prev) return `entry ${i} does not link to entry ${i - 1}`;
    if ((await entryHash(entry)) !== entry.hash) return `entry ${i}'s hash does not match its content`;
    prev = entry.hash;
  }
  return undefined;
}

/** Ballots: only eligible voters (or distinct tokens, at most one per eligible voter), one each, allowed options. */
function ballotProblem(vote: VoteDescription, entries: readonly VoteEntry[]): string | undefined {
  const eligible = new Set(vote.eligible.map((e) => e.participant_id));
  const seen = new Set<string>();
  let closed = false;
  for (const { seq, event } of entries) {
    if (event.type === "stopped" || event.type === "canceled") closed = true;
    if (event.type !== "ballot") continue;
    if (closed) return `entry ${seq}: a ballot after the vote ended`;
    if (!vote.options.includes(event.option)) return `entry ${seq}: option ${event.option} is not offered`;
    const pseudonymous = vote.kind === "pseudonymous";
    const who = pseudonymous ? event.token : event.voter;
    if (who === undefined) return `entry ${seq}: a ballot without its ${pseudonymous ? "token" : "voter"}`;
    if (!pseudonymous && !eligible.has(who)) return `entry ${seq}: ${who} is not eligible`;
    if (seen.has(who)) return `entry ${seq}: a second ballot of ${pseudonymous ? "one token" : who}`;
    seen.add(who);
  }
  if (seen.size > eligible.size) return `${seen.size} ballots for ${eligible.size} eligible voters`;
  return undefined;
}

/**
 * The shape of the chain beyond its links: the options offered; one end (`stopped` or `canceled`) right before the
 * result; roll-call ballots timed and pseudonymous ones not; a pseudonymous vote's presence only at its end (its
 * attendance) and its issues unnamed.
 */
function structureProblem(vote: VoteProtocol["vote"], entries: VoteEntry[]): string | undefined {
  const options = vote.options.join(",");
  if (options !== "yes,no" && options !== "yes,no,abstain") return `options must be yes, no (and abstain): ${options}`;
  const ends = entries.flatMap((e, i) => (e.event.type === "stopped" || e.event.type === "canceled" ? [i] : []));
  if (ends.length !== 1 || ends[0] !== entries.length - 2) return "not exactly one end, right before the result";
  const pseudonymous = vote.kind === "pseudonymous";
  for (const [i, { at, event }] of entries.entries()) {
    if (event.type === "ballot" && pseudonymous !== (at === null)) {
      return `entry ${i}: ${pseudonymous ? "a pseudonymous ballot carries a time" : "a roll-call ballot has no time"}`;
    }
    if (!pseudonymous) continue;
    if (event.type === "issue" && event.participant_id !== null) return `entry ${i}: a named issue report`;
    const attendance = entries.slice(i + 1, -2).every((e) => e.event.type === "presence");
    if (event.type === "presence" && !attendance) return `entry ${i}: presence recorded while the vote ran`;
  }
  return undefined;
}

/**
 * Verifies a vote's evidence offline (docs/votes.md, "Verifying"): the document's shape, every entry's hash and
 * link, the head, the signature, the description against the `started` entry, the ballots, the tally and outcome
 * against the rule, and that every receipt and signed head is on the chain. One check per line; `ok` when all pass.
 */
export async function verifyVote(evidence: Evidence): Promise<{ ok: boolean; checks: Check[] }> {
  const checks: Check[] = [];
  const check = async (name: string, run: () => Promise<string | undefined> | string | undefined) => {
    try {
      const problem = await run();
      checks.push(problem === undefined ? { name, ok: true } : { name, ok: false, detail: problem });
    } catch (error) {
      checks.push({ name, ok: false, detail: error instanceof Error ? error.message : String(error) });
    }
  };
  const parsed = VoteProtocolSchema.safeParse(evidence.protocol);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    checks.push({ name: "document format", ok: false, detail: `${issue?.path.join(".")}: ${issue?.message}` });
    return { ok: false, checks };
  }
  checks.push({ name: "document format", ok: true });
  const doc: VoteProtocol = parsed.data;
  const { entries } = doc;
  const last = entries[entries.length - 1]!;

  await check("chain: every entry's hash and link", () => chainProblem(entries));
  await check("head is the last entry's hash", () =>
    doc.head === last.hash ? undefined : "the head is not the last entry's hash",
  );
  await check("document signature", async () => {
    const kid = await signatureCheck(
      doc.signature,
      signedPayload.protocol(doc.vote.id, doc.head, doc.result),
      evidence.keys,
    );
    checks.push({ name: `signed with key ${kid}`, ok: true });
    return undefined;
  });
  await check("vote equals the started entry", () => {
    const first = entries[0]!.event;
    if (first.type !== "started") return "the first entry is not `started`";
    if (!sameJson(first.vote, doc.vote)) return "the document's vote differs from the started entry";
    return entries.slice(1).some((e) => e.event.type === "started") ? "a second `started` entry" : undefined;
  });
  await check("ballots: eligible, once each, offered options", () => ballotProblem(doc.vote, entries));
  await check("entries fit the vote's kind; it ended once, right before its result", () =>
    structureProblem(doc.vote, entries),
  );
  await check("tally and outcome follow the rule", () => {
    if (last.event.type !== "result") return "the last entry is not the result";
    if (entries.slice(0, -1).some((e) => e.event.type === "result")) return "a result before the last entry";
    const count = (option: string) =>
      entries.filter((e) => e.event.type === "ballot" && e.event.option === option).length;
    const canceled = entries.some((e) => e.event.type === "canceled");
    const counts = {
      yes: count("yes"),
      no: count("no"),
      abstain: count("abstain"),
      eligible: doc.vote.eligible.length,
    };
    const expected = resultOf(doc.vote.rule, counts, canceled);
    if (!sameJson(expected, last.event.result))
      return `the result entry is not what the ballots give (${JSON.stringify(expected)})`;
    return sameJson(expected, doc.result) ? undefined : "the document's result differs from the result entry";
  });
  for (const [i, raw] of (evidence.receipts ?? []).entries()) {
    await check(`receipt ${i + 1} is on the chain with its ballot`, async () => {
      const receipt: VoteReceipt = VoteReceiptSchema.parse(raw);
      if (receipt.vote_id !== doc.vote.id) return "a receipt of another vote";
      await signatureCheck(
        receipt.signature,
        signedPayload.receipt(receipt.vote_id, receipt.seq, receipt.hash),
        evidence.keys,
      );
      const entry = entries[receipt.seq];
      if (entry?.hash !== receipt.hash) return `entry ${receipt.seq} is not the one this receipt was given for`;
      const { event } = entry;
      if (event.type !== "ballot" || event.option !== receipt.ballot.option) return "the entry is not this ballot";
      if (receipt.ballot.token !== undefined && event.token !== receipt.ballot.token)
        return "the entry has another token";
      return undefined;
    });
  }
  for (const [i, raw] of (evidence.heads ?? []).entries()) {
    await check(`signed head ${i + 1} is on the chain`, async () => {
      const head: VoteHead = VoteHeadSchema.parse(raw);
      if (head.vote_id !== doc.vote.id) return "a head of another vote";
      await signatureCheck(head.signature, signedPayload.head(head.vote_id, head.seq, head.hash), evidence.keys);
      return entries[head.seq]?.hash === head.hash ? undefined : `entry ${head.seq} differs from this signed head`;
    });
  }
  return { ok: checks.every((c) => c.ok), checks };
}
