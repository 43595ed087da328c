import type { Stream } from "../../../../src/protocol";
import type { SfuPin } from "../../../sfu-pool";
import type { CommandError, Connection } from "../../module";
import { SfuHolds } from "./sfu-holds";
import { SfuPublishers } from "./sfu-publishers";
import { SfuSecrets } from "./sfu-secrets";
import { SfuSession } from "./sfu-session";
import { type MediaBase, SfuStore, SpeakerMemory, sfuError } from "./sfu-store";
import { SfuSubscriptions } from "./sfu-subscriptions";

/**
 * The room's side of its Janus node: the room object is Janus's only client. One Janus session and one VideoRoom
 * per room (sfu-session.ts); per connection one publisher handle per published stream (sfu-publishers.ts) and one
 * multistream subscriber handle whose subscriptions the room decides (sfu-subscriptions.ts). This is what the
 * media module asks of them; the SFU tables and their lookups are in sfu-store.ts, the node's api_secret (stored
 * sealed) in sfu-secrets.ts.
 */
export class SfuBridge {
  readonly secrets: SfuSecrets;
  private readonly store: SfuStore;
  private readonly session: SfuSession;
  private readonly publishers: SfuPublishers;
  private readonly subscriptions: SfuSubscriptions;
  private readonly holds: SfuHolds;

  constructor(private readonly ctx: MediaBase) {
    const speakers = new SpeakerMemory();
    this.store = new SfuStore(ctx);
    this.secrets = new SfuSecrets(ctx);
    // The routes are called only once a session polls, after the constructor.
    this.session = new SfuSession(ctx, this.store, speakers, this.secrets, {
      mediaFlowing: (handleId) => this.publishers.mediaFlowing(handleId),
      talking: (feed, talking) => this.publishers.talking(feed, talking),
      publisherAnswered: (handle, sdp) => void this.publishers.answered(handle, sdp),
      subscriberOffered: (handle, sdp, streams) => this.subscriptions.offered(handle, sdp, streams),
      subscriptionRefused: (handle) => this.subscriptions.refusedAtStart(handle),
    });
    this.subscriptions = new SfuSubscriptions(ctx, this.store, this.session, speakers);
    const changed = () => this.subscriptions.schedule();
    this.holds = new SfuHolds(ctx, this.store, this.session, () => this.afterHandlesDropped());
    this.publishers = new SfuPublishers(ctx, this.store, this.session, speakers, this.holds, changed);
  }

  /**
   * After the object was rebuilt: keep polling the stored session; handles of connections that are gone go. Stored
   * secrets in plaintext or under an older key are sealed again.
   */
  resume(): void {
    this.secrets.resealSoon();
    if (!this.session.resume()) return;
    const live = new Set(this.ctx.roster.connections().map((c) => c.connectionId));
    const gone = this.store.handles().filter((h) => !live.has(h.connection_id));
    void Promise.all(gone.map((h) => this.session.drop(h))).then(() => this.afterHandlesDropped());
  }

  publishOffer(pin: SfuPin, connection: Connection, stream: Stream, sdp: string): Promise<CommandError | void> {
    return this.publishers.offer(pin, connection, stream, sdp);
  }

  subscribeAnswer(connection: Connection, negotiation: number, sdp: string): Promise<CommandError | void> {
    return this.subscriptions.answer(connection, negotiation, sdp);
  }

  async trickle(
    connection: Connection,
    stream: Stream | undefined,
    candidate: Record<string, unknown> | null,
  ): Promise<CommandError | void> {
    if (stream !== undefined) await this.publishers.setupOf(connection, stream)?.catch(() => undefined);
    const handle = this.store.candidateTarget(connection, stream);
    const janus = await this.session.ready();
    if (!handle || !janus) return { error: "not_found", text: "no SFU connection for that candidate" };
    try {
      await janus.trickle(handle.handle_id, candidate);
    } catch (error) {
      return sfuError(error);
    }
  }

  /** Asks for a publisher's video beyond the recent speakers (e.g. a pinned tile). */
  request(connection: Connection, participantId: string, stream: Stream): void {
    this.subscriptions.request(connection, participantId, stream);
  }

  /** Whether the room holds the participant's audio off. */
  audioHeld(participantId: string): boolean {
    return this.store.audioHeld(participantId);
  }

  /**
   * Janus drops or forwards these participants' audio as the room holds it now; resolves with how many unmutes it
   * did not confirm.
   */
  syncHolds(participantIds: readonly string[]): Promise<number> {
    return this.holds.syncParticipants(participantIds);
  }

  async unpublish(participantId: string, stream: Stream): Promise<void> {
    const handle = this.store.publisherOf(participantId, stream);
    if (handle) await this.session.drop(handle);
    await this.afterHandlesDropped();
  }

  /** A connection closed: it leaves the SFU (its publishers and its subscription). */
  async closed(connection: Connection): Promise<void> {
    this.store.deleteRequestsOf(connection.connectionId);
    const handles = this.store.handlesOf(connection.connectionId);
    if (handles.length === 0) return;
    await Promise.all(handles.map((h) => this.session.drop(h)));
    await this.afterHandlesDropped();
  }

  /** A connection (re)joined a room with media: it gets subscriptions at the next reconcile. */
  scheduleReconcile(): void {
    this.subscriptions.schedule();
  }

  /** Forgets the session without talking to its node (lost), or after ending it (`end`). */
  reset(end: boolean): Promise<void> {
    this.holds.clear();
    return this.session.reset(end);
  }

  /** The last handle gone: end the session, so the room can hibernate; otherwise the video choice may change. */
  private async afterHandlesDropped(): Promise<void> {
    if (!this.store.hasHandles()) return this.session.reset(true);
    this.subscriptions.schedule();
  }
}
