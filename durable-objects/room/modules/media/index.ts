import { type MediaCommand, MediaCommandSchema, type Publisher, type Stream } from "../../../src/protocol";
import type { SfuPin } from "../../sfu-pool";
import { type Connection, defineModule, type RoomApi } from "../module";
import { SFU_MIGRATIONS, SfuBridge } from "../sfu-bridge";

/**
 * The media namespace: who publishes which stream (camera, screen) with audio/video on or off, and the signalling
 * that connects publishers and subscribers. When the first participant joins, the room asks the SFU pool for a
 * node and keeps the pin; media then runs through that Janus node (sfu-bridge.ts): browsers send their offers
 * and candidates to the room, which alone talks to Janus. Without an SFU the room is a peer-to-peer mesh of at
 * most MESH_MAX_PARTICIPANTS: a subscriber asks a publisher for a stream, the publisher offers, and the room
 * relays offer, answer and candidates between the two. When the pool moves the room, everyone is told to set up
 * media again.
 */
interface StreamRow extends Record<string, SqlStorageValue> {
  participant_id: string;
  stream: Stream;
  audio: number;
  video: number;
}

interface PinRow extends Record<string, SqlStorageValue> {
  node_id: string;
  api_url: string;
  region: string;
}

const everyone = ["owner", "moderator", "user", "guest"] as const;

/** One bridge per room object instance (the API object lives exactly as long). */
const bridges = new WeakMap<RoomApi, SfuBridge>();
function bridgeOf(api: RoomApi): SfuBridge {
  let bridge = bridges.get(api);
  if (!bridge) {
    bridge = new SfuBridge(api);
    bridges.set(api, bridge);
  }
  return bridge;
}

function publisherOf(api: RoomApi, participantId: string): Publisher {
  const rows = api.sql.exec<StreamRow>("SELECT * FROM media_streams WHERE participant_id = ?", participantId).toArray();
  return {
    participant_id: participantId,
    streams: Object.fromEntries(rows.map((r) => [r.stream, { audio: r.audio === 1, video: r.video === 1 }])),
  };
}

function publishes(api: RoomApi, participantId: string, stream: Stream): boolean {
  return (
    api.sql.exec("SELECT 1 FROM media_streams WHERE participant_id = ? AND stream = ?", participantId, stream).toArray()
      .length > 0
  );
}

function announce(api: RoomApi, participantId: string): void {
  api.broadcast("media", { message: "publisher_update", publisher: publisherOf(api, participantId) });
}

function sdpTooLarge(api: RoomApi, sdp: string | undefined): boolean {
  return sdp !== undefined && new TextEncoder().encode(sdp).byteLength > api.config.MAX_SDP_BYTES;
}

const sdpLimit = (api: RoomApi) => ({
  error: "frame_too_large" as const,
  text: `SDP is limited to ${api.config.MAX_SDP_BYTES} bytes`,
});
const meshOnly = { error: "media_unavailable" as const, text: "peer-to-peer signalling is for rooms without an SFU" };
const sfuOnly = { error: "media_unavailable" as const, text: "this room has no SFU; media runs peer to peer (relay)" };

/** A room without a pin and without media asks the pool for a node; no node (none configured, none free): mesh. */
async function ensurePlacement(api: RoomApi, connection: Connection): Promise<void> {
  if (sfuPin(api) || api.sql.exec("SELECT 1 FROM media_streams LIMIT 1").toArray().length > 0) return;
  try {
    const placed = await api.env.SFU_POOL.get(api.env.SFU_POOL.idFromName("pool")).place(
      api.room().id,
      connection.region,
    );
    if (placed.ok && !sfuPin(api)) keepPin(api, placed.value);
  } catch (error) {
    console.warn("sfu placement failed; the room runs as a mesh:", error instanceof Error ? error.message : error);
  }
}

function keepPin(api: RoomApi, pin: SfuPin | null): void {
  api.sql.exec("DELETE FROM media_sfu");
  if (pin)
    api.sql.exec(
      "INSERT INTO media_sfu (node_id, api_url, region, pinned_at) VALUES (?, ?, ?, ?)",
      pin.nodeId,
      pin.apiUrl,
      pin.region,
      api.now(),
    );
}

