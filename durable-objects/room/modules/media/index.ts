import type { Publisher, Stream } from "../../../../src/protocol";
import { logFailure } from "../../../../src/shared/log";
import type { SfuPin } from "../../../sfu-pool";
import { type Connection, defineModule, type ModuleContext } from "../../module";
import { SfuBridge } from "./sfu-bridge";
import { type MediaBase, SFU_MIGRATIONS } from "./sfu-store";

/** What other modules and the core may ask of media. */
export interface MediaService {
  /** The pool moved the room (its node died or was removed): media is set up again on the new pin. */
  sfuMoved(pin: SfuPin | null, reason: "dead" | "removed"): Promise<void>;
  /**
   * Seals the stored SFU api_secret (pin and session) again under the first STATE_ENCRYPTION_KEY key; how many
   * values were rewritten, those the module re-sealed on its own since the last call included.
   */
  reseal(): Promise<number>;
  /**
   * Switches participants' microphones off: their announced audio goes off, and in an SFU room the SFU stops
   * forwarding their audio whatever their client sends, until they unmute (publish with audio, if allowed).
   * The SQL is done on return (`held`: those the room did not hold before); `applied` settles once the SFU holds
   * them (a publisher whose hold Janus did not confirm has left the SFU).
   */
  mute(participantIds: readonly string[]): { held: string[]; applied: Promise<void> };
  /** The meeting is over: nobody's microphone is held any more. */
  meetingOver(): void;
  /**
   * A room running peer to peer asks the pool for a node and moves to it (`sfu_changed { reason: "placed" }`);
   * without one it asks again every PLACEMENT_RETRY_MS while microphones are restricted. Whether it has an SFU.
   */
  requireSfu(connection: Connection): Promise<boolean>;
}

declare module "../../module" {
  interface ModuleServices {
    media: MediaService;
  }
}

interface StreamRow extends Record<string, SqlStorageValue> {
  participant_id: string;
  stream: Stream;
  audio: number;
  video: number;
}

interface PinRow extends Record<string, SqlStorageValue> {
  node_id: string;
  api_url: string;
  /** Sealed as the pool handed it over (sfu-secrets.ts). */
  api_secret: string | null;
  region: string;
}

const everyone = ["owner", "moderator", "user", "guest"] as const;

/** The SFU bridge, and until when the pool is not asked again for a node after it had none (in memory). */
type MediaState = { bridge: SfuBridge; placement: { refusedUntil: number } };
type Context = ModuleContext<"media", MediaState>;

function publisherOf(ctx: MediaBase, participantId: string): Publisher {
  const rows = ctx.sql.exec<StreamRow>("SELECT * FROM media_streams WHERE participant_id = ?", participantId).toArray();
  return {
    participant_id: participantId,
    streams: Object.fromEntries(rows.map((r) => [r.stream, { audio: r.audio === 1, video: r.video === 1 }])),
  };
}

function publishes(ctx: MediaBase, participantId: string, stream: Stream): boolean {
  return (
    ctx.sql.exec("SELECT 1 FROM media_streams WHERE participant_id = ? AND stream = ?", participantId, stream).toArray()
      .length > 0
  );
}

/** Media is seen per breakout group: a publisher's changes go to its own group. */
function announce(ctx: MediaBase, participantId: string): void {
  const group = { to: "group", group: ctx.roster.groupOf(participantId) } as const;
  ctx.emit(group, { message: "publisher_update", publisher: publisherOf(ctx, participantId) });
}

const sameGroup = (ctx: MediaBase, a: string, b: string) => ctx.roster.groupOf(a) === ctx.roster.groupOf(b);
const groupSize = (ctx: MediaBase, participantId: string) => {
  const group = ctx.roster.groupOf(participantId);
  return ctx.roster.admitted().filter((m) => m.group === group).length;
};

function sdpTooLarge(ctx: MediaBase, sdp: string | undefined): boolean {
  return sdp !== undefined && new TextEncoder().encode(sdp).byteLength > ctx.config.MAX_SDP_BYTES;
}

