import { env } from "cloudflare:test";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { readConfig } from "../../src/shared/config";
import { api, devToken, newRoom, setting, start } from "../workers/helpers";
import { type Cast, FRAME_CLASSES, type FrameSpec, framesOf, render } from "./frame-arbitraries";
import { alwaysAnswers, type SenderRole, successAnswer, type Verdict, verdictOf } from "./frame-oracle";
import {
  changedTables,
  connect,
  countDispatches,
  dispatches,
  dumpRoom,
  type Received,
  type RoomDump,
  rowsOf,
  type Wire,
} from "./wire";

/**
 * Property-based fuzzing of the signalling dispatch: generated and mutated frames of every class (see
 * frame-arbitraries.ts) go in pipelined batches through a real room object with an owner, a user, an admitted guest
 * and a guest in the waiting room. Each frame's answer is predicted by frame-oracle.ts and matched by transaction
 * id; a barrier (the room's count of handled frames, then one probe transaction per connection; never a sleep)
 * makes sure every answer and event of a batch has arrived before it is judged. After each batch the room's whole
 * stored state is compared with the one before: unchanged after a batch of invalid frames, changed after the others
 * only in the tables of the commands that succeeded, and as those commands and their announcements say.
 *
 * FUZZ_SEED replays another run (the seed is printed), FUZZ_FRAMES sizes it (default 100,000).
 */

const config = readConfig(env as unknown as Record<string, unknown>);
const SEED = Number.parseInt(setting("FUZZ_SEED") || "20260702", 10);
const FRAMES = Number.parseInt(setting("FUZZ_FRAMES") || "100000", 10);
const BATCH = 500;

/** The tables a namespace's successful commands may write (its module's own). */
const WRITES: Record<string, readonly string[]> = {
  chat: ["chat_messages", "sqlite_sequence"],
  control: ["control_hands"],
  media: ["media_streams"],
};

/** Breaches of the invariants, by kind, with a few examples each (the run goes on to find every kind). */
class Findings {
  readonly kinds = new Map<string, { count: number; examples: string[] }>();

  add(kind: string, example: string): void {
    const entry = this.kinds.get(kind) ?? { count: 0, examples: [] };
    entry.count++;
    if (entry.examples.length < 3) entry.examples.push(example.slice(0, 700));
    this.kinds.set(kind, entry);
  }

  summary(): Record<string, string> {
    return Object.fromEntries(
      [...this.kinds].map(([kind, { count, examples }]) => [kind, `${count}× e.g. ${examples.join(" | ")}`]),
    );
  }
}

const show = (data: string | Uint8Array) =>
  typeof data === "string"
    ? JSON.stringify(data.length > 300 ? `${data.slice(0, 300)}…(${data.length})` : data)
    : `<${data.byteLength} bytes>`;

interface Sent {
  sender: number;
  data: string | Uint8Array;
  verdict: Verdict;
  /** Answers with this transaction id received before this batch (raw ids like 0 may recur across batches). */
  before: number;
}

interface Participant {
  wire: Wire;
  id: string;
  role: SenderRole;
}

async function guestOf(roomId: string, ownerToken: string, name: string) {
  const invite = await api("POST", `/v1/rooms/${roomId}/invites`, { token: ownerToken, body: {} });
  const started = await api("POST", `/v1/rooms/${roomId}/start_invited`, {
    body: { invite_code: invite.body.invite_code, display_name: name },
    headers: { "x-test-client": `fuzz-${name}` },
  });
  if (started.status !== 200) throw new Error(`start_invited ${started.status} ${JSON.stringify(started.body)}`);
  const wire = await connect(name, roomId, started.body.ticket);
  await wire.next((f) => f.namespace === "moderation" && f.payload.message === "in_waiting_room");
  return { wire, id: String(started.body.participant_id) };
}

/** A room that holds guests in its waiting room: owner, user, a guest let in, and a guest still waiting. */
async function fuzzRoom() {
  const ownerToken = await devToken("Fuzz Owner");
  const room = await newRoom(ownerToken, { name: "Fuzz", waiting_room: "guests" });
  await countDispatches(room.id);
  const member = async (token: string, name: string) => {
    const started = await start(token, room.id);
    const wire = await connect(name, room.id, started.ticket);
    await wire.next((f) => f.payload.message === "join_success");
    return { wire, id: started.participant_id };
  };
  const owner = await member(ownerToken, "owner");
  const user = await member(await devToken("Fuzz User"), "user");
  const admitted = await guestOf(room.id, ownerToken, "guest");
  owner.wire.send("moderation", { action: "accept", target: admitted.id });
  await admitted.wire.next((f) => f.payload.message === "join_success");
  const waiting = await guestOf(room.id, ownerToken, "waiting");
  const cast: Participant[] = [
    { ...owner, role: { role: "owner", held: false } },
    { ...user, role: { role: "user", held: false } },
    { ...admitted, role: { role: "guest", held: false } },
    { ...waiting, role: { role: "guest", held: true } },
  ];
  return { roomId: room.id, cast };
}

