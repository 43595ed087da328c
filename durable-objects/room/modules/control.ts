import { type ControlCommand, ControlCommandSchema } from "../../../src/protocol";
import { defineModule } from "../module";

/**
 * The control namespace's commands. Presence itself (join_success, joined, left, update) is the roster's,
 * because every module depends on who is in the room; this module lets participants change their own state.
 */
export const control = defineModule<ControlCommand>({
  namespace: "control",
  migrations: [],
  commands: ControlCommandSchema,
  permissions: {
    raise_hand: ["owner", "moderator", "user", "guest"],
    lower_hand: ["owner", "moderator", "user", "guest"],
  },
  handle(api, sender, command) {
    const raised = api.participant(sender.participantId)?.hand_raised_at ?? null;
    switch (command.action) {
      case "raise_hand":
        if (raised === null) api.setHandRaised(sender.participantId, api.now());
        return;
      case "lower_hand":
        if (raised !== null) api.setHandRaised(sender.participantId, null);
        return;
    }
  },
});
