import { CloseCode, type Role } from "../../../src/protocol";
import { defineModule, type ModuleContext } from "../module";

const CHAIRS: readonly Role[] = ["owner", "moderator"];

type Context = ModuleContext<"moderation">;

const waitingList = (ctx: Context) =>
  ctx.roster.held().map((m) => ({ participant_id: m.participantId, display_name: m.displayName, kind: m.kind }));

const isWaiting = (ctx: Context, participantId: string) => {
  const member = ctx.roster.member(participantId);
  return member?.held === true && member.connected;
};

/** The waiting room changed: owners and moderators get the new list. */
function waitingChanged(ctx: Context): void {
  ctx.emit({ to: "roles", roles: CHAIRS }, { message: "waiting_room_updated", waiting: waitingList(ctx) });
}

/**
 * The moderation namespace: the waiting room. A room whose setting asks for it (guests or everyone) holds new
 * participants (not owners or moderators) in the waiting room: they get moderation.in_waiting_room instead of
 * join_success and may do nothing until an owner or moderator accepts them; moderators see who waits. Whoever
 * was in the room once is not held again in that room.
 */
export const moderation = defineModule({
  namespace: "moderation",
  migrations: ["CREATE TABLE moderation_admitted (participant_id TEXT PRIMARY KEY)"],
  permissions: { accept: CHAIRS, reject: CHAIRS },
  handle(ctx, _sender, command) {
    if (!isWaiting(ctx, command.target))
      return { error: "not_found", text: "nobody of that id is in the waiting room" };
    if (command.action === "reject") {
      ctx.room.disconnect(command.target, CloseCode.kicked, "not admitted");
      return undefined;
    }
    // Letting in awaits the other modules' join states; someone who left meanwhile is not found.
    return ctx.room.release(command.target).then((released) => {
      if (!released) return { error: "not_found" as const, text: "they left the waiting room" };
      waitingChanged(ctx);
    });
  },
  joinState(ctx, connection) {
    const role = ctx.roster.member(connection.participantId)?.role;
    return { waiting: role && CHAIRS.includes(role) ? waitingList(ctx) : [] };
  },
  hooks: {
    admit(ctx, candidate) {
      if (candidate.phase !== "start" || CHAIRS.includes(candidate.role)) return undefined;
      const setting = ctx.room.info().waitingRoom;
      const mustWait = setting === "everyone" || (setting === "guests" && candidate.kind === "guest");
      const admitted = ctx.sql
        .exec("SELECT 1 FROM moderation_admitted WHERE participant_id = ?", candidate.participantId)
        .toArray();
      return mustWait && admitted.length === 0 ? { decision: "hold" } : undefined;
    },
    connected(ctx, connection, held) {
      if (!held) {
        ctx.sql.exec("INSERT OR IGNORE INTO moderation_admitted (participant_id) VALUES (?)", connection.participantId);
        return;
      }
      const displayName = ctx.roster.member(connection.participantId)?.displayName ?? "";
      ctx.emit({ to: "connection", connection }, { message: "in_waiting_room", display_name: displayName });
      waitingChanged(ctx);
    },
    left(ctx, _participantId, wasHeld) {
      if (wasHeld) waitingChanged(ctx);
    },
  },
});
