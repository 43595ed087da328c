import type { Stream } from "../../../../src/protocol";
import { JanusError, sfuFailureText } from "../../../../src/sfu/janus";
import type { Feed } from "../../../../src/sfu/subscriptions";
import { logFailure } from "../../../../src/shared/log";
import type { CommandError, Connection, ModuleContext } from "../../module";

/** The media module's context, as the SFU side gets it (before the module's state exists). */
export type MediaBase = Omit<ModuleContext<"media">, "state">;

/**
 * The tables of the room's SFU state, spread into the media module's migrations. Shipped and frozen: later steps
 * follow it at the end of the media module's list, so never append here.
 */
export const SFU_MIGRATIONS = [
  `CREATE TABLE media_janus (api_url TEXT NOT NULL, session_id INTEGER NOT NULL, janus_room INTEGER NOT NULL,
    secret TEXT NOT NULL, manager_handle INTEGER NOT NULL, next_feed INTEGER NOT NULL)`,
  `CREATE TABLE media_handles (handle_id INTEGER PRIMARY KEY, kind TEXT NOT NULL, participant_id TEXT NOT NULL,
    connection_id TEXT NOT NULL, stream TEXT, feed INTEGER, audio_mid TEXT, video_mid TEXT,
    live INTEGER NOT NULL DEFAULT 0, pending INTEGER NOT NULL DEFAULT 0, negotiation INTEGER NOT NULL DEFAULT 0)`,
  "CREATE INDEX media_handles_connection ON media_handles (connection_id)",
  `CREATE TABLE media_subscriptions (handle_id INTEGER NOT NULL, feed INTEGER NOT NULL, mid TEXT NOT NULL,
    substream INTEGER, sub_mid TEXT, PRIMARY KEY (handle_id, feed, mid))`,
  // Shipped as one line: the pieces join to exactly that text.
  "CREATE TABLE media_requested (connection_id TEXT NOT NULL, feed INTEGER NOT NULL, " +
    "PRIMARY KEY (connection_id, feed))",
  // Speaking events and departures look publishers up by feed.
  "CREATE INDEX media_handles_feed ON media_handles (feed)",
] as const;

/** The room's one Janus session and VideoRoom. */
export interface SessionRow extends Record<string, SqlStorageValue> {
  api_url: string;
  api_secret: string | null;
  session_id: number;
  janus_room: number;
  secret: string;
  manager_handle: number;
  next_feed: number;
}

/** One Janus plugin handle: a connection's publisher of one stream, or its multistream subscriber. */
export interface HandleRow extends Record<string, SqlStorageValue> {
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

/** One m-line of a subscriber handle: a feed's mid, its simulcast layer and its mid in the subscription. */
export interface SubscriptionRow extends Record<string, SqlStorageValue> {
  handle_id: number;
  feed: number;
  mid: string;
  substream: number | null;
  sub_mid: string | null;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A failed Janus request as the client hears of it (a fixed text); what Janus said goes to the log. */
export function sfuError(error: unknown): CommandError {
  logFailure("janus request failed", error, "warn");
  return { error: "sfu_error", text: sfuFailureText(error instanceof JanusError ? error.code : undefined) };
}

export const connectionOf = (handle: HandleRow): Connection => ({
  participantId: handle.participant_id,
  connectionId: handle.connection_id,
  region: undefined,
});

/** Whether the connection is still in the room (it may have closed while the SFU was being asked). */
/** Whether a connection is still open and in the room (not sent back to the waiting room meanwhile). */
export function stillConnected(ctx: MediaBase, connection: Connection): boolean {
  if (ctx.roster.member(connection.participantId)?.held) return false;
  return ctx.roster.connectionsOf(connection.participantId).some((c) => c.connectionId === connection.connectionId);
}

/**
 * Who spoke lately (for last-N, most recent first) and who talks now; the session, the publishers and the
 * subscriptions share this one memory.
 */
export class SpeakerMemory {
  recent: number[] = [];
  readonly talking = new Set<number>();

  forget(feed: number): void {
    this.recent = this.recent.filter((f) => f !== feed);
    this.talking.delete(feed);
  }

  clear(): void {
    this.recent = [];
    this.talking.clear();
  }
}

/** The SFU tables' rows as the session, the publishers and the subscriptions look them up. */
export class SfuStore {
  constructor(private readonly ctx: MediaBase) {}

