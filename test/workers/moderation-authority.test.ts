import { describe, expect, it } from "vitest";
import {
  type CommandOf,
  type ErrorCode,
  MODERATION_AUTHORITY,
  type ModerationAction,
  type Role,
} from "../../src/protocol";
import { type Peer, RoomHarness } from "./harness";
import { api } from "./helpers";

/**
 * The authorization matrix, generated from `MODERATION_AUTHORITY` (the one table the room enforces and the docs'
 * "who" column renders): every moderation command × sender (owner, moderator, user, guest, someone waiting) ×
 * target (owner, another moderator, user, guest, nobody) against a real room. Each expectation is derived here
 * from the table's data with the rules of the issue; the room must answer exactly that.
 */
const SENDERS = ["owner", "moderator", "user", "guest", "waiting"] as const;
const TARGETS = ["owner", "moderator", "user", "guest", "absent"] as const;
type SenderKind = (typeof SENDERS)[number];
type TargetKind = (typeof TARGETS)[number];
const ROLE_OF: Record<Exclude<SenderKind, "waiting">, Role> = {
  owner: "owner",
  moderator: "moderator",
  user: "user",
  guest: "guest",
};
const ACTIONS = Object.keys(MODERATION_AUTHORITY) as ModerationAction[];
const ABSENT = "Nobody0000000000000000";

function expected(action: ModerationAction, sender: SenderKind, target: TargetKind | undefined): "allowed" | ErrorCode {
  const { issuers, target: rule } = MODERATION_AUTHORITY[action];
  if (sender === "waiting" || !issuers.includes(ROLE_OF[sender])) return "insufficient_permissions";
  if (!rule || target === undefined) return "allowed";
  if (target === "absent") return "not_found";
  // The ban list holds banned registered users only.
  if (rule.in === "ban_list") return target === "user" ? "allowed" : "not_found";
  // The owner and the other moderator are in the room, not waiting (a moderator waits only if the owner sends them
  // back, which the behaviour tests cover).
  if (rule.in === "waiting" && (target === "owner" || target === "moderator")) return "not_found";
  if (target === "owner") return "insufficient_permissions";
  if (target === "moderator" && sender !== "owner") return "insufficient_permissions";
  const kind = target === "guest" ? "guest" : "user";
  if (rule.kinds && !rule.kinds.includes(kind)) return "insufficient_permissions";
  return "allowed";
}

function payload(action: ModerationAction, target: string | undefined, targetKind?: TargetKind) {
  const withTarget = { action, target } as Record<string, unknown>;
  switch (action) {
    case "update_role":
      return { ...withTarget, role: targetKind === "moderator" ? "user" : "moderator" };
    case "ban":
      return { ...withTarget, revoke_invite: false };
    case "set_display_name":
      return { ...withTarget, display_name: "Umbenannt" };
    case "set_waiting_room":
      return { action, mode: "guests" };
    case "debrief":
      return { action, scope: "guests" };
    case "set_hands":
      return { action, enabled: false };
    case "mute":
      return { action, targets: [target] };
    case "set_microphone_restrictions":
      return { action, unrestricted: [] };
    default:
      return MODERATION_AUTHORITY[action].target ? withTarget : { action };
  }
}

type Part = "moderator" | "moderator2" | "user" | "guest" | "banned" | "waitingUser" | "waitingGuest";
const ALL_PARTS: readonly Part[] = [
  "moderator",
  "moderator2",
  "user",
  "guest",
  "banned",
  "waitingUser",
  "waitingGuest",
];

/**
 * A room with the owner and the participants `parts` names: two moderators, a user, a guest, a banned user (gone),
 * and a registered user and a guest in the waiting room. Set up with the commands themselves; a case that needs
 * only some of them gets only those (the in-workerd runtime slows with every object it keeps).
 */
async function fixture(parts: readonly Part[] = ALL_PARTS) {
  const harness = await RoomHarness.create({}, "Vorsitz");
  const owner = await harness.join();
  const has = (part: Part) => parts.includes(part);
  const joined = async (part: Part, name: string) => (has(part) ? harness.join(name) : undefined);
  const [moderator, moderator2, user, banned] = await Promise.all([
    joined("moderator", "Moderation"),
    joined("moderator2", "Moderation Zwei"),
    joined("user", "Mitglied"),
    joined("banned", "Gesperrt"),
  ]);
  const guest = has("guest") ? await harness.joinGuest("Gast") : undefined;
  const ack = async (command: CommandOf<"moderation">) => {
    const answer = await owner.command("moderation", command);
    if (answer.payload.message !== "logged") throw new Error(`setup: ${JSON.stringify(answer.payload)}`);
  };
  for (const m of [moderator, moderator2]) if (m) await ack({ action: "update_role", target: m.id, role: "moderator" });
  if (banned) await ack({ action: "ban", target: banned.id });
  await ack({ action: "set_waiting_room", mode: "everyone" });
  const waitingUser = has("waitingUser") ? await harness.arrive("Wartend") : undefined;
  const waitingGuest = has("waitingGuest") ? await harness.joinGuest("Wartegast") : undefined;
  for (const w of [waitingUser, waitingGuest]) if (w) expect(w.joined.message).toBe("in_waiting_room");
  const need = <T>(peer: T | undefined, part: string): T => {
    if (!peer) throw new Error(`the fixture was built without ${part}`);
    return peer;
  };
  const senders: Record<SenderKind, () => Peer> = {
    owner: () => owner,
    moderator: () => need(moderator, "moderator"),
    user: () => need(user, "user"),
    guest: () => need(guest, "guest"),
    waiting: () => need(waitingUser, "waitingUser"),
  };
  const targetOf = (action: ModerationAction, kind: TargetKind): string => {
    const place = MODERATION_AUTHORITY[action].target?.in;
    if (kind === "absent") return ABSENT;
    if (kind === "owner") return owner.id;
    if (kind === "moderator") return need(moderator2, "moderator2").id;
    if (kind === "user") {
      if (place === "waiting") return need(waitingUser, "waitingUser").id;
      return (place === "ban_list" ? need(banned, "banned") : need(user, "user")).id;
    }
    return (place === "waiting" ? need(waitingGuest, "waitingGuest") : need(guest, "guest")).id;
  };
  const everyone = [owner, moderator, moderator2, user, guest, waitingUser, waitingGuest].filter(
    (p): p is Peer => p !== undefined,
  );
  const close = () => {
    for (const peer of [...everyone, banned]) if (peer && !peer.client.closed) peer.client.close();
  };
  return { harness, senders, targetOf, everyone, close };
}

