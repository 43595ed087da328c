import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { dumpModule } from "./harness";
import { api, devToken, join, newRoom, setting } from "./helpers";

const operator = { authorization: `Bearer ${setting("OPERATOR_TOKEN")}` };
const pool = () => env.SFU_POOL.get(env.SFU_POOL.idFromName("pool"));
// Nothing listens on these loopback ports: polls fail fast and stay on this machine; the test plays the poll.
const node = (id: string, region: string, capacity = 10) => ({
  id,
  region,
  api_url: "http://127.0.0.1:9/janus",
  admin_url: "http://127.0.0.1:9/admin",
  admin_secret: `secret-of-${id}`,
  api_secret: `api-secret-of-${id}-0123456789`,
  capacity,
});
/** The test stands in for the poll: these nodes answered just now (or long ago). */
const seen = (ids: string[], at = Date.now()) =>
  runInDurableObject(pool(), (_i, state) => {
    for (const id of ids) state.storage.sql.exec("UPDATE nodes SET last_seen = ?, error = NULL WHERE id = ?", at, id);
  });

describe("SFU pool registry", () => {
  it("is managed by operators, never shows admin or API secrets, and validates nodes", async () => {
    const user = await devToken("Ulla");
    expect((await api("POST", "/v1/operator/sfu/nodes", { token: user, body: node("x1", "east") })).status).toBe(403);
    const added = await api("POST", "/v1/operator/sfu/nodes", { headers: operator, body: node("reg-1", "east") });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({
      id: "reg-1",
      region: "east",
      alive: false,
      draining: false,
      rooms: 0,
      api_secret_set: true,
      admin_url: "http://127.0.0.1:9/admin",
    });
    // The same secrets give the same fingerprint (shards compare nodes by it); other secrets another.
    const twin = await api("POST", "/v1/operator/sfu/nodes", {
      headers: operator,
      body: { ...node("reg-1", "east"), id: "reg-twin" },
    });
    const other = await api("POST", "/v1/operator/sfu/nodes", { headers: operator, body: node("reg-other", "east") });
    expect(added.body.secrets_fingerprint).toMatch(/^[\w-]{16}$/);
    expect(twin.body.secrets_fingerprint).toBe(added.body.secrets_fingerprint);
    expect(other.body.secrets_fingerprint).not.toBe(added.body.secrets_fingerprint);
    for (const id of ["reg-twin", "reg-other"]) {
      expect((await api("DELETE", `/v1/operator/sfu/nodes/${id}`, { headers: operator })).status).toBe(204);
    }
    const { api_secret: _, ...withoutApiSecret } = node("reg-3", "east");
    const noSecret = await api("POST", "/v1/operator/sfu/nodes", { headers: operator, body: withoutApiSecret });
    expect(noSecret.status).toBe(400);
    expect(noSecret.body.error.message).toContain("api_secret");
    expect(
      (await api("POST", "/v1/operator/sfu/nodes", { headers: operator, body: node("reg-1", "east") })).status,
    ).toBe(409);
    expect(
      (
        await api("POST", "/v1/operator/sfu/nodes", {
          headers: operator,
          body: { ...node("reg-2", "east"), api_url: "ftp://x" },
        })
      ).status,
    ).toBe(400);
    const listed = await api("GET", "/v1/operator/sfu/nodes", { headers: operator });
    expect(JSON.stringify(listed.body)).not.toContain("secret-of-");
    expect((await api("POST", "/v1/operator/sfu/nodes/reg-1/drain", { headers: operator })).body.draining).toBe(true);
    expect((await api("POST", "/v1/operator/sfu/nodes/reg-1/undrain", { headers: operator })).body.draining).toBe(
      false,
    );
    expect((await api("DELETE", "/v1/operator/sfu/nodes/reg-1", { headers: operator })).status).toBe(204);
    expect((await api("DELETE", "/v1/operator/sfu/nodes/reg-1", { headers: operator })).status).toBe(404);
  });

  it("places rooms in their region, never on dead, draining or full nodes; keeps a room on its live node", async () => {
    for (const n of [node("p-east-a", "de-east"), node("p-east-b", "de-east"), node("p-west-a", "de-west")]) {
      await api("POST", "/v1/operator/sfu/nodes", { headers: operator, body: n });
    }
    const place = (room: string, region: string) => pool().place(room, region);
    // Nobody has answered a poll yet: no placement.
    expect(await place("RoomUnplaced1", "de-east")).toMatchObject({ ok: false, error: { code: "sfu_unavailable" } });
    await seen(["p-east-a", "p-east-b", "p-west-a"]);
    const first = await place("RoomEast00001", "de-east");
    expect(first.ok && first.value.region).toBe("de-east");
    // Sticky while its node lives.
    expect(await place("RoomEast00001", "de-west")).toEqual(first);
    // Both east nodes draining: the nearest region with capacity.
    await api("POST", "/v1/operator/sfu/nodes/p-east-a/drain", { headers: operator });
    await api("POST", "/v1/operator/sfu/nodes/p-east-b/drain", { headers: operator });
    expect(await place("RoomEast00002", "de-east")).toMatchObject({ ok: true, value: { nodeId: "p-west-a" } });
    // A full node is skipped; a dead one too.
    await api("POST", "/v1/operator/sfu/nodes/p-east-a/undrain", { headers: operator });
    await runInDurableObject(pool(), (_i, state) =>
      state.storage.sql.exec("UPDATE nodes SET handles = capacity WHERE id = 'p-east-a'"),
    );
    expect(await place("RoomEast00003", "de-east")).toMatchObject({ ok: true, value: { nodeId: "p-west-a" } });
    await seen(["p-west-a"], Date.now() - 60_000);
    expect(await place("RoomEast00004", "de-east")).toMatchObject({ ok: false, error: { code: "sfu_unavailable" } });
    for (const id of ["p-east-a", "p-east-b", "p-west-a"])
      await api("DELETE", `/v1/operator/sfu/nodes/${id}`, { headers: operator });
  });

  it("moves a dead node's rooms to a live node and tells their participants", async () => {
    for (const n of [node("f-east-a", "de-east"), node("f-east-b", "de-east")]) {
      await api("POST", "/v1/operator/sfu/nodes", { headers: operator, body: n });
    }
    await seen(["f-east-a", "f-east-b"]);
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const { client } = await join(owner, room.id);
    const placed = await pool().place(room.id, "de-east");
    if (!placed.ok) throw new Error("not placed");
    const survivor = placed.value.nodeId === "f-east-a" ? "f-east-b" : "f-east-a";

    // The pinned node stops answering: past the dead limit while the other keeps answering.
    await seen([placed.value.nodeId], Date.now() - 60_000);
    await seen([survivor], Date.now() + 60_000); // still "seen" after this alarm's own (failing) poll
    expect(await runDurableObjectAlarm(pool())).toBe(true);

    const changed = await client.message("media", "sfu_changed");
    expect(changed.payload).toEqual({ message: "sfu_changed", reason: "dead", available: true });
    const pinned = (await dumpModule(room.id, "media")).media_sfu![0]?.node_id;
    expect(pinned).toBe(survivor);
    const nodes = (await api("GET", "/v1/operator/sfu/nodes", { headers: operator })).body.nodes as {
      id: string;
      rooms: number;
      alive: boolean;
    }[];
    expect(nodes.find((n) => n.id === survivor)).toMatchObject({ rooms: 1, alive: true });
    expect(nodes.find((n) => n.id === placed.value.nodeId)).toMatchObject({ rooms: 0, alive: false });
    for (const id of ["f-east-a", "f-east-b"])
      await api("DELETE", `/v1/operator/sfu/nodes/${id}`, { headers: operator });
  });
});