export const media = defineModule<MediaCommand>({
  namespace: "media",
  migrations: [
    "CREATE TABLE media_sfu (node_id TEXT NOT NULL, api_url TEXT NOT NULL, region TEXT NOT NULL, pinned_at INTEGER NOT NULL)",
    `CREATE TABLE media_streams (participant_id TEXT NOT NULL, stream TEXT NOT NULL, audio INTEGER NOT NULL,
      video INTEGER NOT NULL, PRIMARY KEY (participant_id, stream))`,
    ...SFU_MIGRATIONS,
  ],
  commands: MediaCommandSchema,
  permissions: {
    publish: everyone,
    unpublish: everyone,
    subscribe: everyone,
    relay: everyone,
    publish_offer: everyone,
    subscribe_answer: everyone,
    trickle: everyone,
  },
  async handle(api, sender, command) {
    const pin = sfuPin(api);
    const mesh = pin === undefined;
    switch (command.action) {
      case "publish": {
        if (mesh && api.connectedCount() > api.config.MESH_MAX_PARTICIPANTS) {
          return {
            error: "media_unavailable",
            text: `without an SFU a room carries media for at most ${api.config.MESH_MAX_PARTICIPANTS} participants`,
          };
        }
        api.sql.exec(
          `INSERT INTO media_streams (participant_id, stream, audio, video) VALUES (?, ?, ?, ?)
           ON CONFLICT(participant_id, stream) DO UPDATE SET audio = excluded.audio, video = excluded.video`,
          sender.participantId,
          command.stream,
          command.audio ? 1 : 0,
          command.video ? 1 : 0,
        );
        return announce(api, sender.participantId);
      }
      case "unpublish":
        if (!publishes(api, sender.participantId, command.stream))
          return { error: "not_found", text: "you do not publish that stream" };
        api.sql.exec(
          "DELETE FROM media_streams WHERE participant_id = ? AND stream = ?",
          sender.participantId,
          command.stream,
        );
        if (!mesh) await bridgeOf(api).unpublish(sender.participantId, command.stream);
        return announce(api, sender.participantId);
      case "subscribe": {
        if (!publishes(api, command.target, command.stream) || api.connectionsOf(command.target).length === 0) {
          return { error: "not_found", text: "no such publisher" };
        }
        if (!mesh) return bridgeOf(api).request(sender, command.target, command.stream);
        for (const connection of api.connectionsOf(command.target)) {
          api.sendTo(connection, "media", {
            message: "subscribe_request",
            subscriber: sender.participantId,
            stream: command.stream,
          });
        }
        return;
      }
      case "relay": {
        if (!mesh) return meshOnly;
        if (sdpTooLarge(api, command.sdp)) return sdpLimit(api);
        const targets = api.connectionsOf(command.target);
        if (targets.length === 0) return { error: "not_found", text: "no such participant" };
        // The stream's publisher is one end of the pair: it sends the offer and receives the answer.
        const publisherEnd =
          command.kind === "offer" ? sender.participantId : command.kind === "answer" ? command.target : undefined;
        const ends = publisherEnd === undefined ? [sender.participantId, command.target] : [publisherEnd];
        if (!ends.includes(command.publisher) || !publishes(api, command.publisher, command.stream)) {
          return {
            error: "insufficient_permissions",
            text: "that stream is not published by this end of the connection",
          };
        }
        const { action: _action, target: _target, ...body } = command;
        for (const connection of targets)
          api.sendTo(connection, "media", { message: "relay", source: sender.participantId, ...body });
        return;
      }
      case "publish_offer":
        if (mesh) return sfuOnly;
        if (sdpTooLarge(api, command.sdp)) return sdpLimit(api);
        if (!publishes(api, sender.participantId, command.stream)) {
          return {
            error: "insufficient_permissions",
            text: "announce the stream with publish before offering its media",
          };
        }
        return bridgeOf(api).publishOffer(pin, sender, command.stream, command.sdp);
      case "subscribe_answer":
        if (mesh) return sfuOnly;
        if (sdpTooLarge(api, command.sdp)) return sdpLimit(api);
        return bridgeOf(api).subscribeAnswer(sender, command.negotiation, command.sdp);
      case "trickle":
        if (mesh) return sfuOnly;
        return bridgeOf(api).trickle(sender, command.stream, command.candidate);
    }
  },
  async joinState(api, connection) {
    await ensurePlacement(api, connection);
    const pinned = sfuPin(api) !== undefined;
    // The new connection gets its subscriptions once it is connected.
    if (pinned) bridgeOf(api).scheduleReconcile();
    const ids = api.sql.exec<{ participant_id: string }>("SELECT DISTINCT participant_id FROM media_streams").toArray();
    return { mode: pinned ? "sfu" : "mesh", publishers: ids.map((r) => publisherOf(api, r.participant_id)) };
  },
  onLoad(api) {
    bridgeOf(api).resume();
  },
  onClose(api, connection) {
    return bridgeOf(api).closed(connection);
  },
  async onLeave(api, participantId) {
    if (publishes(api, participantId, "camera") || publishes(api, participantId, "screen")) {
      api.sql.exec("DELETE FROM media_streams WHERE participant_id = ?", participantId);
      announce(api, participantId);
    }
    // The last one left: the room gives its node back and is placed afresh when someone comes.
    if (api.connectedCount() === 0) await endMedia(api);
  },
});

export function sfuPin(api: RoomApi): SfuPin | undefined {
  const row = api.sql.exec<PinRow>("SELECT * FROM media_sfu").toArray()[0];
  return row && { nodeId: row.node_id, apiUrl: row.api_url, region: row.region };
}

/**
 * The pool moved the room (its node died or was removed): forget the old node's session (ending it when the node
 * still runs), keep the new pin and tell every client to set media up again.
 */
export async function sfuMoved(api: RoomApi, pin: SfuPin | null, reason: "dead" | "removed"): Promise<void> {
  const ending = bridgeOf(api).reset(reason === "removed");
  keepPin(api, pin);
  api.broadcast("media", { message: "sfu_changed", reason, available: pin !== null });
  await ending;
}

/** The room is empty or deleted: its media leaves the SFU and the pool forgets the placement. */
export async function endMedia(api: RoomApi): Promise<void> {
  if (!sfuPin(api)) return;
  keepPin(api, null);
  try {
    await api.env.SFU_POOL.get(api.env.SFU_POOL.idFromName("pool")).release(api.room().id);
  } catch (error) {
    console.warn("sfu placement could not be released:", error instanceof Error ? error.message : error);
  }
  await bridgeOf(api).reset(true);
}
