import { describe, expect, it } from "vitest";
import {
  COMMAND_ISSUERS,
  type CommandOf,
  type Namespace,
  type Role,
  type RoleTableNamespace,
} from "../../src/protocol";
import type { FrameCollector } from "../helpers/collector";
import { coreState, fireTimers, type Peer, RoomHarness, sees } from "./harness";

const heard = (client: FrameCollector, namespace: Namespace, message: string) =>
  client.next((f) => f.namespace === namespace && f.payload.message === message);

const refusal = async <N extends Namespace>(peer: Peer, namespace: N, command: CommandOf<N>) => {
  const answer = await peer.command(namespace, command);
  expect(answer.payload.message, JSON.stringify(answer)).toBe("error");
  return (answer.payload as { error: string }).error;
};

const pollOf = (extra: Partial<Extract<CommandOf<"polls">, { action: "start" }>> = {}) =>
  ({
    action: "start",
    topic: "Wann tagen wir?",
    choices: ["Montag", "Dienstag", "Mittwoch"],
    multiple_choice: false,
    live: true,
    ...extra,
  }) as CommandOf<"polls">;

describe("meeting tools", () => {
  it("polls: one open at a time, one ballot each, live counts, anonymous in storage", async () => {
    const { room, owner, moderator, member, guest } = await RoomHarness.seated();
    expect(await refusal(member, "polls", pollOf())).toBe("insufficient_permissions");
    const started = await owner.command("polls", pollOf());
    expect(started.payload).toMatchObject({ message: "started", topic: "Wann tagen wir?", live: true, ends_at: null });
    const pollId = (started.payload as any).poll_id as string;
    for (const peer of [moderator, member, guest]) await heard(peer.client, "polls", "started");
    expect(await refusal(moderator, "polls", pollOf())).toBe("poll_active");

    expect((await member.command("polls", { action: "vote", poll_id: pollId, choices: [1] })).payload).toEqual({
      message: "voted",
      poll_id: pollId,
    });
    const live = await guest.client.next((f) => f.payload.message === "live_update");
    expect((live.payload as any).counts).toEqual([0, 1, 0]);
    expect(await refusal(member, "polls", { action: "vote", poll_id: pollId, choices: [2] })).toBe("already_voted");
    expect(await refusal(guest, "polls", { action: "vote", poll_id: pollId, choices: [3] })).toBe("invalid_option");
    expect(await refusal(guest, "polls", { action: "vote", poll_id: pollId, choices: [0, 1] })).toBe("invalid_option");
    expect(await refusal(guest, "polls", { action: "vote", poll_id: "otherpoll1", choices: [0] })).toBe(
      "poll_not_active",
    );
    await guest.command("polls", { action: "vote", poll_id: pollId, choices: [1] });
    await owner.command("polls", { action: "vote", poll_id: pollId, choices: [0] });

    // Stored: counts per choice, and apart from them who voted — no row holds a voter and a choice together.
    const rows = await room.dump("polls");
    expect(rows.poll_counts!.map((r) => [r.choice, r.count])).toEqual([
      [0, 1],
      [1, 2],
    ]);
    expect(Object.keys(rows.poll_counts![0]!).sort()).toEqual(["choice", "count", "poll_id"]);
    expect(Object.keys(rows.poll_voters![0]!).sort()).toEqual(["participant_id", "poll_id"]);
    expect(rows.poll_voters!.map((r) => r.participant_id).sort()).toEqual([member.id, guest.id, owner.id].sort());

    // A reconnect gets the open poll with its live counts and that it voted.
    const again = await room.join("Mitglied");
    expect((again.joined as any).modules.polls.active).toMatchObject({
      poll_id: pollId,
      counts: [1, 2, 0],
      voted: true,
    });
    expect(await refusal(member, "polls", { action: "finish", poll_id: pollId })).toBe("insufficient_permissions");
    const done = await moderator.command("polls", { action: "finish", poll_id: pollId });
    expect(done.payload).toMatchObject({ message: "done", counts: [1, 2, 0], voters: 3, reason: "finished" });
    expect(await refusal(guest, "polls", { action: "vote", poll_id: pollId, choices: [0] })).toBe("poll_not_active");
    const later = await room.join("Mitglied");
    expect((later.joined as any).modules.polls).toMatchObject({
      active: null,
      last: { poll_id: pollId, counts: [1, 2, 0], voters: 3, reason: "finished" },
    });
    // Closed: who voted is gone; the counts and their number stay.
    expect((await room.dump("polls")).poll_voters).toEqual([]);
  });

  it("a poll with a duration ends by itself; a hidden poll shows counts only at the end", async () => {
    const { room, owner, member } = await RoomHarness.seated();
    const started = await owner.command("polls", pollOf({ live: false, multiple_choice: true, duration_seconds: 60 }));
    const pollId = (started.payload as any).poll_id as string;
    await heard(member.client, "polls", "started");
    await member.command("polls", { action: "vote", poll_id: pollId, choices: [0, 2] });
    // A positive barrier: a ready count is coalesced like live counts (the same wait, armed after the ballot), so a
    // live_update for the ballot would have reached the owner before it.
    await owner.command("timer", { action: "start", kind: "stopwatch", ready_check: true });
    await member.command("timer", { action: "update_ready_status", ready: true });
    await owner.client.next((f) => f.payload.message === "ready_count" && (f.payload as any).ready === 1);
    expect(owner.client.frames.some((f) => f.payload.message === "live_update")).toBe(false);
    const again = await room.join("Mitglied");
    expect((again.joined as any).modules.polls.active.counts).toBeUndefined();
    expect(await fireTimers(room.room.id)).toBe(true);
    const done = await heard(member.client, "polls", "done");
    expect(done.payload).toMatchObject({ poll_id: pollId, counts: [1, 0, 1], voters: 1, reason: "expired" });

    // A timed poll a chair finishes disarms its end.
    const pollTimers = async () => (await coreState(room.room.id)).timers.filter((t) => t.owner === "polls");
    const timed = await owner.command("polls", pollOf({ duration_seconds: 60 }));
    expect(await pollTimers()).toHaveLength(1);
    await owner.command("polls", { action: "finish", poll_id: (timed.payload as any).poll_id });
    expect(await pollTimers()).toEqual([]);
  });

  it("timer: a countdown with a ready check ends by itself; a stopwatch stops by a chair", async () => {
    const { room, owner, moderator, member, guest } = await RoomHarness.seated();
    const start = {
      action: "start",
      kind: "countdown",
      duration_seconds: 300,
      title: "Kaffeepause",
      style: "coffee_break",
      ready_check: true,
    } as const;
    expect(await refusal(member, "timer", start)).toBe("insufficient_permissions");
    expect(await refusal(owner, "timer", { action: "start", kind: "countdown" })).toBe("invalid_frame");
    const started = await owner.command("timer", start);
    expect(started.payload).toMatchObject({ message: "started", kind: "countdown", style: "coffee_break" });
    const endsAt = Date.parse((started.payload as any).ends_at);
    expect(endsAt - Date.parse((started.payload as any).started_at)).toBe(300_000);
    await heard(guest.client, "timer", "started");
    expect(await refusal(moderator, "timer", { action: "start", kind: "stopwatch" })).toBe("timer_active");

    const otherDevice = await room.join("Mitglied");
    const ready = await member.command("timer", { action: "update_ready_status", ready: true });
    expect(ready.payload).toMatchObject({ message: "ready_status", participant_id: member.id, ready: true });
    expect((await heard(member.client, "timer", "ready_count")).payload).toMatchObject({ ready: 1 });
    // The participant's other device learns it too.
    expect((await heard(otherDevice.client, "timer", "ready_status")).payload).toMatchObject({ ready: true });
    expect((await heard(moderator.client, "timer", "ready_status")).payload).toMatchObject({
      participant_id: member.id,
      ready: true,
    });
    await guest.alive();
    expect(guest.client.frames.some((f) => f.payload.message === "ready_status")).toBe(false);
    const chair = await room.join("Moderation");
    expect((chair.joined as any).modules.timer.active).toMatchObject({
      ready_count: 1,
      ready_participants: [member.id],
    });
    const plain = await room.join("Mitglied");
    expect((plain.joined as any).modules.timer.active).toMatchObject({ ready: true, ready_participants: [] });

    expect(await fireTimers(room.room.id)).toBe(true);
    expect((await heard(guest.client, "timer", "stopped")).payload).toMatchObject({ reason: "expired" });
    expect(await refusal(member, "timer", { action: "update_ready_status", ready: true })).toBe("timer_not_active");

    await owner.command("timer", { action: "start", kind: "stopwatch" });
    expect(await refusal(member, "timer", { action: "update_ready_status", ready: true })).toBe("invalid_request");
    const stopped = await moderator.command("timer", { action: "stop" });
    expect(stopped.payload).toMatchObject({ message: "stopped", reason: "by_moderator" });
    expect(await refusal(owner, "timer", { action: "stop" })).toBe("timer_not_active");

    // A ready participant who leaves is counted out; a countdown a chair stops disarms its end.
    const third = await room.join("Dritte");
    await sees(owner, third.id);
    await owner.command("timer", { action: "start", kind: "countdown", duration_seconds: 60, ready_check: true });
    await heard(third.client, "timer", "started");
    await third.command("timer", { action: "update_ready_status", ready: true });
    const mark = moderator.client.frames.length;
    third.client.close();
    const gone = await moderator.client.next(
      (f) => f.payload.message === "ready_status" && (f.payload as any).participant_id === third.id,
      10_000,
      mark,
    );
    expect(gone.payload).toMatchObject({ ready: false });
    await moderator.client.next(
      (f) => f.payload.message === "ready_count" && (f.payload as any).ready === 0,
      10_000,
      mark,
    );
    const timersOf = async (owner: string) => (await coreState(room.room.id)).timers.filter((t) => t.owner === owner);
    expect(await timersOf("timer")).toHaveLength(1);
    await owner.command("timer", { action: "stop" });
    expect(await timersOf("timer")).toEqual([]);
  });

  it("feedback: counted once per kind and window, summaries to chairs, nothing left to tell who reacted", async () => {
    const { room, owner, moderator, member, guest } = await RoomHarness.seated();
    const send = (peer: Peer, kind: "agree" | "slower") => peer.command("feedback", { action: "send", kind });
    expect((await send(member, "agree")).payload).toEqual({ message: "received", kind: "agree", counted: true });
    expect((await send(member, "agree")).payload).toMatchObject({ counted: false });
    expect((await send(member, "slower")).payload).toMatchObject({ counted: true });
    expect((await send(guest, "agree")).payload).toMatchObject({ counted: true });
    // Chairs get the counts (coalesced); others never.
    const summary = await moderator.client.next(
      (f) => f.payload.message === "summary" && (f.payload as any).counts.agree === 2,
    );
    expect(summary.payload).toMatchObject({ counts: { agree: 2, slower: 1 }, window_seconds: 600 });
    await owner.client.next((f) => f.payload.message === "summary");
    await member.alive();
    expect(member.client.frames.some((f) => f.payload.message === "summary")).toBe(false);
    const chair = await room.join("Moderation");
    expect((chair.joined as any).modules.feedback.counts).toEqual({ agree: 2, slower: 1 });
    // Stored: keyed hashes under the window's random key, counts per kind — no participant id anywhere.
    const rows = await room.dump("feedback");
    const stored = JSON.stringify(rows);
    for (const id of [owner.id, moderator.id, member.id, guest.id]) expect(stored).not.toContain(id);
    expect(rows.feedback_seen).toHaveLength(3);
    expect(rows.feedback_window).toHaveLength(1);
    // The window ends (the room's scheduler): its key, hashes and counts are gone; the chairs see it start again.
    expect(await fireTimers(room.room.id)).toBe(true);
    await moderator.client.next(
      (f) => f.payload.message === "summary" && Object.keys((f.payload as any).counts).length === 0,
    );
    const after = await room.dump("feedback");
    expect([after.feedback_window, after.feedback_seen, after.feedback_counts]).toEqual([[], [], []]);
    expect((await send(member, "agree")).payload).toMatchObject({ counted: true });
  });

  it("who may issue each command: COMMAND_ISSUERS, every role-table namespace but moderation", async () => {
    const { owner, moderator, member, guest } = await RoomHarness.seated();
    const senders: [Role, Peer][] = [
      ["owner", owner],
      ["moderator", moderator],
      ["user", member],
      ["guest", guest],
    ];
    // A valid payload per action; what the room answers beyond the permission does not matter here.
    const payloads: {
      [N in Exclude<RoleTableNamespace, "moderation">]: Record<string, Record<string, unknown>>;
    } = {
      chat: {
        send_message: { content: "Hallo" },
        get_history: {},
        set_enabled: { enabled: true },
        clear_history: {},
      },
      legal_vote: {
        start: {
          name: "Probe",
          kind: "roll_call",
          allowed_participants: ["Nobody000000000000000"],
          enable_abstain: false,
          rule: { quorum: { numerator: 1, denominator: 2 }, majority: "simple" },
          auto_close: false,
        },
        vote: { vote_id: "novote0000", option: "yes" },
        stop: { vote_id: "novote0000" },
        cancel: { vote_id: "novote0000", reason: "Probe" },
        report_issue: { vote_id: "novote0000" },
      },
      polls: {
        start: { topic: "Probe", choices: ["a", "b"], multiple_choice: false, live: false },
        vote: { poll_id: "nopoll0000", choices: [0] },
        finish: { poll_id: "nopoll0000" },
      },
      timer: {
        start: { kind: "stopwatch" },
        stop: {},
        update_ready_status: { ready: true },
      },
      // The start names nobody in the room (not_found): no queue runs, so the rest answer automod_not_active.
      automod: {
        start: { strategy: "playlist", playlist: ["Nobody000000000000000"] },
        select: { how: "next" },
        yield: {},
        edit: { playlist: [] },
        stop: {},
      },
      feedback: { send: { kind: "question" } },
      // The start names nobody in the room (not_found): no rooms open, so the rest answer breakout_not_active.
      breakout: {
        start: { rooms: [{ name: "A", assignments: ["Nobody000000000000000"] }, { name: "B" }] },
        switch_room: { room: null },
        stop: {},
      },
    };
    // Moderation's row, with its target rules, is expanded by moderation-authority.test.ts.
    const { moderation: _, ...tables } = COMMAND_ISSUERS;
    let checked = 0;
    for (const [namespace, table] of Object.entries(tables) as [
      keyof typeof payloads,
      Record<string, readonly Role[]>,
    ][]) {
      for (const [action, issuers] of Object.entries(table)) {
        expect(payloads[namespace][action], `${namespace}.${action} has a payload`).toBeDefined();
        for (const [role, peer] of senders) {
          const answer = await peer.command(namespace, { action, ...payloads[namespace][action] } as never);
          const refused = (answer.payload as { error?: string }).error === "insufficient_permissions";
          expect(refused, `${role} ${namespace}.${action}: ${JSON.stringify(answer.payload)}`).toBe(
            !issuers.includes(role),
          );
          checked++;
        }
      }
    }
    const actions = Object.values(tables).reduce((n, table) => n + Object.keys(table).length, 0);
    expect(actions).toBe(4 + 5 + 3 + 3 + 5 + 1 + 3);
    expect(checked).toBe(4 * actions);
  });
});
