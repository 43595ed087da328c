import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type RunningServer, startServer } from "../../scripts/local-server";
import type { RoomDiagnostics, SfuNode } from "../../src/protocol";
import { sfuFailureText } from "../../src/sfu/janus";
import { call, createRoom, devLogin, openSignaling, startRoom } from "../helpers/client";
import type { FrameCollector } from "../helpers/collector";
import { type JanusNode, registerJanus, startJanus } from "./janus";

const OPERATOR_TOKEN = "e2e-operator-token-recovery-0123456789ab";
const WINDOW_SECONDS = 3;
const SETTINGS = {
  OPERATOR_TOKEN,
  RESUMPTION_WINDOW_SECONDS: String(WINDOW_SECONDS),
  SFU_POLL_INTERVAL_MS: "500",
  SFU_DEAD_AFTER_MS: "2500",
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(value)}`);
    await sleep(200);
  }
}

describe("a room and its Janus node, across kill -9 of workerd", () => {
  let janus: JanusNode;
  let server: RunningServer;
  let owner: string;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), "plenum-recovery-"));
    janus = await startJanus({ dir, apiPort: await freePort(), adminPort: await freePort(), rtpPorts: [33000, 33999] });
    server = await startServer({ env: SETTINGS });
    await registerJanus(janus, {
      api: base(),
      operatorToken: OPERATOR_TOKEN,
      id: "jena-1",
      region: "de",
      capacity: 50,
    });
    await until(nodes, (list) => list[0]?.alive === true, "node alive");
    owner = await devLogin(base(), "Olga");
  });

  afterAll(async () => {
    await server?.stop();
    await janus?.kill();
  });

  const base = () => server.base;
  const operator = { token: OPERATOR_TOKEN };
  const nodes = async () =>
    (await call<{ nodes: SfuNode[] }>(base(), "GET", "/v1/operator/sfu/nodes", operator)).body.nodes;
  const diagnostics = async (roomId: string) =>
    (await call<RoomDiagnostics>(base(), "GET", `/v1/rooms/${roomId}/diagnostics`, operator)).body;

  /** Joins and resolves at join_success. */
  async function enter(token: string, roomId: string): Promise<{ client: FrameCollector; joined: any }> {
    const { ticket } = await startRoom(base(), token, roomId);
    const client = await openSignaling(base(), roomId, ticket);
    return { client, joined: (await client.message("control", "join_success")).payload };
  }

  async function guestIn(roomId: string): Promise<FrameCollector> {
    const invite = await call(base(), "POST", `/v1/rooms/${roomId}/invites`, { token: owner, body: {} });
    const started = await call(base(), "POST", `/v1/rooms/${roomId}/start_invited`, {
      body: { invite_code: invite.body.invite_code, display_name: "Gast" },
    });
    const client = await openSignaling(base(), roomId, started.body.ticket);
    await client.message("control", "join_success");
    return client;
  }

  async function publish(client: FrameCollector): Promise<void> {
    client.send("media", { action: "publish", stream: "camera", audio: true, video: true });
    await client.message("media", "publisher_update");
  }

  /** What someone new finds in a room's media (they join, read join_success, and leave again). */
  async function mediaSeenByNewcomer(roomId: string, name: string): Promise<unknown> {
    const { client, joined } = await enter(await devLogin(base(), name), roomId);
    client.close();
    await client.waitClosed();
    return joined.modules.media;
  }

  it("tells a client that Janus refused its offer in a fixed text, never in Janus's words", async () => {
    const room = await createRoom(base(), owner, { name: "Fehler" });
    const { client, joined } = await enter(owner, room.id);
    expect(joined.modules.media.mode).toBe("sfu");
    await publish(client);
    const id = client.send("media", { action: "publish_offer", stream: "camera", sdp: "v=0\r\nkein gültiges SDP\r\n" });
    const answer = await client.next((f) => f.transaction_id === id);
    expect(answer.payload).toMatchObject({ message: "error", error: "sfu_error" });
    const fixed = new Set([undefined, ...Array.from({ length: 200 }, (_, i) => 400 + i)].map(sfuFailureText));
    expect(fixed.has((answer.payload as { text: string }).text)).toBe(true);
    expect(JSON.stringify(answer).toLowerCase()).not.toContain("janus");
    // What Janus said is in the server's log for the operator.
    await until(
      async () => server.output(),
      (out) => out.includes("janus request failed"),
      "logged",
    );
    client.close();
    await client.waitClosed();
  });

  it("lets everyone who does not come back leave: publishers, guests, mesh mode and the SFU placement", async () => {
    const { dataDir, port } = server;
    // A room that runs as a mesh (its node is draining, so it gets none) with a publisher and a guest.
    await call(base(), "POST", "/v1/operator/sfu/nodes/jena-1/drain", operator);
    const meshRoom = await createRoom(base(), owner, { name: "Ohne SFU" });
    const meshOwner = await enter(owner, meshRoom.id);
    expect(meshOwner.joined.modules.media.mode).toBe("mesh");
    await publish(meshOwner.client);
    await guestIn(meshRoom.id);
    await call(base(), "POST", "/v1/operator/sfu/nodes/jena-1/undrain", operator);

    // A room placed on the Janus node, with a publishing owner and a guest.
    const sfuRoom = await createRoom(base(), owner, { name: "Mit SFU" });
    const sfuOwner = await enter(owner, sfuRoom.id);
    expect(sfuOwner.joined.modules.media.mode).toBe("sfu");
    await publish(sfuOwner.client);
    await guestIn(sfuRoom.id);
    expect(await diagnostics(sfuRoom.id)).toMatchObject({ participants_connected: 2, participants_stored: 2 });
    // And one whose publisher comes straight back after the restart.
    const backRoom = await createRoom(base(), owner, { name: "Gleich zurück" });
    await publish((await enter(owner, backRoom.id)).client);
    expect((await nodes())[0]!.rooms).toBe(2);

    await server.crash();
    server = await startServer({ dataDir, port, env: SETTINGS });
    // Reading a room loads its object: those whose connections vanished get their window to come back.
    expect(await diagnostics(sfuRoom.id)).toMatchObject({ participants_connected: 0, participants_stored: 2 });
    expect((await diagnostics(meshRoom.id)).participants_stored).toBe(2);
    // Back within the window: the modules first hear that the vanished connection left, so the returner starts
    // afresh (no stream of theirs announced until they publish again).
    const back = await enter(owner, backRoom.id);
    expect(back.joined.modules.media.publishers).toEqual([]);
    back.client.close();
    await back.client.waitClosed();

    // Nobody came back. Once the window has passed: the placement is given back...
    await until(nodes, (list) => list[0]?.alive === true && list[0].rooms === 0, "placement released", 20_000);
    // ...the guests are forgotten (the owner, a registered user, keeps their row and role)...
    for (const room of [sfuRoom, meshRoom]) {
      await until(
        () => diagnostics(room.id),
        (d) => d.participants_stored === 1,
        "guest forgotten",
        20_000,
      );
    }
    // ...and newcomers find no ghost publisher; the former mesh room is placed on the SFU.
    const clean = (media: any) => media.mode === "sfu" && media.publishers.length === 0;
    let newcomer = 0;
    for (const room of [meshRoom, sfuRoom]) {
      const media = await until(() => mediaSeenByNewcomer(room.id, `Neu ${newcomer++}`), clean, "clean media", 20_000);
      expect(media).toEqual({ mode: "sfu", publishers: [], muted: false });
    }
  });
});
