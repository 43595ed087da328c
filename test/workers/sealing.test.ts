import { env, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { base64url } from "jose";
import { describe, expect, it } from "vitest";
import type { TurnCredentials } from "../../src/protocol";
import { signingKey } from "../../src/shared/keys";
import { keyId, sealedKeyId } from "../../src/shared/sealing";
import { dumpModule } from "./harness";
import { api, devToken, join, newRoom, setting } from "./helpers";

// The tier runs with STATE_ENCRYPTION_KEY set (vitest.workers.config.ts): every stored secret is sealed under it.
const operator = { authorization: `Bearer ${setting("OPERATOR_TOKEN")}` };
const fleet = () => env.TURN_FLEET.get(env.TURN_FLEET.idFromName("fleet"));
const pool = () => env.SFU_POOL.get(env.SFU_POOL.idFromName("pool"));
const room = (id: string) => env.ROOMS.get(env.ROOMS.idFromName(id));
const testKeyId = () => keyId(base64url.decode(setting("STATE_ENCRYPTION_KEY")));
const SEALED = /^sealed:v1:[A-Za-z0-9_-]{8}:[A-Za-z0-9_-]{16}:[A-Za-z0-9_-]+$/;

async function hmacSha1(secret: string, message: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-1" }, false, [
    "sign",
  ]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(message)));
  return btoa(String.fromCharCode(...mac));
}

describe("secrets sealed at rest", () => {
  it("stores TURN secrets sealed and still mints credentials with them", async () => {
    const secret = `turn-secret-${crypto.randomUUID()}`;
    const added = await api("POST", "/v1/operator/turn/secrets", { headers: operator, body: { secret } });
    expect(added.status).toBe(201);
    const stored = await runInDurableObject(fleet(), (_i, state) =>
      state.storage.sql.exec<{ value: string }>("SELECT value FROM secrets WHERE id = ?", added.body.id).one(),
    );
    expect(stored.value).toMatch(SEALED);
    expect(sealedKeyId(stored.value)).toBe(await testKeyId());
    expect(stored.value).not.toContain(secret);
    expect(
      (await api("POST", `/v1/operator/turn/secrets/${added.body.id}/activate`, { headers: operator })).status,
    ).toBe(200);

    const owner = await devToken("Olga");
    const { joined, client } = await join(owner, (await newRoom(owner)).id);
    const [server] = (joined.modules.turn as TurnCredentials).ice_servers;
    expect(server?.credential).toBe(await hmacSha1(secret, server!.username));
    client.close();
  });

  it("stores the SFU nodes' Janus secrets sealed, hands rooms the sealed api_secret and keeps it sealed", async () => {
    const node = {
      id: "sealed-1",
      region: "de-east",
      api_url: "http://127.0.0.1:9/janus",
      admin_url: "http://127.0.0.1:9/admin",
      admin_secret: "janus-admin-secret-0123",
      api_secret: "janus-api-secret-0123456789",
      capacity: 10,
    };
    expect((await api("POST", "/v1/operator/sfu/nodes", { headers: operator, body: node })).status).toBe(201);
    const stored = await runInDurableObject(pool(), (_i, state) => {
      const row = state.storage.sql
        .exec<{ admin_secret: string; api_secret: string }>(
          "SELECT admin_secret, api_secret FROM nodes WHERE id = ?",
          node.id,
        )
        .one();
      // The node answered a poll just now (nothing listens on that port; the test plays the poll).
      state.storage.sql.exec("UPDATE nodes SET last_seen = ? WHERE id = ?", Date.now() + 60_000, node.id);
      return row;
    });
    expect(stored.admin_secret).toMatch(SEALED);
    expect(stored.api_secret).toMatch(SEALED);
    expect(JSON.stringify(stored)).not.toContain("janus-");
    // A failing poll opens the admin secret (it would fail with "cannot open" otherwise, not with a fetch error).
    await runDurableObjectAlarm(pool());
    const listed = (await api("GET", "/v1/operator/sfu/nodes", { headers: operator })).body.nodes as {
      id: string;
      error: string | null;
    }[];
    expect(listed.find((n) => n.id === node.id)?.error ?? "").not.toMatch(/cannot open/);

    const owner = await devToken("Olga");
    const created = await newRoom(owner);
    const placed = await pool().place(created.id, "de-east");
    if (!placed.ok) throw new Error("not placed");
    expect(placed.value.apiSecret).toBe(stored.api_secret);
    await room(created.id).sfuMoved(placed.value, "dead");
    expect((await dumpModule(created.id, "media")).media_sfu![0]?.api_secret).toBe(stored.api_secret);
    expect(await room(created.id).reseal()).toBe(0);

    // A room given a plaintext secret (as rooms pinned before encryption hold it) seals it on its own.
    const legacy = { ...placed.value, apiSecret: "legacy-api-secret-0123456789" };
    await room(created.id).sfuMoved(legacy, "dead");
    await expect
      .poll(async () => (await dumpModule(created.id, "media")).media_sfu![0]?.api_secret as string)
      .toMatch(SEALED);
    expect(await room(created.id).reseal()).toBe(1);
    expect((await api("DELETE", `/v1/operator/sfu/nodes/${node.id}`, { headers: operator })).status).toBe(204);
  });

  it("stores signing keys sealed; tokens are signed and verified", async () => {
    const token = await devToken("Sabine");
    const stored = await runInDurableObject(signingKey(env, "dev-issuer"), (_i, state) =>
      state.storage.sql.exec<{ private_jwk: string }>("SELECT private_jwk FROM signing_key").one(),
    );
    expect(stored.private_jwk).toMatch(SEALED);
    expect(stored.private_jwk).not.toContain('"d"');
    // Signing (opens the sealed private key) and verifying (the public key) both work.
    expect((await newRoom(token)).id).toEqual(expect.any(String));
  });

  it("re-seals legacy plaintext on the operator's request (POST /v1/operator/state/reseal)", async () => {
    // A secret stored before encryption was turned on.
    const id = await runInDurableObject(fleet(), (_i, state) => {
      const legacyId = `legacy${crypto.randomUUID().slice(0, 8)}`;
      state.storage.sql.exec(
        "INSERT INTO secrets (id, value, fingerprint, state, created_at) VALUES (?, ?, ?, 'staged', ?)",
        legacyId,
        "legacy-plaintext-turn-secret-0123456789",
        `fp-${legacyId}`,
        Date.now(),
      );
      return legacyId;
    });
    const response = await api("POST", "/v1/operator/state/reseal", { headers: operator });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ objects: 5, failed: 0 });
    expect(response.body.resealed).toBeGreaterThanOrEqual(1);
    expect(response.body.rooms).toBeGreaterThanOrEqual(0);
    const value = await runInDurableObject(
      fleet(),
      (_i, state) =>
        state.storage.sql.exec<{ value: string }>("SELECT value FROM secrets WHERE id = ?", id).one().value,
    );
    expect(value).toMatch(SEALED);
    // Nothing left to do: a second run rewrites nothing.
    expect((await api("POST", "/v1/operator/state/reseal", { headers: operator })).body).toMatchObject({
      resealed: 0,
      failed: 0,
    });
    const user = await devToken("Ulla");
    expect((await api("POST", "/v1/operator/state/reseal", { token: user })).status).toBe(403);
    await api("DELETE", `/v1/operator/turn/secrets/${id}`, { headers: operator });
  });
});