/**
 * Waits until the room has dispatched every frame sent so far (counted in the object, see countDispatches: in this
 * tier a connection's pipelined frames may be handled in another order than sent, so a probe's answer alone proves
 * nothing about the frames before it), then for one probe per connection. The handlers the fuzz reaches are
 * synchronous (TURN's awaits other objects; its answers are awaited by id), so every event the frames caused has
 * been sent; the room writes to each connection in order, so once the probes are answered, those events are in.
 */
async function barrier(roomId: string, cast: Participant[], probes: Set<string>, findings: Findings): Promise<void> {
  const expected = cast.reduce((sum, p) => sum + p.wire.sentCount, 0);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const handled = await dispatches(roomId);
    // Idle for about ten seconds, an object is rebuilt (its sockets stay): the run never waits that long.
    if (handled === undefined) throw new Error("the room object was rebuilt during the run (its count is gone)");
    if (handled >= expected) break;
    if (Date.now() > deadline) throw new Error(`the room handled ${handled} of ${expected} frames within a minute`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const tids = cast.map((p) => p.wire.send("control", { action: "fuzz_barrier" }));
  for (const [i, tid] of tids.entries()) probes.add(`${i}:${tid}`);
  const answers = await Promise.all(cast.map((p, i) => p.wire.answer(tids[i]!)));
  for (const answer of answers) {
    if (answer.payload.error !== "unknown_action") findings.add("probe not refused", JSON.stringify(answer));
  }
}

type PublisherState = { participant_id: string; streams: Record<string, { audio: boolean; video: boolean }> };

describe("signalling fuzz", () => {
  it(`answers ${FRAMES} generated frames as the protocol says, and state changes only by valid commands`, async () => {
    const { roomId, cast } = await fuzzRoom();
    const ids = cast.map((p) => p.id);
    const waiting = cast.findIndex((p) => p.role.held);
    const context: Cast = {
      ids,
      waiting,
      maxFrameBytes: config.MAX_FRAME_BYTES,
      maxSdpBytes: config.MAX_SDP_BYTES,
    };
    const findings = new Findings();
    const probes = new Set<string>();
    const limit = config.MAX_FRAME_BYTES;
    const ownerRole: SenderRole = { role: "owner", held: false };
    await barrier(roomId, cast, probes, findings);

    // What valid commands stored: published streams ("id/stream:av") and raised hands per participant, chat echoes.
    const streams = new Map<string, Set<string>>(ids.map((id) => [id, new Set()]));
    const hands = new Set<string>();
    const echoes = new Map<string, { source: string; content: string }>();

    let before: RoomDump = await dumpRoom(roomId);
    let sentTotal = 0;
    let skipped = 0;
    const perClass = new Map<string, number>();
    const outcomes = new Map<string, number>();
    const count = (map: Map<string, number>, key: string, n = 1) => map.set(key, (map.get(key) ?? 0) + n);
    const started = Date.now();
    let checking = 0;
    const timing = { barrier: 0, dump: 0, generate: 0 };

    for (let batch = 0; sentTotal < FRAMES; batch++) {
      const genStart = Date.now();
      const frameClass = FRAME_CLASSES[batch % FRAME_CLASSES.length]!;
      const arbitrary = framesOf(context, frameClass.texts(context)).filter((spec: FrameSpec) => {
        const verdict = verdictOf(render(spec.data, 1), cast[spec.sender]!.role, limit);
        if (frameClass.invalid) return verdict.kind !== "execute";
        return frameClass.name === "mixed" || verdictOf(render(spec.data, 1), ownerRole, limit).kind === "execute";
      });
      const specs = fc.sample(arbitrary, {
        seed: (SEED + batch * 7919) | 0,
        numRuns: Math.min(BATCH, FRAMES - sentTotal),
      });

      timing.generate += Date.now() - genStart;
      const marks = cast.map((p) => p.wire.frames.length);
      const used = cast.map(() => new Set<number>());
      const sent: Sent[] = [];
      for (const spec of specs) {
        const { wire, role } = cast[spec.sender]!;
        const data = render(spec.data, wire.nextTid());
        const verdict = verdictOf(data, role, limit);
        const tid = verdict.tid;
        // Answers are matched by transaction id: a raw id used twice in a batch or by an earlier barrier's probe, or
        // a command without one, could not be told apart. Letting the waiting participant in would change the cast
        // (the final check does it).
        const unmatched = verdict.kind === "execute" && tid === undefined;
        const castChange = verdict.kind === "execute" && verdict.namespace === "moderation";
        const taken = tid !== undefined && (used[spec.sender]!.has(tid) || probes.has(`${spec.sender}:${tid}`));
        if (taken || unmatched) {
          skipped++;
          continue;
        }
        if (castChange && verdict.command.target === ids[waiting]) {
          skipped++;
          continue;
        }
        if (tid !== undefined) used[spec.sender]!.add(tid);
        sent.push({ sender: spec.sender, data, verdict, before: tid === undefined ? 0 : wire.answersTo(tid).length });
        wire.sendRaw(data);
      }
      sentTotal += sent.length;
      count(perClass, frameClass.name, sent.length);

      const checkStart = Date.now();
      await barrier(roomId, cast, probes, findings);
      timing.barrier += Date.now() - checkStart;
      // Everything but TURN's handler answered before the barrier was passed (refusals come before any handler,
      // and the other handlers the fuzz reaches are synchronous); TURN's awaits other objects: wait for those.
      await Promise.all(
        sent.map((s) => {
          const { verdict } = s;
          if (verdict.kind !== "execute" || verdict.namespace !== "turn" || verdict.tid === undefined) return undefined;
          return cast[s.sender]!.wire.answer(verdict.tid, s.before, 30_000).catch((error: Error) => {
            findings.add("no answer", `${error.message} to ${show(s.data)}`);
          });
        }),
      );
      for (const p of cast)
        if (p.wire.closed) findings.add("connection closed", `${p.wire.name} ${JSON.stringify(p.wire.closed)}`);
      if (cast.some((p) => p.wire.closed)) break;

      // ── Answers, per connection ──
      const newFrames = cast.map((p, i) => p.wire.frames.slice(marks[i]));
      const byTid = newFrames.map((frames, i) => {
        const map = new Map<number, Received[]>();
        for (const f of frames) {
          if (f.payload.message === "error" && f.payload.error === "internal_error") {
            findings.add("internal_error", `${cast[i]!.wire.name}: ${JSON.stringify(f)}`);
          }
          if (typeof f.transaction_id !== "number" || probes.has(`${i}:${f.transaction_id}`)) continue;
          map.set(f.transaction_id, [...(map.get(f.transaction_id) ?? []), f]);
        }
        return map;
      });
      const expectedUntracked = cast.map((): string[] => []);
      let chats = 0;
      const chatsFrom = cast.map(() => 0);
      let publisherUpdates = 0;
      const requestsTo = new Map<string, number>();
      const relaysTo = new Map<string, number>();
      const succeeded = new Set<string>();
      // What this batch's successful commands may have left: streams (in any order: see barrier) and hands.
      const possible = new Set<string>();
      const handActions = new Map<string, number>();

      for (const s of sent) {
        const { sender } = s;
        let { verdict } = s;
        const who = cast[sender]!;
        const answers = verdict.tid === undefined ? [] : (byTid[sender]!.get(verdict.tid) ?? []);
        if (verdict.tid !== undefined) byTid[sender]!.delete(verdict.tid);
        const refusedAsPredicted = answers.length === 1 && answers[0]?.payload.error === "invalid_frame";
        if (verdict.kind === "refused" && verdict.unknownField && verdict.tid !== undefined && !refusedAsPredicted) {
          // Run although the schema is strict: one finding, then judged as the command it ran as.
          findings.add("command with a field its schema does not know was run", `${who.wire.name} ${show(s.data)}`);
          verdict = { kind: "execute", tid: verdict.tid, ...verdict.unknownField };
        }
        if (verdict.kind === "refused") {
          count(outcomes, verdict.code);
          if (verdict.tid === undefined) {
            expectedUntracked[sender]!.push(verdict.code);
            continue;
          }
          const [answer] = answers;
          if (answers.length !== 1 || answer?.payload.error !== verdict.code) {
            const got = JSON.stringify(answers.map((a) => a.payload.error ?? a.payload.message));
            findings.add(
              `refusal ${verdict.code} not answered as predicted`,
              `${who.wire.name} ${show(s.data)} → ${got}`,
            );
          }
          continue;
        }
        const { namespace, action, command } = verdict;
        if (answers.length > 1) findings.add("several answers", `${show(s.data)} → ${JSON.stringify(answers)}`);
        const answer = answers[0];
        if (!answer && alwaysAnswers(namespace, action)) {
          if (namespace !== "turn") findings.add("no answer", `${who.wire.name} ${show(s.data)}`);
          continue;
        }
        if (answer?.payload.message === "error") {
          count(outcomes, `${namespace}.${action} → ${answer.payload.error}`);
          continue;
        }
        if (answer && (answer.namespace !== namespace || answer.payload.message !== successAnswer(namespace))) {
          findings.add("unexpected answer", `${show(s.data)} → ${JSON.stringify(answer).slice(0, 300)}`);
          continue;
        }
        count(outcomes, `${namespace}.${action} done`);
        succeeded.add(namespace);
        const target = String(command.target);
        if (namespace === "chat") {
          chats++;
          chatsFrom[sender]!++;
          const echo = answer!.payload as unknown as { id: string; source: string; content: string };
          // Exactly what was accepted (the schema trims): every participant is shown the stored text.
          const content = String(command.content);
          if (echo.source !== who.id || echo.content !== content) {
            findings.add("chat echo differs from what was sent", `${show(s.data)} → ${JSON.stringify(echo)}`);
          }
          echoes.set(echo.id, { source: echo.source, content: echo.content });
        } else if (namespace === "control") {
          count(handActions, `${who.id} ${action}`);
        } else if (action === "publish" || action === "unpublish") {
          publisherUpdates++;
          const state = action === "publish" ? `${Number(command.audio)}${Number(command.video)}` : "gone";
          possible.add(`${who.id}/${String(command.stream)}:${state}`);
        } else if (action === "subscribe") count(requestsTo, target);
        else if (action === "relay") count(relaysTo, target);
      }

      // ── Everything else each connection received in this batch ──
      for (const [i, p] of cast.entries()) {
        for (const [tid, frames] of byTid[i]!) {
          findings.add("answer to a transaction not sent", `${p.wire.name} ${tid}: ${JSON.stringify(frames[0])}`);
        }
        const untracked: string[] = [];
        const events = new Map<string, number>();
        for (const f of newFrames[i]!) {
          if (typeof f.transaction_id === "number") continue;
          if (f.payload.message === "error") untracked.push(String(f.payload.error));
          else count(events, `${f.namespace}.${f.payload.message}`);
        }
        const expected = expectedUntracked[i]!.sort().join(",");
        if (untracked.sort().join(",") !== expected) {
          const tally = (codes: string[]) => {
            const counts = new Map<string, number>();
            for (const code of codes) count(counts, code);
            return JSON.stringify(Object.fromEntries(counts));
          };
          const detail = `${p.wire.name}: expected ${tally(expectedUntracked[i]!)}, got ${tally(untracked)}`;
          findings.add("errors without transaction id differ", detail);
        }
        if (p.role.held) {
          for (const [event, n] of events) {
            findings.add(`waiting participant received ${event}`, `${n} in a batch of ${frameClass.name}`);
          }
          continue;
        }
        const wanted = new Map<string, number>([
          ["chat.message_sent", chats - chatsFrom[i]!],
          ["media.publisher_update", publisherUpdates],
          ["media.subscribe_request", requestsTo.get(p.id) ?? 0],
          ["media.relay", relaysTo.get(p.id) ?? 0],
        ]);
        for (const [event, n] of wanted) {
          if ((events.get(event) ?? 0) !== n) {
            findings.add(`${event} events differ`, `${p.wire.name}: expected ${n}, got ${events.get(event) ?? 0}`);
          }
        }
        // Presence goes out in batches of its own (PRESENCE_BATCH_MS after a raised hand): any time is right.
        for (const [event, n] of events) {
          if (!wanted.has(event) && event !== "control.update" && event !== "control.joined") {
            findings.add("unexpected event", `${p.wire.name}: ${n}× ${event}`);
          }
        }
      }
      for (const p of cast)
        for (const line of p.wire.outside.splice(0)) findings.add("frame outside the protocol", line);

      // ── Stored state ──
      const dumpStart = Date.now();
      const after = await dumpRoom(roomId);
      timing.dump += Date.now() - dumpStart;
      const changed = changedTables(before, after);
      if (frameClass.invalid && changed.length > 0) {
        const diff = changed.map((t) => `${t}: ${JSON.stringify(before[t])} → ${JSON.stringify(after[t])}`);
        findings.add("state changed by a batch of invalid frames", `${frameClass.name}: ${diff.join("; ")}`);
      }
      const allowed = new Set([...succeeded].flatMap((ns) => WRITES[ns] ?? []));
      for (const table of changed.filter((t) => !allowed.has(t))) {
        findings.add("table changed that no successful command writes", `${frameClass.name}: ${table}`);
      }
      // Each publish and unpublish announced the publisher's streams as stored then: the last announcement of each
      // publisher is what must be stored now, and each of its streams must be what a command of it said.
      const announced = new Map<string, string[]>();
      for (const f of newFrames[0]!) {
        if (f.payload.message !== "publisher_update") continue;
        const { participant_id: id, streams: mine } = f.payload.publisher as PublisherState;
        announced.set(
          id,
          Object.entries(mine).map(([stream, v]) => `${id}/${stream}:${Number(v.audio)}${Number(v.video)}`),
        );
      }
      for (const [id, mine] of announced) {
        const unlikely = mine.filter((entry) => !possible.has(entry) && !streams.get(id)?.has(entry));
        if (unlikely.length > 0) findings.add("stream announced that no command published", unlikely.join());
        streams.set(id, new Set(mine));
      }
      const stored = rowsOf(after, "media_streams").map((r) => `${r.participant_id}/${r.stream}:${r.audio}${r.video}`);
      const modelled = [...streams.values()].flatMap((mine) => [...mine]);
      if (stored.sort().join() !== modelled.sort().join()) {
        findings.add("published streams differ from the announcements", `stored ${stored} announced ${modelled}`);
      }
      const raised = rowsOf(after, "control_hands").map((r) => String(r.participant_id));
      for (const id of ids) {
        const raises = handActions.get(`${id} raise_hand`) ?? 0;
        const lowers = handActions.get(`${id} lower_hand`) ?? 0;
        // Both in one batch: their order in the room is not known here (see barrier); what is stored came last.
        const last = raises > 0 && lowers > 0 ? raised.includes(id) : raises > 0;
        if (raises + lowers === 0) continue;
        if (last) hands.add(id);
        else hands.delete(id);
      }
      if (raised.sort().join() !== [...hands].sort().join()) {
        findings.add("raised hands differ from the commands", `stored ${raised} modelled ${[...hands]}`);
      }
      for (const row of rowsOf(after, "chat_messages")) {
        const echo = echoes.get(String(row.id));
        if (!echo || echo.source !== row.source || echo.content !== row.content) {
          findings.add("stored chat message no one was told of", JSON.stringify(row).slice(0, 300));
        }
      }
      before = after;
      checking += Date.now() - checkStart;
    }

    const seconds = (Date.now() - started) / 1000;
    const rate = Math.round(sentTotal / seconds);
    console.log(
      `fuzz frames: seed ${SEED}; ${sentTotal} frames (${skipped} generated ones skipped) in ${seconds.toFixed(1)} s` +
        ` = ${rate} frames/s (${(checking / 1000).toFixed(1)} s of it barriers and checks)\n` +
        `  timing: ${JSON.stringify(timing)}\n` +
        `  per class: ${JSON.stringify(Object.fromEntries(perClass))}\n` +
        `  outcomes: ${JSON.stringify(Object.fromEntries([...outcomes].sort((a, b) => b[1] - a[1])))}`,
    );

    // ── Afterwards: the room still works for everyone ──
    const [owner, user, , held] = cast as [Participant, Participant, Participant, Participant];
    const marks = cast.map((p) => p.wire.frames.length);
    const hello = "still here after the fuzz";
    const said = await user.wire.answer(user.wire.send("chat", { action: "send_message", content: hello }));
    expect(said.payload).toMatchObject({ message: "message_sent", content: hello });
    for (const i of [0, 2]) {
      const heard = (f: Received) => f.payload.message === "message_sent" && f.payload.content === hello;
      await cast[i]!.wire.next(heard, marks[i]);
    }
    owner.wire.send("moderation", { action: "accept", target: held.id });
    const welcome = await held.wire.next((f) => f.payload.message === "join_success", marks[3]);
    const history = (welcome.payload.modules as { chat: { messages: { content: string }[] } }).chat.messages;
    expect(history.at(-1)?.content).toBe(hello);
    const after = "let in after the fuzz";
    held.wire.send("chat", { action: "send_message", content: after });
    for (const p of cast) await p.wire.next((f) => f.payload.message === "message_sent" && f.payload.content === after);
    for (const p of cast) expect(p.wire.closed).toBeUndefined();
    for (const p of cast) for (const line of p.wire.outside.splice(0)) findings.add("frame outside the protocol", line);

    for (const p of cast) p.wire.close(1000);
    expect(sentTotal).toBeGreaterThanOrEqual(FRAMES);
    expect(findings.summary()).toEqual({});
  });
});
