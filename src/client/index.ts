/** The browser client's media and signalling modules (bundled for pages by esbuild). */
import type { JoinSuccess } from "../protocol";
import type { MediaOptions, MediaSession } from "./media";
import { MeshMedia } from "./mesh";
import { SfuMedia } from "./sfu";
import type { Signaling } from "./signaling";

export type { MediaOptions, MediaSession } from "./media";
export { MeshMedia } from "./mesh";
export { SfuMedia } from "./sfu";
export { Signaling } from "./signaling";

/**
 * The media session that fits the room (join_success.modules.media). A mode this client does not know gets the
 * mesh session, whose requests such a server refuses with error frames rather than misreading them.
 */
export function joinMedia(
  signaling: Signaling,
  state: NonNullable<JoinSuccess["modules"]["media"]>,
  options: MediaOptions,
): MediaSession {
  return state.mode === "sfu" ? new SfuMedia(signaling, options) : new MeshMedia(signaling, options, state.publishers);
}
