import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CompactSign, exportJWK, generateKeyPair, type JSONWebKeySet } from "jose";
import { describe, expect, it } from "vitest";
import {
  VOTE_HEAD_FORMAT,
  VOTE_PROTOCOL_FORMAT,
  VOTE_RECEIPT_FORMAT,
  type VoteDescription,
  type VoteEntry,
  type VoteEvent,
  type VoteHead,
  type VoteKind,
  type VoteOption,
  type VoteProtocol,
  type VoteReceipt,
  type VoteRule,
} from "../../src/protocol";
import { nextEntry, resultOf, signedPayload } from "../../src/votes/chain";
import { verifyVote } from "../../src/votes/verify";

/**
 * The vote evidence format and its offline verifier. The fixture below writes a vote's evidence as the room does
 * (chain, receipts, heads, signed result) with a real ES256 key; it stands in for the room's vote key, and every
 * tampering case edits what it wrote.
 */

interface Key {
  kid: string;
  privateKey: CryptoKey;
  jwk: Record<string, unknown>;
}

async function newKey(kid: string): Promise<Key> {
  const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" } };
}
const jwks = (...keys: Key[]): JSONWebKeySet => ({ keys: keys.map((k) => k.jwk) }) as JSONWebKeySet;
const sign = (key: Key, bytes: Uint8Array) =>
  new CompactSign(bytes).setProtectedHeader({ alg: "ES256", kid: key.kid }).sign(key.privateKey);

const VOTERS = Array.from({ length: 6 }, (_, i) => ({ participant_id: `Voter${i}00000000`, display_name: `Ł${i}` }));
const TOKENS = Array.from({ length: 6 }, (_, i) => `token-${i}-0123456789abcdef`);
const RULE: VoteRule = { quorum: { numerator: 1, denominator: 2 }, majority: "simple" };

interface Written {
  protocol: VoteProtocol;
  receipts: VoteReceipt[];
  heads: VoteHead[];
}

/** Rewrites a chain from its events: hashes, links, the result entry, the head and the signature. */
async function seal(key: Key, vote: VoteDescription, events: { at: string | null; event: VoteEvent }[]) {
  const entries: VoteEntry[] = [];
  for (const { at, event } of events) entries.push(await nextEntry(entries.at(-1), at, event));
  const result = (entries.at(-1)!.event as Extract<VoteEvent, { type: "result" }>).result;
  const head = entries.at(-1)!.hash;
  const signature = await sign(key, signedPayload.protocol(vote.id, head, result));
  return { format: VOTE_PROTOCOL_FORMAT, vote, entries, result, head, signature } as VoteProtocol;
}

/** A vote as the room writes it: started, the ballots (voter index and option), stopped, result. */
async function writeVote(
  key: Key,
  ballots: [number, VoteOption][],
  options: { kind?: VoteKind; rule?: VoteRule; abstain?: boolean; eligible?: number } = {},
): Promise<Written> {
  const kind = options.kind ?? "roll_call";
  const eligible = VOTERS.slice(0, options.eligible ?? 5);
  const vote: VoteDescription = {
    id: "Vote000000000001",
    room_id: "Room000000000001",
    name: "Haushalt 2027",
    subtitle: null,
    topic: "Beschluss über den Haushaltsplan",
    kind,
    options: options.abstain === false ? ["yes", "no"] : ["yes", "no", "abstain"],
    rule: options.rule ?? RULE,
    eligible,
    initiator: { participant_id: "Chair00000000000", display_name: "Vorsitz" },
    started_at: "2026-12-01T10:00:00.000Z",
    duration_seconds: null,
    auto_close: true,
  };
  const pseudonymous = kind === "pseudonymous";
  const events: { at: string | null; event: VoteEvent }[] = [{ at: vote.started_at, event: { type: "started", vote } }];
  for (const [i, option] of ballots) {
    const who = pseudonymous ? { token: TOKENS[i]! } : { voter: VOTERS[i]!.participant_id };
    events.push({ at: pseudonymous ? null : "2026-12-01T10:01:00.000Z", event: { type: "ballot", ...who, option } });
  }
  events.push({ at: "2026-12-01T10:05:00.000Z", event: { type: "stopped", by: "Chair00000000000", reason: "manual" } });
  const count = (o: VoteOption) => ballots.filter(([, option]) => option === o).length;
  const result = resultOf(vote.rule, {
    yes: count("yes"),
    no: count("no"),
    abstain: count("abstain"),
    eligible: eligible.length,
  });
  events.push({ at: "2026-12-01T10:05:00.000Z", event: { type: "result", result } });
  const protocol = await seal(key, vote, events);
  const receipts: VoteReceipt[] = [];
  const heads: VoteHead[] = [];
  for (const entry of protocol.entries) {
    const { seq, hash, event } = entry;
    heads.push({
      format: VOTE_HEAD_FORMAT,
      vote_id: vote.id,
      seq,
      hash,
      signature: await sign(key, signedPayload.head(vote.id, seq, hash)),
    });
    if (event.type !== "ballot") continue;
    receipts.push({
      format: VOTE_RECEIPT_FORMAT,
      vote_id: vote.id,
      seq,
      hash,
      ballot: { option: event.option, ...(event.token ? { token: event.token } : {}) },
      signature: await sign(key, signedPayload.receipt(vote.id, seq, hash)),
    });
  }
  return { protocol, receipts, heads };
}

