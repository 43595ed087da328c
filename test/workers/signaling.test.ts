import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { Scheduler } from "../../durable-objects/room/scheduler";
import { CloseCode, SUBPROTOCOL } from "../../src/protocol";
import { readConfig } from "../../src/shared/config";
import { coreState, dumpModule, fireTimers, RoomHarness, timeTravel } from "./harness";
import { api, devToken, join, newRoom, setting, start, upgrade } from "./helpers";

/** The configuration this tier runs with (its bindings, else the defaults). */
const config = readConfig(env as unknown as Record<string, unknown>);
const resumptionWindowMs = () => config.RESUMPTION_WINDOW_SECONDS * 1000;
const chatCount = async (id: string) => (await dumpModule(id, "chat")).chat_messages!.length;

async function guestStart(roomId: string, invite: string, body: Record<string, unknown> = {}) {
  const result = await api("POST", `/v1/rooms/${roomId}/start_invited`, {
    body: { invite_code: invite, display_name: "Gast", ...body },
    headers: { "x-test-client": `guest-${roomId}` },
  });
  expect(result.status).toBe(200);
  return result.body as { ticket: string; resumption: string; participant_id: string };
}

describe("joining and presence", () => {
  it("sends join_success with the contract's fields, then batched joined and left to the others", async () => {
    const alice = await devToken("Alice");
    const room = await newRoom(alice);
    const a = await join(alice, room.id, { display_name: "Alice A." });
    expect(a.joined).toMatchObject({
      message: "join_success",
      role: "owner",
      display_name: "Alice A.",
      participants: [],
      modules: { chat: { messages: [] } },
    });

    const b = await join(await devToken("Bob"), room.id);
    expect(b.joined.role).toBe("user");
    expect(b.joined.participants).toEqual([
      expect.objectContaining({
        participant_id: a.joined.participant_id,
        display_name: "Alice A.",
        role: "owner",
        kind: "user",
      }),
    ]);
    const joined = await a.client.message("control", "joined");
    expect(joined.payload).toMatchObject({
      participants: [{ participant_id: b.joined.participant_id, display_name: "Bob" }],
    });
    // The joiner is never told about itself (it may hear of Alice if both joins fell into one batch). A presence
    // batch goes to every connection in one pass, so a joined frame about Bob sent to Bob would precede a chat
    // message Alice sends after she got hers: once Bob has that message, anything of that batch is here.
    a.client.send("chat", { action: "send_message", content: "Barriere" });
    await b.client.message("chat", "message_sent");
    const toldB = b.client.frames
      .filter((f) => f.payload.message === "joined")
      .flatMap((f) => (f.payload as any).participants);
    expect(toldB.map((p: { participant_id: string }) => p.participant_id)).not.toContain(b.joined.participant_id);

    b.client.close(1000);
    const left = await a.client.message("control", "left");
    expect(left.payload).toEqual({ message: "left", participants: [b.joined.participant_id], reason: "quit" });
  });

  it("batches a burst of joins into few frames", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const first = await join(owner, room.id);
    const tickets = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => (await start(await devToken(`P${i}`), room.id)).ticket),
    );
    await Promise.all(tickets.map((t) => upgrade(room.id, t)));
    const seen = new Set<string>();
    while (seen.size < 12) {
      const frame = await first.client.next(
        (f) =>
          f.payload.message === "joined" &&
          (f.payload as any).participants.some((p: any) => !seen.has(p.participant_id)),
      );
      for (const p of (frame.payload as any).participants) seen.add(p.participant_id);
    }
    const joinedFrames = first.client.frames.filter((f) => f.payload.message === "joined").length;
    expect(joinedFrames).toBeLessThan(12);
  });

  it("fans chat out to everyone, with the transaction id on the sender's copy, and keeps history", async () => {
    const alice = await devToken("Alice");
    const room = await newRoom(alice);
    const a = await join(alice, room.id);
    const b = await join(await devToken("Bob"), room.id);
    b.client.send("chat", { action: "send_message", content: "  Guten Morgen  " }, 41);
    const own = await b.client.message("chat", "message_sent");
    const other = await a.client.message("chat", "message_sent");
    expect(own.transaction_id).toBe(41);
    expect(other.transaction_id).toBeUndefined();
    expect(other.payload).toMatchObject({ source: b.joined.participant_id, content: "Guten Morgen", scope: "global" });
    const c = await join(await devToken("Carl"), room.id);
    expect(c.joined.modules.chat.messages).toEqual([
      expect.objectContaining({ content: "Guten Morgen", source: b.joined.participant_id }),
    ]);
  });

  it("announces raised and lowered hands", async () => {
    const alice = await devToken("Alice");
    const room = await newRoom(alice);
    const a = await join(alice, room.id);
    const b = await join(await devToken("Bob"), room.id);
    await a.client.message("control", "joined");
    b.client.send("control", { action: "raise_hand" });
    const raised = await a.client.message("control", "update");
    expect((raised.payload as any).participant).toMatchObject({
      participant_id: b.joined.participant_id,
      hand_raised_at: expect.any(String),
    });
    const from = a.client.frames.length;
    b.client.send("control", { action: "lower_hand" });
    const lowered = await a.client.next((f) => f.payload.message === "update", 5000, from);
    expect((lowered.payload as any).participant.hand_raised_at).toBeNull();
  });

  it("treats a second device of a user as a second connection of the same participant", async () => {
    const alice = await devToken("Alice");
    const bob = await devToken("Bob");
    const room = await newRoom(alice);
    const a = await join(alice, room.id);
    const phone = await join(bob, room.id);
    const laptop = await join(bob, room.id);
    expect(laptop.joined.participant_id).toBe(phone.joined.participant_id);
    await a.client.message("control", "joined");
    a.client.send("chat", { action: "send_message", content: "beide Geräte?" });
    await phone.client.message("chat", "message_sent");
    await laptop.client.message("chat", "message_sent");
    phone.client.close(1000);
    // The server answers the close from the handler that takes the connection off the roster.
    await phone.client.waitClosed();
    // Starting yet another device under a new name renames the participant for everyone. The rename goes out in a
    // presence batch, and a batch sends its left frames before its updates: a left for the phone's close (handled
    // before the rename) would have reached Alice by the time the update does.
    const from = a.client.frames.length;
    await start(bob, room.id, { display_name: "Bob (Tablet)" });
    const renamed = await a.client.next((f) => f.payload.message === "update", 5000, from);
    const untilRename = a.client.frames.slice(0, a.client.frames.indexOf(renamed) + 1);
    expect(untilRename.filter((f) => f.payload.message === "joined")).toHaveLength(1);
    expect(untilRename.some((f) => f.payload.message === "left")).toBe(false);
    expect((renamed.payload as any).participant).toMatchObject({
      participant_id: phone.joined.participant_id,
      display_name: "Bob (Tablet)",
    });
    laptop.client.close(1000);
    expect((await a.client.message("control", "left")).payload).toMatchObject({
      participants: [phone.joined.participant_id],
    });
  });

  it("gives a guest its id back with a resumption token, within the window only", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const { invite_code } = (await api("POST", `/v1/rooms/${room.id}/invites`, { token: owner, body: {} })).body;
    const first = await guestStart(room.id, invite_code);
    const { client } = await upgrade(room.id, first.ticket);
    await client!.message("control", "join_success");
    client!.close(1001);
    await client!.waitClosed();

    const again = await guestStart(room.id, invite_code, { resumption: first.resumption });
    expect(again.participant_id).toBe(first.participant_id);
    const fresh = await guestStart(room.id, invite_code, { resumption: "x".repeat(43) });
    expect(fresh.participant_id).not.toBe(first.participant_id);

    // Past the window, the resumption token no longer restores the id.
    await timeTravel.leftEarlier(room.id, resumptionWindowMs() + 1000, first.participant_id);
    const late = await guestStart(room.id, invite_code, { resumption: again.resumption });
    expect(late.participant_id).not.toBe(first.participant_id);
  });

  it("disconnects everyone with a do-not-retry close code when the room is deleted", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const a = await join(owner, room.id);
    expect((await api("DELETE", `/v1/rooms/${room.id}`, { token: owner })).status).toBe(204);
    expect(await a.client.waitClosed()).toMatchObject({ code: CloseCode.roomDeleted, reason: "room deleted" });
  });
});

