import {
  JANUS_NO_SUCH_SESSION,
  JanusError,
  type JanusReply,
  JanusSession,
  sfuFailureText,
} from "../../../../src/sfu/janus";
import { JoinPacer } from "../../../../src/sfu/subscriptions";
import { logFailure } from "../../../../src/shared/log";
import { randomToken } from "../../../../src/shared/secrets";
import type { SfuPin } from "../../../sfu-pool";
import type { SfuSecrets } from "./sfu-secrets";
import { connectionOf, type HandleRow, type MediaBase, type SfuStore, type SpeakerMemory, sleep } from "./sfu-store";

/** One stream of a subscription as Janus describes it with its offer. */
export interface StreamInfo {
  mid?: string;
  type?: string;
  feed_id?: number;
  feed_mid?: string;
  active?: boolean;
}

/** Where the session's Janus events go (the publishers and the subscriptions). */
export interface SfuEventRoutes {
  /** `webrtcup`: a handle's media flows. */
  mediaFlowing(handleId: number): void;
  /** A publisher started or stopped talking (`talking`, `stopped-talking`). */
  talking(feed: number, talking: boolean): void;
  /** Janus answered a publisher's offer (`configured`). */
  publisherAnswered(handle: HandleRow, sdp: string): void;
  /** Janus offers a subscriber handle its (changed) streams. */
  subscriberOffered(handle: HandleRow, sdp: string, streams: StreamInfo[]): void;
  /** Janus refused a subscription before its first offer. */
  subscriptionRefused(handle: HandleRow): void;
}

/** Janus keeps events queued for a long-poll; a room takes up to this many per poll. */
const EVENTS_PER_POLL = 20;

function randomJanusId(): number {
  const [high, low] = crypto.getRandomValues(new Uint32Array(2));
  return (high! & 0x1fffff) * 2 ** 32 + low!; // below 2^53: exact in JSON numbers on both sides
}

/**
 * The room's Janus session and its VideoRoom (created with a secret and a join pin), the long-poll that brings
 * Janus's asynchronous answers and keeps the session alive, and the routing of those events. The poll runs only
 * while the room has a session, which ends when the last handle goes. The node's api_secret is stored sealed
 * (sfu-secrets.ts) and opened when the session is created or resumed, so the session is reached asynchronously.
 */
export class SfuSession {
  private current: JanusSession | undefined;
  private opening: Promise<JanusSession> | undefined;
  /** The stored session being resumed after a rebuild (its api_secret is being opened). */
  private resuming: { session: Promise<JanusSession | undefined> } | undefined;
  private readonly pacer: JoinPacer;

  constructor(
    private readonly ctx: MediaBase,
    private readonly store: SfuStore,
    private readonly speakers: SpeakerMemory,
    private readonly secrets: SfuSecrets,
    private readonly routes: SfuEventRoutes,
  ) {
    this.pacer = new JoinPacer(ctx.config.SFU_JOIN_RATE, ctx.config.SFU_JOIN_BURST);
  }

  /** The session in use, if the room has one (once a stored session being resumed is ready). */
  async ready(): Promise<JanusSession | undefined> {
    if (this.resuming) await this.resuming.session;
    return this.current;
  }

  /** The session in use; throws when the room has none. */
  async required(): Promise<JanusSession> {
    const session = await this.ready();
    if (!session) throw new Error("the room has no SFU session");
    return session;
  }

  /**
   * After the object was rebuilt: keeps polling the stored session once its api_secret is opened; false when there
   * is none. A secret that cannot be opened is logged, and the session is given up.
   */
  resume(): boolean {
    const row = this.store.sessionRow();
    if (!row) return false;
    const resuming: { session: Promise<JanusSession | undefined> } = { session: Promise.resolve(undefined) };
    resuming.session = (async () => {
      let secret: string | null;
      try {
        secret = await this.secrets.open(row.api_secret);
      } catch (error) {
        // Unusable (and timed out on the node by the time the key is fixed): start over, as when the node forgot it.
        logFailure("the room's janus session cannot be resumed", error);
        if (this.resuming === resuming) await this.lost();
        return undefined;
      }
      const api = { url: row.api_url, secret };
      const session = JanusSession.resume(api, row.session_id, this.ctx.config.SFU_REQUEST_TIMEOUT_MS);
      // A reset while the secret was opened made this session no longer the room's.
      if (this.resuming !== resuming) return session;
      this.resuming = undefined;
      this.current = session;
      void this.pollLoop(session);
      return session;
    })();
    this.resuming = resuming;
    return true;
  }

