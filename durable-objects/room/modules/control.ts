import { defineModule } from "../module";

const EVERYONE = ["owner", "moderator", "user", "guest"] as const;

/**
 * The control namespace's commands: raised hands. Presence itself (join_success, joined, left, update) is the
 * core's, because every module depends on who is in the room; this module owns the `hand_raised_at` field of
 * each participant and lowers a hand when its participant leaves.
 */
export const control = defineModule({
  namespace: "control",
  migrations: ["CREATE TABLE control_hands (participant_id TEXT PRIMARY KEY, raised_at INTEGER NOT NULL)"],
  permissions: { raise_hand: EVERYONE, lower_hand: EVERYONE },
  handle(ctx, sender, command) {
    const id = sender.participantId;
    const changed =
      command.action === "raise_hand"
        ? ctx.sql.exec("INSERT OR IGNORE INTO control_hands (participant_id, raised_at) VALUES (?, ?)", id, ctx.now())
        : ctx.sql.exec("DELETE FROM control_hands WHERE participant_id = ?", id);
    if (changed.rowsWritten > 0) ctx.room.presenceChanged(id);
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
});