describe("the upgrade refuses", () => {
  it("missing or wrong subprotocols, foreign origins and non-upgrade requests", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const { ticket } = await start(owner, room.id);
    const refused = async (options: Parameters<typeof upgrade>[2], status: number, code: string) => {
      const { response, client } = await upgrade(room.id, ticket, options);
      expect(client).toBeUndefined();
      expect(response.status).toBe(status);
      expect(((await response.json()) as any).error.code).toBe(code);
    };
    await refused({ protocols: "" }, 400, "invalid_request");
    await refused({ protocols: `ticket#${ticket}` }, 400, "invalid_request");
    await refused({ protocols: SUBPROTOCOL }, 401, "invalid_ticket");
    await refused({ origin: "https://evil.example" }, 403, "forbidden_origin");
    const plain = await api("GET", `/v1/rooms/${room.id}/signaling`);
    expect(plain.status).toBe(400);
    // None of that used up the ticket: the allowed origin gets in.
    const { response, client } = await upgrade(room.id, ticket, { origin: "https://plenum.test" });
    expect(response.status).toBe(101);
    expect(response.headers.get("sec-websocket-protocol")).toBe(SUBPROTOCOL);
    await client!.message("control", "join_success");
  });

  it("unknown, reused, expired tickets and tickets of another room", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const other = await newRoom(owner);
    const check = async (roomId: string, ticket: string) => {
      const { response } = await upgrade(roomId, ticket, { address: `tickets-${room.id}` });
      expect(response.status).toBe(401);
      expect(((await response.json()) as any).error.code).toBe("invalid_ticket");
    };
    await check(room.id, "x".repeat(43));
    const { ticket } = await start(owner, room.id);
    await check(other.id, ticket); // bound to its room
    const { client } = await upgrade(room.id, ticket);
    await client!.message("control", "join_success");
    await check(room.id, ticket); // single use
    const { ticket: stale } = await start(owner, room.id);
    await timeTravel.expireTickets(room.id);
    await check(room.id, stale);
  });

  it("ticket guessing from one address after the attempt limit", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const address = `guesser-${room.id}`;
    for (let i = 0; i < Number(setting("ATTEMPT_LIMIT")); i++) {
      expect((await upgrade(room.id, `guess-${i}`.padEnd(43, "x"), { address })).response.status).toBe(401);
    }
    const { ticket } = await start(owner, room.id);
    expect((await upgrade(room.id, ticket, { address })).response.status).toBe(429);
    expect((await upgrade(room.id, ticket, { address: `${address}-other` })).response.status).toBe(101);
  });
});

