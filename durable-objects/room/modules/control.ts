import { defineModule, type ModuleContext } from "../module";

const EVERYONE = ["owner", "moderator", "user", "guest"] as const;

/**
 * What the moderation namespace may change about hands (`set_hands`, `reset_hands`, the end of a meeting), and what
 * the speaker queue reads (raised hands join it) and does (a speaker's hand goes down).
 */
export interface ControlService {
  handsEnabled(): boolean;
  /** Who has a hand raised, longest first. */
  raisedHands(): string[];
  lowerHand(participantId: string): void;
  /** Switches raising hands on or off; switching off lowers every raised hand. Returns the hands lowered. */
  setHandsEnabled(enabled: boolean): number;
  /** Lowers every raised hand; returns how many were raised. */
  lowerAllHands(): number;
}

declare module "../module" {
  interface ModuleServices {
    control: ControlService;
  }
}

type Context = ModuleContext<"control">;

const handsEnabled = (ctx: Context) =>
  ctx.sql.exec<{ hands_enabled: number }>("SELECT hands_enabled FROM control_settings").toArray()[0]?.hands_enabled !==
  0;

function lowerAllHands(ctx: Context): number {
  const lowered = ctx.sql.exec<{ participant_id: string }>("DELETE FROM control_hands RETURNING participant_id");
  let count = 0;
  for (const { participant_id } of lowered) {
    ctx.room.presenceChanged(participant_id);
    ctx.services.automod.handChanged(participant_id, false);
    count++;
  }
  return count;
}

/**
 * The control namespace's commands: raised hands. Presence itself (join_success, joined, left, update) is the
 * core's, because every module depends on who is in the room; this module owns the `hand_raised_at` field of
 * each participant, lowers a hand when its participant leaves, and keeps whether hands may be raised at all.
 */
export const control = defineModule({
  namespace: "control",
  migrations: [
    "CREATE TABLE control_hands (participant_id TEXT PRIMARY KEY, raised_at INTEGER NOT NULL)",
    // One row once a moderator switched hands off (or on again); no row: hands may be raised.
    "CREATE TABLE control_settings (id INTEGER PRIMARY KEY CHECK (id = 1), hands_enabled INTEGER NOT NULL)",
  ],
  permissions: {
    raise_hand: {
      roles: EVERYONE,
      allow: (ctx) =>
        handsEnabled(ctx)
          ? undefined
          : { error: "insufficient_permissions", text: "the moderators have switched raising hands off" },
    },
    lower_hand: EVERYONE,
  },
  handle(ctx, sender, command) {
    const id = sender.participantId;
    const raised = command.action === "raise_hand";
    const changed = raised
      ? ctx.sql.exec("INSERT OR IGNORE INTO control_hands (participant_id, raised_at) VALUES (?, ?)", id, ctx.now())
      : ctx.sql.exec("DELETE FROM control_hands WHERE participant_id = ?", id);
    if (changed.rowsWritten === 0) return;
    ctx.room.presenceChanged(id);
    ctx.services.automod.handChanged(id, raised);
  },
  presence(ctx, participantIds) {
    // Only raised hands have rows: one small query serves any number of participants.
    const hands = ctx.sql.exec<{ participant_id: string; raised_at: number }>("SELECT * FROM control_hands").toArray();
    const raised = new Map(hands.map((h) => [h.participant_id, new Date(h.raised_at).toISOString()]));
    return new Map(participantIds.map((id) => [id, { hand_raised_at: raised.get(id) ?? null }]));
  },
  hooks: {
    left(ctx, participantId) {
      ctx.sql.exec("DELETE FROM control_hands WHERE participant_id = ?", participantId);
    },
  },
  service: (ctx) => ({
    handsEnabled: () => handsEnabled(ctx),
    setHandsEnabled(enabled) {
      ctx.sql.exec(
        `INSERT INTO control_settings (id, hands_enabled) VALUES (1, ?)
         ON CONFLICT(id) DO UPDATE SET hands_enabled = excluded.hands_enabled`,
        enabled ? 1 : 0,
      );
      return enabled ? 0 : lowerAllHands(ctx);
    },
    lowerAllHands: () => lowerAllHands(ctx),
    raisedHands: () =>
      ctx.sql
        .exec<{ participant_id: string }>("SELECT participant_id FROM control_hands ORDER BY raised_at, participant_id")
        .toArray()
        .map((r) => r.participant_id),
    lowerHand(participantId) {
      const lowered = ctx.sql.exec("DELETE FROM control_hands WHERE participant_id = ?", participantId).rowsWritten;
      if (lowered > 0) ctx.room.presenceChanged(participantId);
    },
  }),
});
