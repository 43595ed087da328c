import { createHmac, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type RunningServer, startServer } from "../../scripts/local-server";
import { CloseCode, type RoomDiagnostics, RoomDiagnosticsSchema, SPEAKER_AWAY_MS } from "../../src/protocol";
import { keyId } from "../../src/shared/sealing";
import { verifyVote } from "../../src/votes/verify";
import { plenumCli } from "../e2e/coturn";
import { call, createRoom, devLogin, openSignaling, startRoom } from "../helpers/client";
import { startTestIssuer } from "../helpers/issuer";

/** Starts and connects; resolves once join_success arrived. */
async function join(base: string, token: string, roomId: string, body: Record<string, unknown> = {}) {
  const started = await startRoom(base, token, roomId, body);
  const client = await openSignaling(base, roomId, started.ticket);
  const success = await client.message("control", "join_success");
  return { client, started, joined: success.payload as Record<string, any> };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("plain workerd started by scripts/start.ts", () => {
  const OPERATOR_TOKEN = "integration-operator-token-0123456789abcdef";
  let server: RunningServer;
  beforeAll(async () => {
    server = await startServer({ env: { RESUMPTION_WINDOW_SECONDS: "120", OPERATOR_TOKEN } });
  });
  afterAll(async () => server?.stop());

  /** The room object's diagnostics (operators only); reading them is itself an event that wakes the object. */
  async function diagnostics(roomId: string): Promise<RoomDiagnostics> {
    const result = await call(server.base, "GET", `/v1/rooms/${roomId}/diagnostics`, { token: OPERATOR_TOKEN });
    expect(result.status, JSON.stringify(result.body)).toBe(200);
    return RoomDiagnosticsSchema.parse(result.body);
  }

  it("lets two participants join and chat", async () => {
    const alice = await devLogin(server.base, "Alice");
    const room = await createRoom(server.base, alice, { name: "Ausschuss" });
    const a = await join(server.base, alice, room.id);
    const b = await join(server.base, await devLogin(server.base, "Bob"), room.id);
    expect(b.joined.participants.map((p: any) => p.participant_id)).toEqual([a.joined.participant_id]);
    await a.client.message("control", "joined");
    a.client.send("chat", { action: "send_message", content: "Willkommen" });
    expect((await b.client.message("chat", "message_sent")).payload).toMatchObject({
      content: "Willkommen",
      source: a.joined.participant_id,
    });
    b.client.send("chat", { action: "send_message", content: "Danke" });
    expect(
      (await a.client.next((f) => f.payload.message === "message_sent" && (f.payload as any).content === "Danke"))
        .payload,
    ).toMatchObject({ source: b.joined.participant_id });
    a.client.close();
    b.client.close();
  });

  it("keeps a guest's participant id across a reconnect with the resumption token", async () => {
    const owner = await devLogin(server.base, "Olga");
    const room = await createRoom(server.base, owner);
    const invite = (await call(server.base, "POST", `/v1/rooms/${room.id}/invites`, { token: owner, body: {} })).body
      .invite_code;
    const guestStart = async (resumption?: string) =>
      (
        await call(server.base, "POST", `/v1/rooms/${room.id}/start_invited`, {
          body: { invite_code: invite, display_name: "Bürgerin", resumption },
        })
      ).body;
    const first = await guestStart();
    const socket = await openSignaling(server.base, room.id, first.ticket);
    const id = ((await socket.message("control", "join_success")).payload as any).participant_id;
    (socket.socket as unknown as { terminate(): void }).terminate();
    const again = await guestStart(first.resumption);
    expect(again.participant_id).toBe(id);
    const reconnected = await openSignaling(server.base, room.id, again.ticket);
    expect(((await reconnected.message("control", "join_success")).payload as any).participant_id).toBe(id);
    reconnected.close();
  });

  it("treats a second device of the same user as a second connection", async () => {
    const owner = await devLogin(server.base, "Olga");
    const room = await createRoom(server.base, owner);
    const o = await join(server.base, owner, room.id);
    const desk = await join(server.base, await devLogin(server.base, "Dana"), room.id);
    const phone = await join(server.base, await devLogin(server.base, "Dana"), room.id);
    expect(phone.joined.participant_id).toBe(desk.joined.participant_id);
    await o.client.message("control", "joined");
    o.client.send("chat", { action: "send_message", content: "an alle" });
    await desk.client.message("chat", "message_sent");
    await phone.client.message("chat", "message_sent");
    expect(
      o.client.frames.filter((f) => f.payload.message === "joined").flatMap((f) => (f.payload as any).participants),
    ).toHaveLength(1);
    for (const c of [o, desk, phone]) c.client.close();
  });

  it("keeps connections, roster and hands when the idle room hibernates", async () => {
    const owner = await devLogin(server.base, "Olga");
    const room = await createRoom(server.base, owner);
    const o = await join(server.base, owner, room.id);
    const b = await join(server.base, await devLogin(server.base, "Berta"), room.id);
    await o.client.message("control", "joined");
    b.client.send("control", { action: "raise_hand" });
    await o.client.message("control", "update");
    const before = await diagnostics(room.id);
    expect(before).toMatchObject({ room_id: room.id, connections: 2, participants_connected: 2 });
    // workerd hibernates an object after ~10 s without events; its sockets and attachments stay. Nothing may touch
    // the room while it idles — a diagnostics read is an event too, and restarts the idle clock — so each attempt
    // sleeps a whole idle period before it reads once; a new instance id proves the object was rebuilt.
    const IDLE_MS = 15_000;
    const deadline = Date.now() + 45_000;
    let after: RoomDiagnostics;
    do {
      await sleep(IDLE_MS);
      after = await diagnostics(room.id);
    } while (after.instance_id === before.instance_id && Date.now() + IDLE_MS <= deadline);
    expect(after.instance_id, "the idle room object was not rebuilt (no hibernation)").not.toBe(before.instance_id);
    expect(after).toMatchObject({ room_id: room.id, connections: 2, participants_connected: 2 });
    expect(o.client.closed).toBeUndefined();
    expect(b.client.closed).toBeUndefined();
    o.client.send("chat", { action: "send_message", content: "nach der Pause" }, 99);
    expect((await b.client.message("chat", "message_sent")).payload).toMatchObject({ source: o.joined.participant_id });
    expect((await o.client.message("chat", "message_sent")).transaction_id).toBe(99);
    const c = await join(server.base, await devLogin(server.base, "Carla"), room.id);
    const others = c.joined.participants as { participant_id: string; hand_raised_at: string | null }[];
    expect(others.map((p) => p.participant_id).sort()).toEqual(
      [o.joined.participant_id, b.joined.participant_id].sort(),
    );
    expect(others.find((p) => p.participant_id === b.joined.participant_id)?.hand_raised_at).toEqual(
      expect.any(String),
    );
    for (const x of [o, b, c]) x.client.close();
  });

  it("refuses foreign origins and reused tickets at the upgrade", async () => {
    const owner = await devLogin(server.base, "Olga");
    const room = await createRoom(server.base, owner);
    const { ticket } = await startRoom(server.base, owner, room.id);
    await expect(openSignaling(server.base, room.id, ticket, { origin: "https://evil.example" })).rejects.toMatchObject(
      { status: 403 },
    );
    const ok = await openSignaling(server.base, room.id, ticket, { origin: server.base });
    await ok.message("control", "join_success");
    await expect(openSignaling(server.base, room.id, ticket)).rejects.toMatchObject({ status: 401 });
    ok.close();
  });
});

describe("durability", () => {
  it("keeps rooms and chat across kill -9 and a graceful SIGTERM restart", async () => {
    let server = await startServer();
    const dataDir = server.dataDir;
    const port = server.port;
    const owner = await devLogin(server.base, "Olga");
    const room = await createRoom(server.base, owner, { name: "Dauerhaft", password: "pw" });
    const a = await join(server.base, owner, room.id);
    a.client.send("chat", { action: "send_message", content: "vor dem Absturz" });
    await a.client.message("chat", "message_sent");

    await server.crash();
    await a.client.waitClosed();
    server = await startServer({ dataDir, port });
    // The development key survived too: the old token still verifies.
    expect((await call(server.base, "GET", `/v1/rooms/${room.id}`, { token: owner })).body).toMatchObject({
      name: "Dauerhaft",
      has_password: true,
    });
    const again = await join(server.base, owner, room.id);
    expect(again.joined.modules.chat.messages.map((m: any) => m.content)).toEqual(["vor dem Absturz"]);
    expect(again.joined.participants).toEqual([]);

    const stopped = Date.now();
    await server.stop("SIGTERM");
    expect(Date.now() - stopped).toBeLessThan(60_000);
    expect((await again.client.waitClosed()).code).not.toBe(CloseCode.roomDeleted);
    server = await startServer({ dataDir, port });
    expect((await call(server.base, "GET", `/v1/rooms/${room.id}`, { token: owner })).status).toBe(200);
    await server.stop();
  });
});

describe("moderation across a crash", () => {
  it("keeps a ban across the banned user's reconnect and a kill -9; unban lets them in", async () => {
    let server = await startServer();
    const { dataDir, port } = server;
    const owner = await devLogin(server.base, "Vorsitz");
    const room = await createRoom(server.base, owner);
    const chair = await join(server.base, owner, room.id);
    const troll = await devLogin(server.base, "Störer");
    const banned = await join(server.base, troll, room.id);
    const bannedId = banned.joined.participant_id as string;
    const ban = chair.client.send("moderation", { action: "ban", target: bannedId });
    await chair.client.next((f) => f.transaction_id === ban && f.payload.message === "logged");
    // workerd ends the TCP connection of a socket its room closed only about 10 s after the closing handshake,
    // and Node's `ws` reports the close at that end (browsers report it at the handshake).
    expect(await banned.client.waitClosed(30_000)).toMatchObject({ code: CloseCode.banned, reason: "banned" });
    // The banned user's client tries to come back as a dropped connection does: a start with its resumption token.
    const refused = async () => {
      const body = { resumption: banned.started.resumption };
      const again = await call(server.base, "POST", `/v1/rooms/${room.id}/start`, { token: troll, body });
      return [again.status, again.body.error?.code];
    };
    expect(await refused()).toEqual([403, "banned_from_room"]);

    await server.crash();
    await chair.client.waitClosed();
    server = await startServer({ dataDir, port });
    expect(await refused()).toEqual([403, "banned_from_room"]);
    const back = await join(server.base, owner, room.id);
    expect(back.joined.modules.moderation.banned).toMatchObject([{ participant_id: bannedId, display_name: "Störer" }]);
    const unban = back.client.send("moderation", { action: "unban", target: bannedId });
    await back.client.next((f) => f.transaction_id === unban && f.payload.message === "logged");
    expect((await join(server.base, troll, room.id)).joined.participant_id).toBe(bannedId);
    await server.stop();
  });
});

describe("OIDC issuer with a remote JWKS", () => {
  let idp: Awaited<ReturnType<typeof startTestIssuer>>;
  let sign: (claims: Record<string, unknown>) => Promise<string>;
  let server: RunningServer;

  beforeAll(async () => {
    idp = await startTestIssuer("http://idp.test/realms/thueringen");
    sign = (claims) => idp.sign({ aud: "plenum", sub: "beamtin-7", tenant: "tlv", name: "Beamtin", ...claims });
    server = await startServer({
      // No DEV_LOGIN: with an identity provider configured, npm start leaves development login off.
      env: { OIDC_ISSUERS: JSON.stringify([idp.config()]) },
    });
  });
  afterAll(async () => {
    await server?.stop();
    idp?.close();
  });

  it("verifies tokens against the issuer's JWKS and keeps a session alive after the token expires", async () => {
    expect((await call(server.base, "POST", "/v1/auth/dev-login", { body: { name: "x" } })).body.error.code).toBe(
      "dev_login_disabled",
    );
    const shortLived = await sign({ exp: Math.floor(Date.now() / 1000) + 3 });
    const room = await createRoom(server.base, shortLived);
    const other = await sign({ sub: "kollege-8", exp: Math.floor(Date.now() / 1000) + 600 });
    const a = await join(server.base, shortLived, room.id);
    const b = await join(server.base, other, room.id);
    // Past expiry plus the verifier's clock tolerance.
    await new Promise((r) => setTimeout(r, 9_000));
    a.client.send("chat", { action: "send_message", content: "noch da" });
    expect((await b.client.message("chat", "message_sent")).payload).toMatchObject({ content: "noch da" });
    expect(a.client.closed).toBeUndefined();
    const refused = await call(server.base, "POST", `/v1/rooms/${room.id}/start`, { token: shortLived, body: {} });
    expect(refused).toMatchObject({ status: 401, body: { error: { code: "unauthorized" } } });
    // A different tenant of the same issuer does not see the room.
    const foreign = await sign({ sub: "x", tenant: "other", exp: Math.floor(Date.now() / 1000) + 600 });
    expect((await call(server.base, "GET", `/v1/rooms/${room.id}`, { token: foreign })).status).toBe(404);
    a.client.close();
    b.client.close();
  });
});

describe("a burst of password guesses from ever new addresses", () => {
  it("gets few checks past the per-process cap; the rest answer 429 at once", async () => {
    const server = await startServer({ env: { CLIENT_IP_HEADER: "x-real-ip", PASSWORD_CHECKS_PER_SECOND: "2" } });
    try {
      const room = await createRoom(server.base, await devLogin(server.base, "Olga"), { password: "richtig" });
      const token = await devLogin(server.base, "Mallory");
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          call(server.base, "POST", `/v1/rooms/${room.id}/start`, {
            token,
            body: { password: `guess-${i}` },
            headers: { "x-real-ip": `198.18.0.${i + 1}` },
          }),
        ),
      );
      const checked = results.filter((r) => r.body.error?.code === "invalid_password").length;
      const refused = results.filter((r) => r.status === 429 && r.body.error.code === "too_many_attempts");
      // Two at once plus two a second while the checks (tens of ms each, one after another) run.
      expect(checked).toBeGreaterThan(0);
      expect(refused.length).toBeGreaterThanOrEqual(10);
      expect(checked + refused.length).toBe(20);
      expect(refused[0]!.headers.get("retry-after")).toBe("1");

      // Setting a room password hashes it just as long: a burst of room edits draws on the same cap (refilled
      // first: it grants PASSWORD_CHECKS_PER_SECOND a second).
      await new Promise((r) => setTimeout(r, 1500));
      const edits = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          call(server.base, "POST", "/v1/rooms", { token, body: { password: `neu-${i}` } }),
        ),
      );
      const created = edits.filter((r) => r.status === 201).length;
      const capped = edits.filter((r) => r.status === 429 && r.body.error.code === "too_many_attempts").length;
      expect(created).toBeGreaterThan(0);
      expect(capped).toBeGreaterThanOrEqual(10);
      expect(created + capped).toBe(20);
    } finally {
      await server.stop();
    }
  });
});

