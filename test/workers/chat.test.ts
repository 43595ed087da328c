import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { CHAT_AUTHORITY, type ChatAction, type CommandOf, type Role } from "../../src/protocol";
import { readConfig } from "../../src/shared/config";
import type { FrameCollector } from "../helpers/collector";
import { ack, Peer, RoomHarness, sees } from "./harness";
import { api, devToken, join } from "./helpers";

const config = () => readConfig(env as never);
const say = (content: string, extra: Partial<CommandOf<"chat">> = {}) =>
  ({ action: "send_message", content, ...extra }) as CommandOf<"chat">;
const contents = (client: FrameCollector) =>
  client.frames.filter((f) => f.payload.message === "message_sent").map((f) => (f.payload as any).content as string);
const historyOf = async (peer: Peer, command: Omit<Extract<CommandOf<"chat">, { action: "get_history" }>, "action">) =>
  (await peer.command("chat", { action: "get_history", ...command })).payload as any;

/** A room with its owner, a moderator, two members (one on two devices) and a guest, everyone announced. */
async function committee() {
  const room = await RoomHarness.create({}, "Vorsitz");
  const owner = await room.join();
  const moderator = await room.join("Moderation");
  await ack(owner, { action: "update_role", target: moderator.id, role: "moderator" });
  const token = await devToken("Mitglied");
  const first = await join(token, room.room.id);
  const member = new Peer(String(first.joined.participant_id), first.client, first.joined);
  const second = await join(token, room.room.id);
  const memberPhone = new Peer(member.id, second.client, second.joined);
  const other = await room.join("Zweites Mitglied");
  const guest = await room.joinGuest("Gast");
  await sees(owner, guest.id);
  return { room, owner, moderator, member, memberPhone, other, guest };
}

