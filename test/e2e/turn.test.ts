import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type RunningServer, startServer } from "../../scripts/local-server";
import type { IceGrant, JoinSuccess, TurnCredentials } from "../../src/protocol";
import { mintTurnCredential } from "../../turn/credentials";
import { fingerprintOf, SqliteSecretDatabase } from "../../turn/secret-db";
import { call, createRoom, devLogin, openSignaling, startRoom } from "../helpers/client";
import { blankPageServer, launchChromium, type PlenumClient } from "./browser";
import { allocates, type Coturn, plenumCli, startCoturn, stunAnswers, waitForPort } from "./coturn";

const OPERATOR_TOKEN = "e2e-operator-token-0123456789abcdef0123";
const TTL = 24;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The node's credentials in a grant (servers carry their port in the URL). */
function credentialFor(grant: IceGrant, node: Coturn) {
  const server = grant.ice_servers.find((s) => s.urls.some((u) => u.includes(`:${node.port}?`)));
  if (!server)
    throw new Error(`no server for port ${node.port} in ${JSON.stringify(grant.ice_servers.map((s) => s.urls[0]))}`);
  return server;
}

describe("TURN fleet against real coturn", () => {
  let dir: string;
  let east: Coturn;
  let west: Coturn;
  let shared: Coturn;
  let redis: ChildProcess;
  let redisUrl: string;
  let server: RunningServer;
  let env: Record<string, string>;
  let page: Awaited<ReturnType<typeof blankPageServer>>;

  beforeAll(async () => {
    page = await blankPageServer();
    dir = await mkdtemp(join(tmpdir(), "plenum-turn-"));
    const [eastPort, westPort, sharedPort, redisPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    redisUrl = `redis://127.0.0.1:${redisPort}`;
    redis = spawn(
      "redis-server",
      ["--port", String(redisPort), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      { stdio: "ignore" },
    );
    // coturn connects to Redis once at start: it must be up first.
    await waitForPort(redisPort);
    const nodes = [
      { id: "east-1", region: "de-east", host: "127.0.0.1", port: eastPort, tls_port: null },
      { id: "west-1", region: "de-west", host: "127.0.0.1", port: westPort, tls_port: null },
    ];
    env = {
      TURN_NODES: JSON.stringify([
        ...nodes,
        { id: "shared-1", region: "shared", host: "127.0.0.1", port: sharedPort, tls_port: null },
      ]),
      TURN_REALM: "plenum.test",
      PLENUM_OPERATOR_TOKEN: OPERATOR_TOKEN,
    };
    const coturn = (nodeId: string, port: number, index: number, userdb: { sqlite: string } | { redis: string }) =>
      startCoturn({
        nodeId,
        port,
        cliPort: port + 1,
        relayPorts: [40000 + index * 200, 40000 + index * 200 + 199],
        userdb,
        configPath: join(dir, `${nodeId}.conf`),
        env,
      });
    [east, west, shared] = await Promise.all([
      coturn("east-1", eastPort, 0, { sqlite: join(dir, "east.db") }),
      coturn("west-1", westPort, 1, { sqlite: join(dir, "west.db") }),
      coturn("shared-1", sharedPort, 2, { redis: `ip=127.0.0.1 port=${redisPort} dbname=0` }),
    ]);
    server = await startServer({
      env: {
        OPERATOR_TOKEN,
        TURN_NODES: JSON.stringify(nodes),
        TURN_REALM: "plenum.test",
        TURN_TTL_SECONDS: String(TTL),
        SESSION_TOKEN_TTL_SECONDS: String(TTL),
        TURN_PROBE_INTERVAL_SECONDS: "1",
        TURN_PROBE_TIMEOUT_MS: "500",
        TURN_DOWN_AFTER: "2",
        TURN_UP_AFTER: "1",
        REGION_RULES: JSON.stringify({
          header: "x-region",
          neighbours: { "de-east": ["de-west"], "de-west": ["de-east"] },
        }),
        ALLOWED_ORIGINS: page.origin,
      },
    });
    // The first secret: a rotation from an empty keyring stages, distributes and activates without waiting.
    await rotate();
  });

  afterAll(async () => {
    await server?.stop();
    page?.close();
    await Promise.all([east, west, shared].map((n) => n?.stop()));
    redis?.kill();
  });

  /** `plenum turn rotate` against this server and all three coturn secret databases. */
  const rotate = (...extra: string[]) =>
    plenumCli(
      [
        "turn",
        "rotate",
        "--api",
        server.base,
        "--sqlite",
        join(dir, "east.db"),
        "--sqlite",
        join(dir, "west.db"),
      ].concat(["--redis", redisUrl], extra),
      env,
    );

  async function session(region = "de-east") {
    const token = await devLogin(server.base, `Teilnehmerin ${Math.random()}`);
    const room = await createRoom(server.base, token);
    const { ticket } = await startRoom(server.base, token, room.id);
    const client = await openSignaling(server.base, room.id, ticket);
    const joined = (await client.message("control", "join_success")).payload as unknown as {
      modules: { turn: TurnCredentials };
    };
    const turn = (sessionToken = joined.modules.turn.session_token) =>
      call<IceGrant>(server.base, "GET", "/v1/turn", {
        headers: { authorization: `Bearer ${sessionToken}`, "x-region": region },
      });
    return { token, room, client, credentials: joined.modules.turn, turn };
  }

  it("hands out credentials in join_success and GET /v1/turn that coturn accepts, nearest region first", async () => {
    const east1 = await session("de-east");
    expect(east1.credentials.ice_servers.length).toBeGreaterThan(0);
    const grant = await east1.turn();
    expect(grant.status).toBe(200);
    expect(grant.body.ice_servers.map((s) => s.urls[0])).toEqual([
      `turn:127.0.0.1:${east.port}?transport=udp`,
      `turn:127.0.0.1:${west.port}?transport=udp`,
    ]);
    const { username, credential } = credentialFor(grant.body, east);
    expect(username).toMatch(/^\d+:[A-Za-z0-9_-]+$/);
    expect(username).not.toContain("Teilnehmerin");
    expect(await allocates(east.port, username, credential)).toBe(true);
    expect(await allocates(west.port, username, credential)).toBe(true);
    // Tampered credentials fail.
    expect(await allocates(east.port, username, `${credential.slice(0, -4)}AAA=`)).toBe(false);
    expect(
      await allocates(
        east.port,
        username.replace(/^\d+/, (t) => String(Number(t) + 3600)),
        credential,
      ),
    ).toBe(false);

    const westGrant = await (await session("de-west")).turn();
    expect(westGrant.body.ice_servers[0]!.urls[0]).toContain(`:${west.port}?`);
    east1.client.close();
  });

  it("refuses GET /v1/turn without a live session token", async () => {
    const s = await session();
    const refused = async (authorization: string | undefined) => {
      const result = await call(server.base, "GET", "/v1/turn", { headers: authorization ? { authorization } : {} });
      expect(result.status).toBe(401);
      expect(result.body.error.code).toBe("unauthorized");
    };
    await refused(undefined);
    await refused(`Bearer ${s.token}`); // an access token is not a session token
    const [h, p, sig] = s.credentials.session_token.split(".");
    await refused(`Bearer ${h}.${p}.${sig!.slice(0, -3)}AAA`);
    // Deleting the room ends its sessions.
    expect((await call(server.base, "DELETE", `/v1/rooms/${s.room.id}`, { token: s.token })).status).toBe(204);
    await refused(`Bearer ${s.credentials.session_token}`);
  });

  it("expires credentials and refreshes them over the signalling channel", async () => {
    const s = await session();
    const first = credentialFor((await s.turn()).body, east);
    const refreshed = await s.client.message("turn", "credentials", (TTL + 5) * 1000);
    const fresh = refreshed.payload as unknown as TurnCredentials;
    expect(Date.parse(fresh.expires_at)).toBeGreaterThan(Date.parse(s.credentials.expires_at));
    await sleep(Math.max(0, Number(first.username.split(":")[0]) * 1000 - Date.now()) + 1500);
    expect(await allocates(east.port, first.username, first.credential)).toBe(false);
    // The refreshed session token still works and yields credentials coturn accepts.
    const renewed = await s.turn(fresh.session_token);
    expect(renewed.status).toBe(200);
    const next = credentialFor(renewed.body, east);
    expect(await allocates(east.port, next.username, next.credential)).toBe(true);
    // The expired session token does not.
    expect((await s.turn()).status).toBe(401);
    s.client.close();
  });

  it("rotates the secret without downtime: old credentials work in the overlap, fail once it is removed", async () => {
    const s = await session();
    const before = credentialFor((await s.turn()).body, east);
    const secretsBefore = (await call(server.base, "GET", "/v1/operator/turn/secrets", { token: OPERATOR_TOKEN })).body;
    const oldActive = secretsBefore.secrets.find((x: { state: string }) => x.state === "active");

    const rotation = rotate("--wait", "15");
    // Overlap: the new secret signs, the old one is still in coturn's database.
    let during: IceGrant | undefined;
    for (let i = 0; i < 100; i++) {
      const list = (await call(server.base, "GET", "/v1/operator/turn/secrets", { token: OPERATOR_TOKEN })).body;
      if (list.secrets.some((x: { id: string; state: string }) => x.id === oldActive.id && x.state === "retiring")) {
        during = (await s.turn()).body;
        break;
      }
      await sleep(100);
    }
    expect(during).toBeDefined();
    const after = credentialFor(during!, east);
    expect(after.credential).not.toBe(before.credential);
    expect(
      await Promise.all([
        allocates(east.port, before.username, before.credential),
        allocates(east.port, after.username, after.credential),
      ]),
    ).toEqual([true, true]);

    const { stdout } = await rotation;
    expect(stdout).toContain("rotation complete");
    expect(stdout).not.toMatch(/[A-Za-z0-9_-]{43}/); // the new secret never appears in the output
    // The old secret is gone from coturn: its credentials fail although they have not expired yet.
    expect(Number(before.username.split(":")[0]) * 1000).toBeGreaterThan(Date.now());
    expect(await allocates(east.port, before.username, before.credential)).toBe(false);
    expect(await allocates(west.port, before.username, before.credential)).toBe(false);
    // Credentials signed with the new secret work on the SQLite and the Redis-backed nodes (fresh ones: allocations
    // take seconds each, and those from the overlap may be close to their expiry on a busy machine).
    const fresh = await session();
    const now = credentialFor((await fresh.turn()).body, east);
    expect(await allocates(east.port, now.username, now.credential)).toBe(true);
    expect(await allocates(shared.port, now.username, now.credential)).toBe(true);
    fresh.client.close();
    const list = (await call(server.base, "GET", "/v1/operator/turn/secrets", { token: OPERATOR_TOKEN })).body;
    expect(list.secrets.find((x: { id: string }) => x.id === oldActive.id).state).toBe("removed");
    expect(JSON.stringify(list)).not.toMatch(/"(secret|value)"/);
    s.client.close();
  });

  it("takes a dead node out of the answer and brings it back when it recovers", async () => {
    const s = await session("de-west");
    await west.stop();
    expect(await stunAnswers(west.port)).toBe(false);
    const nodes = async () =>
      (await call(server.base, "GET", "/v1/operator/turn/nodes", { token: OPERATOR_TOKEN })).body.nodes;
    const waitFor = async (predicate: (westHealthy: boolean) => boolean) => {
      for (let i = 0; i < 150; i++) {
        const west1 = (await nodes()).find((n: { id: string }) => n.id === "west-1");
        if (west1.probed && predicate(west1.healthy)) return west1;
        await sleep(200);
      }
      throw new Error("health did not change");
    };
    const down = await waitFor((healthy) => !healthy);
    expect(down.consecutive_failures).toBeGreaterThanOrEqual(2);
    expect((await s.turn(s.credentials.session_token)).body.ice_servers.map((x) => x.urls[0])).toEqual([
      `turn:127.0.0.1:${east.port}?transport=udp`,
    ]);

    await west.start();
    await waitFor((healthy) => healthy);
    const back = (await s.turn()).body.ice_servers.map((x) => x.urls[0]);
    expect(back[0]).toBe(`turn:127.0.0.1:${west.port}?transport=udp`);
    s.client.close();
  });

  it("carries video between two relay-only Chromium peers through coturn with credentials from the API", async () => {
    const [a, b] = await Promise.all([session("de-east"), session("de-east")]);
    const browser = await launchChromium();
    try {
      const peers = await Promise.all(
        [a, b].map(async (s) => {
          const tab = await (await browser.newContext()).newPage();
          await tab.goto(page.url);
          const iceServers = (await s.turn()).body.ice_servers;
          await tab.evaluate(async (servers) => {
            const pc = new RTCPeerConnection({ iceServers: servers, iceTransportPolicy: "relay" });
            const media = await navigator.mediaDevices.getUserMedia({
              video: { width: 320, height: 240 },
              audio: true,
            });
            for (const track of media.getTracks()) pc.addTrack(track, media);
            const w = window as unknown as { pc: RTCPeerConnection; candidates: RTCIceCandidateInit[] };
            w.pc = pc;
            w.candidates = [];
            pc.onicecandidate = (e) => e.candidate && w.candidates.push(e.candidate.toJSON());
          }, iceServers);
          return tab;
        }),
      );
      const [caller, callee] = peers as [(typeof peers)[0], (typeof peers)[0]];
      type W = { pc: RTCPeerConnection; candidates: RTCIceCandidateInit[] };
      const offer = await caller.evaluate(async () => {
        const pc = (window as unknown as W).pc;
        await pc.setLocalDescription(await pc.createOffer());
        return pc.localDescription!.toJSON();
      });
      const answer = await callee.evaluate(async (o) => {
        const pc = (window as unknown as W).pc;
        await pc.setRemoteDescription(o);
        await pc.setLocalDescription(await pc.createAnswer());
        return pc.localDescription!.toJSON();
      }, offer);
      await caller.evaluate(async (o) => (window as unknown as W).pc.setRemoteDescription(o), answer);
      // Trickle: relay candidates only, exchanged until both sides connect.
      const deadline = Date.now() + 60_000;
      const seen = [0, 0];
      let connected = false;
      while (!connected && Date.now() < deadline) {
        for (const [i, [from, to]] of [
          [caller, callee],
          [callee, caller],
        ].entries()) {
          const fresh = await from!.evaluate((n) => (window as unknown as W).candidates.slice(n), seen[i]!);
          seen[i]! += fresh.length;
          for (const candidate of fresh) {
            expect(candidate.candidate).toContain(" typ relay ");
            await to!.evaluate(async (c) => (window as unknown as W).pc.addIceCandidate(c), candidate);
          }
        }
        connected = (
          await Promise.all(peers.map((p) => p.evaluate(() => (window as unknown as W).pc.connectionState)))
        ).every((st) => st === "connected");
        await sleep(200);
      }
      expect(connected).toBe(true);
      // Let media flow, then read the stats of the selected pair and the received video.
      const stats = async () =>
        callee.evaluate(async () => {
          const report = await (window as unknown as W).pc.getStats();
          const all = [...report.values()] as Record<string, any>[];
          const pair = all.find((s) => s.type === "candidate-pair" && s.nominated && s.state === "succeeded");
          const local = pair && all.find((s) => s.id === pair.localCandidateId);
          const remote = pair && all.find((s) => s.id === pair.remoteCandidateId);
          const video = all.find((s) => s.type === "inbound-rtp" && s.kind === "video");
          return {
            local: local?.candidateType,
            remote: remote?.candidateType,
            bytes: video?.bytesReceived ?? 0,
            frames: video?.framesDecoded ?? 0,
          };
        });
      let result = await stats();
      for (let i = 0; i < 50 && result.frames <= 10; i++) {
        await sleep(200);
        result = await stats();
      }
      expect(result.local).toBe("relay");
      expect(result.remote).toBe("relay");
      expect(result.bytes).toBeGreaterThan(10_000);
      expect(result.frames).toBeGreaterThan(10);
    } finally {
      await browser.close();
      a.client.close();
      b.client.close();
    }
  });

  it("connects two browsers via client mesh media (no SFU), relay-only via coturn, both decoding video", async () => {
    const owner = await devLogin(server.base, "Gastgeberin");
    const room = await createRoom(server.base, owner);
    const tickets = [
      (await startRoom(server.base, owner, room.id)).ticket,
      (await startRoom(server.base, await devLogin(server.base, "Gast"), room.id)).ticket,
    ];
    const browser = await launchChromium();
    try {
      const pages = await Promise.all(
        tickets.map(async (ticket) => {
          const tab = await (await browser.newContext()).newPage();
          await tab.goto(page.url);
          await tab.evaluate(
            async ({ base, roomId, ticket }) => {
              type Any = any;
              const P: PlenumClient = (window as Any).Plenum;
              const signaling = await P.Signaling.open(base, roomId, ticket);
              const joined = await new Promise<JoinSuccess>((resolve) => {
                const off = signaling.on("control", "join_success", (payload) => {
                  off();
                  resolve(payload);
                });
              });
              // Listen from join_success on, before awaiting the camera, so no publisher_update is missed.
              const w = window as Any;
              w.remote = [];
              w.mesh = new P.MeshMedia(
                signaling,
                {
                  selfId: joined.participant_id,
                  iceServers: joined.modules.turn!.ice_servers,
                  iceTransportPolicy: "relay",
                  onRemoteStream: (participant: string, stream: string) => w.remote.push(`${participant}/${stream}`),
                  onRemoteEnded: () => {},
                },
                joined.modules.media!.publishers,
              );
              w.mesh.publish(
                "camera",
                await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: true }),
              );
            },
            { base: server.base, roomId: room.id, ticket },
          );
          return tab;
        }),
      );
      const decoded = (tab: (typeof pages)[0]) =>
        tab.evaluate(async () => {
          let frames = 0;
          for (const pc of (window as any).mesh.peerConnections() as RTCPeerConnection[]) {
            for (const s of (await pc.getStats()).values())
              if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded ?? 0;
          }
          return frames;
        });
      const deadline = Date.now() + 60_000;
      let frames = [0, 0];
      while (Date.now() < deadline && frames.some((f) => f <= 10)) {
        await sleep(500);
        frames = await Promise.all(pages.map(decoded));
      }
      expect(frames[0]).toBeGreaterThan(10);
      expect(frames[1]).toBeGreaterThan(10);
      expect(await pages[0]!.evaluate(() => (window as any).remote.length)).toBeGreaterThan(0);
    } finally {
      await browser.close();
    }
  });

  it("mints credentials coturn accepts with the same algorithm as our minting code (cross-check)", async () => {
    // A secret only this test knows, staged in the east node's database next to the fleet's (coturn reads the
    // database on every authentication): credentials our code mints from it must allocate — which also fails the
    // test when coturn is down — and those minted from any other secret must not.
    const secret = randomBytes(32).toString("base64url");
    const db = new SqliteSecretDatabase(join(dir, "east.db"), env.TURN_REALM!);
    await db.add(secret);
    try {
      const expiry = Math.floor(Date.now() / 1000) + 60;
      const minted = await mintTurnCredential(secret, "probe", expiry);
      expect(await allocates(east.port, minted.username, minted.credential)).toBe(true);
      const wrong = await mintTurnCredential("not-the-secret-not-the-secret-00", "probe", expiry);
      expect(await allocates(east.port, wrong.username, wrong.credential)).toBe(false);
    } finally {
      await db.remove(fingerprintOf(secret));
      await db.close();
    }
  });
});
