import { env, runInDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { CommandOf, VoteHead, VoteProtocol, VoteReceipt } from "../../src/protocol";
import { readConfig } from "../../src/shared/config";
import { verifyVote } from "../../src/votes/verify";
import type { FrameCollector } from "../helpers/collector";
import { ack, fireTimers, type Peer, RoomHarness, timeTravel } from "./harness";
import { api, devToken } from "./helpers";

type StartCommand = Extract<CommandOf<"legal_vote">, { action: "start" }>;

const startOf = (allowed: string[], extra: Partial<StartCommand> = {}): StartCommand => ({
  action: "start",
  name: "Haushalt 2027",
  kind: "roll_call",
  allowed_participants: allowed,
  enable_abstain: true,
  rule: { quorum: { numerator: 1, denominator: 2 }, majority: "simple" },
  auto_close: false,
  ...extra,
});

/** Starts a vote and returns its id once every given peer has heard it. */
async function started(chair: Peer, command: StartCommand, everyone: Peer[]): Promise<string> {
  const answer = await chair.command("legal_vote", command);
  expect(answer.payload, JSON.stringify(answer)).toMatchObject({ message: "started" });
  const voteId = (answer.payload as any).vote_id as string;
  for (const peer of everyone) await heard(peer.client, "started", voteId);
  return voteId;
}

const heard = (client: FrameCollector, message: string, voteId: string) =>
  client.next(
    (f) => f.namespace === "legal_vote" && f.payload.message === message && (f.payload as any).vote_id === voteId,
  );

async function cast(peer: Peer, voteId: string, option: "yes" | "no" | "abstain", token?: string) {
  const answer = await peer.command("legal_vote", {
    action: "vote",
    vote_id: voteId,
    option,
    ...(token ? { token } : {}),
  });
  expect(answer.payload, JSON.stringify(answer)).toMatchObject({ message: "voted", vote_id: voteId });
  return (answer.payload as any).receipt as VoteReceipt;
}

const refusal = async (peer: Peer, command: CommandOf<"legal_vote">) => {
  const answer = await peer.command("legal_vote", command);
  expect(answer.payload.message, JSON.stringify(answer)).toBe("error");
  return answer.payload as { error: string; participant_ids?: string[] };
};

const keysOf = async (roomId: string) => (await api("GET", `/v1/rooms/${roomId}/votes/keys`)).body;
const protocolOf = async (roomId: string, voteId: string, token: string) =>
  api<VoteProtocol>("GET", `/v1/rooms/${roomId}/votes/${voteId}/protocol`, { token });
const headsSeen = (client: FrameCollector) =>
  client.frames.flatMap((f) =>
    f.namespace === "legal_vote" && "head" in f.payload && f.payload.head ? [f.payload.head as VoteHead] : [],
  );
const entriesOf = async (room: RoomHarness) => (await room.dump("legal_vote")).legal_vote_entries!;

afterEach(() => vi.restoreAllMocks());

describe("legal votes", () => {
  it("a roll call: receipts once stored, auto close, a signed protocol every holder of evidence verifies", async () => {
    const { room, owner, moderator, member, guest } = await RoomHarness.seated();
    const eligible = [owner.id, moderator.id, member.id];
    const voteId = await started(owner, startOf(eligible, { auto_close: true, topic: "Beschluss über den Haushalt" }), [
      moderator,
      member,
      guest,
    ]);
    const startedFrame = (await heard(member.client, "started", voteId)).payload as any;
    expect(startedFrame.vote).toMatchObject({
      id: voteId,
      room_id: room.room.id,
      kind: "roll_call",
      options: ["yes", "no", "abstain"],
      initiator: { participant_id: owner.id, display_name: "Vorsitz" },
      eligible: [
        { participant_id: owner.id, display_name: "Vorsitz" },
        { participant_id: moderator.id, display_name: "Moderation" },
        { participant_id: member.id, display_name: "Mitglied" },
      ],
    });
    expect(startedFrame.head).toMatchObject({ format: "plenum-vote-head/1", vote_id: voteId, seq: 0 });

    const receipts = [await cast(member, voteId, "yes")];
    expect(receipts[0]).toMatchObject({
      format: "plenum-vote-receipt/1",
      vote_id: voteId,
      seq: 1,
      ballot: { option: "yes" },
    });
    expect((await refusal(member, { action: "vote", vote_id: voteId, option: "no" })).error).toBe("already_voted");
    expect(await refusal(guest, { action: "vote", vote_id: voteId, option: "yes" })).toMatchObject({
      error: "ineligible",
      participant_ids: [guest.id],
    });
    // Everyone hears how many have voted; a plain roll call shows neither tally nor names while it runs.
    const update = (await owner.client.next((f) => f.payload.message === "updated" && (f.payload as any).cast === 1))
      .payload as any;
    expect(update.tally).toBeUndefined();
    expect(update.ballots).toBeUndefined();
    receipts.push(await cast(moderator, voteId, "no"));
    // A voter reports a problem: recorded, and the initiator hears who (a roll call names them).
    const issue = { action: "report_issue", vote_id: voteId, kind: "audio", description: "kein Ton" } as const;
    expect((await member.command("legal_vote", issue)).payload).toMatchObject({ participant_id: member.id });
    expect((await heard(owner.client, "issue_reported", voteId)).payload).toMatchObject({
      kind: "audio",
      description: "kein Ton",
      participant_id: member.id,
    });
    expect((await refusal(guest, issue)).error).toBe("ineligible");
    receipts.push(await cast(owner, voteId, "abstain"));

    // The last ballot closes the vote: yes 1, no 1 → rejected under the simple majority.
    const stopped = (await heard(guest.client, "stopped", voteId)).payload as any;
    expect(stopped.result).toEqual({
      yes: 1,
      no: 1,
      abstain: 1,
      eligible: 3,
      cast: 3,
      quorum_met: true,
      outcome: "rejected",
    });
    const protocol = await protocolOf(room.room.id, voteId, await devToken("Mitglied"));
    expect(protocol.status).toBe(200);
    const types = protocol.body.entries.map((e) => e.event.type);
    expect(types).toEqual(["started", "ballot", "ballot", "issue", "ballot", "stopped", "result"]);
    expect(protocol.body.entries[3]!.event).toEqual({
      type: "issue",
      kind: "audio",
      description: "kein Ton",
      participant_id: member.id,
    });
    expect(protocol.body.entries[5]!.event).toEqual({ type: "stopped", by: null, reason: "all_voted" });
    expect(stopped.head.hash).toBe(protocol.body.head);
    const heads = [...headsSeen(member.client), ...headsSeen(guest.client)];
    const verdict = await verifyVote({ protocol: protocol.body, receipts, heads, keys: await keysOf(room.room.id) });
    expect(verdict.checks.filter((c) => !c.ok)).toEqual([]);
    expect(verdict.ok).toBe(true);

    // Records: chairs, operators and the vote's voters read them; others of the tenant may not; other tenants
    // do not find the room.
    const listed = await api("GET", `/v1/rooms/${room.room.id}/votes`, { token: await devToken("Mitglied") });
    expect(listed.body.votes).toEqual([
      expect.objectContaining({ vote_id: voteId, name: "Haushalt 2027", kind: "roll_call", outcome: "rejected" }),
    ]);
    const report = await exports.default.fetch(
      `https://plenum.test/v1/rooms/${room.room.id}/votes/${voteId}/report.pdf`,
      {
        headers: { authorization: `Bearer ${await devToken("Mitglied")}` },
      },
    );
    expect(report.status).toBe(200);
    expect(report.headers.get("content-type")).toBe("application/pdf");
    expect(new TextDecoder().decode((await report.arrayBuffer()).slice(0, 5))).toBe("%PDF-");
    const outsider = await devToken("Außenstehend");
    expect((await protocolOf(room.room.id, voteId, outsider)).status).toBe(403);
    expect((await api("GET", `/v1/rooms/${room.room.id}/votes`, { token: outsider })).body.error.code).toBe(
      "insufficient_permissions",
    );
    const otherTenant = await devToken("Mitglied", "andere-behoerde");
    expect((await protocolOf(room.room.id, voteId, otherTenant)).status).toBe(404);
    expect((await api("GET", `/v1/rooms/${room.room.id}/votes`, { token: otherTenant })).status).toBe(404);
    const outsiderReport = await exports.default.fetch(
      `https://plenum.test/v1/rooms/${room.room.id}/votes/${voteId}/report.pdf`,
      { headers: { authorization: `Bearer ${outsider}` } },
    );
    expect(outsiderReport.status).toBe(403);
    const operator = { authorization: `Bearer ${env.OPERATOR_TOKEN}` };
    const read = await api("GET", `/v1/rooms/${room.room.id}/votes/${voteId}/protocol`, { headers: operator });
    expect(read.body).toEqual(protocol.body);
    expect((await protocolOf(room.room.id, "unknownvote1", room.ownerToken)).status).toBe(404);

    // Protocols are records: the room is deleted only when asked to erase them too.
    const deleted = await api("DELETE", `/v1/rooms/${room.room.id}`, { token: room.ownerToken });
    expect(deleted.status).toBe(409);
    expect(deleted.body.error.code).toBe("votes_retained");
    await member.alive();
    // Erasing them deletes the room; a vote running then is canceled first, and its voters hear it.
    const running = await started(owner, startOf([owner.id, member.id]), [member]);
    const erased = await api("DELETE", `/v1/rooms/${room.room.id}?erase_votes=true`, { token: room.ownerToken });
    expect(erased.status).toBe(204);
    expect(((await heard(member.client, "canceled", running)).payload as any).reason).toBe("room_deleted");
    expect((await protocolOf(room.room.id, voteId, room.ownerToken)).status).toBe(404);
  });

  it("refused commands leave the protocol as it was", async () => {
    const { room, owner, moderator, member, guest } = await RoomHarness.seated();
    expect(await refusal(owner, startOf([member.id, guest.id]))).toMatchObject({
      error: "ineligible",
      participant_ids: [guest.id],
    });
    expect((await refusal(member, startOf([member.id]))).error).toBe("insufficient_permissions");
    expect(await entriesOf(room)).toEqual([]);

    const voteId = await started(moderator, startOf([owner.id, member.id], { enable_abstain: false }), [owner, member]);
    await cast(member, voteId, "yes");
    const before = await entriesOf(room);
    expect(before).toHaveLength(2);
    // A running vote has no protocol yet.
    const early = await protocolOf(room.room.id, voteId, room.ownerToken);
    expect([early.status, (early.body as any).error.code]).toEqual([409, "vote_active"]);
    expect((await refusal(owner, startOf([owner.id]))).error).toBe("vote_active");
    expect((await refusal(member, { action: "vote", vote_id: voteId, option: "no" })).error).toBe("already_voted");
    expect((await refusal(owner, { action: "vote", vote_id: voteId, option: "abstain" })).error).toBe("invalid_option");
    expect((await refusal(moderator, { action: "vote", vote_id: voteId, option: "yes" })).error).toBe("ineligible");
    expect((await refusal(owner, { action: "vote", vote_id: "othervote1", option: "yes" })).error).toBe(
      "vote_not_active",
    );
    expect(
      (await refusal(owner, { action: "vote", vote_id: voteId, option: "yes", token: "x".repeat(32) })).error,
    ).toBe("invalid_request");
    expect((await refusal(member, { action: "stop", vote_id: voteId })).error).toBe("insufficient_permissions");
    expect((await refusal(member, { action: "cancel", vote_id: voteId, reason: "no" })).error).toBe(
      "insufficient_permissions",
    );
    expect((await refusal(owner, { action: "vote", vote_id: voteId, option: "maybe" } as never)).error).toBe(
      "invalid_frame",
    );
    expect(await entriesOf(room)).toEqual(before);

    // Any chair stops it; nothing is accepted after.
    const stop = await owner.command("legal_vote", { action: "stop", vote_id: voteId });
    expect(stop.payload).toMatchObject({ message: "stopped", result: { yes: 1, no: 0, cast: 1, outcome: "accepted" } });
    const after = await entriesOf(room);
    expect((await refusal(owner, { action: "vote", vote_id: voteId, option: "yes" })).error).toBe("vote_not_active");
    expect((await refusal(owner, { action: "stop", vote_id: voteId })).error).toBe("vote_not_active");
    expect((await refusal(owner, { action: "cancel", vote_id: voteId, reason: "zu spät" })).error).toBe(
      "vote_not_active",
    );
    expect(await entriesOf(room)).toEqual(after);
    const protocol = await protocolOf(room.room.id, voteId, room.ownerToken);
    expect(protocol.body.entries.map((e) => e.event.type)).toEqual(["started", "ballot", "stopped", "result"]);
    expect((await verifyVote({ protocol: protocol.body, keys: await keysOf(room.room.id) })).ok).toBe(true);
  });

  it("pseudonymous: private single-use tokens; nothing stored, logged or published links token and voter", async () => {
    const logged: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void logged.push(args.map(String).join(" ")));
    }
    const { room, owner, moderator, member, guest } = await RoomHarness.seated();
    // The spy sees what is logged inside the room object.
    await runInDurableObject(room.stub, () => console.warn("probe from the room object"));
    expect(logged).toContain("probe from the room object");
    const eligible = [owner.id, moderator.id, member.id];
    const voteId = await started(owner, startOf(eligible, { kind: "pseudonymous" }), [moderator, member, guest]);
    const tokenOf = async (peer: Peer) => ((await heard(peer.client, "token", voteId)).payload as any).token as string;
    const tokens = { owner: await tokenOf(owner), moderator: await tokenOf(moderator), member: await tokenOf(member) };
    expect(new Set(Object.values(tokens)).size).toBe(3);
    // Each gets only their own; the guest none.
    for (const peer of [owner, moderator, member]) {
      expect(peer.client.frames.filter((f) => f.payload.message === "token")).toHaveLength(1);
    }
    await guest.alive();
    expect(guest.client.frames.some((f) => f.payload.message === "token")).toBe(false);

    expect((await refusal(member, { action: "vote", vote_id: voteId, option: "yes" })).error).toBe("invalid_request");
    const receipts = [await cast(member, voteId, "yes", tokens.member)];
    expect(receipts[0]!.ballot).toEqual({ option: "yes", token: tokens.member });
    expect((await refusal(member, { action: "vote", vote_id: voteId, option: "no", token: tokens.member })).error).toBe(
      "already_voted",
    );
    expect(
      (await refusal(member, { action: "vote", vote_id: voteId, option: "no", token: "y".repeat(32) })).error,
    ).toBe("ineligible");
    receipts.push(await cast(moderator, voteId, "no", tokens.moderator));
    const issue = await member.command("legal_vote", { action: "report_issue", vote_id: voteId, kind: "audio" });
    expect(issue.payload).toMatchObject({ message: "issue_reported", participant_id: null, kind: "audio" });
    expect(((await heard(owner.client, "issue_reported", voteId)).payload as any).participant_id).toBeNull();

    const stop = await owner.command("legal_vote", { action: "stop", vote_id: voteId });
    expect(stop.payload).toMatchObject({ message: "stopped", result: { yes: 1, no: 1, cast: 2, eligible: 3 } });
    const protocol = (await protocolOf(room.room.id, voteId, room.ownerToken)).body;
    expect((await verifyVote({ protocol, receipts, keys: await keysOf(room.room.id) })).ok).toBe(true);

    // The document: ballots carry tokens with no time; presence only as a summary at the end; the issue unnamed.
    const ballots = protocol.entries.filter((e) => e.event.type === "ballot");
    expect(ballots.map((e) => [e.at, e.event])).toEqual([
      [null, { type: "ballot", token: tokens.member, option: "yes" }],
      [null, { type: "ballot", token: tokens.moderator, option: "no" }],
    ]);
    const presence = protocol.entries.filter((e) => e.event.type === "presence");
    expect(presence.map((e) => (e.event as any).participant_id)).toEqual(eligible);
    expect(presence[0]!.seq).toBeGreaterThan(ballots[1]!.seq);
    for (const entry of protocol.entries) {
      const text = JSON.stringify(entry.event);
      if (Object.values(tokens).some((t) => text.includes(t))) {
        for (const id of [...eligible, guest.id]) expect(text).not.toContain(id);
      }
    }

    // Storage: every row of every table of the room; a row that holds a token or its hash names nobody.
    const rows = await runInDurableObject(room.stub, (_instance, state) => {
      const tables = state.storage.sql
        .exec<{ name: string }>(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%' " +
            "AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'",
        )
        .toArray()
        .map((t) => t.name);
      return tables.flatMap((t) =>
        state.storage.sql
          .exec(`SELECT * FROM ${t}`)
          .toArray()
          .map((r) => JSON.stringify(r)),
      );
    });
    const hashes = await Promise.all(
      Object.values(tokens).map(async (t) => {
        const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(t)));
        return btoa(String.fromCharCode(...digest))
          .replace(/\+/g, "-")
          .replace(/\//g, "_")
          .replace(/=+$/, "");
      }),
    );
    const secrets = [...Object.values(tokens), ...hashes];
    expect(rows.filter((r) => hashes.some((h) => r.includes(h)))).toHaveLength(3);
    for (const row of rows.filter((r) => secrets.some((s) => r.includes(s)))) {
      for (const id of [...eligible, guest.id])
        expect(row, "a stored row links a token to a participant").not.toContain(id);
    }
    const voters = (await room.dump("legal_vote")).legal_vote_voters!;
    expect(voters.map((v) => v.option)).toEqual([null, null, null]);
    // Logs: no token at all.
    expect(logged.filter((line) => secrets.some((s) => line.includes(s)))).toEqual([]);
  });

  it("a live roll call shows tally and names as they come, coalesced; signed heads follow the chain", async () => {
    const { room, owner, moderator, member, guest } = await RoomHarness.seated();
    const voteId = await started(owner, startOf([owner.id, moderator.id, member.id], { kind: "live_roll_call" }), [
      moderator,
      member,
      guest,
    ]);
    await Promise.all([cast(member, voteId, "yes"), cast(moderator, voteId, "no"), cast(owner, voteId, "yes")]);
    const updates = () =>
      guest.client.frames.filter((f) => f.payload.message === "updated").map((f) => f.payload as any);
    // Each update's names come with the count that includes them.
    await guest.client.next(() => updates().flatMap((u) => u.ballots).length === 3);
    expect(updates().at(-1)).toMatchObject({ cast: 3, tally: { yes: 2, no: 1, abstain: 0 } });
    for (const update of updates()) {
      const named = updates()
        .filter((u) => u.cast <= update.cast)
        .flatMap((u) => u.ballots).length;
      expect(named).toBe(update.cast);
    }
    expect(
      updates()
        .flatMap((u) => u.ballots)
        .sort((a, b) => a.participant_id.localeCompare(b.participant_id)),
    ).toEqual(
      [
        { participant_id: owner.id, display_name: "Vorsitz", option: "yes" },
        { participant_id: moderator.id, display_name: "Moderation", option: "no" },
        { participant_id: member.id, display_name: "Mitglied", option: "yes" },
      ].sort((a, b) => a.participant_id.localeCompare(b.participant_id)),
    );
    // A signed head of the grown chain reaches everyone while it runs.
    const head = (await guest.client.next((f) => f.payload.message === "head" && (f.payload as any).head.seq === 3))
      .payload as any;
    // Problem reports are entries too: a voter may file VOTE_ISSUES_PER_VOTER of them, and the chain's next head
    // comes no sooner than VOTE_HEAD_INTERVAL_MS after the last.
    const bound = readConfig(env as never).VOTE_ISSUES_PER_VOTER;
    for (let i = 0; i < bound; i++) {
      const told = await member.command("legal_vote", { action: "report_issue", vote_id: voteId, kind: "video" });
      expect(told.payload).toMatchObject({ message: "issue_reported", participant_id: member.id, kind: "video" });
    }
    expect((await refusal(member, { action: "report_issue", vote_id: voteId, kind: "video" })).error).toBe("slow_down");
    await guest.client.next((f) => f.payload.message === "head" && (f.payload as any).head.seq === 3 + bound);
    const spaced = (message: string) => {
      const times = guest.client.frames
        .filter((f) => f.namespace === "legal_vote" && f.payload.message === message)
        .map((f) => Date.parse(f.timestamp));
      return times.slice(1).map((t, i) => t - times[i]!);
    };
    const config = readConfig(env as never);
    // Frames carry the room's own send time: the cadence is the room's, whatever the test's timing.
    expect(Math.min(...spaced("head"))).toBeGreaterThanOrEqual(config.VOTE_HEAD_INTERVAL_MS - 5);
    if (spaced("updated").length > 0) {
      expect(Math.min(...spaced("updated"))).toBeGreaterThanOrEqual(config.PRESENCE_BATCH_MS - 5);
    }
    // A reconnecting participant gets the running vote, its tally, the ballots and a head with join_success.
    const again = await room.join("Mitglied");
    expect((again.joined as any).modules.legal_vote.active).toMatchObject({
      vote: { id: voteId },
      cast: 3,
      voted: true,
      tally: { yes: 2, no: 1, abstain: 0 },
      head: { seq: 3 + bound },
    });
    expect((again.joined as any).modules.legal_vote.active.ballots).toHaveLength(3);
    await owner.command("legal_vote", { action: "stop", vote_id: voteId });
    const protocol = (await protocolOf(room.room.id, voteId, room.ownerToken)).body;
    expect((await verifyVote({ protocol, heads: [head.head], keys: await keysOf(room.room.id) })).ok).toBe(true);
  });

  it("durations run through the scheduler; the initiator leaving for good or the meeting ending cancels", async () => {
    const { room, owner, moderator, member } = await RoomHarness.seated();
    const timed = await started(owner, startOf([owner.id, member.id], { duration_seconds: 60 }), [member]);
    expect(await fireTimers(room.room.id)).toBe(true);
    expect(((await heard(member.client, "stopped", timed)).payload as any).result.outcome).toBe("no_quorum");
    const first = (await protocolOf(room.room.id, timed, room.ownerToken)).body;
    expect(first.entries.at(-2)!.event).toEqual({ type: "stopped", by: null, reason: "expired" });

    // The moderator who started the next one leaves; coming back within the window keeps it running.
    const voteId = await started(moderator, startOf([owner.id, member.id]), [owner, member]);
    moderator.client.close();
    await owner.client.next((f) => f.payload.message === "left");
    const beforeReturn = owner.client.frames.length;
    const back = await room.join("Moderation");
    const announced = (f: any) =>
      f.payload.message === "joined" && f.payload.participants.some((p: any) => p.participant_id === back.id);
    await owner.client.next(announced, 10_000, beforeReturn);
    await cast(member, voteId, "yes");
    const mark = owner.client.frames.length;
    back.client.close();
    const gone = (f: any) => f.payload.message === "left" && f.payload.participants.includes(back.id);
    await owner.client.next(gone, 10_000, mark);
    await timeTravel.leftEarlier(room.room.id, readConfig(env as never).RESUMPTION_WINDOW_SECONDS * 1000 + 1000);
    await fireTimers(room.room.id);
    const canceled = (await heard(member.client, "canceled", voteId)).payload as any;
    expect(canceled.reason).toBe("initiator_left");
    const protocol = (await protocolOf(room.room.id, voteId, room.ownerToken)).body;
    expect(protocol.result).toMatchObject({ yes: 1, outcome: "canceled" });
    expect(protocol.entries.at(-2)!.event).toEqual({ type: "canceled", by: null, reason: "initiator_left" });

    // A chair cancels with a reason; ending the meeting cancels a running vote.
    const third = await started(owner, startOf([owner.id, member.id]), [member]);
    await ack(owner, { action: "end_meeting" });
    // Everyone hears it (with the last signed head) before they are sent out of the room.
    for (const peer of [owner, member]) {
      const ended = (await heard(peer.client, "canceled", third)).payload as any;
      expect(ended).toMatchObject({ vote_id: third, reason: "meeting_ended", head: { vote_id: third } });
    }
  });

  it("a roll call records eligible voters leaving and coming back", async () => {
    const { room, owner, member } = await RoomHarness.seated();
    const voteId = await started(owner, startOf([owner.id, member.id]), [member]);
    member.client.close();
    await owner.client.next((f) => f.payload.message === "left");
    const back = await room.join("Mitglied");
    expect((back.joined as any).modules.legal_vote.active).toMatchObject({
      vote: { id: voteId },
      voted: false,
      cast: 0,
    });
    await cast(back, voteId, "no");
    const cancel = await owner.command("legal_vote", { action: "cancel", vote_id: voteId, reason: "Formfehler" });
    expect(cancel.payload).toMatchObject({ message: "canceled", reason: "Formfehler" });
    const protocol = (await protocolOf(room.room.id, voteId, room.ownerToken)).body;
    expect(protocol.entries.map((e) => e.event)).toEqual([
      expect.objectContaining({ type: "started" }),
      { type: "presence", participant_id: member.id, present: false },
      { type: "presence", participant_id: member.id, present: true },
      { type: "ballot", voter: member.id, option: "no" },
      { type: "canceled", by: owner.id, reason: "Formfehler" },
      { type: "result", result: expect.objectContaining({ no: 1, outcome: "canceled" }) },
    ]);
    expect((await verifyVote({ protocol, keys: await keysOf(room.room.id) })).ok).toBe(true);
  });
});