describe("chat scopes, history, switch and slow-down", () => {
  it("delivers private and moderators-only messages to exactly their recipients", async () => {
    const { owner, moderator, member, memberPhone, other, guest } = await committee();
    const everyone = [owner, moderator, member, memberPhone, other, guest];

    const privately = await member.command("chat", say("Unter uns", { scope: "private", target: guest.id }));
    expect(privately.payload).toMatchObject({ message: "message_sent", scope: "private", target: guest.id });
    const toChairs = await guest.command("chat", say("Bitte um Wort", { scope: "moderators" }));
    expect(toChairs.payload).toMatchObject({ message: "message_sent", scope: "moderators" });
    expect((toChairs.payload as any).target).toBeUndefined();
    // A global message after both is the barrier: once everyone has it, everything before it has arrived too.
    await owner.command("chat", say("Barriere"));
    for (const peer of everyone) await peer.client.next((f) => (f.payload as any).content === "Barriere");

    const received = everyone.map((p) => contents(p.client));
    expect(received).toEqual([
      ["Bitte um Wort", "Barriere"], // owner
      ["Bitte um Wort", "Barriere"], // moderator
      ["Unter uns", "Barriere"], // member, the sender, on both devices
      ["Unter uns", "Barriere"],
      ["Barriere"], // the other member hears neither
      ["Unter uns", "Bitte um Wort", "Barriere"], // the guest: the target and the sender
    ]);

    // A private message needs someone in the room other than oneself; other scopes take no target.
    expect(await member.refused("chat", say("x", { scope: "private", target: "Nobody0000000000000000" }))).toBe(
      "not_found",
    );
    expect(await member.refused("chat", say("x", { scope: "private", target: member.id }))).toBe("invalid_request");
    expect(await member.refused("chat", say("x", { scope: "private" }))).toBe("invalid_frame");
    expect(await member.refused("chat", say("x", { scope: "global", target: guest.id }))).toBe("invalid_frame");
    expect(await member.refused("chat", say("x", { scope: "everyone" } as never))).toBe("invalid_frame");
  });

  it("keeps private and moderators-only messages from the waiting room, a chair sent back, one demoted", async () => {
    const { room, owner, moderator, member, guest } = await committee();
    await ack(owner, { action: "set_waiting_room", mode: "everyone" });
    const waiting = await room.arrive("Wartend");
    expect(waiting.joined.message).toBe("in_waiting_room");
    // Nobody waiting is in the room: no private message reaches them.
    expect(await member.refused("chat", say("Hallo?", { scope: "private", target: waiting.id }))).toBe("not_found");

    // A moderator sent back to the waiting room hears nothing meant for the chairs.
    await ack(owner, { action: "send_to_waiting_room", target: moderator.id });
    await moderator.client.message("moderation", "in_waiting_room");
    await guest.command("chat", say("An die Moderation", { scope: "moderators" }));
    await owner.client.next((f) => (f.payload as any).content === "An die Moderation");
    for (const peer of [moderator, waiting]) await peer.alive();
    expect(contents(moderator.client)).not.toContain("An die Moderation");
    expect(contents(waiting.client)).toEqual([]);

    // Let in again and still a moderator, they read it back; demoted, they no longer do.
    await ack(owner, { action: "accept", target: moderator.id });
    await moderator.client.message("control", "join_success");
    expect((await historyOf(moderator, {})).messages.map((m: any) => m.content)).toContain("An die Moderation");
    await ack(owner, { action: "update_role", target: moderator.id, role: "user" });
    await moderator.client.message("moderation", "role_updated");
    expect((await historyOf(moderator, {})).messages.map((m: any) => m.content)).not.toContain("An die Moderation");

    // A second device gets in join_success what its participant may see.
    const ownerPhone = await room.join();
    expect(ownerPhone.id).toBe(owner.id);
    expect((ownerPhone.joined.modules as any).chat.messages.map((m: any) => m.content)).toContain("An die Moderation");
  });

  it("lets chairs alone switch and clear the chat; nobody in the waiting room may do anything in it", async () => {
    const { room, owner, moderator, member, guest } = await committee();
    await ack(owner, { action: "set_waiting_room", mode: "everyone" });
    const waiting = await room.arrive("Wartend");
    const senders = { owner, moderator, user: member, guest } as const;
    const commands: Record<ChatAction, CommandOf<"chat">> = {
      send_message: say("Wer darf?"),
      get_history: { action: "get_history" },
      set_enabled: { action: "set_enabled", enabled: true },
      clear_history: { action: "clear_history" },
    };
    for (const [action, command] of Object.entries(commands) as [ChatAction, CommandOf<"chat">][]) {
      for (const [role, peer] of Object.entries(senders) as [Role, Peer][]) {
        const answer = (await peer.command("chat", command)).payload as any;
        const allowed = CHAT_AUTHORITY[action].includes(role);
        expect(answer.message === "error" ? answer.error : "allowed", `${role} → ${action}`).toBe(
          allowed ? "allowed" : "insufficient_permissions",
        );
      }
      expect(await waiting.refused("chat", command), `waiting → ${action}`).toBe("insufficient_permissions");
    }
  });

  it("keeps the last CHAT_HISTORY_LIMIT messages and pages through what each participant may see", async () => {
    const { room, owner, moderator, member, other, guest } = await committee();
    const limit = config().CHAT_HISTORY_LIMIT;
    // Five senders (each within the slow-down) write past the limit; every fourth message is private or to chairs.
    const senders = [owner, moderator, member, other, guest];
    const total = limit + 5;
    expect(total / senders.length).toBeLessThanOrEqual(config().CHAT_BURST);
    for (let i = 0; i < total; i++) {
      const sender = senders[i % senders.length]!;
      const extra =
        i % 4 === 1
          ? { scope: "private" as const, target: sender === guest ? member.id : guest.id }
          : i % 4 === 3
            ? { scope: "moderators" as const }
            : {};
      expect((await sender.command("chat", say(`m${i}`, extra))).payload).toMatchObject({ message: "message_sent" });
    }
    const stored = (await room.dump("chat")).chat_messages!;
    expect(stored.map((r) => r.content)).toEqual(Array.from({ length: limit }, (_, i) => `m${i + total - limit}`));

    const kept = Array.from({ length: limit }, (_, i) => i + total - limit);
    const visibleTo = (peer: Peer, chair: boolean) =>
      kept
        .filter((i) => {
          const sender = senders[i % senders.length]!;
          if (i % 4 === 1) return sender === peer || (sender === guest ? member : guest) === peer;
          if (i % 4 === 3) return chair || sender === peer;
          return true;
        })
        .map((i) => `m${i}`);

    // Paged backwards, two at a time: oldest first in each page, `more` until the first visible one.
    for (const [peer, chair] of [
      [other, false],
      [guest, false],
      [moderator, true],
    ] as const) {
      const pages: string[] = [];
      let before: string | undefined;
      for (let page = 0; ; page++) {
        const answer = await historyOf(peer, { limit: 2, ...(before ? { before } : {}) });
        expect(answer.message).toBe("history");
        pages.unshift(...answer.messages.map((m: any) => m.content));
        if (!answer.more) break;
        before = answer.messages[0].id;
        expect(page).toBeLessThan(limit);
      }
      expect(pages).toEqual(visibleTo(peer, chair));
    }
    // One scope at a time; the default page is everything here.
    const privateOnly = await historyOf(guest, { scope: "private" });
    expect(privateOnly.messages.every((m: any) => m.scope === "private")).toBe(true);
    expect(privateOnly.messages.length).toBeGreaterThan(0);
    // Of the messages to the chairs, a member sees only their own.
    const ownToChairs = kept.filter((i) => i % 4 === 3 && senders[i % senders.length] === other).map((i) => `m${i}`);
    expect((await historyOf(other, { scope: "moderators" })).messages.map((m: any) => m.content)).toEqual(ownToChairs);
    expect(await owner.refused("chat", { action: "get_history", limit: 101 })).toBe("invalid_frame");
    expect(await owner.refused("chat", { action: "get_history", before: "abc" })).toBe("invalid_frame");

    // A joiner gets the newest it may see (within the byte budget), the same as its history would show.
    const late = await room.join("Nachzügler");
    const joinedWith = (late.joined.modules as any).chat;
    expect(joinedWith.enabled).toBe(true);
    // All it may see fits the budget: no older page to load.
    expect(joinedWith.more).toBe(false);
    expect(joinedWith.messages.map((m: any) => m.content)).toEqual(
      kept.filter((i) => i % 4 !== 1 && i % 4 !== 3).map((i) => `m${i}`),
    );
  });

  it("tells a participant to slow down past CHAT_BURST messages per window, with when to try again", async () => {
    const { owner, member, other } = await committee();
    const burst = config().CHAT_BURST;
    for (let i = 0; i < burst; i++) await member.command("chat", say(`schnell ${i}`));
    const refused = await member.command("chat", say("zu schnell"));
    expect(refused.payload).toMatchObject({ message: "error", error: "slow_down" });
    const retryAfter = (refused.payload as any).retry_after_ms as number;
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(config().CHAT_WINDOW_SECONDS * 1000);
    // Others are not slowed by it; the refused message reached nobody.
    expect((await other.command("chat", say("ich darf"))).payload).toMatchObject({ message: "message_sent" });
    await owner.client.next((f) => (f.payload as any).content === "ich darf");
    expect(contents(owner.client)).not.toContain("zu schnell");
    // Once the window has moved on, the same participant is heard again.
    await new Promise((resolve) => setTimeout(resolve, retryAfter + 50));
    expect((await member.command("chat", say("wieder da"))).payload).toMatchObject({ message: "message_sent" });
  });

  it("lets chairs switch chat off for everyone else and clear the history; both are logged", async () => {
    const { room, owner, moderator, member, guest } = await committee();
    await member.command("chat", say("vorher"));
    expect(await member.refused("chat", { action: "set_enabled", enabled: false })).toBe("insufficient_permissions");
    expect(await guest.refused("chat", { action: "clear_history" })).toBe("insufficient_permissions");

    const off = await moderator.command("chat", { action: "set_enabled", enabled: false });
    expect(off.payload).toEqual({ message: "chat_state", enabled: false });
    for (const peer of [owner, member, guest]) await peer.client.message("chat", "chat_state");
    expect(await member.refused("chat", say("darf ich?"))).toBe("chat_disabled");
    expect(await guest.refused("chat", say("ich?", { scope: "moderators" }))).toBe("chat_disabled");
    expect((await owner.command("chat", say("Chairs still write"))).payload).toMatchObject({
      message: "message_sent",
    });
    const late = await room.join("Nachzügler");
    expect((late.joined.modules as any).chat.enabled).toBe(false);
    // Reading back is still allowed.
    expect((await historyOf(member, {})).messages.map((m: any) => m.content)).toEqual(["vorher", "Chairs still write"]);

    const cleared = await owner.command("chat", { action: "clear_history" });
    expect(cleared.payload).toEqual({ message: "history_cleared" });
    for (const peer of [moderator, member, guest, late]) await peer.client.message("chat", "history_cleared");
    expect((await room.dump("chat")).chat_messages).toEqual([]);
    expect((await historyOf(member, {})).messages).toEqual([]);
    await moderator.command("chat", { action: "set_enabled", enabled: true });
    expect((await member.command("chat", say("wieder offen"))).payload).toMatchObject({ message: "message_sent" });

    const log = await api("GET", `/v1/rooms/${room.room.id}/moderation-log`, { token: room.ownerToken });
    const entries = log.body.entries.filter((e: any) => e.action.startsWith("chat_"));
    expect(entries.map((e: any) => [e.action, e.actor.participant_id, e.details])).toEqual([
      ["chat_set_enabled", moderator.id, { enabled: false }],
      ["chat_clear_history", owner.id, { removed: 2 }],
      ["chat_set_enabled", moderator.id, { enabled: true }],
    ]);
  });

  it("switches chat on again when the meeting ends", async () => {
    const room = await RoomHarness.create({}, "Vorsitz");
    const owner = await room.join();
    await owner.command("chat", { action: "set_enabled", enabled: false });
    await owner.command("moderation", { action: "end_meeting" });
    await owner.client.waitClosed();
    const next = await room.join();
    expect((next.joined.modules as any).chat.enabled).toBe(true);
  });
});
