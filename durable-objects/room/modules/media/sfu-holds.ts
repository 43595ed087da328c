import { logFailure } from "../../../../src/shared/log";
import type { SfuSession } from "./sfu-session";
import { connectionOf, type HandleRow, type MediaBase, type SfuStore, sfuError } from "./sfu-store";

/** Janus `moderate` requests a room sends at once. */
const CONCURRENCY = 8;

/**
 * Microphone holds on Janus: a publisher handle's audio is muted there (VideoRoom `moderate` with the room's
 * secret on its audio m-line) exactly while the room holds its participant's audio (`media_muted`). Requests for
 * one handle go one after another and each sends the state wanted when it runs, so a mute and an unmute never
 * overtake each other. A hold Janus does not confirm is made sure of another way: the publisher leaves the SFU
 * (the client is told to publish again, and the answer to that holds it).
 */
export class SfuHolds {
  /**
   * Per publisher handle: what Janus holds, as far as this instance knows (no entry or undefined: unknown — after a
   * renegotiation, or a rebuild of the object — so the next sync sends the wanted state either way).
   */
  private readonly applied = new Map<number, boolean | undefined>();
  private readonly chains = new Map<number, Promise<boolean>>();

  constructor(
    private readonly ctx: MediaBase,
    private readonly store: SfuStore,
    private readonly session: SfuSession,
    private readonly handleDropped: () => Promise<void>,
  ) {}

  /**
   * Janus answered a publisher's offer: before its browser gets the answer the hold is applied (a new handle
   * starts unmuted on Janus; a renegotiated one is set either way). False: the handle had to leave the SFU.
   */
  answered(handle: HandleRow): Promise<boolean> {
    const fresh = handle.live === 0 && !this.applied.has(handle.handle_id);
    this.applied.set(handle.handle_id, fresh ? false : undefined);
    return this.sync(handle.handle_id);
  }

  /**
   * Brings these participants' answered publisher handles to the room's hold; resolves with how many unmutes
   * Janus did not confirm (a hold is always made sure of). Handles not answered yet get theirs with the answer.
   */
  async syncParticipants(participantIds: readonly string[]): Promise<number> {
    // A handle whose first offer is still being answered has no stream on Janus yet; any other has one.
    const handles = participantIds
      .flatMap((id) => this.store.publishersOf(id))
      .filter((h) => h.pending === 0 || h.live === 1 || this.applied.has(h.handle_id));
    let unconfirmed = 0;
    // A few at a time: muting a whole plenary must not open hundreds of requests to the node at once.
    for (let i = 0; i < handles.length; i += CONCURRENCY) {
      const done = await Promise.all(handles.slice(i, i + CONCURRENCY).map((h) => this.sync(h.handle_id)));
      unconfirmed += done.filter((ok) => !ok).length;
    }
    return unconfirmed;
  }

  /** The session ended (or moved): nothing is held on a node any more. */
  clear(): void {
    this.applied.clear();
    this.chains.clear();
  }

  private sync(handleId: number): Promise<boolean> {
    const previous = this.chains.get(handleId) ?? Promise.resolve(true);
    const next = previous.then(() => this.apply(handleId));
    this.chains.set(handleId, next);
    return next;
  }

  private async apply(handleId: number): Promise<boolean> {
    const handle = this.store.handle(handleId);
    if (!handle) {
      this.applied.delete(handleId);
      this.chains.delete(handleId);
      return true;
    }
    const wanted = this.store.audioHeld(handle.participant_id);
    if (this.applied.has(handleId) && this.applied.get(handleId) === wanted) return true;
    try {
      await this.moderate(handle, wanted);
      this.applied.set(handleId, wanted);
      return true;
    } catch (error) {
      this.applied.set(handleId, undefined);
      if (!wanted) {
        sfuError(error);
        return false;
      }
      logFailure("janus did not hold a muted publisher's audio; the publisher leaves the SFU", error, "warn");
      await this.dropUnheld(handle);
      return true;
    }
  }

  private async moderate(handle: HandleRow, mute: boolean): Promise<void> {
    const row = this.store.sessionRow();
    if (!row || handle.feed === null || handle.audio_mid === null) return;
    const janus = await this.session.required();
    await janus.message(row.manager_handle, {
      request: "moderate",
      room: row.janus_room,
      secret: row.secret,
      id: handle.feed,
      mid: handle.audio_mid,
      mute,
    });
  }

  /** Janus would forward audio the room holds: the publisher leaves the SFU and its browser publishes again. */
  private async dropUnheld(handle: HandleRow): Promise<void> {
    await this.session.drop(handle);
    this.ctx.emit(
      { to: "connection", connection: connectionOf(handle) },
      { message: "error", error: "sfu_error", text: "the SFU could not hold your microphone off: publish again" },
    );
    await this.handleDropped();
  }
}
