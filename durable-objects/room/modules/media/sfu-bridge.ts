import type { Stream } from "../../../../src/protocol";
import { JANUS_NO_SUCH_SESSION, JanusError, type JanusReply, JanusSession } from "../../../../src/sfu/janus";
import {
  type Feed,
  JoinPacer,
  mediaMids,
  type Subscription,
  subscriptionChanges,
  subscriptionKey,
  videoFeeds,
  wantedBy,
} from "../../../../src/sfu/subscriptions";
import { randomToken } from "../../../../src/shared/secrets";
import type { SfuPin } from "../../../sfu-pool";
import type { CommandError, Connection, ModuleContext } from "../../module";

/** The media module's context, as the bridge gets it (before the module's state exists). */
export type MediaBase = Omit<ModuleContext<"media">, "state">;

/** The tables of the room's SFU state (appended to the media module's migrations). */
export const SFU_MIGRATIONS = [
  `CREATE TABLE media_janus (api_url TEXT NOT NULL, session_id INTEGER NOT NULL, janus_room INTEGER NOT NULL,
    secret TEXT NOT NULL, manager_handle INTEGER NOT NULL, next_feed INTEGER NOT NULL)`,
  `CREATE TABLE media_handles (handle_id INTEGER PRIMARY KEY, kind TEXT NOT NULL, participant_id TEXT NOT NULL,
    connection_id TEXT NOT NULL, stream TEXT, feed INTEGER, audio_mid TEXT, video_mid TEXT,
    live INTEGER NOT NULL DEFAULT 0, pending INTEGER NOT NULL DEFAULT 0, negotiation INTEGER NOT NULL DEFAULT 0)`,
  "CREATE INDEX media_handles_connection ON media_handles (connection_id)",
  `CREATE TABLE media_subscriptions (handle_id INTEGER NOT NULL, feed INTEGER NOT NULL, mid TEXT NOT NULL,
    substream INTEGER, sub_mid TEXT, PRIMARY KEY (handle_id, feed, mid))`,
  "CREATE TABLE media_requested (connection_id TEXT NOT NULL, feed INTEGER NOT NULL, PRIMARY KEY (connection_id, feed))",
  // Speaking events and departures look publishers up by feed.
  "CREATE INDEX media_handles_feed ON media_handles (feed)",
] as const;

interface SessionRow extends Record<string, SqlStorageValue> {
  api_url: string;
  session_id: number;
  janus_room: number;
  secret: string;
  manager_handle: number;
  next_feed: number;
}

interface HandleRow extends Record<string, SqlStorageValue> {
  handle_id: number;
  kind: "publisher" | "subscriber";
  participant_id: string;
  connection_id: string;
  stream: Stream | null;
  feed: number | null;
  audio_mid: string | null;
  video_mid: string | null;
  /** Publisher: the SFU answered, so the feed can be subscribed to. */
  live: number;
  /** Publisher: an offer awaits the SFU's answer. Subscriber: an offer awaits the browser's answer. */
  pending: number;
  /** Subscriber: number of the newest offer sent to the browser. */
  negotiation: number;
}

interface SubscriptionRow extends Record<string, SqlStorageValue> {
  handle_id: number;
  feed: number;
  mid: string;
  substream: number | null;
  sub_mid: string | null;
}

interface StreamInfo {
  mid?: string;
  type?: string;
  feed_id?: number;
  feed_mid?: string;
  active?: boolean;
}

/** Janus keeps events queued for a long-poll; a room takes up to this many per poll. */
const EVENTS_PER_POLL = 20;
/** Subscription changes within this window are sent to the SFU together. */
const RECONCILE_DELAY_MS = 100;
/** A subscription Janus refused at its start is tried again after this long. */
const RETRY_SUBSCRIPTION_MS = 1000;
/** Speakers remembered for last-N (most recent first). */
const SPEAKER_MEMORY = 32;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function randomJanusId(): number {
  const [high, low] = crypto.getRandomValues(new Uint32Array(2));
  return (high! & 0x1fffff) * 2 ** 32 + low!; // below 2^53: exact in JSON numbers on both sides
}

const sfuError = (error: unknown): CommandError => ({
  error: "sfu_error",
  text: error instanceof Error ? error.message : "the SFU did not answer",
});

