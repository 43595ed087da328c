import { env, runInDurableObject } from "cloudflare:test";
import { decodeJwt } from "jose";
import { describe, expect, it } from "vitest";
import { Roster } from "../../durable-objects/room/roster";
import type { TurnCredentials } from "../../src/protocol";
import { readConfig } from "../../src/shared/config";
import { SESSION_AUDIENCE, SESSION_ISSUER, signingKey } from "../../src/shared/keys";
import { timeTravel } from "./harness";
import { api, devToken, join, newRoom, setting } from "./helpers";

const operator = { authorization: `Bearer ${setting("OPERATOR_TOKEN")}` };
const turn = (sessionToken: string, headers: Record<string, string> = {}) =>
  api("GET", "/v1/turn", { headers: { authorization: `Bearer ${sessionToken}`, ...headers } });

async function activeSecret(): Promise<void> {
  const list = await api("GET", "/v1/operator/turn/secrets", { headers: operator });
  if (list.body.secrets.some((s: { state: string }) => s.state === "active")) return;
  expect((await api("POST", "/v1/operator/turn/secrets", { headers: operator, body: { activate: true } })).status).toBe(
    201,
  );
}

describe("TURN credentials", () => {
  it("come in join_success with a session token that GET /v1/turn accepts", async () => {
    await activeSecret();
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const { joined } = await join(owner, room.id);
    const credentials = joined.modules.turn as TurnCredentials;
    expect(credentials.ice_servers).toHaveLength(2);
    expect(credentials.ice_servers[0]!.username).toMatch(/^\d+:[A-Za-z0-9_-]+$/);
    const result = await turn(credentials.session_token, { "x-test-region": "de-west" });
    expect(result.status).toBe(200);
    expect(result.body.ice_servers.map((s: { urls: string[] }) => s.urls[0])).toEqual([
      "turn:turn-west.plenum.test:3478?transport=udp",
      "turn:turn-east.plenum.test:3478?transport=udp",
    ]);
    expect(result.body.ice_servers[0].urls).toHaveLength(2); // west has no TLS port
    const expiresIn = Date.parse(result.body.expires_at) - Date.now();
    expect(expiresIn).toBeGreaterThan(290_000);
    expect(expiresIn).toBeLessThanOrEqual(300_000);
  });

  it("come from /v1/rooms/{id}/turn for a session of that room only", async () => {
    await activeSecret();
    const owner = await devToken("Olga");
    const [room, other] = [await newRoom(owner), await newRoom(owner)];
    const { joined } = await join(owner, room.id);
    const { session_token } = joined.modules.turn as TurnCredentials;
    const at = (roomId: string) =>
      api("GET", `/v1/rooms/${roomId}/turn`, { headers: { authorization: `Bearer ${session_token}` } });
    const granted = await at(room.id);
    expect(granted.status).toBe(200);
    expect(granted.body.ice_servers.length).toBeGreaterThan(0);
    const elsewhere = await at(other.id);
    expect(elsewhere.status).toBe(401);
    expect(elsewhere.body.error.code).toBe("unauthorized");
    expect((await at("not a room")).status).toBe(400);
    const unsigned = await api("GET", `/v1/rooms/${room.id}/turn`, { headers: { authorization: "Bearer x.y.z" } });
    expect(unsigned.status).toBe(401);
  });

  it("are refreshed on request over the signalling channel", async () => {
    await activeSecret();
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const { client } = await join(owner, room.id);
    client.send("turn", { action: "refresh" }, 5);
    const reply = await client.message("turn", "credentials");
    expect(reply.transaction_id).toBe(5);
    expect((reply.payload as unknown as TurnCredentials).session_token).toEqual(expect.any(String));
  });

  it("are refused for tokens that are not live session tokens of that room, tenant and connection", async () => {
    await activeSecret();
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const { joined, client } = await join(owner, room.id);
    const refused = async (token: string) => {
      const result = await turn(token);
      expect(result.status).toBe(401);
      expect(result.body.error.code).toBe("unauthorized");
    };
    await refused(owner);
    const issued = joined.modules.turn.session_token as string;
    await refused(`${issued}x`);
    const sid = decodeJwt(issued).sid as string;
    const sign = (claims: Record<string, string>, subject = joined.participant_id as string, ttlSeconds = 60) =>
      signingKey(env, "session").sign({
        issuer: SESSION_ISSUER,
        audience: SESSION_AUDIENCE,
        subject,
        ttlSeconds,
        claims,
      });
    // Properly signed, but claiming another tenant, a room that does not exist, a stranger, or a connection that
    // never existed.
    const tenant = "urn:plenum:dev-issuer#default";
    await refused(await sign({ tenant: "urn:plenum:dev-issuer#other", room: room.id, sid }));
    await refused(await sign({ tenant, room: "NoSuchRoom123", sid }));
    await refused(await sign({ tenant, room: room.id, sid }, "strangerstranger"));
    await refused(await sign({ tenant, room: room.id, sid: "abcdefgh" }));
    // The token's own connection passes while it is open and in the resumption window after it closed.
    expect((await turn(issued)).status).toBe(200);
    client.close(1000);
    await client.waitClosed();
    expect((await turn(issued)).status).toBe(200);
    // A later connection of the same participant does not keep an old connection's token alive.
    const again = await join(owner, room.id);
    await timeTravel.leftEarlier(room.id, readConfig(env as never).RESUMPTION_WINDOW_SECONDS * 1000 + 1000);
    await refused(issued);
    expect((await turn(again.joined.modules.turn.session_token)).status).toBe(200);
  });

  it("are refused at once for a removed connection, even from an object rebuilt before the client closes", async () => {
    await activeSecret();
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    await join(owner, room.id);
    const guest = await join(await devToken("Gerd"), room.id);
    const token = guest.joined.modules.turn.session_token as string;
    expect((await turn(token)).status).toBe(200);
    const guestId = guest.joined.participant_id as string;
    const stub = env.ROOMS.get(env.ROOMS.idFromName(room.id));
    const sid = decodeJwt(token).sid as string;
    const windowMs = readConfig(env as never).RESUMPTION_WINDOW_SECONDS * 1000;
    const seen = await runInDurableObject(stub, async (instance, state) => {
      const ours = () => state.getWebSockets().length;
      const before = ours();
      // The removal's synchronous step; the client cannot answer the close before this callback awaits.
      const removal = (instance as any).entrance.remove(guestId, 4000, "kicked", false) as Promise<void>;
      const after = ours();
      // An object rebuilt now, from the runtime's sockets and the storage, as after hibernation.
      const rebuilt = new Roster(state.storage.sql, state.getWebSockets(), Date.now());
      const valid = rebuilt.connectionValid(guestId, sid, Date.now(), windowMs);
      await removal;
      return { before, after, rebuiltConnected: rebuilt.isConnected(guestId), valid };
    });
    expect(seen).toEqual({ before: 2, after: 2, rebuiltConnected: false, valid: false });
    const refused = await turn(token);
    expect(refused.status).toBe(401);
    expect(refused.body.error.code).toBe("unauthorized");
  });

  it("are limited per session and minute (429 with retry-after), other sessions unaffected", async () => {
    await activeSecret();
    const owner = await devToken("Olga");
    const room = await newRoom(owner);
    const first = await join(owner, room.id);
    const second = await join(await devToken("Gerd"), room.id);
    const limit = readConfig(env as never).TURN_REQUESTS_PER_MINUTE;
    const token = first.joined.modules.turn.session_token as string;
    const statuses = [];
    for (let i = 0; i < limit; i++) statuses.push((await turn(token)).status);
    expect(statuses.every((s) => s === 200)).toBe(true);
    const over = await turn(token);
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe("rate_limited");
    expect(Number(over.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(Number(over.headers.get("retry-after"))).toBeLessThanOrEqual(60);
    expect((await turn(second.joined.modules.turn.session_token)).status).toBe(200);
  });
});

describe("operator keyring API", () => {
  it("is for operators only", async () => {
    const user = await devToken("Ulla");
    expect((await api("GET", "/v1/operator/turn/secrets", { token: user })).body.error.code).toBe(
      "insufficient_permissions",
    );
    expect((await api("GET", "/v1/operator/turn/nodes")).status).toBe(401);
  });

  it("adds, activates, retires and removes secrets without ever showing their values again", async () => {
    const provided = "p".repeat(40);
    const added = await api("POST", "/v1/operator/turn/secrets", { headers: operator, body: { secret: provided } });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ state: "staged", fingerprint: expect.any(String) });
    expect(added.body.secret).toBeUndefined();
    expect(
      (await api("POST", "/v1/operator/turn/secrets", { headers: operator, body: { secret: provided } })).body.error
        .code,
    ).toBe("conflict");
    const generated = await api("POST", "/v1/operator/turn/secrets", { headers: operator, body: {} });
    expect(generated.body.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const id = added.body.id as string;
    const activate = await api("POST", `/v1/operator/turn/secrets/${id}/activate`, { headers: operator });
    expect(activate.body).toMatchObject({ id, state: "active", activated_at: expect.any(String) });
    expect((await api("DELETE", `/v1/operator/turn/secrets/${id}`, { headers: operator })).status).toBe(409);
    await api("POST", `/v1/operator/turn/secrets/${generated.body.id}/activate`, { headers: operator });
    const list = await api("GET", "/v1/operator/turn/secrets", { headers: operator });
    expect(list.body.credential_ttl_seconds).toBe(300);
    // A rotation waits until every credential signed with the old secret has expired, also in the rooms' caches.
    const { TURN_TTL_SECONDS, TURN_MATERIAL_CACHE_SECONDS } = readConfig(env);
    expect(list.body.removal_delay_seconds).toBe(TURN_TTL_SECONDS + TURN_MATERIAL_CACHE_SECONDS);
    expect(list.body.secrets.find((s: { id: string }) => s.id === id).state).toBe("retiring");
    const removed = await api("DELETE", `/v1/operator/turn/secrets/${id}`, { headers: operator });
    expect(removed.body).toMatchObject({ state: "removed", removed_at: expect.any(String) });
    const text = JSON.stringify((await api("GET", "/v1/operator/turn/secrets", { headers: operator })).body);
    expect(text).not.toContain(provided);
    expect(text).not.toContain(generated.body.secret);
    await runInDurableObject(env.TURN_FLEET.get(env.TURN_FLEET.idFromName("fleet")), (_i, state) => {
      expect(state.storage.sql.exec("SELECT value FROM secrets WHERE id = ?", id).one().value).toBeNull();
    });
  });

  it("validates bodies and ids", async () => {
    expect(
      (await api("POST", "/v1/operator/turn/secrets", { headers: operator, body: { secret: "short" } })).body.error
        .code,
    ).toBe("invalid_request");
    expect((await api("POST", "/v1/operator/turn/secrets/unknown-id-1/activate", { headers: operator })).status).toBe(
      404,
    );
    expect((await api("POST", "/v1/operator/turn/secrets/x/retire", { headers: operator })).status).toBe(400);
  });

  it("lists the configured nodes with their health", async () => {
    const nodes = (await api("GET", "/v1/operator/turn/nodes", { headers: operator })).body.nodes;
    expect(nodes.map((n: { id: string; region: string }) => `${n.id}@${n.region}`)).toEqual([
      "east-1@de-east",
      "west-1@de-west",
    ]);
  });
});