  sessionRow(): SessionRow | undefined {
    return this.ctx.sql.exec<SessionRow>("SELECT * FROM media_janus").toArray()[0];
  }

  handles(): HandleRow[] {
    return this.ctx.sql.exec<HandleRow>("SELECT * FROM media_handles").toArray();
  }

  hasHandles(): boolean {
    return this.ctx.sql.exec("SELECT 1 FROM media_handles LIMIT 1").toArray().length > 0;
  }

  handle(id: number): HandleRow | undefined {
    return this.ctx.sql.exec<HandleRow>("SELECT * FROM media_handles WHERE handle_id = ?", id).toArray()[0];
  }

  handlesOf(connectionId: string): HandleRow[] {
    return this.ctx.sql.exec<HandleRow>("SELECT * FROM media_handles WHERE connection_id = ?", connectionId).toArray();
  }

  publisherOf(participantId: string, stream: Stream): HandleRow | undefined {
    return this.ctx.sql
      .exec<HandleRow>(
        "SELECT * FROM media_handles WHERE kind = 'publisher' AND participant_id = ? AND stream = ?",
        participantId,
        stream,
      )
      .toArray()[0];
  }

  /** The participant's publisher handles (one per published stream). */
  publishersOf(participantId: string): HandleRow[] {
    return this.ctx.sql
      .exec<HandleRow>("SELECT * FROM media_handles WHERE kind = 'publisher' AND participant_id = ?", participantId)
      .toArray();
  }

  /** Whether the room holds the participant's audio off (the media module's `media_muted`). */
  audioHeld(participantId: string): boolean {
    return this.ctx.sql.exec("SELECT 1 FROM media_muted WHERE participant_id = ?", participantId).toArray().length > 0;
  }

  subscriberOf(connectionId: string): HandleRow | undefined {
    return this.ctx.sql
      .exec<HandleRow>("SELECT * FROM media_handles WHERE kind = 'subscriber' AND connection_id = ?", connectionId)
      .toArray()[0];
  }

  subscriptionsOf(handle: number): SubscriptionRow[] {
    return this.ctx.sql
      .exec<SubscriptionRow>("SELECT * FROM media_subscriptions WHERE handle_id = ?", handle)
      .toArray();
  }

  liveFeeds(): Feed[] {
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

  /** The handle's offer is answered (or refused). */
  settle(handleId: number): void {
    this.ctx.sql.exec("UPDATE media_handles SET pending = 0 WHERE handle_id = ?", handleId);
  }

  /** Forgets a handle, its subscriptions and, for a publisher, every subscription of and request for its feed. */
  delete(handle: HandleRow): void {
    this.ctx.sql.exec("DELETE FROM media_handles WHERE handle_id = ?", handle.handle_id);
    this.ctx.sql.exec("DELETE FROM media_subscriptions WHERE handle_id = ?", handle.handle_id);
    if (handle.feed !== null) {
      this.ctx.sql.exec("DELETE FROM media_subscriptions WHERE feed = ?", handle.feed);
      this.ctx.sql.exec("DELETE FROM media_requested WHERE feed = ?", handle.feed);
    }
  }

  /** Forgets the feeds a connection asked for. */
  deleteRequestsOf(connectionId: string): void {
    this.ctx.sql.exec("DELETE FROM media_requested WHERE connection_id = ?", connectionId);
  }

  deleteAll(): void {
    this.ctx.sql.exec("DELETE FROM media_janus");
    this.ctx.sql.exec("DELETE FROM media_handles");
    this.ctx.sql.exec("DELETE FROM media_subscriptions");
    this.ctx.sql.exec("DELETE FROM media_requested");
  }

  // ── Trickle routing ──────────────────────────────

  /** The handle a browser's candidate is for: the connection's subscription, or its publisher of `stream`. */
  candidateTarget(connection: Connection, stream: Stream | undefined): HandleRow | undefined {
    const handle =
      stream === undefined
        ? this.subscriberOf(connection.connectionId)
        : this.publisherOf(connection.participantId, stream);
    return handle?.connection_id === connection.connectionId ? handle : undefined;
  }

  /**
   * Janus trickles its own candidates after its SDP: the browser needs them (a relay-only browser has no other
   * way in).
   */
  relayCandidate(handleId: number, candidate: Record<string, unknown> | undefined): void {
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
}