describe("bad frames get error frames and change nothing", () => {
  it("answers each kind of bad input with its code", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const { client } = await join(owner, room.id);
    client.send("chat", { action: "send_message", content: "before" });
    await client.message("chat", "message_sent");
    const cases: [string | Uint8Array, string][] = [
      ["{not json", "invalid_json"],
      ["[]", "invalid_frame"],
      [JSON.stringify({ namespace: "chat" }), "invalid_frame"],
      [JSON.stringify({ namespace: "chat", payload: { content: "no action" } }), "invalid_frame"],
      [JSON.stringify({ namespace: "chat", payload: { action: "send_message" }, extra: 1 }), "invalid_frame"],
      [JSON.stringify({ namespace: "nope", payload: { action: "x" } }), "unknown_namespace"],
      [JSON.stringify({ namespace: "chat", payload: { action: "shout" } }), "unknown_action"],
      [JSON.stringify({ namespace: "chat", payload: { action: "send_message", content: "   " } }), "invalid_frame"],
      [
        JSON.stringify({
          namespace: "chat",
          payload: { action: "send_message", content: "x".repeat(config.MAX_FRAME_BYTES) },
        }),
        "frame_too_large",
      ],
      [
        // Fewer characters than the limit, more bytes (ä is two bytes in UTF-8).
        JSON.stringify({
          namespace: "chat",
          payload: { action: "send_message", content: "ä".repeat(config.MAX_FRAME_BYTES / 2 + 50) },
        }),
        "frame_too_large",
      ],
      [JSON.stringify({ namespace: "chat", payload: { action: "send_message", content: 42 } }), "invalid_frame"],
      [new Uint8Array([1, 2, 3]), "invalid_frame"],
    ];
    for (const [frame, code] of cases) {
      const from = client.frames.length;
      client.socket.send(frame as string);
      expect((await client.error(from)).payload, String(frame).slice(0, 60)).toMatchObject({ error: code });
    }
    const from = client.frames.length;
    client.send("chat", { action: "send_message", content: "x".repeat(1001), bogus: true }, 7);
    const error = await client.error(from);
    expect(error).toMatchObject({ namespace: "chat", transaction_id: 7, payload: { error: "invalid_frame" } });
    expect(await chatCount(room.id)).toBe(1);
    expect(client.closed).toBeUndefined();
  });

  it("rate-limits a flooding connection and then closes it", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const { client } = await join(owner, room.id);
    for (let i = 0; i < config.RATE_LIMIT_BURST + 5; i++) client.send("control", { action: "raise_hand" });
    await client.next((f) => f.payload.message === "error" && f.payload.error === "rate_limited");
    const flood = (config.RATE_LIMIT_BURST + config.RATE_LIMIT_STRIKES) * 4;
    for (let i = 0; i < flood; i++) client.send("chat", { action: "send_message", content: `flood ${i}` });
    expect(await client.waitClosed(20_000)).toMatchObject({ code: CloseCode.rateLimited });
    expect(await chatCount(room.id)).toBeLessThan(100);
  });
});