const clone = <T>(value: T): T => structuredClone(value);
const failed = (result: Awaited<ReturnType<typeof verifyVote>>) =>
  result.checks.filter((c) => !c.ok).map((c) => c.name);
/** Re-seals a protocol from its (edited) events, as an operator holding the key could. */
const reseal = (key: Key, p: VoteProtocol) =>
  seal(
    key,
    p.vote,
    p.entries.map(({ at, event }) => ({ at, event })),
  );

const STRUCTURE = "entries fit the vote's kind; it ended once, right before its result";

describe("vote evidence: the untouched protocol verifies", () => {
  it("verifies chain, signature, description, ballots, tally, receipts and heads", async () => {
    const key = await newKey("vote-key-1");
    const { protocol, receipts, heads } = await writeVote(key, [
      [0, "yes"],
      [1, "no"],
      [2, "yes"],
      [3, "abstain"],
    ]);
    const verified = await verifyVote({ protocol, receipts, heads, keys: jwks(key) });
    expect(failed(verified)).toEqual([]);
    expect(verified.ok).toBe(true);
    expect(protocol.result).toEqual({
      yes: 2,
      no: 1,
      abstain: 1,
      eligible: 5,
      cast: 4,
      quorum_met: true,
      outcome: "accepted",
    });
    expect(verified.checks.map((c) => c.name)).toContain("signed with key vote-key-1");
    // Retired keys stay in the JWKS: a protocol signed with an older key still verifies.
    const newer = await newKey("vote-key-2");
    expect((await verifyVote({ protocol, keys: jwks(newer, key) })).ok).toBe(true);
  });
});

