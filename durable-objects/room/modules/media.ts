import { MediaCommandSchema, type MediaCommand, type Publisher, type Stream } from "../../../src/protocol";
import type { SfuPin } from "../../sfu-pool";
import { defineModule, type RoomApi } from "../module";

/**
 * The media namespace: who publishes which stream (camera, screen) with audio/video on or off, and the signalling
 * that connects publishers and subscribers. Without an SFU the room is a peer-to-peer mesh of at most
 * MESH_MAX_PARTICIPANTS: a subscriber asks a publisher for a stream, the publisher offers, and the room relays
 * offer, answer and candidates between the two. The room also keeps its SFU pin (the node the SFU pool chose)
 * and tells everyone when the pool moves the room.
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

function publisherOf(api: RoomApi, participantId: string): Publisher {
  const rows = api.sql.exec<StreamRow>("SELECT * FROM media_streams WHERE participant_id = ?", participantId).toArray();
  return {
    participant_id: participantId,
    streams: Object.fromEntries(rows.map((r) => [r.stream, { audio: r.audio === 1, video: r.video === 1 }])),
  };
}

function publishes(api: RoomApi, participantId: string, stream: Stream): boolean {
  return api.sql.exec("SELECT 1 FROM media_streams WHERE participant_id = ? AND stream = ?", participantId, stream).toArray().length > 0;
}

function announce(api: RoomApi, participantId: string): void {
  api.broadcast("media", { message: "publisher_update", publisher: publisherOf(api, participantId) });
}

function sdpTooLarge(api: RoomApi, sdp: string | undefined): boolean {
  return sdp !== undefined && new TextEncoder().encode(sdp).byteLength > api.config.MAX_SDP_BYTES;
}

export const media = defineModule<MediaCommand>({
  namespace: "media",
  migrations: [
    "CREATE TABLE media_sfu (node_id TEXT NOT NULL, api_url TEXT NOT NULL, region TEXT NOT NULL, pinned_at INTEGER NOT NULL)",
    `CREATE TABLE media_streams (participant_id TEXT NOT NULL, stream TEXT NOT NULL, audio INTEGER NOT NULL,
      video INTEGER NOT NULL, PRIMARY KEY (participant_id, stream))`,
  ],
  commands: MediaCommandSchema,
  permissions: { publish: everyone, unpublish: everyone, subscribe: everyone, relay: everyone },
  handle(api, sender, command) {
    const mesh = sfuPin(api) === undefined;
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
        if (!publishes(api, sender.participantId, command.stream)) return { error: "not_found", text: "you do not publish that stream" };
        api.sql.exec("DELETE FROM media_streams WHERE participant_id = ? AND stream = ?", sender.participantId, command.stream);
        return announce(api, sender.participantId);
      case "subscribe": {
        if (!publishes(api, command.target, command.stream) || api.connectionsOf(command.target).length === 0) {
          return { error: "not_found", text: "no such publisher" };
        }
        if (!mesh) return { error: "media_unavailable", text: "SFU subscriptions are not available yet" };
        for (const connection of api.connectionsOf(command.target)) {
          api.sendTo(connection, "media", { message: "subscribe_request", subscriber: sender.participantId, stream: command.stream });
        }
        return;
      }
      case "relay": {
        if (!mesh) return { error: "media_unavailable", text: "peer-to-peer signalling is for rooms without an SFU" };
        if (sdpTooLarge(api, command.sdp)) return { error: "frame_too_large", text: `SDP is limited to ${api.config.MAX_SDP_BYTES} bytes` };
        const targets = api.connectionsOf(command.target);
        if (targets.length === 0) return { error: "not_found", text: "no such participant" };
        // The stream's publisher is one end of the pair: it sends the offer and receives the answer.
        const publisherEnd = command.kind === "offer" ? sender.participantId : command.kind === "answer" ? command.target : undefined;
        const ends = publisherEnd === undefined ? [sender.participantId, command.target] : [publisherEnd];
        if (!ends.includes(command.publisher) || !publishes(api, command.publisher, command.stream)) {
          return { error: "insufficient_permissions", text: "that stream is not published by this end of the connection" };
        }
        const { action: _action, target: _target, ...body } = command;
        for (const connection of targets) api.sendTo(connection, "media", { message: "relay", source: sender.participantId, ...body });
        return;
      }
    }
  },
  joinState(api) {
    const ids = api.sql.exec<{ participant_id: string }>("SELECT DISTINCT participant_id FROM media_streams").toArray();
    return { mode: sfuPin(api) ? "sfu" : "mesh", publishers: ids.map((r) => publisherOf(api, r.participant_id)) };
  },
  onLeave(api, participantId) {
    if (!publishes(api, participantId, "camera") && !publishes(api, participantId, "screen")) return;
    api.sql.exec("DELETE FROM media_streams WHERE participant_id = ?", participantId);
    announce(api, participantId);
  },
});

export function sfuPin(api: RoomApi): SfuPin | undefined {
  const row = api.sql.exec<PinRow>("SELECT * FROM media_sfu").toArray()[0];
  return row && { nodeId: row.node_id, apiUrl: row.api_url, region: row.region };
}

/** The pool moved the room (its node died or was removed): keep the new pin and tell every client to set up again. */
export function sfuMoved(api: RoomApi, pin: SfuPin | null, reason: "dead" | "removed"): void {
  api.sql.exec("DELETE FROM media_sfu");
  if (pin) api.sql.exec("INSERT INTO media_sfu (node_id, api_url, region, pinned_at) VALUES (?, ?, ?, ?)", pin.nodeId, pin.apiUrl, pin.region, api.now());
  api.broadcast("media", { message: "sfu_changed", reason, available: pin !== null });
}
