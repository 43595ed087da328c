import { CHAIRS, type MicrophoneRestrictions } from "../../../../src/protocol";
import type { Connection, ModuleContext, Sender } from "../../module";

type Context = ModuleContext<"moderation">;

/** The tables of microphone restrictions, spread into the moderation module's migrations. */
export const MICROPHONE_MIGRATIONS = [
  // One row while restrictions are on (for this meeting).
  "CREATE TABLE moderation_microphones (id INTEGER PRIMARY KEY CHECK (id = 1))",
  // Who may speak while they are on (owners and moderators always may).
  "CREATE TABLE moderation_unrestricted (participant_id TEXT PRIMARY KEY)",
];

export const restricted = (ctx: Context) => ctx.sql.exec("SELECT 1 FROM moderation_microphones").toArray().length > 0;

export function restrictions(ctx: Context): MicrophoneRestrictions {
  const enabled = restricted(ctx);
  const unrestricted = enabled
    ? ctx.sql
        .exec<{ participant_id: string }>("SELECT participant_id FROM moderation_unrestricted ORDER BY participant_id")
        .toArray()
        .map((r) => r.participant_id)
    : [];
  return { enabled, unrestricted };
}

/** Whether a participant may publish audio: always without restrictions; with them, chairs and those allowed. */
export function audioAllowed(ctx: Context, participantId: string): boolean {
  if (!restricted(ctx)) return true;
  const role = ctx.roster.member(participantId)?.role;
  if (role !== undefined && CHAIRS.includes(role)) return true;
  return (
    ctx.sql.exec("SELECT 1 FROM moderation_unrestricted WHERE participant_id = ?", participantId).toArray().length > 0
  );
}

export function setRestrictions(ctx: Context, unrestricted: readonly string[]): void {
  ctx.sql.exec("INSERT OR IGNORE INTO moderation_microphones (id) VALUES (1)");
  ctx.sql.exec("DELETE FROM moderation_unrestricted");
  for (const id of unrestricted) ctx.sql.exec("INSERT OR IGNORE INTO moderation_unrestricted VALUES (?)", id);
}

export function clearRestrictions(ctx: Context): void {
  ctx.sql.exec("DELETE FROM moderation_microphones");
  ctx.sql.exec("DELETE FROM moderation_unrestricted");
}

export const announceRestrictions = (ctx: Context, sender?: Sender) =>
  ctx.emit({ to: "everyone" }, { message: "microphone_restrictions", ...restrictions(ctx) }, sender);

/** Those in the room (or briefly away) who may not speak now: muted when restrictions start or change. */
export const silenced = (ctx: Context): string[] =>
  ctx.roster
    .inRoom()
    .filter((m) => !audioAllowed(ctx, m.participantId))
    .map((m) => m.participantId);

/**
 * Switches microphones off through the media module (the SFU stops forwarding them) and tells each target who did
 * it — for restrictions only those not held already. Resolves once the SFU holds them.
 */
export function mute(
  ctx: Context,
  by: { participantId: string },
  participantIds: readonly string[],
  tell: "all" | "newly_held" = "all",
): Promise<void> {
  const { held, applied } = ctx.services.media.mute(participantIds);
  for (const id of tell === "all" ? participantIds : held) {
    ctx.emit({ to: "participant", id }, { message: "muted", by: by.participantId });
  }
  return applied;
}

/**
 * Restrictions on, `unrestricted` (those the room knows) allowed: announced, everyone else muted (told if newly
 * held), all before the first await; with `placeFrom`, the room asks for an SFU if it has none. Resolves once the SFU
 * holds them, with how many were muted and whether the room has an SFU (undefined: not asked).
 */
export async function restrictTo(
  ctx: Context,
  by: { participantId: string },
  unrestricted: readonly string[],
  placeFrom?: Connection,
): Promise<{ muted: number; sfu: boolean | undefined }> {
  setRestrictions(
    ctx,
    unrestricted.filter((id) => ctx.roster.member(id)),
  );
  announceRestrictions(ctx);
  const muting = silenced(ctx);
  const [, sfu] = await Promise.all([
    mute(ctx, by, muting, "newly_held"),
    placeFrom && ctx.services.media.requireSfu(placeFrom),
  ]);
  return { muted: muting.length, sfu };
}