const sdpLimit = (ctx: MediaBase) => ({
  error: "frame_too_large" as const,
  text: `SDP is limited to ${ctx.config.MAX_SDP_BYTES} bytes`,
});
const meshOnly = { error: "media_unavailable" as const, text: "peer-to-peer signalling is for rooms without an SFU" };
const sfuOnly = { error: "media_unavailable" as const, text: "this room has no SFU; media runs peer to peer (relay)" };

/** Timer of a room that wants an SFU (microphones restricted) and got none: ask the pool again. */
const PLACEMENT = "placement";
const PLACEMENT_RETRY_MS = 10_000;

const hasMedia = (ctx: MediaBase) => ctx.sql.exec("SELECT 1 FROM media_streams LIMIT 1").toArray().length > 0;

/**
 * A room without a pin asks the pool for a node when it has no media yet, or when microphones are restricted
 * (only an SFU can hold a microphone off); no node (none configured, none free): mesh. A room whose media already
 * runs peer to peer tells everyone to publish again through the node.
 */
async function ensurePlacement(ctx: Context, connection: Connection | undefined, required = false): Promise<void> {
  if (sfuPin(ctx)) return;
  const restricted = ctx.services.moderation.microphonesRestricted();
  if (hasMedia(ctx) && !required && !restricted) return;
  // The pool had no node a moment ago: a join storm in a room without an SFU asks it once, not once per join.
  const placement = ctx.state.placement;
  if (!required && !restricted && ctx.now() < placement.refusedUntil) return;
  try {
    const placed = await ctx.objects.sfuPool().place(ctx.room.info().id, connection?.region);
    placement.refusedUntil = placed.ok ? 0 : ctx.now() + PLACEMENT_RETRY_MS;
    if (!placed.ok || sfuPin(ctx)) {
      // Only an SFU holds a microphone off: while restrictions last, the room keeps asking.
      if (!placed.ok && (required || restricted)) await ctx.timers.schedule(PLACEMENT, ctx.now() + PLACEMENT_RETRY_MS);
      return;
    }
    keepPin(ctx, placed.value);
    // Those in the room run peer to peer (with media or not): they move (a joiner gets its mode with join_success).
    if (ctx.roster.admittedCount() > 0) {
      ctx.emit({ to: "everyone" }, { message: "sfu_changed", reason: "placed", available: true });
    }
  } catch (error) {
    placement.refusedUntil = ctx.now() + PLACEMENT_RETRY_MS;
    logFailure("sfu placement failed; the room runs as a mesh", error, "warn");
    if (required || restricted) await ctx.timers.schedule(PLACEMENT, ctx.now() + PLACEMENT_RETRY_MS);
  }
}

/** Whether the room holds a participant's audio off (muted by a chair or by restrictions, not unmuted since). */
const heldMuted = (ctx: Context, participantId: string) => ctx.state.bridge.audioHeld(participantId);

function mute(ctx: Context, participantIds: readonly string[]): ReturnType<MediaService["mute"]> {
  const held: string[] = [];
  for (const id of participantIds) {
    if (ctx.sql.exec("INSERT OR IGNORE INTO media_muted (participant_id) VALUES (?)", id).rowsWritten > 0)
      held.push(id);
    const switchedOff = ctx.sql.exec(
      "UPDATE media_streams SET audio = 0 WHERE participant_id = ? AND audio = 1",
      id,
    ).rowsWritten;
    if (switchedOff > 0) announce(ctx, id);
  }
  const applied = sfuPin(ctx) ? ctx.state.bridge.syncHolds(participantIds).then(() => undefined) : Promise.resolve();
  return { held, applied };
}

const noAudio = {
  error: "insufficient_permissions" as const,
  text: "microphones are restricted: a moderator has to allow you to speak",
};

