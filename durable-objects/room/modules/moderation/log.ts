import {
  CHAIRS,
  LOG_PAGE_DEFAULT,
  type ModerationAction,
  type ModerationLog,
  type ModerationLogEntry,
} from "../../../../src/protocol";
import type { ModuleContext, Sender } from "../../module";

type Context = ModuleContext<"moderation">;

/** What the log names: a moderation command, or a chair's command of another namespace (`chat_…`, `automod_…`). */
export type LoggedAction = ModerationAction | `chat_${string}` | `automod_${string}`;

/** Who acted: a participant, or (REST) the owner or an operator, who may have no participant in the room. */
export interface Actor {
  participantId: string | null;
  displayName: string;
}

export interface Named {
  participantId: string;
  displayName: string;
}

interface LogRow extends Record<string, SqlStorageValue> {
  seq: number;
  at: number;
  actor_id: string | null;
  actor_name: string;
  action: string;
  target_id: string | null;
  target_name: string | null;
  details: string;
}

const toEntry = (row: LogRow): ModerationLogEntry => ({
  seq: row.seq,
  at: new Date(row.at).toISOString(),
  actor: { participant_id: row.actor_id, display_name: row.actor_name },
  action: row.action,
  ...(row.target_id === null ? {} : { target: { participant_id: row.target_id, display_name: row.target_name ?? "" } }),
  details: JSON.parse(row.details) as ModerationLogEntry["details"],
});

export function actorOf(ctx: Context, sender: Sender): Actor {
  const member = ctx.roster.member(sender.participantId);
  return { participantId: sender.participantId, displayName: member?.displayName ?? "" };
}

/**
 * Appends an accepted command to the log and tells the chairs (`logged`); the acting chair's copy carries the
 * command's transaction_id, so it acknowledges the command — also to a sender who is no chair any more — unless
 * `acknowledge` is false (the command answers with an error for the part it could not do).
 */
export function record(
  ctx: Context,
  by: Sender | Actor,
  action: LoggedAction,
  target: Named | undefined,
  details: ModerationLogEntry["details"] = {},
  acknowledge = true,
): void {
  const sender = acknowledge && "connectionId" in by ? by : undefined;
  const actor = "connectionId" in by ? actorOf(ctx, by) : by;
  const row = ctx.sql
    .exec<LogRow>(
      `INSERT INTO moderation_log (at, actor_id, actor_name, action, target_id, target_name, details)
       VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      ctx.now(),
      actor.participantId,
      actor.displayName,
      action,
      target?.participantId ?? null,
      target?.displayName ?? null,
      JSON.stringify(details),
    )
    .one();
  const event = { message: "logged" as const, entry: toEntry(row) };
  ctx.emit({ to: "roles", roles: CHAIRS }, event, sender);
  const role = sender && ctx.roster.member(sender.participantId)?.role;
  if (sender && (!role || !CHAIRS.includes(role))) ctx.reply(sender, event);
}

/** The newest `limit` entries before `before` (all when absent), oldest first. */
export function readLog(ctx: Context, before: number | undefined, limit = LOG_PAGE_DEFAULT): ModerationLog {
  const rows = ctx.sql
    .exec<LogRow>(
      "SELECT * FROM moderation_log WHERE seq < ? ORDER BY seq DESC LIMIT ?",
      before ?? Number.MAX_SAFE_INTEGER,
      limit + 1,
    )
    .toArray();
  const more = rows.length > limit;
  return { entries: rows.slice(0, limit).reverse().map(toEntry), more };
}
