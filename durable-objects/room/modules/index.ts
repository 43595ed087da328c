import type { Namespace } from "../../../src/protocol";
import type { RoomModule } from "../module";
import { automod } from "./automod";
import { breakout } from "./breakout";
import { chat } from "./chat";
import { control } from "./control";
import { feedback } from "./feedback";
import { legalVote } from "./legal-vote";
import { media } from "./media";
import { moderation } from "./moderation";
import { polls } from "./polls";
import { timer } from "./timer";
import { turn } from "./turn";

/** One module per namespace of the protocol registry (src/protocol/registry.ts); a missing one fails to compile. */
const BY_NAMESPACE: { [N in Namespace]: RoomModule<N> } = {
  control,
  chat,
  turn,
  media,
  moderation,
  legal_vote: legalVote,
  polls,
  timer,
  automod,
  feedback,
  breakout,
};

/** The room's protocol modules, in the order their hooks run. */
export const ROOM_MODULES: readonly RoomModule[] = Object.values(BY_NAMESPACE);
