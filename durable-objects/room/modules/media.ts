import { z } from "zod";
import type { SfuPin } from "../../sfu-pool";
import { defineModule, type RoomApi } from "../module";

/**
 * The media namespace. So far it keeps the room's SFU pin (the node chosen by the SFU pool) and tells everyone
 * when the pool moves the room to another node; publishing and subscribing build on this pin.
 */
interface PinRow extends Record<string, SqlStorageValue> {
  node_id: string;
  api_url: string;
  region: string;
  pinned_at: number;
}

export const media = defineModule<never>({
  namespace: "media",
  migrations: ["CREATE TABLE media_sfu (node_id TEXT NOT NULL, api_url TEXT NOT NULL, region TEXT NOT NULL, pinned_at INTEGER NOT NULL)"],
  commands: z.never(),
  permissions: {},
  handle() {},
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
