import type { Stream } from "../../../../src/protocol";
import { mediaMids } from "../../../../src/sfu/subscriptions";
import type { SfuPin } from "../../../sfu-pool";
import type { CommandError, Connection } from "../../module";
import type { SfuHolds } from "./sfu-holds";
import type { SfuSession } from "./sfu-session";
import {
  connectionOf,
  type HandleRow,
  type MediaBase,
  type SfuStore,
  type SpeakerMemory,
  sfuError,
  stillConnected,
} from "./sfu-store";

/** Speakers remembered for last-N (most recent first). */
const SPEAKER_MEMORY = 32;

/**
 * The room's publishers on Janus: one publisher handle per connection and published stream (join, then publish
 * with the browser's offer; later offers renegotiate with `configure`). A feed can be subscribed to once its
 * media flows; its talking events become `speaking` and feed the last-N choice of video.
 */
export class SfuPublishers {
  /** Publisher handles being set up, by `<connection>/<stream>`; trickles for them wait. */
  private readonly publishing = new Map<string, Promise<unknown>>();

  constructor(
    private readonly ctx: MediaBase,
    private readonly store: SfuStore,
    private readonly session: SfuSession,
    private readonly speakers: SpeakerMemory,
    private readonly holds: SfuHolds,
    private readonly subscriptionsChanged: () => void,
  ) {}

  async offer(pin: SfuPin, connection: Connection, stream: Stream, sdp: string): Promise<CommandError | void> {
    // The room holds a microphone off on one audio m-line per stream, named by its mid: another would pass unheld.
    const audioLines = (sdp.match(/^m=audio /gm) ?? []).length;
    if (audioLines > 1 || (audioLines === 1 && mediaMids(sdp).audioMid === null)) {
      return { error: "invalid_request", text: "a stream carries at most one audio m-line, with a mid" };
    }
    const key = setupKey(connection, stream);
    const existing = this.store.publisherOf(connection.participantId, stream);
    const own = existing?.connection_id === connection.connectionId ? existing : undefined;
    if (this.publishing.has(key) || own?.pending === 1) {
      return { error: "negotiation_pending", text: "the previous offer for this stream is still being answered" };
    }
    if (own) return this.renegotiate(own, sdp);
    const setup = this.open(pin, connection, stream, sdp, existing);
    this.publishing.set(key, setup);
    try {
      return await setup;
    } finally {
      this.publishing.delete(key);
    }
  }

  /** The setup of the connection's publisher of `stream`, while it runs. */
  setupOf(connection: Connection, stream: Stream): Promise<unknown> | undefined {
    return this.publishing.get(setupKey(connection, stream));
  }

  /**
   * Janus answered the publisher's offer. Audio the room holds off is muted on Janus before the browser gets the
   * answer, so none of it is forwarded (a renegotiation may bring a new audio m-line).
   */
  async answered(handle: HandleRow, sdp: string): Promise<void> {
    const kept = await this.holds.answered(handle);
    if (!kept) return;
    // Settled once answered: a next offer of the stream waits until then.
    this.store.settle(handle.handle_id);
    this.ctx.emit(
      { to: "connection", connection: connectionOf(handle) },
      { message: "publish_answer", stream: handle.stream!, sdp },
    );
  }

  /** A publisher's media is flowing: only now does Janus accept subscriptions to its feed. */
  mediaFlowing(handleId: number): void {
    const handle = this.store.handle(handleId);
    if (handle?.kind !== "publisher" || handle.live === 1) return;
    this.ctx.sql.exec("UPDATE media_handles SET live = 1 WHERE handle_id = ?", handleId);
    this.subscriptionsChanged();
  }

  talking(feed: number, talking: boolean): void {
    // Janus tells every publisher handle of the room: only a change is looked at, and told once.
    if (this.speakers.talking.has(feed) === talking) return;
    const publisher = this.ctx.sql
      .exec<{ participant_id: string }>(
        "SELECT participant_id FROM media_handles WHERE feed = ? AND kind = 'publisher' AND live = 1",
        feed,
      )
      .toArray()[0];
    if (!publisher) return;
    if (talking) {
      this.speakers.talking.add(feed);
      if (this.speakers.recent[0] !== feed) {
        this.speakers.recent = [feed, ...this.speakers.recent.filter((f) => f !== feed)].slice(0, SPEAKER_MEMORY);
        this.subscriptionsChanged();
      }
    } else {
      this.speakers.talking.delete(feed);
    }
    this.ctx.emit(
      { to: "group", group: this.ctx.roster.groupOf(publisher.participant_id) },
      { message: "speaking", participant_id: publisher.participant_id, speaking: talking },
    );
  }

  private async open(
    pin: SfuPin,
    connection: Connection,
    stream: Stream,
    sdp: string,
    replaced: HandleRow | undefined,
  ) {
    try {
      // Another device of the participant published this stream: the newer one takes over.
      if (replaced) await this.session.drop(replaced);
      await this.session.joinSlot();
      const janus = await this.session.open(pin);
      const handle = await janus.attach();
      if (!stillConnected(this.ctx, connection)) return void (await janus.detach(handle).catch(() => undefined));
      const { janus_room, secret } = this.store.sessionRow()!;
      const feed = this.takeFeedId();
      const mids = mediaMids(sdp);
      this.ctx.sql.exec(
        `INSERT INTO media_handles
           (handle_id, kind, participant_id, connection_id, stream, feed, audio_mid, video_mid, pending)
         VALUES (?, 'publisher', ?, ?, ?, ?, ?, ?, 1)`,
        handle,
        connection.participantId,
        connection.connectionId,
        stream,
        feed,
        mids.audioMid,
        mids.videoMid,
      );
      // Janus handles a handle's requests in order: join, then publish with the offer (answered by `configured`).
      await janus.message(handle, {
        request: "join",
        ptype: "publisher",
        room: janus_room,
        pin: secret,
        id: feed,
        display: connection.participantId,
      });
      await janus.message(
        handle,
        { request: "publish", bitrate: this.ctx.config.SFU_PUBLISHER_BITRATE },
        { type: "offer", sdp },
      );
    } catch (error) {
      const row = this.store.publisherOf(connection.participantId, stream);
      if (row?.connection_id === connection.connectionId) await this.session.drop(row);
      return sfuError(error);
    }
  }

  private async renegotiate(handle: HandleRow, sdp: string): Promise<CommandError | void> {
    const mids = mediaMids(sdp);
    this.ctx.sql.exec(
      "UPDATE media_handles SET pending = 1, audio_mid = ?, video_mid = ? WHERE handle_id = ?",
      mids.audioMid,
      mids.videoMid,
      handle.handle_id,
    );
    try {
      await (await this.session.required()).message(handle.handle_id, { request: "configure" }, { type: "offer", sdp });
    } catch (error) {
      this.store.settle(handle.handle_id);
      return sfuError(error);
    }
  }

  private takeFeedId(): number {
    return this.ctx.sql
      .exec<{ next_feed: number }>(
        "UPDATE media_janus SET next_feed = next_feed + 1 RETURNING next_feed - 1 AS next_feed",
      )
      .one().next_feed;
  }
}

const setupKey = (connection: Connection, stream: Stream) => `${connection.connectionId}/${stream}`;
