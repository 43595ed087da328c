import { type ChildProcess, execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type RunningServer, startServer } from "../../scripts/local-server";
import type { IceGrant, Room, TurnSecretList } from "../../src/protocol";
import { call, createRoom, openSignaling, startRoom } from "../helpers/client";
import type { FrameCollector } from "../helpers/collector";
import { startTestIssuer } from "../helpers/issuer";
import { allocates, type Coturn, plenumCli, startCoturn, waitForPort } from "./coturn";

const run = promisify(execFile);
const OPERATOR_TOKEN = "e2e-fleet-operator-token-0123456789abcdef";
const SHARD_IDS = ["s1", "s2", "s3"] as const;
const ISSUER = "http://idp.test/realms/land";

interface Member {
  client: FrameCollector;
  id: string;
  sessionToken: string;
}

/** A real nginx running the generated `plenum.conf` of `conf`, from a main file that keeps its files there too. */
async function startNginx(conf: string): Promise<ChildProcess> {
  await writeFile(
    join(conf, "nginx.conf"),
    `daemon off;\npid ${conf}/nginx.pid;\nerror_log ${conf}/error.log;\nevents {}\nhttp {\n` +
      `  access_log ${conf}/access.log;\n  client_body_temp_path ${conf}/body;\n  proxy_temp_path ${conf}/proxy;\n` +
      `  include ${conf}/plenum.conf;\n}\n`,
  );
  return spawn("nginx", ["-c", join(conf, "nginx.conf"), "-p", conf], { stdio: "inherit" });
}

/**
 * Three share-nothing shards (each its own workerd and data directory) behind a real nginx configured by
 * `plenum nginx config`, with a real OIDC-style JWKS, a real coturn and the operator CLI for the whole fleet.
 */