  /** The room's session, created with its VideoRoom on the pinned node when there is none yet. */
  async open(pin: SfuPin): Promise<JanusSession> {
    const current = await this.ready();
    if (current) return current;
    this.opening ??= this.create(pin).finally(() => (this.opening = undefined));
    return this.opening;
  }

  /** Waits for the room's next slot for a new SFU connection (at most SFU_JOIN_RATE per second after a burst). */
  async joinSlot(): Promise<void> {
    const delay = this.pacer.delayFor(Date.now());
    if (delay > 0) await sleep(delay);
  }

  /** Leaves the SFU with one handle (Janus drops its subscriptions; subscribers of its feed get a new offer). */
  async drop(handle: HandleRow): Promise<void> {
    this.store.delete(handle);
    if (handle.feed !== null) this.speakers.forget(handle.feed);
    try {
      await (await this.ready())?.detach(handle.handle_id);
    } catch (error) {
      logFailure("janus handle could not be detached", error, "warn");
    }
  }

  /** Forgets the session without talking to its node (lost), or after ending it (`end`). */
  async reset(end: boolean): Promise<void> {
    const resuming = this.resuming;
    const row = this.store.sessionRow();
    let session = this.current;
    this.current = undefined;
    this.resuming = undefined;
    this.speakers.clear();
    this.store.deleteAll();
    if (!end || !row) return;
    session ??= await resuming?.session;
    if (!session) return;
    try {
      await session.message(row.manager_handle, { request: "destroy", room: row.janus_room, secret: row.secret });
      await session.destroy();
    } catch (error) {
      logFailure("janus session could not be ended", error, "warn");
    }
  }

  private async create(pin: SfuPin): Promise<JanusSession> {
    const api = { url: pin.apiUrl, secret: await this.secrets.open(pin.apiSecret) };
    const session = await JanusSession.create(api, this.ctx.config.SFU_REQUEST_TIMEOUT_MS);
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
      // The api_secret is stored as the pin holds it: sealed.
      this.ctx.sql.exec(
        `INSERT INTO media_janus (api_url, api_secret, session_id, janus_room, secret, manager_handle, next_feed)
         VALUES (?, ?, ?, ?, ?, ?, 1)`,
        pin.apiUrl,
        pin.apiSecret,
        session.id,
        janusRoom,
        secret,
        manager,
      );
    } catch (error) {
      await session.destroy().catch(() => undefined);
      throw error;
    }
    this.current = session;
    void this.pollLoop(session);
    return session;
  }

  private async pollLoop(session: JanusSession): Promise<void> {
    let failures = 0;
    while (this.current === session) {
      try {
        const events = await session.poll(EVENTS_PER_POLL);
        failures = 0;
        for (const event of events) if (this.current === session) this.onEvent(event);
      } catch (error) {
        if (this.current !== session) return;
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
    if (event.janus === "webrtcup") return this.routes.mediaFlowing(event.sender as number);
    if (event.janus === "trickle") {
      return this.store.relayCandidate(event.sender as number, event.candidate as Record<string, unknown>);
    }
    if (event.janus !== "event") return;
    const data = ((event.plugindata as { data?: Record<string, unknown> } | undefined)?.data ?? {}) as Record<
      string,
      unknown
    >;
    const jsep = event.jsep as { type: string; sdp: string } | undefined;
    if (data.videoroom === "talking" || data.videoroom === "stopped-talking") {
      return this.routes.talking(data.id as number, data.videoroom === "talking");
    }
    const handle = this.store.handle(event.sender as number);
    if (!handle) return;
    if (typeof data.error_code === "number") return this.refused(handle, data.error_code, data.error);
    if (handle.kind === "publisher" && jsep?.type === "answer") {
      return this.routes.publisherAnswered(handle, jsep.sdp);
    }
    if (handle.kind === "subscriber" && jsep?.type === "offer") {
      this.routes.subscriberOffered(handle, jsep.sdp, (data.streams as StreamInfo[] | undefined) ?? []);
    }
  }

  /**
   * Janus refused a request of this handle. A subscription that never got its first offer is set up again (a
   * feed it named may have just left); otherwise the client is told.
   */
  private refused(handle: HandleRow, code: number, reason: unknown): void {
    logFailure(`janus refused a request (${code})`, new Error(String(reason ?? "")), "warn");
    this.store.settle(handle.handle_id);
    if (handle.kind === "subscriber" && handle.negotiation === 0) return this.routes.subscriptionRefused(handle);
    this.ctx.emit(
      { to: "connection", connection: connectionOf(handle) },
      { message: "error", error: "sfu_error", text: sfuFailureText(code) },
    );
  }
}