/**
 * The room's side of its Janus node: the room object is Janus's only client. One Janus session and one VideoRoom
 * (created with a secret and a join pin) per room; per connection one publisher handle per published stream and
 * one multistream subscriber handle whose subscriptions the room decides (audio of everyone, video of the chosen
 * feeds at a fitting simulcast layer). Janus's asynchronous answers arrive on a long-poll that also keeps the
 * session alive; it runs only while the room has a session, which ends when the last handle goes.
 */
export class SfuBridge {
  private session: JanusSession | undefined;
  private opening: Promise<JanusSession> | undefined;
  /** Publisher handles being set up, by `<connection>/<stream>`; trickles for them wait. */
  private readonly publishing = new Map<string, Promise<unknown>>();
  private reconcileTimer: ReturnType<typeof setTimeout> | undefined;
  private reconciling = false;
  private reconcileAgain = false;
  private speakers: number[] = [];
  private readonly talking = new Set<number>();
  private readonly pacer: JoinPacer;

  constructor(private readonly ctx: MediaBase) {
    this.pacer = new JoinPacer(ctx.config.SFU_JOIN_RATE, ctx.config.SFU_JOIN_BURST);
  }

  /** After the object was rebuilt: keep polling the stored session; handles of connections that are gone go. */
  resume(): void {
    const row = this.sessionRow();
    if (!row) return;
    this.session = JanusSession.resume(row.api_url, row.session_id, this.ctx.config.SFU_REQUEST_TIMEOUT_MS);
    void this.pollLoop(this.session);
    const live = new Set(this.ctx.roster.connections().map((c) => c.connectionId));
    const gone = this.handles().filter((h) => !live.has(h.connection_id));
    void Promise.all(gone.map((h) => this.dropHandle(h))).then(() => this.afterHandlesDropped());
  }

  // ── Commands ──────────────────────────────────────────────────────────────────────────────────────────────

  async publishOffer(pin: SfuPin, connection: Connection, stream: Stream, sdp: string): Promise<CommandError | void> {
    const key = `${connection.connectionId}/${stream}`;
    const existing = this.publisherOf(connection.participantId, stream);
    const own = existing?.connection_id === connection.connectionId ? existing : undefined;
    if (this.publishing.has(key) || own?.pending === 1) {
      return { error: "negotiation_pending", text: "the previous offer for this stream is still being answered" };
    }
    if (own) return this.renegotiate(own, sdp);
    const setup = this.openPublisher(pin, connection, stream, sdp, existing);
    this.publishing.set(key, setup);
    try {
      return await setup;
    } finally {
      this.publishing.delete(key);
    }
  }

  async subscribeAnswer(connection: Connection, negotiation: number, sdp: string): Promise<CommandError | void> {
    const handle = this.subscriberOf(connection.connectionId);
    if (handle?.pending !== 1 || handle.negotiation !== negotiation) {
      return { error: "stale_negotiation", text: "that offer has been replaced or answered; answer the newest one" };
    }
    this.ctx.sql.exec("UPDATE media_handles SET pending = 0 WHERE handle_id = ?", handle.handle_id);
    try {
      await this.session!.message(handle.handle_id, { request: "start" }, { type: "answer", sdp });
    } catch (error) {
      return sfuError(error);
    }
  }

  async trickle(
    connection: Connection,
    stream: Stream | undefined,
    candidate: Record<string, unknown> | null,
  ): Promise<CommandError | void> {
    if (stream !== undefined) await this.publishing.get(`${connection.connectionId}/${stream}`)?.catch(() => undefined);
    const handle =
      stream === undefined
        ? this.subscriberOf(connection.connectionId)
        : this.publisherOf(connection.participantId, stream);
    if (!handle || handle.connection_id !== connection.connectionId || !this.session) {
      return { error: "not_found", text: "no SFU connection for that candidate" };
    }
    try {
      await this.session.trickle(handle.handle_id, candidate);
    } catch (error) {
      return sfuError(error);
    }
  }

  /** Asks for a publisher's video beyond the recent speakers (e.g. a pinned tile). */
  request(connection: Connection, participantId: string, stream: Stream): void {
    const feed = this.publisherOf(participantId, stream)?.feed;
    if (feed === undefined || feed === null) return;
    this.ctx.sql.exec(
      "INSERT OR IGNORE INTO media_requested (connection_id, feed) VALUES (?, ?)",
      connection.connectionId,
      feed,
    );
    this.scheduleReconcile();
  }

