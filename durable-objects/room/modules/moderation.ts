import { type ModerationCommand, ModerationCommandSchema, type Participant, type Role } from "../../../src/protocol";
import { defineModule, type RoomApi } from "../module";

const MODERATORS: readonly Role[] = ["owner", "moderator"];

const waitingList = (api: RoomApi) =>
  api
    .waiting()
    .map((p: Participant) => ({ participant_id: p.participant_id, display_name: p.display_name, kind: p.kind }));

const moderates = (api: RoomApi, participantId: string) =>
  MODERATORS.includes(api.participant(participantId)?.role ?? "guest");

/**
 * The moderation namespace: the waiting room. A room whose setting asks for it (guests or everyone) holds new
 * participants (not owners or moderators) in the waiting room: they get moderation.in_waiting_room instead of
 * join_success and may do nothing until an owner or moderator accepts them; moderators see who waits.
 */
export const moderation = defineModule<ModerationCommand>({
  namespace: "moderation",
  migrations: [],
  commands: ModerationCommandSchema,
  permissions: { accept: MODERATORS, reject: MODERATORS },
  async handle(api, _sender, command) {
    const done = command.action === "accept" ? await api.letIn(command.target) : api.turnAway(command.target);
    if (!done) return { error: "not_found", text: "nobody of that id is in the waiting room" };
  },
  joinState(api, connection) {
    return { waiting: moderates(api, connection.participantId) ? waitingList(api) : [] };
  },
});

/** The waiting room changed: owners and moderators get the new list. */
export function waitingChanged(api: RoomApi): void {
  const waiting = waitingList(api);
  for (const connection of api.connections()) {
    if (moderates(api, connection.participantId))
      api.sendTo(connection, "moderation", { message: "waiting_room_updated", waiting });
  }
}
