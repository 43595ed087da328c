import type { Stream } from "../../../../src/protocol";
import {
  type Feed,
  type Subscription,
  subscriptionChanges,
  subscriptionKey,
  videoFeeds,
  wantedBy,
} from "../../../../src/sfu/subscriptions";
import { logFailure } from "../../../../src/shared/log";
import type { CommandError, Connection } from "../../module";
import type { SfuSession, StreamInfo } from "./sfu-session";
import {
  connectionOf,
  type HandleRow,
  type MediaBase,
  type SfuStore,
  type SpeakerMemory,
  sfuError,
  stillConnected,
} from "./sfu-store";

/** Subscription changes within this window are sent to the SFU together. */
const RECONCILE_DELAY_MS = 100;
/** A subscription Janus refused at its start is tried again after this long. */
const RETRY_SUBSCRIPTION_MS = 1000;

/**
 * What each connection receives from Janus: one multistream subscriber handle per connection whose
 * subscriptions the room decides (audio of everyone, video of the last-N speakers and of the feeds the connection
 * asked for, at a simulcast layer that fits its grid). Every offer Janus makes is numbered, so a stale answer is
 * refused.
 */
export class SfuSubscriptions {
  private reconcileTimer: ReturnType<typeof setTimeout> | undefined;
  private reconciling = false;
  private reconcileAgain = false;

  constructor(
    private readonly ctx: MediaBase,
    private readonly store: SfuStore,
    private readonly session: SfuSession,
    private readonly speakers: SpeakerMemory,
  ) {}

  /** Something changed (a connection, a feed, a speaker): subscriptions are brought up to date shortly. */
  schedule(): void {
    if (this.reconcileTimer !== undefined) return;
    this.reconcileTimer = setTimeout(() => {
      this.reconcileTimer = undefined;
      void this.reconcile();
    }, RECONCILE_DELAY_MS);
  }

  async answer(connection: Connection, negotiation: number, sdp: string): Promise<CommandError | void> {
    const handle = this.store.subscriberOf(connection.connectionId);
    if (handle?.pending !== 1 || handle.negotiation !== negotiation) {
      return { error: "stale_negotiation", text: "that offer has been replaced or answered; answer the newest one" };
    }
    this.store.settle(handle.handle_id);
    try {
      await (await this.session.required()).message(handle.handle_id, { request: "start" }, { type: "answer", sdp });
    } catch (error) {
      return sfuError(error);
    }
  }

  /** Asks for a publisher's video beyond the recent speakers (e.g. a pinned tile). */
  request(connection: Connection, participantId: string, stream: Stream): void {
    const feed = this.store.publisherOf(participantId, stream)?.feed;
    if (feed === undefined || feed === null) return;
    this.ctx.sql.exec(
      "INSERT OR IGNORE INTO media_requested (connection_id, feed) VALUES (?, ?)",
      connection.connectionId,
      feed,
    );
    this.schedule();
  }

  /** Janus offers the subscriber handle its streams: the browser gets a numbered offer. */
  offered(handle: HandleRow, sdp: string, streams: StreamInfo[]): void {
    const negotiation = handle.negotiation + 1;
    this.ctx.sql.exec(
      "UPDATE media_handles SET pending = 1, negotiation = ? WHERE handle_id = ?",
      negotiation,
      handle.handle_id,
    );
    const described = this.describeStreams(handle.handle_id, streams);
    this.ctx.emit(
      { to: "connection", connection: connectionOf(handle) },
      { message: "subscribe_offer", negotiation, sdp, streams: described },
    );
  }

  /** Janus refused the subscription before its first offer: it is dropped and set up again a little later. */
  refusedAtStart(handle: HandleRow): void {
    void this.session.drop(handle);
    setTimeout(() => this.schedule(), RETRY_SUBSCRIPTION_MS);
  }

  /** Brings every connection's subscription to what it should receive now; one run at a time. */
  private async reconcile(): Promise<void> {
    if (this.reconciling) {
      this.reconcileAgain = true;
      return;
    }
    this.reconciling = true;
    try {
      do {
        this.reconcileAgain = false;
        await this.reconcileOnce();
      } while (this.reconcileAgain);
    } catch (error) {
      logFailure("sfu subscriptions could not be updated", error, "warn");
    } finally {
      this.reconciling = false;
    }
  }