describe("settings that were removed", () => {
  it("stops npm start when OPERATOR_CLAIM is set, naming the per-issuer field instead", async () => {
    const started = startServer({ env: { OPERATOR_CLAIM: "plenum_role=operator" } });
    await expect(started).rejects.toThrow(/OPERATOR_CLAIM is no longer supported.*"operator_claim"/s);
  });
});

describe("secrets sealed at rest with STATE_ENCRYPTION_KEY", () => {
  const OPERATOR_TOKEN = "integration-operator-token-0123456789abcdef";
  const newKey = () => randomBytes(32).toString("base64url");
  const idOf = (key: string) => keyId(new Uint8Array(Buffer.from(key, "base64url")));
  const withKey = (key: string) => ({
    OPERATOR_TOKEN,
    STATE_ENCRYPTION_KEY: key,
    // One TURN node, so credentials are minted; its probes fail, but never often enough to take it out.
    TURN_NODES: JSON.stringify([{ id: "t1", region: "de-east", host: "turn.plenum.test", probe: "127.0.0.1:9" }]),
    TURN_DOWN_AFTER: "1000",
  });
  /** The TURN password as coturn computes it from the shared secret: base64(HMAC-SHA1(secret, username)). */
  const turnPassword = (secret: string, username: string) =>
    createHmac("sha1", secret).update(username).digest("base64");

  it("rotates the key (new key first, reseal, old key gone) and fails loudly on a key it does not hold", async () => {
    const [keyA, keyB, keyC] = [newKey(), newKey(), newKey()];
    const turnSecret = randomBytes(32).toString("base64url");
    let server = await startServer({ env: withKey(keyA) });
    const { dataDir, port } = server;
    const restart = async (key: string) => {
      await server.stop();
      server = await startServer({ env: withKey(key), dataDir, port });
    };
    try {
      const added = await call(server.base, "POST", "/v1/operator/turn/secrets", {
        token: OPERATOR_TOKEN,
        body: { secret: turnSecret, activate: true },
      });
      expect(added.status).toBe(201);
      const owner = await devLogin(server.base, "Olga");
      const room = await createRoom(server.base, owner);
      const first = await join(server.base, owner, room.id);
      const [relay] = first.joined.modules.turn.ice_servers;
      expect(relay.credential).toBe(turnPassword(turnSecret, relay.username));
      first.client.close();

      // Step 1: the new key first, the old one behind it. Step 2: reseal.
      await restart(`${keyB},${keyA}`);
      const resealed = await call(server.base, "POST", "/v1/operator/state/reseal", { token: OPERATOR_TOKEN });
      expect(resealed.status).toBe(200);
      expect(resealed.body).toMatchObject({ objects: 5, failed: 0 });
      expect(resealed.body.rooms).toBeGreaterThanOrEqual(1);
      // The TURN secret and both signing keys (development issuer, session tokens).
      expect(resealed.body.resealed).toBe(3);

      // Step 3: the old key removed. Earlier tokens verify, new ones are signed, TURN uses the same secret.
      await restart(keyB);
      expect((await call(server.base, "GET", `/v1/rooms/${room.id}`, { token: owner })).status).toBe(200);
      expect(await devLogin(server.base, "Berta")).toEqual(expect.any(String));
      const again = await join(server.base, owner, room.id);
      const [renewed] = again.joined.modules.turn.ice_servers;
      expect(renewed.credential).toBe(turnPassword(turnSecret, renewed.username));
      again.client.close();

      // A key that sealed nothing: requests that need a secret fail, naming the key id, never using plaintext.
      await restart(keyC);
      const refused = await call(server.base, "POST", "/v1/auth/dev-login", { body: { name: "Mallory" } });
      expect(refused).toMatchObject({ status: 500, body: { error: { code: "internal_error" } } });
      const blind = await join(server.base, owner, room.id);
      expect(blind.joined.modules.turn).toBeNull();
      blind.client.close();
      const expected = `sealed with key id ${await idOf(keyB)}, which STATE_ENCRYPTION_KEY does not hold`;
      await expect.poll(() => server.output()).toContain(expected);
      for (const secret of [keyA, keyB, keyC, turnSecret]) expect(server.output()).not.toContain(secret);
    } finally {
      await server.stop();
    }
  });

  it("stops npm start on a malformed key, without printing it", async () => {
    const short = randomBytes(16).toString("base64url");
    const started = startServer({ env: { STATE_ENCRYPTION_KEY: `${newKey()},${short}` } });
    await expect(started).rejects.toThrow(/STATE_ENCRYPTION_KEY/);
    await expect(started).rejects.not.toThrow(short);
  });
});