describe("scheduler", () => {
  it("keeps the alarm at the earliest timer, fires due timers and clears the alarm when idle", async () => {
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const { invite_code } = (await api("POST", `/v1/rooms/${room.id}/invites`, { token: owner, body: {} })).body;
    const guest = await guestStart(room.id, invite_code);
    const { client } = await upgrade(room.id, guest.ticket);
    await client!.message("control", "join_success");

    // Connected: the admission timer is still pending (it re-checks and keeps a connected participant).
    const pending = await coreState(room.id);
    // The roster's expiry check and the turn module's credential refresh, both keyed by participant.
    expect(pending.timers.map((t) => `${t.owner}/${t.key}`)).toEqual([
      `roster/${guest.participant_id}`,
      `turn/${guest.participant_id}`,
    ]);
    expect(pending.alarm).toBe(Math.min(...pending.timers.map((t) => t.due_at)));
    const admissionDue = pending.timers.find((t) => t.owner === "roster")!.due_at;

    client!.close(1000);
    await client!.waitClosed();
    // Disconnect moves the roster timer to the end of the resumption window (after the modules' leave hooks): wait
    // until it has moved, then pretend that window has passed.
    const rosterDue = async () => (await coreState(room.id)).timers.find((t) => t.owner === "roster")?.due_at;
    for (const deadline = Date.now() + 10_000; (await rosterDue()) === admissionDue; ) {
      if (Date.now() > deadline) throw new Error("the disconnect did not move the roster timer");
      await new Promise((r) => setTimeout(r, 20));
    }
    await timeTravel.leftEarlier(room.id, resumptionWindowMs() + 1000);
    expect(await fireTimers(room.id)).toBe(true);
    const after = await coreState(room.id);
    expect({
      guests: after.participants.filter((p) => p.kind === "guest").length,
      timers: after.timers.length,
      alarm: after.alarm,
    }).toEqual({ guests: 0, timers: 0, alarm: null });
    // The expired guest's resumption token is void.
    const again = await guestStart(room.id, invite_code, { resumption: guest.resumption });
    expect(again.participant_id).not.toBe(guest.participant_id);
  });

  it("runs due timers, then deletes them: canceled ones skip, crashed ones rerun once, the alarm waits", async () => {
    const room = await RoomHarness.create();
    await runInDurableObject(room.stub, async (_instance, state) => {
      const sql = state.storage.sql;
      const ran: string[] = [];
      let alarmWhileRunning: number | null | undefined;
      const later = Date.now() + 3_600_000;
      // A scheduler of its own over the room's storage, for timers of an owner the room does not know ("probe").
      const scheduler: Scheduler = new Scheduler(state.storage, (owner) =>
        owner !== "probe"
          ? undefined
          : async (key) => {
              ran.push(key);
              if (key === "first") {
                await scheduler.cancel("probe", "canceled");
                await scheduler.schedule("probe", "later", later);
                alarmWhileRunning = await state.storage.getAlarm();
              }
              if (key === "failing") throw new Error("the handler failed (on purpose)");
            },
      );
      const past = Date.now() - 10_000;
      const timers: [string, number][] = [
        ["first", 0],
        ["canceled", 0],
        ["failing", 0],
        ["crashed once", 1],
        ["crashed twice", 2],
      ];
      for (const [i, [key, attempts]] of timers.entries()) {
        sql.exec(
          "INSERT INTO timers (owner, key, due_at, data, attempts) VALUES ('probe', ?, ?, NULL, ?)",
          key,
          past + i,
          attempts,
        );
      }
      const alarmBefore = await state.storage.getAlarm();
      await scheduler.runDue(Date.now());
      expect(ran).toEqual(["first", "failing", "crashed once"]);
      // While the run went on, scheduling did not move the alarm (to one of the timers still stored and running).
      expect(alarmWhileRunning).toBe(alarmBefore);
      const left = sql.exec<{ key: string; attempts: number }>(
        "SELECT key, attempts FROM timers WHERE owner = 'probe'",
      );
      expect(left.toArray()).toEqual([{ key: "later", attempts: 0 }]);
      const earliest = sql.exec<{ due: number }>("SELECT MIN(due_at) AS due FROM timers").one().due;
      expect(await state.storage.getAlarm()).toBe(earliest);
      sql.exec("DELETE FROM timers WHERE owner = 'probe'");
    });
  });
});