  private async reconcileOnce(): Promise<void> {
    if (!(await this.session.ready())) return;
    // Media is seen per breakout group: each connection chooses from its own group's feeds.
    const all = this.store.liveFeeds();
    const groups = new Map<string | undefined, { feeds: Feed[]; video: Set<number> }>();
    const ofGroup = (group: string | undefined) => {
      let found = groups.get(group);
      if (!found) {
        const feeds = all.filter((f) => this.ctx.roster.groupOf(f.participantId) === group);
        found = { feeds, video: videoFeeds(feeds, this.speakers.recent, this.ctx.config.SFU_LAST_N) };
        groups.set(group, found);
      }
      return found;
    };
    for (const connection of this.ctx.roster.connections()) {
      const { feeds, video } = ofGroup(this.ctx.roster.groupOf(connection.participantId));
      const requested = new Set(
        this.ctx.sql
          .exec<{ feed: number }>("SELECT feed FROM media_requested WHERE connection_id = ?", connection.connectionId)
          .toArray()
          .map((r) => r.feed),
      );
      const wanted = wantedBy(connection.participantId, feeds, video, requested);
      const handle = this.store.subscriberOf(connection.connectionId);
      if (!handle) {
        if (wanted.length > 0) await this.openSubscriber(connection, wanted);
        continue;
      }
      const current = this.store.subscriptionsOf(handle.handle_id);
      const changes = subscriptionChanges(current, wanted);
      if (changes.subscribe.length > 0 || changes.unsubscribe.length > 0) {
        this.recordSubscriptions(handle.handle_id, changes.subscribe, changes.unsubscribe);
        // Janus refuses empty lists.
        await (await this.session.required()).message(handle.handle_id, {
          request: "update",
          ...(changes.subscribe.length > 0 ? { subscribe: changes.subscribe.map(janusStream) } : {}),
          ...(changes.unsubscribe.length > 0
            ? { unsubscribe: changes.unsubscribe.map((s) => ({ feed: s.feed, mid: s.mid })) }
            : {}),
        });
      }
      const relayer = changes.relayer.flatMap((s) => {
        const subMid = current.find((c) => subscriptionKey(c) === subscriptionKey(s))?.sub_mid;
        return subMid ? [{ mid: subMid, substream: s.substream }] : [];
      });
      if (relayer.length > 0) {
        for (const s of changes.relayer) {
          this.ctx.sql.exec(
            "UPDATE media_subscriptions SET substream = ? WHERE handle_id = ? AND feed = ? AND mid = ?",
            s.substream,
            handle.handle_id,
            s.feed,
            s.mid,
          );
        }
        await (await this.session.required()).message(handle.handle_id, { request: "configure", streams: relayer });
      }
    }
  }

  private async openSubscriber(connection: Connection, wanted: Subscription[]): Promise<void> {
    await this.session.joinSlot();
    const janus = await this.session.ready();
    const row = this.store.sessionRow();
    if (!janus || !row || !stillConnected(this.ctx, connection) || this.store.subscriberOf(connection.connectionId)) {
      return;
    }
    const handle = await janus.attach();
    if (!stillConnected(this.ctx, connection)) return void (await janus.detach(handle).catch(() => undefined));
    this.ctx.sql.exec(
      "INSERT INTO media_handles (handle_id, kind, participant_id, connection_id) VALUES (?, 'subscriber', ?, ?)",
      handle,
      connection.participantId,
      connection.connectionId,
    );
    this.recordSubscriptions(handle, wanted, []);
    await janus.message(handle, {
      request: "join",
      ptype: "subscriber",
      room: row.janus_room,
      pin: row.secret,
      streams: wanted.map(janusStream),
    });
  }

  private recordSubscriptions(handle: number, add: Subscription[], remove: Subscription[]): void {
    for (const s of remove)
      this.ctx.sql.exec(
        "DELETE FROM media_subscriptions WHERE handle_id = ? AND feed = ? AND mid = ?",
        handle,
        s.feed,
        s.mid,
      );
    for (const s of add) {
      this.ctx.sql.exec(
        "INSERT OR REPLACE INTO media_subscriptions (handle_id, feed, mid, substream) VALUES (?, ?, ?, ?)",
        handle,
        s.feed,
        s.mid,
        s.substream,
      );
    }
  }

  /** Maps the subscription's m-lines to whose stream they carry, and remembers each m-line's mid. */
  private describeStreams(handle: number, streams: StreamInfo[]) {
    const publishers = new Map(this.store.liveFeeds().map((f) => [f.feed, f]));
    const described: { mid: string; participant_id: string; stream: Stream; kind: "audio" | "video" }[] = [];
    for (const s of streams) {
      const feed = s.feed_id === undefined ? undefined : publishers.get(s.feed_id);
      const kind = s.type === "audio" ? "audio" : s.type === "video" ? "video" : undefined;
      if (!feed || s.active === false || !s.mid || !kind) continue;
      this.ctx.sql.exec(
        "UPDATE media_subscriptions SET sub_mid = ? WHERE handle_id = ? AND feed = ? AND mid = ?",
        s.mid,
        handle,
        feed.feed,
        s.feed_mid ?? "",
      );
      described.push({ mid: s.mid, participant_id: feed.participantId, stream: feed.stream, kind });
    }
    return described;
  }
}

const janusStream = (s: Subscription) => ({
  feed: s.feed,
  mid: s.mid,
  ...(s.substream === null ? {} : { substream: s.substream }),
});