describe("vote evidence: tampering is detected", () => {
  const ballots: [number, VoteOption][] = [
    [0, "yes"],
    [1, "no"],
    [2, "yes"],
  ];

  it("catches a changed, removed, reordered or inserted entry", async () => {
    const key = await newKey("k");
    const { protocol } = await writeVote(key, ballots);
    const keys = jwks(key);
    const changed = clone(protocol);
    (changed.entries[2]!.event as { option: string }).option = "yes";
    expect(failed(await verifyVote({ protocol: changed, keys }))).toContain("chain: every entry's hash and link");
    // Changed and its hash recomputed: the next entry no longer links to it.
    const rehashed = clone(changed);
    rehashed.entries[2] = await nextEntry(rehashed.entries[1], rehashed.entries[2]!.at, rehashed.entries[2]!.event);
    expect(failed(await verifyVote({ protocol: rehashed, keys }))).toContain("chain: every entry's hash and link");
    const removed = clone(protocol);
    removed.entries.splice(2, 1);
    expect(failed(await verifyVote({ protocol: removed, keys }))).toContain("chain: every entry's hash and link");
    const reordered = clone(protocol);
    [reordered.entries[1], reordered.entries[2]] = [reordered.entries[2]!, reordered.entries[1]!];
    expect(failed(await verifyVote({ protocol: reordered, keys }))).toContain("chain: every entry's hash and link");
    const inserted = clone(protocol);
    inserted.entries.splice(2, 0, clone(inserted.entries[1]!));
    expect(failed(await verifyVote({ protocol: inserted, keys }))).toContain("chain: every entry's hash and link");
  });

  it("catches a description unlike the started entry, a second start, a head that is not the last", async () => {
    const key = await newKey("k");
    const keys = jwks(key);
    const { protocol } = await writeVote(key, ballots);
    // The document's `vote` is outside the signature: one eligible voter swapped for an outsider, the rest intact.
    // (Read from JSON, as a verifier does: the document's `vote` and the entry's are separate objects.)
    const swapped = JSON.parse(JSON.stringify(protocol)) as VoteProtocol;
    swapped.vote.eligible[0] = { participant_id: "Outsider00000000", display_name: "Außenstehend" };
    expect(failed(await verifyVote({ protocol: swapped, keys }))).toContain("vote equals the started entry");
    const restarted = clone(protocol);
    restarted.entries.splice(1, 0, { ...restarted.entries[0]!, seq: 1 });
    expect(failed(await verifyVote({ protocol: await reseal(key, restarted), keys }))).toContain(
      "vote equals the started entry",
    );
    // Cut after a ballot and signed again: the head names an entry the document no longer ends with.
    const truncated = clone(protocol);
    truncated.entries = truncated.entries.slice(0, 2);
    expect(failed(await verifyVote({ protocol: truncated, keys }))).toContain("head is the last entry's hash");
  });

  it("catches a changed tally or outcome, signed or not", async () => {
    const key = await newKey("k");
    const { protocol } = await writeVote(key, ballots);
    const keys = jwks(key);
    const tally = clone(protocol);
    tally.result.yes += 1;
    expect(failed(await verifyVote({ protocol: tally, keys }))).toEqual(
      expect.arrayContaining(["document signature", "tally and outcome follow the rule"]),
    );
    // The result entry and the document both rewritten and re-signed: the ballots still give another result.
    const outcome = clone(protocol);
    (outcome.entries.at(-1)!.event as any).result.outcome = "rejected";
    const resigned = await reseal(key, outcome);
    expect(failed(await verifyVote({ protocol: resigned, keys }))).toEqual(["tally and outcome follow the rule"]);
  });

  it("catches a rewritten chain re-signed with the server's key, by receipts and heads voters kept", async () => {
    const key = await newKey("k");
    const { protocol, receipts, heads } = await writeVote(key, ballots);
    const keys = jwks(key);
    // The operator turns voter 1's "no" into "yes", recomputes the result, rehashes and re-signs everything.
    const forged = clone(protocol);
    (forged.entries[2]!.event as { option: string }).option = "yes";
    const counts = { yes: 3, no: 0, abstain: 0, eligible: 5 };
    (forged.entries.at(-1)!.event as any).result = resultOf(RULE, counts);
    const rewritten = await reseal(key, forged);
    // On its own the forgery is consistent: only the evidence the participants hold shows it.
    expect(failed(await verifyVote({ protocol: rewritten, keys }))).toEqual([]);
    const withReceipt = await verifyVote({ protocol: rewritten, receipts: [receipts[1]!], keys });
    expect(failed(withReceipt)).toEqual(["receipt 1 is on the chain with its ballot"]);
    const withHead = await verifyVote({ protocol: rewritten, heads: [heads[2]!], keys });
    expect(failed(withHead)).toEqual(["signed head 1 is on the chain"]);
    // An earlier head, before the rewritten entry, is still on the chain.
    expect((await verifyVote({ protocol: rewritten, heads: [heads[1]!], keys })).ok).toBe(true);
  });

  it("refuses signatures of other keys, none at all, and a head's signature passed as a receipt's", async () => {
    const key = await newKey("k");
    const other = await newKey("k");
    const { protocol, receipts, heads } = await writeVote(key, ballots);
    expect(failed(await verifyVote({ protocol, keys: jwks(other) }))).toContain("document signature");
    expect(failed(await verifyVote({ protocol }))).toContain("document signature");
    const swapped = { ...receipts[0]!, signature: heads[receipts[0]!.seq]!.signature };
    expect(failed(await verifyVote({ protocol, receipts: [swapped], keys: jwks(key) }))).toEqual([
      "receipt 1 is on the chain with its ballot",
    ]);
  });

  it("catches ballots of ineligible voters, second ballots, options not offered, ballots after the end", async () => {
    const key = await newKey("k");
    const keys = jwks(key);
    const ballotCheck = "ballots: eligible, once each, offered options";
    // Voter 5 is not among the five eligible; voter 0 twice; abstain where it is not offered.
    for (const [cast, options] of [
      [[[5, "yes"]], {}],
      [
        [
          [0, "yes"],
          [0, "no"],
        ],
        {},
      ],
      [[[0, "abstain"]], { abstain: false }],
    ] as [[number, VoteOption][], { abstain?: boolean }][]) {
      const { protocol } = await writeVote(key, cast, options);
      expect(failed(await verifyVote({ protocol, keys })), JSON.stringify(cast)).toContain(ballotCheck);
    }
    // A ballot moved behind `stopped` (re-sealed).
    const { protocol } = await writeVote(key, [[0, "yes"]]);
    const late = clone(protocol);
    [late.entries[1], late.entries[2]] = [late.entries[2]!, late.entries[1]!];
    expect(failed(await verifyVote({ protocol: await reseal(key, late), keys }))).toEqual([ballotCheck, STRUCTURE]);
  });

  it("catches entries that do not fit the vote's kind, and a second end", async () => {
    const key = await newKey("k");
    const keys = jwks(key);
    const roll = (await writeVote(key, [[0, "yes"]])).protocol;
    const untimed = clone(roll);
    untimed.entries[1]!.at = null;
    const pseudonymous = (await writeVote(key, [[0, "yes"]], { kind: "pseudonymous" })).protocol;
    const timed = clone(pseudonymous);
    timed.entries[1]!.at = timed.entries[0]!.at;
    const named = clone(pseudonymous);
    const issue = {
      type: "issue",
      kind: "audio",
      description: null,
      participant_id: roll.vote.eligible[0]!.participant_id,
    };
    named.entries.splice(2, 0, { ...named.entries[1]!, event: issue as never });
    const twice = clone(roll);
    twice.entries.splice(-1, 0, { ...twice.entries.at(-2)! });
    for (const tampered of [untimed, timed, named, twice]) {
      expect(failed(await verifyVote({ protocol: await reseal(key, tampered), keys }))).toContain(STRUCTURE);
    }
  });

  it("in pseudonymous votes, counts distinct tokens (one per eligible voter at most) and token receipts", async () => {
    const key = await newKey("k");
    const keys = jwks(key);
    const { protocol, receipts } = await writeVote(
      key,
      [
        [0, "yes"],
        [1, "no"],
      ],
      { kind: "pseudonymous" },
    );
    expect(protocol.entries.filter((e) => e.event.type === "ballot").every((e) => e.at === null)).toBe(true);
    expect((await verifyVote({ protocol, receipts, keys })).ok).toBe(true);
    const tooMany = await writeVote(
      key,
      [
        [0, "yes"],
        [1, "yes"],
        [2, "yes"],
      ],
      { kind: "pseudonymous", eligible: 2 },
    );
    expect(failed(await verifyVote({ protocol: tooMany.protocol, keys }))).toContain(
      "ballots: eligible, once each, offered options",
    );
    const otherToken = { ...receipts[0]!, ballot: { ...receipts[0]!.ballot, token: TOKENS[5]! } };
    expect(failed(await verifyVote({ protocol, receipts: [otherToken], keys }))).toEqual([
      "receipt 1 is on the chain with its ballot",
    ]);
  });
});