  async unpublish(participantId: string, stream: Stream): Promise<void> {
    const handle = this.publisherOf(participantId, stream);
    if (handle) await this.dropHandle(handle);
    await this.afterHandlesDropped();
  }

  /** A connection closed: it leaves the SFU (its publishers and its subscription). */
  async closed(connection: Connection): Promise<void> {
    this.ctx.sql.exec("DELETE FROM media_requested WHERE connection_id = ?", connection.connectionId);
    const handles = this.ctx.sql
      .exec<HandleRow>("SELECT * FROM media_handles WHERE connection_id = ?", connection.connectionId)
      .toArray();
    if (handles.length === 0) return;
    await Promise.all(handles.map((h) => this.dropHandle(h)));
    await this.afterHandlesDropped();
  }

  /** A connection (re)joined a room with media: it gets subscriptions at the next reconcile. */
  scheduleReconcile(): void {
    if (this.reconcileTimer !== undefined) return;
    this.reconcileTimer = setTimeout(() => {
      this.reconcileTimer = undefined;
      void this.reconcile();
    }, RECONCILE_DELAY_MS);
  }

  /** Forgets the session without talking to its node (lost), or after ending it (`end`). */
  async reset(end: boolean): Promise<void> {
    const session = this.session;
    const row = this.sessionRow();
    this.session = undefined;
    this.speakers = [];
    this.talking.clear();
    this.ctx.sql.exec("DELETE FROM media_janus");
    this.ctx.sql.exec("DELETE FROM media_handles");
    this.ctx.sql.exec("DELETE FROM media_subscriptions");
    this.ctx.sql.exec("DELETE FROM media_requested");
    if (!end || !session || !row) return;
    try {
      await session.message(row.manager_handle, { request: "destroy", room: row.janus_room, secret: row.secret });
      await session.destroy();
    } catch (error) {
      console.warn("janus session could not be ended:", error instanceof Error ? error.message : error);
    }
  }

  // ── Publishers ────────────────────────────────────────────────────────────────────────────────────────────

