/** The browser client's media and signalling modules (bundled for pages by esbuild). */
import type { Publisher } from "../protocol/media";
import type { MediaOptions, MediaSession } from "./media";
import { MeshMedia } from "./mesh";
import { SfuMedia } from "./sfu";
import type { Signaling } from "./signaling";

export type { MediaOptions, MediaSession } from "./media";
export { MeshMedia } from "./mesh";
export { SfuMedia } from "./sfu";
export { Signaling } from "./signaling";

/** The media session that fits the room (join_success.modules.media). */
export function joinMedia(
  signaling: Signaling,
  state: { mode: "mesh" | "sfu"; publishers: Publisher[] },
  options: MediaOptions,
): MediaSession {
  return state.mode === "sfu" ? new SfuMedia(signaling, options) : new MeshMedia(signaling, options, state.publishers);
}