/** The participants one allowed case needs: its sender and its target. */
function partsFor(action: ModerationAction, sender: SenderKind, target: TargetKind | undefined): Part[] {
  const place = MODERATION_AUTHORITY[action].target?.in;
  const parts: Part[] = sender === "moderator" ? ["moderator"] : [];
  if (target === "moderator") parts.push("moderator2");
  if (target === "user") parts.push(place === "waiting" ? "waitingUser" : place === "ban_list" ? "banned" : "user");
  if (target === "guest") parts.push(place === "waiting" ? "waitingGuest" : "guest");
  return parts;
}

type Fixture = Awaited<ReturnType<typeof fixture>>;

async function logLength(f: Fixture): Promise<number> {
  const log = await api("GET", `/v1/rooms/${f.harness.room.id}/moderation-log?limit=200`, {
    token: f.harness.ownerToken,
  });
  expect(log.status).toBe(200);
  return log.body.entries.length;
}

const cases = (action: ModerationAction) =>
  SENDERS.flatMap((sender) =>
    MODERATION_AUTHORITY[action].target
      ? TARGETS.map((target) => ({ sender, target: target as TargetKind | undefined }))
      : [{ sender, target: undefined as TargetKind | undefined }],
  ).map((c) => ({ ...c, outcome: expected(action, c.sender, c.target) }));

describe("moderation authorization matrix (from MODERATION_AUTHORITY)", () => {
  it("covers every command, sender and target", () => {
    const all = ACTIONS.flatMap(cases);
    expect(ACTIONS).toHaveLength(20);
    // Written out once, apart from the table: every moderation command is for chairs only.
    for (const action of ACTIONS)
      expect([...MODERATION_AUTHORITY[action].issuers].sort(), action).toEqual(["moderator", "owner"]);
    expect(all.length).toBe(9 * 25 + 11 * 5);
    // The table allows something for every command, and refuses something of each kind.
    for (const action of ACTIONS)
      expect(
        cases(action).some((c) => c.outcome === "allowed"),
        action,
      ).toBe(true);
    expect(new Set(all.map((c) => c.outcome))).toEqual(new Set(["allowed", "insufficient_permissions", "not_found"]));
  });

  // One room serves the refusals of a few commands (each sender stays within its rate limit and strike budget).
  for (let i = 0; i < ACTIONS.length; i += 4) {
    const group = ACTIONS.slice(i, i + 4);
    it(`${group.join(", ")}: every refusal is the exact error and changes nothing`, async () => {
      const f = await fixture();
      const before = await logLength(f);
      for (const action of group) {
        for (const c of cases(action).filter((c) => c.outcome !== "allowed")) {
          const target = c.target && f.targetOf(action, c.target);
          const command = payload(action, target, c.target) as CommandOf<"moderation">;
          const refused = await f.senders[c.sender]().refused("moderation", command);
          expect(refused, `${c.sender} → ${action} ${c.target ?? ""}`).toBe(c.outcome);
        }
      }
      expect(await logLength(f)).toBe(before);
      // Nobody was removed: every connection still answers.
      for (const peer of f.everyone) await peer.alive();
      f.close();
    });
  }

  for (const action of ACTIONS) {
    it(`${action}: every allowed case is accepted and acknowledged with its log entry`, async () => {
      for (const c of cases(action).filter((c) => c.outcome === "allowed")) {
        const f = await fixture(partsFor(action, c.sender, c.target));
        const target = c.target && f.targetOf(action, c.target);
        const command = payload(action, target, c.target) as CommandOf<"moderation">;
        const answer = await f.senders[c.sender]().command("moderation", command);
        f.close();
        const what = `${c.sender} → ${action} ${c.target ?? ""}: ${JSON.stringify(answer.payload)}`;
        if (action === "get_log") {
          expect(answer.payload, what).toMatchObject({ message: "log" });
          continue;
        }
        expect(answer.payload, what).toMatchObject({ message: "logged", entry: { action } });
        if (target) expect((answer.payload as any).entry.target?.participant_id, what).toBe(target);
      }
    });
  }
});
