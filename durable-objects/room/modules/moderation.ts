import { CloseCode, type Role, type WaitingParticipant } from "../../../src/protocol";
import { defineModule, type ModuleContext } from "../module";

const CHAIRS: readonly Role[] = ["owner", "moderator"];

type Context = ModuleContext<"moderation">;

const waitingList = (ctx: Context): WaitingParticipant[] =>
  ctx.roster.held().map((m) => ({ participant_id: m.participantId, display_name: m.displayName, kind: m.kind }));

const isWaiting = (ctx: Context, participantId: string) => {
  const member = ctx.roster.member(participantId);
  return member?.held === true && member.connected;
};

/** Owners and moderators hear who came into the waiting room and who left it (never the whole list again). */
function waitingChanged(ctx: Context, added: WaitingParticipant[], removed: string[]): void {
  ctx.emit({ to: "roles", roles: CHAIRS }, { message: "waiting_room_changed", added, removed });
}

/** Someone announced as waiting no longer waits (let in, turned away, gone): chairs hear it once. */
function stoppedWaiting(ctx: Context, participantId: string): void {
  const was = ctx.sql.exec("DELETE FROM moderation_waiting WHERE participant_id = ? RETURNING 1", participantId);
  if (was.toArray().length > 0) waitingChanged(ctx, [], [participantId]);
}

/**
 * The moderation namespace: the waiting room. A room whose setting asks for it (guests or everyone) holds new
 * participants (not owners or moderators) in the waiting room: they get moderation.in_waiting_room instead of
 * join_success and may do nothing until an owner or moderator accepts them; moderators see who waits (the list
 * in join_success, then each change). Whoever was in the room once is not held again in that room.
 */
export const moderation = defineModule({
  namespace: "moderation",
  migrations: [
    "CREATE TABLE moderation_admitted (participant_id TEXT PRIMARY KEY)",
    // Who chairs were told waits, so each arrival and departure is announced exactly once.
    "CREATE TABLE moderation_waiting (participant_id TEXT PRIMARY KEY)",
  ],
  permissions: { accept: CHAIRS, reject: CHAIRS },
  handle(ctx, _sender, command) {
    if (!isWaiting(ctx, command.target))
      return { error: "not_found", text: "nobody of that id is in the waiting room" };
    if (command.action === "reject") {
      ctx.room.disconnect(command.target, CloseCode.kicked, "not admitted");
      return undefined;
    }
    // Letting in awaits the other modules' join states; someone who left meanwhile is not found.
    return ctx.room.release(command.target).then((outcome) => {
      if (outcome === "not_held") return { error: "not_found" as const, text: "they left the waiting room" };
      if (outcome === "room_full") {
        const text = "the room is full: nobody can be let in until a seat frees";
        return { error: "participant_limit_reached" as const, text };
      }
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
      const id = connection.participantId;
      if (!held) {
        ctx.sql.exec("INSERT OR IGNORE INTO moderation_admitted (participant_id) VALUES (?)", id);
        return stoppedWaiting(ctx, id);
      }
      const member = ctx.roster.member(id);
      ctx.emit(
        { to: "connection", connection },
        { message: "in_waiting_room", display_name: member?.displayName ?? "" },
      );
      // A second device of someone waiting is no new arrival.
      const arrived = ctx.sql.exec(
        "INSERT INTO moderation_waiting (participant_id) VALUES (?) ON CONFLICT DO NOTHING RETURNING 1",
        id,
      );
      if (member && arrived.toArray().length > 0) {
        waitingChanged(ctx, [{ participant_id: id, display_name: member.displayName, kind: member.kind }], []);
      }
    },
    left(ctx, participantId) {
      stoppedWaiting(ctx, participantId);
    },
    roleChanged(ctx, participantId, from, to) {
      // A new chair gets the list they have not seen (as arrivals); a former one simply hears no more.
      if (CHAIRS.includes(to) && !CHAIRS.includes(from)) {
        ctx.emit(
          { to: "participant", id: participantId },
          { message: "waiting_room_changed", added: waitingList(ctx), removed: [] },
        );
      }
    },
  },
});
