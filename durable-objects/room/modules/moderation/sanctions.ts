import { type Ban, CHAIRS } from "../../../../src/protocol";
import type { ModuleContext } from "../../module";
import type { Actor } from "./log";

type Context = ModuleContext<"moderation">;

interface BanRow extends Record<string, SqlStorageValue> {
  participant_id: string;
  display_name: string;
  banned_at: number;
  banned_by_id: string | null;
  banned_by_name: string;
}

const toBan = (row: BanRow): Ban => ({
  participant_id: row.participant_id,
  display_name: row.display_name,
  banned_at: new Date(row.banned_at).toISOString(),
  banned_by: { participant_id: row.banned_by_id, display_name: row.banned_by_name },
});

export const banList = (ctx: Context): Ban[] =>
  ctx.sql.exec<BanRow>("SELECT * FROM moderation_bans ORDER BY banned_at").toArray().map(toBan);

export function banOf(ctx: Context, participantId: string): Ban | undefined {
  const row = ctx.sql
    .exec<BanRow>("SELECT * FROM moderation_bans WHERE participant_id = ?", participantId)
    .toArray()[0];
  return row && toBan(row);
}

function banListChanged(ctx: Context, added: Ban[], removed: string[]): void {
  ctx.emit({ to: "roles", roles: CHAIRS }, { message: "ban_list_changed", added, removed });
}

/** Keeps a registered user out (before anything awaits: a start arriving meanwhile is refused already). */
export function addBan(ctx: Context, participantId: string, displayName: string, by: Actor): void {
  const row = ctx.sql
    .exec<BanRow>(
      `INSERT INTO moderation_bans (participant_id, display_name, banned_at, banned_by_id, banned_by_name)
       VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING *`,
      participantId,
      displayName,
      ctx.now(),
      by.participantId,
      by.displayName,
    )
    .toArray()[0];
  if (row) banListChanged(ctx, [toBan(row)], []);
}

export function liftBan(ctx: Context, participantId: string): void {
  ctx.sql.exec("DELETE FROM moderation_bans WHERE participant_id = ?", participantId);
  banListChanged(ctx, [], [participantId]);
}

export const isRejected = (ctx: Context, participantId: string) =>
  ctx.sql.exec("SELECT 1 FROM moderation_rejected WHERE participant_id = ?", participantId).toArray().length > 0;

export function addRejection(ctx: Context, participantId: string): void {
  ctx.sql.exec("INSERT OR IGNORE INTO moderation_rejected (participant_id) VALUES (?)", participantId);
}

export const isLocked = (ctx: Context) =>
  ctx.sql.exec<{ locked: number }>("SELECT locked FROM moderation_meeting").toArray()[0]?.locked === 1;

export function setLocked(ctx: Context, locked: boolean): void {
  ctx.sql.exec(
    "INSERT INTO moderation_meeting (id, locked) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET locked = excluded.locked",
    locked ? 1 : 0,
  );
}

/** The meeting ended: its lock and rejections end with it (bans stay). */
export function forgetMeetingSanctions(ctx: Context): void {
  ctx.sql.exec("DELETE FROM moderation_rejected");
  ctx.sql.exec("DELETE FROM moderation_meeting");
}
