import { CHAIRS, type WaitingParticipant } from "../../../../src/protocol";
import type { CommandError, ModuleContext, Sender } from "../../module";

type Context = ModuleContext<"moderation">;

export const waitingList = (ctx: Context): WaitingParticipant[] =>
  ctx.roster.held().map((m) => ({ participant_id: m.participantId, display_name: m.displayName, kind: m.kind }));

/** Owners and moderators hear who came into the waiting room and who left it (never the whole list again). */
function waitingChanged(ctx: Context, added: WaitingParticipant[], removed: string[]): void {
  ctx.emit({ to: "roles", roles: CHAIRS }, { message: "waiting_room_changed", added, removed });
}

/** Someone announced as waiting no longer waits (let in, turned away, gone): chairs hear it once. */
export function stoppedWaiting(ctx: Context, participantId: string): void {
  const was = ctx.sql.exec("DELETE FROM moderation_waiting WHERE participant_id = ? RETURNING 1", participantId);
  if (was.toArray().length > 0) waitingChanged(ctx, [], [participantId]);
}

/** A held participant's connections hear that they wait; chairs hear of their arrival (once per participant). */
export function startedWaiting(ctx: Context, participantId: string): void {
  const member = ctx.roster.member(participantId);
  if (!member) return;
  for (const connection of ctx.roster.connectionsOf(participantId)) {
    ctx.emit({ to: "connection", connection }, { message: "in_waiting_room", display_name: member.displayName });
  }
  // A second device of someone waiting is no new arrival.
  const arrived = ctx.sql.exec(
    "INSERT INTO moderation_waiting (participant_id) VALUES (?) ON CONFLICT DO NOTHING RETURNING 1",
    participantId,
  );
  if (arrived.toArray().length > 0) {
    waitingChanged(ctx, [{ participant_id: participantId, display_name: member.displayName, kind: member.kind }], []);
  }
}

const listed = (ctx: Context, table: "moderation_admitted" | "moderation_sent_back", participantId: string) =>
  ctx.sql.exec(`SELECT 1 FROM ${table} WHERE participant_id = ?`, participantId).toArray().length > 0;

/** A chair sent them back to the waiting room: they wait, whatever the room's setting, until let in. */
export const isSentBack = (ctx: Context, participantId: string) => listed(ctx, "moderation_sent_back", participantId);

/** Whether the room's setting holds this participant (unless they were let in during this meeting). */
export function heldByRule(ctx: Context, participantId: string, kind: string): boolean {
  const setting = ctx.room.info().waitingRoom;
  const byRule = setting === "everyone" || (setting === "guests" && kind === "guest");
  return byRule && !listed(ctx, "moderation_admitted", participantId);
}

export function markAdmitted(ctx: Context, participantId: string): void {
  ctx.sql.exec("INSERT OR IGNORE INTO moderation_admitted (participant_id) VALUES (?)", participantId);
  ctx.sql.exec("DELETE FROM moderation_sent_back WHERE participant_id = ?", participantId);
}

function forgetAdmission(ctx: Context, participantId: string): void {
  ctx.sql.exec("DELETE FROM moderation_admitted WHERE participant_id = ?", participantId);
}

/** Removed by a chair: on return they wait by the room's setting like anyone new, and a lock keeps them out. */
export function markRemoved(ctx: Context, participantId: string): void {
  forgetAdmission(ctx, participantId);
  ctx.sql.exec("INSERT OR IGNORE INTO moderation_removed (participant_id) VALUES (?)", participantId);
}

export const wasRemoved = (ctx: Context, participantId: string) =>
  ctx.sql.exec("SELECT 1 FROM moderation_removed WHERE participant_id = ?", participantId).toArray().length > 0;

export function markSentBack(ctx: Context, participantId: string): void {
  forgetAdmission(ctx, participantId);
  ctx.sql.exec("INSERT OR IGNORE INTO moderation_sent_back (participant_id) VALUES (?)", participantId);
}

/** The waiting room was switched off: nobody is held any more by a chair's send-back either. */
export function forgetSentBack(ctx: Context): void {
  ctx.sql.exec("DELETE FROM moderation_sent_back");
}

/** The meeting ended: the next one holds people by the room's setting again. */
export function forgetMeeting(ctx: Context): void {
  ctx.sql.exec("DELETE FROM moderation_admitted");
  ctx.sql.exec("DELETE FROM moderation_sent_back");
  ctx.sql.exec("DELETE FROM moderation_removed");
}

/** Lets one held participant in; the refusal when they left meanwhile or the room is full. */
export async function letIn(ctx: Context, participantId: string): Promise<CommandError | undefined> {
  const outcome = await ctx.room.release(participantId);
  if (outcome === "not_held") return { error: "not_found", text: "they left the waiting room" };
  if (outcome === "room_full") {
    return { error: "participant_limit_reached", text: "the room is full: nobody can be let in until a seat frees" };
  }
  return undefined;
}

/**
 * Lets everyone waiting in, longest waiting first, until the room is full. `sender` (a moderator) skips those a
 * moderator may not act on (moderators sent back by the owner); a setting change (`sender` undefined) skips none.
 */
export async function letAllIn(
  ctx: Context,
  sender: Sender | undefined,
): Promise<{ admitted: string[]; full: boolean }> {
  const admitted: string[] = [];
  for (const member of ctx.roster.held()) {
    if (sender && sender.role !== "owner" && member.role === "moderator") continue;
    const outcome = await ctx.room.release(member.participantId);
    if (outcome === "room_full") return { admitted, full: true };
    if (outcome === "released") admitted.push(member.participantId);
  }
  return { admitted, full: false };
}