describe("vote outcomes in integers", () => {
  const rule = (majority: VoteRule["majority"], numerator = 0, denominator = 1): VoteRule => ({
    quorum: { numerator, denominator },
    majority,
  });
  const outcome = (r: VoteRule, yes: number, no: number, abstain: number, eligible: number) =>
    resultOf(r, { yes, no, abstain, eligible }).outcome;

  it("decides simple, absolute and two-thirds majorities, ties and abstentions exactly", () => {
    expect(outcome(rule("simple"), 3, 2, 0, 5)).toBe("accepted");
    expect(outcome(rule("simple"), 2, 2, 1, 5)).toBe("rejected"); // a tie does not pass
    expect(outcome(rule("simple"), 1, 0, 9, 10)).toBe("accepted"); // abstentions are not against
    expect(outcome(rule("absolute"), 5, 0, 0, 10)).toBe("rejected"); // half of the eligible is not more than half
    expect(outcome(rule("absolute"), 6, 4, 0, 10)).toBe("accepted");
    expect(outcome(rule("two_thirds"), 2, 1, 0, 3)).toBe("accepted"); // exactly two thirds
    expect(outcome(rule("two_thirds"), 20, 11, 0, 31)).toBe("rejected"); // just below
    expect(outcome(rule("two_thirds"), 0, 0, 4, 4)).toBe("rejected"); // no valid votes
    expect(outcome(rule("simple"), 0, 0, 0, 4)).toBe("rejected");
  });

  it("needs the quorum of the eligible, abstentions counting as cast", () => {
    const half = rule("simple", 1, 2);
    expect(resultOf(half, { yes: 1, no: 0, abstain: 1, eligible: 4 })).toMatchObject({ cast: 2, quorum_met: true });
    expect(resultOf(half, { yes: 1, no: 0, abstain: 0, eligible: 4 })).toMatchObject({
      cast: 1,
      quorum_met: false,
      outcome: "no_quorum",
    });
    expect(resultOf(rule("simple", 2, 3), { yes: 2, no: 0, abstain: 0, eligible: 3 }).quorum_met).toBe(true);
    expect(resultOf(half, { yes: 3, no: 0, abstain: 0, eligible: 4 }, true).outcome).toBe("canceled");
  });
});