/** Keeps the pin as the pool sent it (its api_secret sealed); a plaintext one is sealed in the background. */
function keepPin(ctx: Context, pin: SfuPin | null): void {
  ctx.sql.exec("DELETE FROM media_sfu");
  if (!pin) return;
  ctx.sql.exec(
    "INSERT INTO media_sfu (node_id, api_url, api_secret, region, pinned_at) VALUES (?, ?, ?, ?, ?)",
    pin.nodeId,
    pin.apiUrl,
    pin.apiSecret,
    pin.region,
    ctx.now(),
  );
  if (pin.apiSecret !== null) ctx.state.bridge.secrets.resealSoon();
}

/**
 * The media namespace: who publishes which stream (camera, screen) with audio/video on or off, and the signalling
 * that connects publishers and subscribers. When the first participant joins, the room asks the SFU pool for a
 * node and keeps the pin; media then runs through that Janus node (sfu-bridge.ts): browsers send their offers
 * and candidates to the room, which alone talks to Janus. Without an SFU the room is a peer-to-peer mesh of at
 * most MESH_MAX_PARTICIPANTS: a subscriber asks a publisher for a stream, the publisher offers, and the room
 * relays offer, answer and candidates between the two. When the pool moves the room, everyone is told to set up
 * media again.
 */