describe("the vote key, rotated by the operator CLI", () => {
  it("signs with a new key after `plenum votes rotate-key`; the retired one stays in the room's key set", async () => {
    const OPERATOR_TOKEN = "integration-operator-token-0123456789abcdef";
    const server = await startServer({ env: { OPERATOR_TOKEN } });
    try {
      const room = await createRoom(server.base, await devLogin(server.base, "Olga"));
      const keys = async () => (await call(server.base, "GET", `/v1/rooms/${room.id}/votes/keys`)).body.keys as any[];
      const [first] = await keys();
      const rotated = await plenumCli(["votes", "rotate-key", "--api", server.base], {
        PLENUM_OPERATOR_TOKEN: OPERATOR_TOKEN,
      });
      const { kid } = JSON.parse(rotated.stdout) as { kid: string };
      expect((await keys()).map((k) => k.kid)).toEqual([kid, first.kid]);
      // A wrong operator token: the CLI fails and nothing rotates.
      const refused = plenumCli(["votes", "rotate-key", "--api", server.base], {
        PLENUM_OPERATOR_TOKEN: "wrong-operator-token-0123456789abcdef0123",
      });
      await expect(refused).rejects.toMatchObject({ code: 1 });
      expect((await keys()).map((k) => k.kid)).toEqual([kid, first.kid]);
    } finally {
      await server.stop();
    }
  });
});