describe("a fleet of three shards behind nginx", () => {
  let dir: string;
  let idp: Awaited<ReturnType<typeof startTestIssuer>>;
  let sign: (sub: string, name: string) => Promise<string>;
  let coturn: Coturn;
  let nginx: ChildProcess;
  let base: string;
  const shards = new Map<string, RunningServer>();
  const shardEnv = new Map<string, Record<string, string>>();
  let cliEnv: Record<string, string>;
  const rooms = new Map<string, Room>();
  let ownerToken: string;
  /** Created while s1 still ran alone, before it had a shard id: its id names no shard. */
  let roomFromBefore: Room;

  const startShard = async (id: string, dataDir?: string, port?: number) => {
    const server = await startServer({ dataDir, port, env: shardEnv.get(id)! });
    shards.set(id, server);
    return server;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "plenum-fleet-"));
    idp = await startTestIssuer(ISSUER);
    sign = (sub, name) =>
      idp.sign({ aud: "plenum", sub, tenant: "land", name, exp: Math.floor(Date.now() / 1000) + 3600 });

    const [turnPort, nginxPort, ...shardPorts] = await Promise.all([
      freePort(),
      freePort(),
      ...SHARD_IDS.map(freePort),
    ]);
    const fleet = SHARD_IDS.map((id, i) => `${id}=http://127.0.0.1:${shardPorts[i]}`).join(",");
    base = `http://127.0.0.1:${nginxPort}`;
    const turnNodes = JSON.stringify([{ id: "t1", region: "de", host: "127.0.0.1", port: turnPort, tls_port: null }]);
    cliEnv = {
      PLENUM_SHARDS: fleet,
      PLENUM_OPERATOR_TOKEN: OPERATOR_TOKEN,
      TURN_NODES: turnNodes,
      TURN_REALM: "fleet.test",
    };
    coturn = await startCoturn({
      nodeId: "t1",
      port: turnPort,
      cliPort: turnPort + 1,
      relayPorts: [41000, 41199],
      userdb: { sqlite: join(dir, "turn.db") },
      configPath: join(dir, "turnserver.conf"),
      env: cliEnv,
    });
    ownerToken = await sign("chair-1", "Vorsitz");
    const common = {
      OPERATOR_TOKEN,
      CLIENT_IP_HEADER: "x-real-ip",
      OIDC_ISSUERS: JSON.stringify([idp.config()]),
      TURN_NODES: turnNodes,
      TURN_REALM: "fleet.test",
      PLENUM_SHUTDOWN_GRACE_SECONDS: "2",
    };
    // The first shard's data directory was a single Plenum process's first, with a room from then.
    const single = await startServer({ port: shardPorts[0], env: common });
    try {
      roomFromBefore = await createRoom(single.base, ownerToken, { name: "Raum von vorher" });
    } finally {
      await single.stop();
    }
    for (const [i, id] of SHARD_IDS.entries()) {
      shardEnv.set(id, { ...common, PLENUM_SHARD: id, PLENUM_SHARDS: fleet });
      await startShard(id, i === 0 ? single.dataDir : undefined, shardPorts[i]);
    }

    // The proxy exactly as generated.
    const conf = join(dir, "nginx");
    await mkdir(conf);
    await plenumCli(["nginx", "config", "--listen", `127.0.0.1:${nginxPort}`, "--out", join(conf, "plenum.conf")], {
      ...cliEnv,
      CLIENT_IP_HEADER: "x-real-ip",
    });
    nginx = await startNginx(conf);
    await waitForPort(nginxPort);

    // The fleet's first TURN secret: staged on every shard and in coturn's database, then active everywhere.
    await plenumCli(["turn", "rotate", "--sqlite", join(dir, "turn.db")], cliEnv);
  });

  afterAll(async () => {
    nginx?.kill();
    await Promise.all([...shards.values()].map((s) => s.stop()));
    await coturn?.stop();
    idp?.close();
  });

  async function enter(token: string, roomId: string): Promise<Member> {
    const { ticket } = await startRoom(base, token, roomId);
    const client = await openSignaling(base, roomId, ticket);
    const joined = (await client.message("control", "join_success")).payload as any;
    return { client, id: joined.participant_id, sessionToken: joined.modules.turn?.session_token };
  }

  /** `plenum status`'s exit code and output (1 on drift). */
  const fleetStatus = () =>
    plenumCli(["status"], cliEnv).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (error: { code: number; stdout: string }) => ({ code: error.code, stdout: error.stdout }),
    );
  const shardOf = (room: Room) => room.id.slice(0, room.id.indexOf("."));
  const chatArrives = async (from: Member, to: Member, content: string) => {
    from.client.send("chat", { action: "send_message", content });
    await to.client.next((f) => f.payload.message === "message_sent" && (f.payload as any).content === content);
  };

  it("creates rooms on every shard through nginx and lists the owner's rooms from all of them", async () => {
    for (let attempt = 0; attempt < 30 && rooms.size < SHARD_IDS.length; attempt++) {
      const room = await createRoom(base, ownerToken, { name: `Raum ${attempt}` });
      expect(room.id).toMatch(/^s[123]\.[A-Za-z0-9_-]{22}$/);
      if (!rooms.has(shardOf(room))) rooms.set(shardOf(room), room);
    }
    expect([...rooms.keys()].sort()).toEqual([...SHARD_IDS]);
    // The room lives on its shard only: asked directly, another shard does not know it.
    const onS1 = rooms.get("s1")!;
    expect((await call(shards.get("s1")!.base, "GET", `/v1/rooms/${onS1.id}`, { token: ownerToken })).status).toBe(200);
    expect((await call(shards.get("s2")!.base, "GET", `/v1/rooms/${onS1.id}`, { token: ownerToken })).status).toBe(404);
    const listed = await call<{ rooms: Room[]; unavailable_shards?: string[] }>(base, "GET", "/v1/rooms", {
      token: ownerToken,
    });
    expect(listed.status).toBe(200);
    expect(listed.body.unavailable_shards).toBeUndefined();
    const ids = listed.body.rooms.map((r) => r.id);
    for (const room of rooms.values()) expect(ids).toContain(room.id);
    const created = listed.body.rooms.map((r) => r.created_at);
    expect(created).toEqual([...created].sort().reverse());
    // Each shard asked alone answers its own rooms only.
    const own = await call<{ rooms: Room[] }>(shards.get("s2")!.base, "GET", "/v1/rooms?scope=shard", {
      token: ownerToken,
    });
    expect(own.body.rooms.length).toBeGreaterThan(0);
    expect(own.body.rooms.every((r) => r.id.startsWith("s2."))).toBe(true);
  });

  it("serves the fleet over TLS with the generated --cert/--pkey configuration", async () => {
    const tls = join(dir, "nginx-tls");
    await mkdir(tls);
    const [cert, key] = [join(tls, "cert.pem"), join(tls, "key.pem")];
    await run("openssl", [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"],
      ...["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-keyout", key, "-out", cert],
    ]);
    const port = await freePort();
    await plenumCli(
      [
        ...["nginx", "config", "--listen", `127.0.0.1:${port}`, "--server-name", "localhost"],
        ...["--cert", cert, "--pkey", key, "--out", join(tls, "plenum.conf")],
      ],
      { ...cliEnv, CLIENT_IP_HEADER: "x-real-ip" },
    );
    const proxy = await startNginx(tls);
    try {
      await waitForPort(port);
      // Checked against the certificate it was given: the TLS listener serves the fleet's routes.
      const health = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const request = https.get(
          { host: "127.0.0.1", port, path: "/healthz", servername: "localhost", ca: readFileSync(cert) },
          (response) => {
            let body = "";
            response.on("data", (chunk) => (body += chunk));
            response.on("end", () => resolve({ status: response.statusCode!, body }));
          },
        );
        request.on("error", reject);
      });
      expect(health.status).toBe(200);
      expect(JSON.parse(health.body).shard).toMatch(/^s[123]$/);
    } finally {
      proxy.kill();
    }
  });

  it("serves a room from before shards (its id names none) from the first shard through nginx", async () => {
    expect(roomFromBefore.id).not.toContain(".");
    const fetched = await call<Room>(base, "GET", `/v1/rooms/${roomFromBefore.id}`, { token: ownerToken });
    expect(fetched.body.name).toBe("Raum von vorher");
    const listed = await call<{ rooms: Room[] }>(base, "GET", "/v1/rooms", { token: ownerToken });
    expect(listed.body.rooms.map((r) => r.id)).toContain(roomFromBefore.id);
    const chair = await enter(ownerToken, roomFromBefore.id);
    const member = await enter(await sign("member-0", "Frühes Mitglied"), roomFromBefore.id);
    await chatArrives(member, chair, "wie früher");
    const grant = await call<IceGrant>(base, "GET", `/v1/rooms/${roomFromBefore.id}/turn`, {
      headers: { authorization: `Bearer ${member.sessionToken}` },
    });
    expect(grant.status).toBe(200);
    for (const m of [chair, member]) m.client.close();
  });

  it("runs chat, moderation, a vote and TURN through nginx in rooms on every shard", async () => {
    const memberToken = await sign("member-1", "Mitglied");
    const guestToken = await sign("visitor-1", "Besuch");
    for (const room of rooms.values()) {
      const chair = await enter(ownerToken, room.id);
      const member = await enter(memberToken, room.id);
      const visitor = await enter(guestToken, room.id);
      await chatArrives(member, chair, `hallo ${room.id}`);
      await chatArrives(chair, member, `willkommen ${room.id}`);

      chair.client.send("moderation", { action: "kick", target: visitor.id });
      expect((await visitor.client.waitClosed()).code).toBe(4000);

      chair.client.send("legal_vote", {
        action: "start",
        name: `Beschluss ${room.id}`,
        kind: "roll_call",
        allowed_participants: [chair.id, member.id],
        enable_abstain: false,
        rule: { quorum: { numerator: 1, denominator: 2 }, majority: "simple" },
        auto_close: false,
      });
      const voteId = ((await chair.client.message("legal_vote", "started")).payload as any).vote_id;
      await member.client.message("legal_vote", "started");
      for (const voter of [chair, member]) {
        voter.client.send("legal_vote", { action: "vote", vote_id: voteId, option: "yes" });
        await voter.client.message("legal_vote", "voted");
      }
      chair.client.send("legal_vote", { action: "stop", vote_id: voteId });
      const stopped = await chair.client.message("legal_vote", "stopped");
      expect(stopped.payload).toMatchObject({ result: { yes: 2, no: 0, outcome: "accepted" } });
      const protocol = await call(base, "GET", `/v1/rooms/${room.id}/votes/${voteId}/protocol`, { token: ownerToken });
      expect(protocol.status).toBe(200);

      // TURN credentials for this room's session, from its shard through nginx, open a relay on coturn.
      expect(member.sessionToken).toEqual(expect.any(String));
      const grant = await call<IceGrant>(base, "GET", `/v1/rooms/${room.id}/turn`, {
        headers: { authorization: `Bearer ${member.sessionToken}` },
      });
      expect(grant.status).toBe(200);
      const server = grant.body.ice_servers[0]!;
      expect(await allocates(coturn.port, server.username, server.credential)).toBe(true);
      for (const m of [chair, member]) m.client.close();
    }
  });

  it("rotates the TURN secret on every shard with the CLI; status reports drift until the shards agree", async () => {
    const keyrings = async () =>
      Promise.all(
        SHARD_IDS.map(async (id) => {
          const list = await call<TurnSecretList>(shards.get(id)!.base, "GET", "/v1/operator/turn/secrets", {
            token: OPERATOR_TOKEN,
          });
          return list.body.secrets.filter((s) => s.state === "active").map((s) => s.fingerprint);
        }),
      );
    const [before] = await keyrings();
    await plenumCli(["turn", "rotate", "--sqlite", join(dir, "turn.db"), "--wait", "1"], cliEnv);
    const after = await keyrings();
    expect(after[0]).toHaveLength(1);
    expect(after[0]).not.toEqual(before);
    expect(after[1]).toEqual(after[0]);
    expect(after[2]).toEqual(after[0]);
    expect((await fleetStatus()).stdout).toContain("no drift");

    // A rotation that fails halfway (coturn's database cannot be written) takes the staged secret back out.
    const halfway = await plenumCli(["turn", "rotate", "--sqlite", join(dir, "missing", "turn.db")], cliEnv).then(
      () => undefined,
      (error: { code: number; stdout: string }) => error,
    );
    expect(halfway?.code).toBe(1);
    for (const id of SHARD_IDS) {
      expect(halfway?.stdout).toContain(`rotation stopped: took the new secret back out of shard ${id}`);
    }
    expect(await keyrings()).toEqual(after);
    expect((await fleetStatus()).stdout).toContain("no drift");

    // Drift: s2 misses a secret s1 and s3 have (staged there by hand), s3 has other secrets for a Janus node.
    const stray = "t".repeat(43);
    const staged = await Promise.all(
      ["s1", "s3"].map((id) =>
        call<{ fingerprint: string }>(shards.get(id)!.base, "POST", "/v1/operator/turn/secrets", {
          token: OPERATOR_TOKEN,
          body: { secret: stray },
        }),
      ),
    );
    expect(staged.map((r) => r.status)).toEqual([201, 201]);
    const janus = { JANUS_API_SECRET: "janus-api-secret-0123456789", JANUS_ADMIN_SECRET: "janus-admin-secret" };
    const addNode = (env: Record<string, string>, api?: string) =>
      plenumCli(
        [
          "sfu",
          "add",
          ...(api ? ["--api", api] : []),
          ...["--id", "j1", "--region", "de", "--capacity", "10"],
          ...["--janus", "http://127.0.0.1:9/janus", "--admin", "http://127.0.0.1:9/admin"],
        ],
        { ...cliEnv, ...env },
      );
    for (const id of ["s1", "s2"]) await addNode(janus, shards.get(id)!.base);
    await addNode({ ...janus, JANUS_ADMIN_SECRET: "another-admin-secret" }, shards.get("s3")!.base);
    const drifted = await fleetStatus();
    expect(drifted.code).toBe(1);
    expect(drifted.stdout).toContain(
      `drift: TURN secret ${staged[0]!.body.fingerprint}: staged on s1, s3; missing on s2`,
    );
    expect(drifted.stdout).toMatch(/^drift: SFU node j1: \{[^\n]*\} on s1, s2; \{[^\n]*\} on s3$/m);
    expect(drifted.stdout.match(/^drift:/gm)).toHaveLength(2);

    // Repair as the README says: rotating again replaces every secret (the stray one too), and the node is
    // registered again on every shard from one command.
    await plenumCli(["turn", "rotate", "--sqlite", join(dir, "turn.db"), "--wait", "1"], cliEnv);
    await plenumCli(["sfu", "remove", "j1"], cliEnv);
    await addNode(janus);
    expect((await fleetStatus()).stdout).toContain("no drift");
    await plenumCli(["sfu", "remove", "j1"], cliEnv);
  });

  it("keeps other shards' meetings going through a kill -9 of one; its rooms come back with their state", async () => {
    const memberToken = await sign("member-2", "Zweites Mitglied");
    const meetings = new Map<string, [Member, Member]>();
    for (const [id, room] of rooms)
      meetings.set(id, [await enter(ownerToken, room.id), await enter(memberToken, room.id)]);
    const killed = shards.get("s2")!;
    const { dataDir, port } = killed;
    await killed.crash();
    const [chairOnS2] = meetings.get("s2")!;
    await chairOnS2.client.waitClosed();
    for (const id of ["s1", "s3"]) {
      const [chair, member] = meetings.get(id)!;
      await chatArrives(chair, member, `noch da auf ${id}`);
      await chatArrives(member, chair, `ja, ${id}`);
    }
    // Routes any shard answers skip the dead one.
    expect((await call(base, "GET", "/healthz")).status).toBe(200);
    const listed = await call<{ rooms: Room[]; unavailable_shards?: string[] }>(base, "GET", "/v1/rooms", {
      token: ownerToken,
    });
    expect(listed.status).toBe(200);
    expect(listed.body.unavailable_shards).toEqual(["s2"]);
    expect(listed.body.rooms.map((r) => r.id)).toEqual(
      expect.arrayContaining([rooms.get("s1")!.id, rooms.get("s3")!.id]),
    );
    // The dead shard's rooms get a JSON answer from the proxy, not its HTML error page.
    const unavailable = await call(base, "GET", `/v1/rooms/${rooms.get("s2")!.id}`, { token: ownerToken });
    expect(unavailable.status).toBe(503);
    expect(unavailable.body.error.code).toBe("shard_unavailable");
    expect(unavailable.headers.get("retry-after")).toBe("5");
    // A rotation that cannot reach every shard changes nothing.
    const secretsOf = async (id: string) =>
      (
        await call<TurnSecretList>(shards.get(id)!.base, "GET", "/v1/operator/turn/secrets", { token: OPERATOR_TOKEN })
      ).body.secrets.filter((s) => s.state !== "removed");
    const before = await secretsOf("s1");
    const rotation = await plenumCli(["turn", "rotate", "--sqlite", join(dir, "turn.db"), "--wait", "1"], cliEnv).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(rotation?.code).toBe(1);
    expect(rotation?.stderr).toContain(shards.get("s2")!.base);
    expect(await secretsOf("s1")).toEqual(before);

    await startShard("s2", dataDir, port);
    const room = rooms.get("s2")!;
    expect((await call<Room>(base, "GET", `/v1/rooms/${room.id}`, { token: ownerToken })).body.name).toBe(room.name);
    const { ticket } = await startRoom(base, ownerToken, room.id);
    const back = await openSignaling(base, room.id, ticket);
    const joined = (await back.message("control", "join_success")).payload as any;
    const history = joined.modules.chat.messages.map((m: { content: string }) => m.content);
    expect(history).toContain(`hallo ${room.id}`);
    back.close();
    expect((await fleetStatus()).stdout).toContain("no drift");
    for (const [chair, member] of meetings.values()) for (const m of [chair, member]) m.client.close();
  });
});