  private async openPublisher(
    pin: SfuPin,
    connection: Connection,
    stream: Stream,
    sdp: string,
    replaced: HandleRow | undefined,
  ) {
    try {
      // Another device of the participant published this stream: the newer one takes over.
      if (replaced) await this.dropHandle(replaced);
      await this.joinSlot();
      const session = await this.openSession(pin);
      const handle = await session.attach();
      if (!this.isLive(connection)) return void (await session.detach(handle).catch(() => undefined));
      const { janus_room, secret } = this.sessionRow()!;
      const feed = this.takeFeedId();
      const mids = mediaMids(sdp);
      this.ctx.sql.exec(
        `INSERT INTO media_handles (handle_id, kind, participant_id, connection_id, stream, feed, audio_mid, video_mid, pending)
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
      await session.message(handle, {
        request: "join",
        ptype: "publisher",
        room: janus_room,
        pin: secret,
        id: feed,
        display: connection.participantId,
      });
      await session.message(
        handle,
        { request: "publish", bitrate: this.ctx.config.SFU_PUBLISHER_BITRATE },
        { type: "offer", sdp },
      );
    } catch (error) {
      const row = this.publisherOf(connection.participantId, stream);
      if (row?.connection_id === connection.connectionId) await this.dropHandle(row);
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
      await this.session!.message(handle.handle_id, { request: "configure" }, { type: "offer", sdp });
    } catch (error) {
      this.ctx.sql.exec("UPDATE media_handles SET pending = 0 WHERE handle_id = ?", handle.handle_id);
      return sfuError(error);
    }
  }

  // ── Subscriptions ─────────────────────────────────────────────────────────────────────────────────────────

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
      console.warn("sfu subscriptions could not be updated:", error instanceof Error ? error.message : error);
    } finally {
      this.reconciling = false;
    }
  }

  private async reconcileOnce(): Promise<void> {
    if (!this.session) return;
    const feeds = this.liveFeeds();
    const video = videoFeeds(feeds, this.speakers, this.ctx.config.SFU_LAST_N);
    for (const connection of this.ctx.roster.connections()) {
      const requested = new Set(
        this.ctx.sql
          .exec<{ feed: number }>("SELECT feed FROM media_requested WHERE connection_id = ?", connection.connectionId)
          .toArray()
          .map((r) => r.feed),
      );
      const wanted = wantedBy(connection.participantId, feeds, video, requested);
      const handle = this.subscriberOf(connection.connectionId);
      if (!handle) {
        if (wanted.length > 0) await this.openSubscriber(connection, wanted);
        continue;
      }
      const current = this.subscriptionsOf(handle.handle_id);
      const changes = subscriptionChanges(current, wanted);
      if (changes.subscribe.length > 0 || changes.unsubscribe.length > 0) {
        this.recordSubscriptions(handle.handle_id, changes.subscribe, changes.unsubscribe);
        // Janus refuses empty lists.
        await this.session.message(handle.handle_id, {
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
        await this.session.message(handle.handle_id, { request: "configure", streams: relayer });
      }
    }
  }

  private async openSubscriber(connection: Connection, wanted: Subscription[]): Promise<void> {
    await this.joinSlot();
    const session = this.session;
    const row = this.sessionRow();
    if (!session || !row || !this.isLive(connection) || this.subscriberOf(connection.connectionId)) return;
    const handle = await session.attach();
    if (!this.isLive(connection)) return void (await session.detach(handle).catch(() => undefined));
    this.ctx.sql.exec(
      "INSERT INTO media_handles (handle_id, kind, participant_id, connection_id) VALUES (?, 'subscriber', ?, ?)",
      handle,
      connection.participantId,
      connection.connectionId,
    );
    this.recordSubscriptions(handle, wanted, []);
    await session.message(handle, {
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

  // ── Janus events ──────────────────────────────────────────────────────────────────────────────────────────

  private async pollLoop(session: JanusSession): Promise<void> {
    let failures = 0;
    while (this.session === session) {
      try {
        const events = await session.poll(EVENTS_PER_POLL);
        failures = 0;
        for (const event of events) if (this.session === session) this.onEvent(event);
      } catch (error) {
        if (this.session !== session) return;
        if (error instanceof JanusError && error.code === JANUS_NO_SUCH_SESSION) return this.lost();
        // The node may be dying; the SFU pool decides that and moves the room. Until then, keep trying.
        failures += 1;
        await sleep(Math.min(250 * failures, 2000));
      }
    }
  }

  /** The node forgot the session (it restarted, or the session timed out): start over on the same node. */
  private async lost(): Promise<void> {
    await this.reset(false);
    this.ctx.emit({ to: "everyone" }, { message: "sfu_changed", reason: "reset", available: true });
  }

  private onEvent(event: JanusReply): void {
    if (event.janus === "webrtcup") return this.connected(event.sender as number);
    if (event.janus === "trickle")
      return this.candidate(event.sender as number, event.candidate as Record<string, unknown>);
    if (event.janus !== "event") return;
    const data = ((event.plugindata as { data?: Record<string, unknown> } | undefined)?.data ?? {}) as Record<
      string,
      unknown
    >;
    const jsep = event.jsep as { type: string; sdp: string } | undefined;
    if (data.videoroom === "talking" || data.videoroom === "stopped-talking") {
      return this.speaking(data.id as number, data.videoroom === "talking");
    }
    const handle = this.handle(event.sender as number);
    if (!handle) return;
    const connection = connectionOf(handle);
    if (typeof data.error_code === "number") return this.failed(handle, connection, String(data.error ?? "SFU error"));
    if (handle.kind === "publisher" && jsep?.type === "answer") {
      this.ctx.sql.exec("UPDATE media_handles SET pending = 0 WHERE handle_id = ?", handle.handle_id);
      return this.ctx.emit(
        { to: "connection", connection },
        { message: "publish_answer", stream: handle.stream!, sdp: jsep.sdp },
      );
    }
    if (handle.kind === "subscriber" && jsep?.type === "offer") {
      const negotiation = handle.negotiation + 1;
      this.ctx.sql.exec(
        "UPDATE media_handles SET pending = 1, negotiation = ? WHERE handle_id = ?",
        negotiation,
        handle.handle_id,
      );
      const streams = this.describeStreams(handle.handle_id, (data.streams as StreamInfo[] | undefined) ?? []);
      this.ctx.emit(
        { to: "connection", connection },
        { message: "subscribe_offer", negotiation, sdp: jsep.sdp, streams },
      );
    }
  }

  /** Janus trickles its own candidates after its SDP: the browser needs them (a relay-only browser has no other way in). */
  private candidate(handleId: number, candidate: Record<string, unknown> | undefined): void {
    const handle = this.handle(handleId);
    if (!handle || !candidate) return;
    const connection = connectionOf(handle);
    const { sdpMid, sdpMLineIndex, candidate: line } = candidate;
    const mid = typeof sdpMid === "string" ? sdpMid : null;
    const index = typeof sdpMLineIndex === "number" ? sdpMLineIndex : null;
    this.ctx.emit(
      { to: "connection", connection },
      {
        message: "candidate",
        direction: handle.kind === "publisher" ? "publish" : "subscribe",
        ...(handle.stream ? { stream: handle.stream } : {}),
        candidate:
          candidate.completed === true || typeof line !== "string"
            ? null
            : { candidate: line, sdpMid: mid, sdpMLineIndex: index },
      },
    );
  }

  /** A publisher's media is flowing: only now does Janus accept subscriptions to its feed. */
  private connected(handleId: number): void {
    const handle = this.handle(handleId);
    if (handle?.kind !== "publisher" || handle.live === 1) return;
    this.ctx.sql.exec("UPDATE media_handles SET live = 1 WHERE handle_id = ?", handleId);
    this.scheduleReconcile();
  }

  /**
   * Janus refused a request of this handle. A subscription that never got its first offer is dropped and set up
   * again a little later (a feed it named may have just left); otherwise the client is told.
   */
  private failed(handle: HandleRow, connection: Connection, reason: string): void {
    this.ctx.sql.exec("UPDATE media_handles SET pending = 0 WHERE handle_id = ?", handle.handle_id);
    if (handle.kind === "subscriber" && handle.negotiation === 0) {
      void this.dropHandle(handle);
      setTimeout(() => this.scheduleReconcile(), RETRY_SUBSCRIPTION_MS);
      return;
    }
    this.ctx.emit({ to: "connection", connection }, { message: "error", error: "sfu_error", text: reason });
  }

  /** Maps the subscription's m-lines to whose stream they carry, and remembers each m-line's mid. */
  private describeStreams(handle: number, streams: StreamInfo[]) {
    const publishers = new Map(this.liveFeeds().map((f) => [f.feed, f]));
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

  private speaking(feed: number, talking: boolean): void {
    // Janus tells every publisher handle of the room: only a change is looked at, and told once.
    if (this.talking.has(feed) === talking) return;
    const publisher = this.ctx.sql
      .exec<{ participant_id: string }>(
        "SELECT participant_id FROM media_handles WHERE feed = ? AND kind = 'publisher' AND live = 1",
        feed,
      )
      .toArray()[0];
    if (!publisher) return;
    if (talking) {
      this.talking.add(feed);
      if (this.speakers[0] !== feed) {
        this.speakers = [feed, ...this.speakers.filter((f) => f !== feed)].slice(0, SPEAKER_MEMORY);
        this.scheduleReconcile();
      }
    } else {
      this.talking.delete(feed);
    }
    this.ctx.emit(
      { to: "everyone" },
      { message: "speaking", participant_id: publisher.participant_id, speaking: talking },
    );
  }

  // ── Session, handles, pacing ──────────────────────────────────────────────────────────────────────────────

  private openSession(pin: SfuPin): Promise<JanusSession> {
    if (this.session) return Promise.resolve(this.session);
    this.opening ??= this.createSession(pin).finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async createSession(pin: SfuPin): Promise<JanusSession> {
    const session = await JanusSession.create(pin.apiUrl, this.ctx.config.SFU_REQUEST_TIMEOUT_MS);
    try {
      const manager = await session.attach();
      const janusRoom = randomJanusId();
      const secret = randomToken(24);
      await session.message(manager, {
        request: "create",
        room: janusRoom,
        secret,
        pin: secret,
        is_private: true,
        permanent: false,
        publishers: 1000,
        bitrate: this.ctx.config.SFU_PUBLISHER_BITRATE,
        fir_freq: 10,
        audiocodec: "opus",
        videocodec: "vp8",
        notify_joining: false,
        audiolevel_event: true,
        audio_active_packets: 50,
        audio_level_average: 40,
      });
      this.ctx.sql.exec(
        "INSERT INTO media_janus (api_url, session_id, janus_room, secret, manager_handle, next_feed) VALUES (?, ?, ?, ?, ?, 1)",
        pin.apiUrl,
        session.id,
        janusRoom,
        secret,
        manager,
      );
    } catch (error) {
      await session.destroy().catch(() => undefined);
      throw error;
    }
    this.session = session;
    void this.pollLoop(session);
    return session;
  }

  /** Leaves the SFU with one handle (Janus drops its subscriptions; subscribers of its feed get a new offer). */
  private async dropHandle(handle: HandleRow): Promise<void> {
    this.ctx.sql.exec("DELETE FROM media_handles WHERE handle_id = ?", handle.handle_id);
    this.ctx.sql.exec("DELETE FROM media_subscriptions WHERE handle_id = ?", handle.handle_id);
    if (handle.feed !== null) {
      this.ctx.sql.exec("DELETE FROM media_subscriptions WHERE feed = ?", handle.feed);
      this.ctx.sql.exec("DELETE FROM media_requested WHERE feed = ?", handle.feed);
      this.speakers = this.speakers.filter((f) => f !== handle.feed);
      this.talking.delete(handle.feed);
    }
    try {
      await this.session?.detach(handle.handle_id);
    } catch (error) {
      console.warn("janus handle could not be detached:", error instanceof Error ? error.message : error);
    }
  }

  /** The last handle gone: end the session, so the room can hibernate; otherwise the video choice may change. */
  private async afterHandlesDropped(): Promise<void> {
    if (this.ctx.sql.exec("SELECT 1 FROM media_handles LIMIT 1").toArray().length === 0) return this.reset(true);
    this.scheduleReconcile();
  }

  /** Waits for the room's next slot for a new SFU connection (at most SFU_JOIN_RATE per second after a burst). */
  private async joinSlot(): Promise<void> {
    const delay = this.pacer.delayFor(Date.now());
    if (delay > 0) await sleep(delay);
  }

  private takeFeedId(): number {
    return this.ctx.sql
      .exec<{ next_feed: number }>(
        "UPDATE media_janus SET next_feed = next_feed + 1 RETURNING next_feed - 1 AS next_feed",
      )
      .one().next_feed;
  }

  private isLive(connection: Connection): boolean {
    return this.ctx.roster
      .connectionsOf(connection.participantId)
      .some((c) => c.connectionId === connection.connectionId);
  }

  private liveFeeds(): Feed[] {
    return this.ctx.sql
      .exec<HandleRow>("SELECT * FROM media_handles WHERE kind = 'publisher' AND live = 1 ORDER BY feed")
      .toArray()
      .map((h) => ({
        feed: h.feed!,
        participantId: h.participant_id,
        stream: h.stream!,
        audioMid: h.audio_mid,
        videoMid: h.video_mid,
      }));
  }

  private sessionRow(): SessionRow | undefined {
    return this.ctx.sql.exec<SessionRow>("SELECT * FROM media_janus").toArray()[0];
  }

  private handles(): HandleRow[] {
    return this.ctx.sql.exec<HandleRow>("SELECT * FROM media_handles").toArray();
  }

  private handle(id: number): HandleRow | undefined {
    return this.ctx.sql.exec<HandleRow>("SELECT * FROM media_handles WHERE handle_id = ?", id).toArray()[0];
  }

  private publisherOf(participantId: string, stream: Stream): HandleRow | undefined {
    return this.ctx.sql
      .exec<HandleRow>(
        "SELECT * FROM media_handles WHERE kind = 'publisher' AND participant_id = ? AND stream = ?",
        participantId,
        stream,
      )
      .toArray()[0];
  }

  private subscriberOf(connectionId: string): HandleRow | undefined {
    return this.ctx.sql
      .exec<HandleRow>("SELECT * FROM media_handles WHERE kind = 'subscriber' AND connection_id = ?", connectionId)
      .toArray()[0];
  }

  private subscriptionsOf(handle: number): SubscriptionRow[] {
    return this.ctx.sql
      .exec<SubscriptionRow>("SELECT * FROM media_subscriptions WHERE handle_id = ?", handle)
      .toArray();
  }
}

const connectionOf = (handle: HandleRow): Connection => ({
  participantId: handle.participant_id,
  connectionId: handle.connection_id,
  region: undefined,
});

const janusStream = (s: Subscription) => ({
  feed: s.feed,
  mid: s.mid,
  ...(s.substream === null ? {} : { substream: s.substream }),
});