describe("legal votes across a crash", () => {
  it("keeps every acknowledged ballot across kill -9; the vote goes on and its chain verifies", async () => {
    let server = await startServer();
    const { dataDir, port } = server;
    try {
      const owner = await devLogin(server.base, "Vorsitz");
      const room = await createRoom(server.base, owner);
      const chair = await join(server.base, owner, room.id);
      const names = Array.from({ length: 12 }, (_, i) => `Mitglied ${i + 1}`);
      const tokens = await Promise.all(names.map((name) => devLogin(server.base, name)));
      const voters = await Promise.all(tokens.map((token) => join(server.base, token, room.id)));
      const ids = voters.map((v) => String(v.joined.participant_id));
      // Everyone is announced before the vote names them.
      const announced = () =>
        chair.client.frames.flatMap((f: any) => (f.payload.message === "joined" ? f.payload.participants : []));
      await chair.client.next(() => announced().length >= ids.length);
      chair.client.send("legal_vote", {
        action: "start",
        name: "Nachtragshaushalt",
        kind: "roll_call",
        allowed_participants: [String(chair.joined.participant_id), ...ids],
        enable_abstain: false,
        rule: { quorum: { numerator: 1, denominator: 2 }, majority: "simple" },
        auto_close: false,
      });
      const voteId = ((await chair.client.message("legal_vote", "started")).payload as any).vote_id as string;
      for (const voter of voters) await voter.client.message("legal_vote", "started");
      // Half the voters vote and get their receipts; two more send theirs and the process dies at once.
      const ballot = (i: number) => ({ action: "vote", vote_id: voteId, option: i % 3 === 0 ? "no" : "yes" });
      const half = voters.length / 2;
      for (const [i, voter] of voters.slice(0, half).entries()) voter.client.send("legal_vote", ballot(i));
      for (const voter of voters.slice(0, half)) await voter.client.message("legal_vote", "voted", 20_000);
      for (const [i, voter] of voters.slice(half, half + 2).entries())
        voter.client.send("legal_vote", ballot(half + i));
      await server.crash();
      // Every receipt that arrived before the socket closed is an acknowledged ballot.
      const acknowledged = new Map<number, unknown>();
      for (const [i, voter] of voters.entries()) {
        await voter.client.waitClosed();
        const voted = voter.client.frames.find((f) => f.payload.message === "voted");
        if (voted) acknowledged.set(i, (voted.payload as any).receipt);
      }
      expect(acknowledged.size).toBeGreaterThanOrEqual(half);

      const operatorToken = "integration-operator-token-0123456789abcdef";
      server = await startServer({ dataDir, port, env: { OPERATOR_TOKEN: operatorToken } });
      const back = await Promise.all(tokens.map((token) => join(server.base, token, room.id)));
      let afterRestart = 0;
      for (const [i, again] of back.entries()) {
        const active = again.joined.modules.legal_vote.active;
        expect(active.vote.id).toBe(voteId);
        if (acknowledged.has(i)) {
          expect(active.voted, `voter ${i} was acknowledged`).toBe(true);
          expect(active.receipt, `voter ${i} gets the receipt again`).toEqual(acknowledged.get(i));
        }
        if (active.voted) continue;
        // Not stored before the crash: the vote goes on and takes the ballot now.
        again.client.send("legal_vote", ballot(i));
        acknowledged.set(i, ((await again.client.message("legal_vote", "voted")).payload as any).receipt);
        afterRestart++;
      }
      // At least those who had not sent a ballot before the crash voted after it.
      expect(afterRestart).toBeGreaterThanOrEqual(voters.length - half - 2);
      const chairAgain = await join(server.base, owner, room.id);
      chairAgain.client.send("legal_vote", { action: "stop", vote_id: voteId });
      const stopped = (await chairAgain.client.message("legal_vote", "stopped")).payload as any;
      expect(stopped.result).toMatchObject({ cast: voters.length, eligible: voters.length + 1 });
      const protocol = await call(server.base, "GET", `/v1/rooms/${room.id}/votes/${voteId}/protocol`, {
        token: owner,
      });
      expect(protocol.status).toBe(200);
      const keys = (await call(server.base, "GET", `/v1/rooms/${room.id}/votes/keys`)).body;
      const verdict = await verifyVote({ protocol: protocol.body, receipts: [...acknowledged.values()], keys });
      expect(verdict.checks.filter((c) => !c.ok)).toEqual([]);
      const voted = protocol.body.entries.filter((e: any) => e.event.type === "ballot").map((e: any) => e.event.voter);
      expect(new Set(voted)).toEqual(new Set(ids));

      // A pseudonymous vote in the same process: no token appears in anything workerd or the supervisor printed.
      chairAgain.client.send("legal_vote", {
        action: "start",
        name: "Geheime Abstimmung",
        kind: "pseudonymous",
        allowed_participants: ids,
        enable_abstain: true,
        rule: { quorum: { numerator: 1, denominator: 2 }, majority: "simple" },
        auto_close: true,
      });
      const secret = ((await chairAgain.client.message("legal_vote", "started")).payload as any).vote_id as string;
      const secrets = await Promise.all(
        back.map(async (again) => {
          const token = (await again.client.message("legal_vote", "token")).payload as any;
          expect(token.vote_id).toBe(secret);
          again.client.send("legal_vote", { action: "vote", vote_id: secret, option: "abstain", token: token.token });
          await again.client.next((f) => f.payload.message === "voted" && (f.payload as any).vote_id === secret);
          return token.token as string;
        }),
      );
      const closed = await chairAgain.client.next(
        (f) => f.payload.message === "stopped" && (f.payload as any).vote_id === secret,
      );
      expect((closed.payload as any).result).toMatchObject({ abstain: voters.length, outcome: "rejected" });
      // A line printed after the vote (an operator request is logged) proves the output read covers the vote.
      await call(server.base, "GET", `/v1/rooms/${room.id}/diagnostics`, { token: operatorToken });
      const barrier = `"room":"${room.id}"`;
      const deadline = Date.now() + 10_000;
      while (!server.output().includes(barrier) && Date.now() < deadline) await sleep(50);
      const printed = server.output();
      expect(printed).toContain(barrier);
      expect(secrets.filter((token) => printed.includes(token))).toEqual([]);
      for (const client of [...back, chairAgain]) client.client.close();
    } finally {
      await server.stop();
    }
  });
});