describe("npm run verify-vote", () => {
  it("prints a line per check and exits 0 when the evidence verifies, 1 when it does not, 2 on misuse", async () => {
    const key = await newKey("cli-key");
    const { protocol, receipts, heads } = await writeVote(key, [[0, "yes"]]);
    const dir = await mkdtemp(join(tmpdir(), "verify-vote-"));
    const file = async (name: string, value: unknown) => {
      const path = join(dir, name);
      await writeFile(path, JSON.stringify(value));
      return path;
    };
    const [good, keys, receipt, head] = await Promise.all([
      file("protocol.json", protocol),
      file("keys.json", jwks(key)),
      file("receipt.json", receipts[0]),
      file("head.json", heads[1]),
    ]);
    const tampered = clone(protocol);
    tampered.result.no = 1;
    const bad = await file("tampered.json", tampered);
    const cli = ["--import", "tsx", "scripts/verify-vote.ts"];
    const run = (...args: string[]) => spawnSync(process.execPath, [...cli, ...args], { encoding: "utf8" });
    // While this process serves the keys, the CLI runs beside it (spawnSync would block the server).
    const runAsync = (...args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [...cli, ...args]);
        let [stdout, stderr] = ["", ""];
        child.stdout.on("data", (chunk) => (stdout += chunk));
        child.stderr.on("data", (chunk) => (stderr += chunk));
        child.on("close", (status) => resolve({ status, stdout, stderr }));
      });
    const ok = run(good, receipt, "--head", head, "--keys", keys);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("ok   chain: every entry's hash and link");
    expect(ok.stdout).toContain("ok   receipt 1 is on the chain with its ballot");
    expect(ok.stdout).toContain("verdict: the protocol verifies");
    // The keys as the deployment serves them (GET /v1/rooms/{id}/votes/keys), from a loopback server here.
    const served = createServer((_request, response) => response.end(JSON.stringify(jwks(key))));
    await new Promise<void>((resolve) => served.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(served.address() as AddressInfo).port}/v1/rooms/Room000000000001/votes/keys`;
    try {
      const fetched = await runAsync(good, "--keys-url", url);
      expect(fetched.status, fetched.stderr).toBe(0);
      expect(fetched.stdout).toContain("ok   signed with key cli-key");
    } finally {
      served.close();
    }
    const failing = run(bad, "--keys", keys);
    expect(failing.status).toBe(1);
    expect(failing.stdout).toContain("FAIL document signature");
    expect(failing.stdout).toContain("verdict: the protocol does NOT verify");
    expect(run().status).toBe(2);
  });
});