export const media = defineModule<"media", MediaState>({
  namespace: "media",
  migrations: [
    // Shipped as one line: the pieces join to exactly that text.
    "CREATE TABLE media_sfu (node_id TEXT NOT NULL, api_url TEXT NOT NULL, region TEXT NOT NULL, " +
      "pinned_at INTEGER NOT NULL)",
    `CREATE TABLE media_streams (participant_id TEXT NOT NULL, stream TEXT NOT NULL, audio INTEGER NOT NULL,
      video INTEGER NOT NULL, PRIMARY KEY (participant_id, stream))`,
    ...SFU_MIGRATIONS,
    // Nodes need an api_secret on every request: the pin and the session keep the node's.
    "ALTER TABLE media_sfu ADD COLUMN api_secret TEXT",
    "ALTER TABLE media_janus ADD COLUMN api_secret TEXT",
    // Whose audio the room holds off (the SFU drops it) until they unmute.
    "CREATE TABLE media_muted (participant_id TEXT PRIMARY KEY)",
  ],
  permissions: {
    publish: everyone,
    unpublish: everyone,
    subscribe: everyone,
    relay: everyone,
    publish_offer: everyone,
    subscribe_answer: everyone,
    trickle: everyone,
  },
  // Not async: the synchronous part (its SQL) must throw synchronously to be rolled back; Janus calls are awaited
  // by the dispatcher through the returned promise.
  handle(ctx, sender, command) {
    const pin = sfuPin(ctx);
    const mesh = pin === undefined;
    switch (command.action) {
      case "publish": {
        // A mesh connects everyone with everyone of their group (breakout rooms make the groups smaller).
        if (mesh && groupSize(ctx, sender.participantId) > ctx.config.MESH_MAX_PARTICIPANTS) {
          return {
            error: "media_unavailable",
            text: `without an SFU a room (or breakout room) carries media for at most ${
              ctx.config.MESH_MAX_PARTICIPANTS
            } participants`,
          };
        }
        const allowed = ctx.services.moderation.audioAllowed(sender.participantId);
        if (command.audio && !allowed) return noAudio;
        // Unmuting lifts the hold; someone who may not speak is held off whatever they announce.
        const release = command.audio && heldMuted(ctx, sender.participantId);
        if (release) ctx.sql.exec("DELETE FROM media_muted WHERE participant_id = ?", sender.participantId);
        const hold = !allowed && !heldMuted(ctx, sender.participantId);
        if (hold) ctx.sql.exec("INSERT INTO media_muted (participant_id) VALUES (?)", sender.participantId);
        ctx.sql.exec(
          `INSERT INTO media_streams (participant_id, stream, audio, video) VALUES (?, ?, ?, ?)
           ON CONFLICT(participant_id, stream) DO UPDATE SET audio = excluded.audio, video = excluded.video`,
          sender.participantId,
          command.stream,
          command.audio ? 1 : 0,
          command.video ? 1 : 0,
        );
        announce(ctx, sender.participantId);
        if (mesh) return;
        // Janus follows the hold (a request only when it differs from what Janus holds).
        return ctx.state.bridge.syncHolds([sender.participantId]).then((unconfirmed) => {
          if (unconfirmed > 0) return { error: "sfu_error", text: "the SFU did not unmute you: publish again" };
        });
      }
      case "unpublish":
        if (!publishes(ctx, sender.participantId, command.stream))
          return { error: "not_found", text: "you do not publish that stream" };
        ctx.sql.exec(
          "DELETE FROM media_streams WHERE participant_id = ? AND stream = ?",
          sender.participantId,
          command.stream,
        );
        if (mesh) return announce(ctx, sender.participantId);
        return ctx.state.bridge.unpublish(sender.participantId, command.stream).then(() => {
          announce(ctx, sender.participantId);
        });
      case "subscribe": {
        const { target, stream } = command;
        const known = publishes(ctx, target, stream) && sameGroup(ctx, sender.participantId, target);
        if (!known || ctx.roster.connectionsOf(command.target).length === 0) {
          return { error: "not_found", text: "no such publisher" };
        }
        if (!mesh) return ctx.state.bridge.request(sender, command.target, command.stream);
        for (const connection of ctx.roster.connectionsOf(command.target)) {
          ctx.emit(
            { to: "connection", connection: connection },
            {
              message: "subscribe_request",
              subscriber: sender.participantId,
              stream: command.stream,
            },
          );
        }
        return;
      }
      case "relay": {
        if (!mesh) return meshOnly;
        if (sdpTooLarge(ctx, command.sdp)) return sdpLimit(ctx);
        // Someone in the waiting room is not in the room, nor someone in another breakout group: nothing reaches
        // them (nor could they answer).
        const apart = ctx.roster.member(command.target)?.held || !sameGroup(ctx, sender.participantId, command.target);
        const targets = apart ? [] : ctx.roster.connectionsOf(command.target);
        if (targets.length === 0) return { error: "not_found", text: "no such participant" };
        // The stream's publisher is one end of the pair: it sends the offer and receives the answer.
        const publisherEnd =
          command.kind === "offer" ? sender.participantId : command.kind === "answer" ? command.target : undefined;
        const ends = publisherEnd === undefined ? [sender.participantId, command.target] : [publisherEnd];
        if (!ends.includes(command.publisher) || !publishes(ctx, command.publisher, command.stream)) {
          return {
            error: "insufficient_permissions",
            text: "that stream is not published by this end of the connection",
          };
        }
        const { action: _action, target: _target, ...body } = command;
        for (const connection of targets)
          ctx.emit(
            { to: "connection", connection: connection },
            { message: "relay", source: sender.participantId, ...body },
          );
        return;
      }
      case "publish_offer":
        if (mesh) return sfuOnly;
        if (sdpTooLarge(ctx, command.sdp)) return sdpLimit(ctx);
        if (!publishes(ctx, sender.participantId, command.stream)) {
          return {
            error: "insufficient_permissions",
            text: "announce the stream with publish before offering its media",
          };
        }
        return ctx.state.bridge.publishOffer(pin, sender, command.stream, command.sdp);
      case "subscribe_answer":
        if (mesh) return sfuOnly;
        if (sdpTooLarge(ctx, command.sdp)) return sdpLimit(ctx);
        return ctx.state.bridge.subscribeAnswer(sender, command.negotiation, command.sdp);
      case "trickle":
        if (mesh) return sfuOnly;
        return ctx.state.bridge.trickle(sender, command.stream, command.candidate);
    }
  },
  async joinState(ctx, connection) {
    await ensurePlacement(ctx, connection);
    const pinned = sfuPin(ctx) !== undefined;
    // The new connection gets its subscriptions once it is connected.
    if (pinned) ctx.state.bridge.scheduleReconcile();
    const ids = ctx.sql
      .exec<{ participant_id: string }>("SELECT DISTINCT participant_id FROM media_streams")
      .toArray()
      .map((r) => r.participant_id)
      .filter((id) => sameGroup(ctx, id, connection.participantId));
    return {
      mode: pinned ? "sfu" : "mesh",
      publishers: ids.map((id) => publisherOf(ctx, id)),
      muted: heldMuted(ctx, connection.participantId),
    };
  },
  state: (ctx) => ({ bridge: new SfuBridge(ctx), placement: { refusedUntil: 0 } }),
  hooks: {
    loaded(ctx) {
      ctx.state.bridge.resume();
    },
    closed(ctx, connection) {
      return ctx.state.bridge.closed(connection);
    },
    async rejoined(ctx, participantId, from) {
      // Their client sets media up afresh with the join_success, as after a reconnect: the old group sees their
      // streams end, and the SFU forgets their handles.
      if (ctx.sql.exec("DELETE FROM media_streams WHERE participant_id = ?", participantId).rowsWritten > 0) {
        const publisher = { participant_id: participantId, streams: {} };
        ctx.emit({ to: "group", group: from }, { message: "publisher_update", publisher });
      }
      await Promise.all(ctx.roster.connectionsOf(participantId).map((c) => ctx.state.bridge.closed(c)));
    },
    async left(ctx, participantId) {
      if (publishes(ctx, participantId, "camera") || publishes(ctx, participantId, "screen")) {
        ctx.sql.exec("DELETE FROM media_streams WHERE participant_id = ?", participantId);
        announce(ctx, participantId);
      }
      // The last one in the room left (waiting ones need no media): the room gives its node back and is placed
      // afresh when someone comes in.
      if (ctx.roster.admittedCount() === 0) await endMedia(ctx);
    },
    deleted: (ctx) => endMedia(ctx),
    async timer(ctx, key) {
      const waiting = ctx.roster.admittedCount() > 0 && ctx.services.moderation.microphonesRestricted();
      if (key === PLACEMENT && waiting) await ensurePlacement(ctx, ctx.roster.connections()[0]);
    },
  },
  service: (ctx) => ({
    sfuMoved: (pin, reason) => sfuMoved(ctx, pin, reason),
    reseal: () => ctx.state.bridge.secrets.reseal(),
    mute: (participantIds) => mute(ctx, participantIds),
    meetingOver: () => void ctx.sql.exec("DELETE FROM media_muted"),
    requireSfu: async (connection) => {
      await ensurePlacement(ctx, connection, true);
      return sfuPin(ctx) !== undefined;
    },
  }),
});

function sfuPin(ctx: MediaBase): SfuPin | undefined {
  const row = ctx.sql.exec<PinRow>("SELECT * FROM media_sfu").toArray()[0];
  return row && { nodeId: row.node_id, apiUrl: row.api_url, apiSecret: row.api_secret, region: row.region };
}

/**
 * The pool moved the room (its node died or was removed): forget the old node's session (ending it when the node
 * still runs), keep the new pin and tell every client to set media up again.
 */
async function sfuMoved(ctx: Context, pin: SfuPin | null, reason: "dead" | "removed"): Promise<void> {
  const ending = ctx.state.bridge.reset(reason === "removed");
  keepPin(ctx, pin);
  ctx.emit({ to: "everyone" }, { message: "sfu_changed", reason, available: pin !== null });
  await ending;
}

/** The room is empty or deleted: its media leaves the SFU and the pool forgets the placement. */
async function endMedia(ctx: Context): Promise<void> {
  if (!sfuPin(ctx)) return;
  keepPin(ctx, null);
  try {
    await ctx.objects.sfuPool().release(ctx.room.info().id);
  } catch (error) {
    logFailure("sfu placement could not be released", error, "warn");
  }
  await ctx.state.bridge.reset(true);
}