describe("meeting tools across a crash", () => {
  it("a countdown, a timed poll and a speaker's turn end by themselves after kill -9 and a restart", async () => {
    let server = await startServer();
    const { dataDir, port } = server;
    try {
      const owner = await devLogin(server.base, "Vorsitz");
      const room = await createRoom(server.base, owner);
      const chair = await join(server.base, owner, room.id);
      chair.client.send("timer", { action: "start", kind: "countdown", duration_seconds: 8, title: "Pause" });
      const timer = (await chair.client.message("timer", "started")).payload as any;
      chair.client.send("polls", {
        action: "start",
        topic: "Weiter nach der Pause?",
        choices: ["ja", "nein"],
        multiple_choice: false,
        live: false,
        duration_seconds: 8,
      });
      const poll = (await chair.client.message("polls", "started")).payload as any;
      chair.client.send("polls", { action: "vote", poll_id: poll.poll_id, choices: [0] });
      await chair.client.message("polls", "voted");
      // The speaker's connection goes with the crash and does not come back: their turn passes once they have been
      // away SPEAKER_AWAY_MS after the restart (long before its time limit).
      const speaker = await join(server.base, await devLogin(server.base, "Rednerin"), room.id);
      const speakerId = speaker.joined.participant_id;
      const queue = { action: "start", strategy: "playlist", playlist: [speakerId], time_limit_seconds: 300 };
      chair.client.send("automod", queue);
      const turn = (await chair.client.message("automod", "speaker_updated")).payload as any;
      expect(turn.speaker).toBe(speakerId);
      // The process dies while all three still run.
      expect(Date.now()).toBeLessThan(Date.parse(timer.ends_at));
      await server.crash();
      server = await startServer({ dataDir, port });
      const restartedAt = Date.now();
      const again = await join(server.base, owner, room.id);
      // Each ends by itself: seen as it happens if it still ran when the chair came back, else already over.
      const tools = again.joined.modules;
      if (tools.timer.active) {
        const ended = await again.client.next(
          (f) => f.namespace === "timer" && f.payload.message === "stopped",
          30_000,
        );
        expect(ended.payload).toMatchObject({ timer_id: timer.timer_id, reason: "expired" });
        expect(Date.parse(ended.timestamp)).toBeGreaterThanOrEqual(Date.parse(timer.ends_at));
      }
      if (tools.polls.active) {
        const done = await again.client.next((f) => f.namespace === "polls" && f.payload.message === "done", 30_000);
        expect(done.payload).toMatchObject({ poll_id: poll.poll_id, counts: [1, 0], voters: 1, reason: "expired" });
      }
      // The queue survives with its speaker; the floor passes SPEAKER_AWAY_MS after the room came back.
      expect(tools.automod.active).toMatchObject({ strategy: "playlist", speaker: speakerId, time_limit_seconds: 300 });
      const over = await again.client.next(
        (f) => f.namespace === "automod" && (f.payload as any).speaker === null,
        30_000,
      );
      expect(Date.parse(over.timestamp)).toBeGreaterThanOrEqual(restartedAt + SPEAKER_AWAY_MS);
      expect(Date.parse(over.timestamp)).toBeLessThan(Date.parse(turn.ends_at));
      const later = await join(server.base, owner, room.id);
      expect(later.joined.modules.automod.active).toMatchObject({ speaker: null, queue: [], spoken: [speakerId] });
      expect(later.joined.modules.timer.active).toBeNull();
      expect(later.joined.modules.polls).toMatchObject({
        active: null,
        last: { poll_id: poll.poll_id, counts: [1, 0], voters: 1, reason: "expired" },
      });
      later.client.close();
      again.client.close();
    } finally {
      await server.stop();
    }
  });
});

describe("breakout rooms across a crash", () => {
  it("keeps each group over kill -9; the announced return happens by itself after the restart", async () => {
    let server = await startServer();
    const { dataDir, port } = server;
    try {
      const owner = await devLogin(server.base, "Vorsitz");
      const room = await createRoom(server.base, owner);
      const chair = await join(server.base, owner, room.id);
      const [annaToken, berndToken] = [await devLogin(server.base, "Anna"), await devLogin(server.base, "Bernd")];
      const anna = await join(server.base, annaToken, room.id);
      const bernd = await join(server.base, berndToken, room.id);
      const [annaId, berndId] = [anna.joined.participant_id, bernd.joined.participant_id];
      const rooms = [
        { name: "Haushalt", assignments: [annaId] },
        { name: "Bau", assignments: [berndId] },
      ];
      chair.client.send("breakout", { action: "start", rooms, duration_seconds: 600 });
      const moved = await anna.client.next((f) => f.payload.message === "join_success" && f !== anna.client.frames[0]);
      expect((moved.payload as any).modules.breakout.room).toBe("b1");
      anna.client.send("chat", { action: "send_message", content: "im Haushalt" });
      await anna.client.message("chat", "message_sent");
      // The return is announced for a time after the restart: the room's scheduler has to bring everyone back.
      // 20 s: the restart below takes a few seconds; the reconnects must find the rooms still open.
      chair.client.send("breakout", { action: "stop", delay_seconds: 20 });
      const closing = (await chair.client.message("breakout", "closing")).payload as any;
      await server.crash();
      server = await startServer({ dataDir, port });
      // Each comes back into their own room: its people and its chat only.
      const annaAgain = await join(server.base, annaToken, room.id);
      const berndAgain = await join(server.base, berndToken, room.id);
      const chairAgain = await join(server.base, owner, room.id);
      expect(Date.now(), "the restart took longer than the announced return").toBeLessThan(Date.parse(closing.at));
      const state = (joined: any) => ({
        room: joined.modules.breakout.room,
        chat: joined.modules.chat.messages.map((m: any) => m.content),
        people: joined.participants.map((p: any) => p.participant_id),
      });
      expect(state(annaAgain.joined)).toEqual({ room: "b1", chat: ["im Haushalt"], people: [] });
      expect(state(berndAgain.joined)).toEqual({ room: "b2", chat: [], people: [] });
      expect(chairAgain.joined.modules.breakout.active).toMatchObject({
        closing_at: closing.at,
        assignment: { [annaId]: "b1", [berndId]: "b2" },
      });
      expect(chairAgain.joined.participants).toEqual([]);
      // At the announced time everyone is back in the main room, with everyone in it.
      const stopped = await annaAgain.client.next((f) => f.payload.message === "stopped", 30_000);
      expect(stopped.payload).toMatchObject({ reason: "by_moderator" });
      expect(Date.parse(stopped.timestamp)).toBeGreaterThanOrEqual(Date.parse(closing.at));
      const back = await annaAgain.client.next(
        (f) => f.payload.message === "join_success" && f !== annaAgain.client.frames[0],
      );
      expect((back.payload as any).modules.breakout).toEqual({ active: null, room: null });
      const people = (back.payload as any).participants.map((p: any) => p.participant_id).sort();
      expect(people).toEqual([berndId, chairAgain.joined.participant_id].sort());
      for (const peer of [annaAgain, berndAgain, chairAgain]) peer.client.close();
    } finally {
      await server.stop();
    }
  });
});

describe("two shards on loopback with development login", () => {
  it("signs every development login with the first shard's key, so each shard accepts the other's tokens", async () => {
    const ports = [await freePort(), await freePort()];
    const fleet = `s1=http://127.0.0.1:${ports[0]},s2=http://127.0.0.1:${ports[1]}`;
    const operatorToken = "fleet-operator-token-0123456789abcdef";
    // One after another: each start builds the worker into the same dist/ first. s2 has a limit of its own.
    const shard = (id: string, port: number, env: Record<string, string> = {}) =>
      startServer({ port, env: { PLENUM_SHARD: id, PLENUM_SHARDS: fleet, OPERATOR_TOKEN: operatorToken, ...env } });
    const s1 = await shard("s1", ports[0]!);
    const s2 = await shard("s2", ports[1]!, { MAX_ROOMS_PER_USER: "7" }).catch(async (error) => {
      await s1.stop();
      throw error;
    });
    try {
      expect((await call(s2.base, "GET", "/healthz")).body).toEqual({ status: "ok", shard: "s2" });
      // Signed at s1 for a login made at s2; the same name is the same user on both shards.
      const token = await devLogin(s2.base, "Kommune");
      const onS1 = await createRoom(s1.base, token);
      const onS2 = await createRoom(s2.base, await devLogin(s1.base, "Kommune"));
      expect([onS1.id.slice(0, 3), onS2.id.slice(0, 3)]).toEqual(["s1.", "s2."]);
      const listed = await call(s2.base, "GET", "/v1/rooms", { token });
      expect(listed.body.rooms.map((r: { id: string }) => r.id).sort()).toEqual([onS1.id, onS2.id].sort());
      // A shard's own key signs nothing: its keys are not the fleet's development issuer.
      const own = await call(s2.base, "GET", "/v1/auth/dev-issuer/jwks");
      const first = await call(s1.base, "GET", "/v1/auth/dev-issuer/jwks");
      expect(first.body.keys[0].kid).not.toEqual(own.body.keys[0].kid);
      // The one setting that differs is the drift `plenum status` reports.
      const status = await plenumCli(["status"], { PLENUM_SHARDS: fleet, PLENUM_OPERATOR_TOKEN: operatorToken }).then(
        () => undefined,
        (error: { code: number; stdout: string }) => error,
      );
      expect(status?.code).toBe(1);
      expect(status?.stdout.match(/^drift: .*$/gm)).toEqual([
        expect.stringMatching(/^drift: setting MAX_ROOMS_PER_USER: [\w-]{16} on s1; [\w-]{16} on s2$/),
      ]);
    } finally {
      await Promise.all([s1.stop(), s2.stop()]);
    }
  });

  it("refuses a shard id that is not one of the fleet's", async () => {
    const started = startServer({ env: { PLENUM_SHARD: "s9", PLENUM_SHARDS: "s1=http://127.0.0.1:1" } });
    await expect(started).rejects.toThrow(/PLENUM_SHARD s9 is not one of PLENUM_SHARDS \(s1\)/);
  });
});
