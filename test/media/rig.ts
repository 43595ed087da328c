import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { NETNS_INTERFACE, NETNS_MEDIA_IP } from "../../scripts/in-netns";
import { freePort, type RunningServer, startServer } from "../../scripts/local-server";
import type { JoinSuccess, SfuNode, StartResponse } from "../../src/protocol";
import { blankPageServer, launchChromium, type PlenumClient } from "../e2e/browser";
import { type Coturn, plenumCli, startCoturn } from "../e2e/coturn";
import { type JanusNode, registerJanus, startJanus } from "../e2e/janus";
import { call, createRoom, devLogin, startRoom } from "../helpers/client";

export const OPERATOR_TOKEN = "media-operator-token-0123456789abcdef01";
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The media rig inside the test's network namespace: two Janus nodes (ICE on the veth interface), one coturn
 * relaying on the veth's other end and allowed to reach the SFU's address, a workerd started as `npm start` does,
 * a page server on 127.0.0.1 (a secure context) and one Chromium whose contexts are the participants.
 */
export interface MediaRig {
  server: RunningServer;
  janus: Record<string, JanusNode>;
  coturn: Coturn;
  browser: Browser;
  pageUrl: string;
  stop(): Promise<void>;
}

export const JANUS_NODES = ["erfurt-1", "gera-1"] as const;

export async function startMediaRig(env: Record<string, string> = {}): Promise<MediaRig> {
  const dir = await mkdtemp(join(tmpdir(), "plenum-media-"));
  const page = await blankPageServer();
  const janus: Record<string, JanusNode> = {};
  for (const [i, id] of JANUS_NODES.entries()) {
    const [apiPort, adminPort] = [await freePort(), await freePort()];
    janus[id] = await startJanus({
      dir: join(dir, id),
      apiPort,
      adminPort,
      iceInterface: NETNS_INTERFACE,
      rtpPorts: [30000 + i * 1000, 30999 + i * 1000],
    });
  }
  const turnPort = await freePort();
  const turnNodes = [{ id: "turn-1", region: "de-central", host: NETNS_MEDIA_IP, port: turnPort, tls_port: null }];
  const turnEnv = {
    TURN_NODES: JSON.stringify(turnNodes),
    TURN_REALM: "plenum.media",
    PLENUM_OPERATOR_TOKEN: OPERATOR_TOKEN,
  };
  const coturn = await startCoturn({
    nodeId: "turn-1",
    port: turnPort,
    cliPort: await freePort(),
    relayPorts: [42000, 42999],
    userdb: { sqlite: join(dir, "turn.db") },
    configPath: join(dir, "turn.conf"),
    env: turnEnv,
    // On the SFU's own address: relayed to from the veth's other end, Janus never answered (seen here).
    ip: NETNS_MEDIA_IP,
    allowPeers: [NETNS_MEDIA_IP],
  });
  const server = await startServer({
    env: {
      OPERATOR_TOKEN,
      ALLOWED_ORIGINS: page.origin,
      TURN_NODES: JSON.stringify(turnNodes),
      TURN_REALM: "plenum.media",
      SFU_POLL_INTERVAL_MS: "500",
      SFU_DEAD_AFTER_MS: "2500",
      ...env,
    },
  });
  await plenumCli(["turn", "rotate", "--api", server.base, "--sqlite", join(dir, "turn.db")], turnEnv);
  for (const id of JANUS_NODES) {
    const node = { api: server.base, operatorToken: OPERATOR_TOKEN, id, region: "de-central", capacity: 500 };
    await registerJanus(janus[id]!, node);
  }

  const deadline = Date.now() + 30_000;
  while (!(await sfuNodes(server.base)).every((n) => n.alive)) {
    if (Date.now() > deadline) throw new Error("SFU nodes never came alive");
    await sleep(200);
  }
  const browser = await launchChromium();
  return {
    server,
    janus,
    coturn,
    browser,
    pageUrl: page.url,
    async stop() {
      await browser.close().catch(() => undefined);
      await server.stop();
      await coturn.stop();
      await Promise.all(Object.values(janus).map((j) => j.kill()));
      page.close();
    },
  };
}

export async function sfuNodes(base: string): Promise<SfuNode[]> {
  return (await call<{ nodes: SfuNode[] }>(base, "GET", "/v1/operator/sfu/nodes", { token: OPERATOR_TOKEN })).body
    .nodes;
}

/**
 * A room and a start ticket (and participant id) for each named participant: registered users (the first owns the
 * room), then guests who come with an invite.
 */
export async function roomWithTickets(
  base: string,
  names: string[],
  guests: string[] = [],
): Promise<{ roomId: string; tickets: string[]; ids: string[] }> {
  const owner = await devLogin(base, names[0]!);
  const room = await createRoom(base, owner);
  const started = [await startRoom(base, owner, room.id)];
  for (const name of names.slice(1)) started.push(await startRoom(base, await devLogin(base, name), room.id));
  for (const name of guests) {
    const invite = await call<{ invite_code: string }>(base, "POST", `/v1/rooms/${room.id}/invites`, {
      token: owner,
      body: {},
    });
    const body = { invite_code: invite.body.invite_code, display_name: name };
    started.push((await call<StartResponse>(base, "POST", `/v1/rooms/${room.id}/start_invited`, { body })).body);
  }
  return { roomId: room.id, tickets: started.map((s) => s.ticket), ids: started.map((s) => s.participant_id) };
}

/**
 * One participant in its own browser context: signalling with the ticket, media through the client module the
 * room's mode asks for, camera and microphone (fake devices, 320x240) published. Counts sfu_changed events.
 */
export async function joinInBrowser(
  rig: MediaRig,
  roomId: string,
  ticket: string,
  relay = false,
): Promise<{ page: Page; mode: string }> {
  const context = await rig.browser.newContext();
  // Scripts run through tsx (the benchmark) wrap named functions in esbuild's __name helper, page code included.
  await context.addInitScript({ content: "globalThis.__name = (fn) => fn;" });
  const page = await context.newPage();
  await page.goto(rig.pageUrl);
  const mode = await page.evaluate(
    async ({ base, roomId, ticket, relay }) => {
      type Any = any;
      const w = window as Any;
      const P: PlenumClient = w.Plenum;
      const signaling = await P.Signaling.open(base, roomId, ticket);
      const joined = await new Promise<JoinSuccess>((resolve) => {
        const off = signaling.on("control", "join_success", (payload) => {
          off();
          resolve(payload);
        });
      });
      w.signaling = signaling;
      w.sfuChanges = 0;
      w.remote = {};
      signaling.on("media", "sfu_changed", () => w.sfuChanges++);
      w.log = [];
      // Media frames as received, printed when media does not arrive.
      signaling.onNamespace("media", (payload) =>
        w.log.push(JSON.stringify({ ...payload, sdp: "sdp" in payload ? payload.sdp?.length : undefined })),
      );
      const state = joined.modules.media!;
      w.media = P.joinMedia(signaling, state, {
        selfId: joined.participant_id,
        iceServers: joined.modules.turn?.ice_servers ?? [],
        iceTransportPolicy: relay ? "relay" : "all",
        // Played as a page would: Chromium decodes received audio only for a sink that plays it.
        onRemoteStream: (participant: string, stream: string, media: MediaStream) => {
          const id = `${participant}/${stream}`;
          let element = w.remote[id] as HTMLAudioElement | undefined;
          if (!element) {
            element = document.createElement("audio");
            w.remote[id] = element;
            document.body.append(element);
          }
          element.srcObject = media;
          void element.play().catch(() => undefined);
        },
        onRemoteEnded: (participant: string, stream: string) => {
          w.remote[`${participant}/${stream}`]?.remove();
          delete w.remote[`${participant}/${stream}`];
        },
      });
      w.camera = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240 }, audio: true });
      w.media.publish("camera", w.camera);
      return state.mode;
    },
    { base: rig.server.base, roomId, ticket, relay },
  );
  return { page, mode };
}

export interface ReceivedMedia {
  /** Inbound video streams with decoded frames. */
  videos: number;
  /** Inbound audio streams with decoded samples. */
  audios: number;
  frames: number;
  /** Candidate types of the selected pairs (local side) of every connection. */
  localCandidates: string[];
}

/** What a participant's page receives now, from getStats of its current connections. */
export function received(page: Page): Promise<ReceivedMedia> {
  return page.evaluate(async () => {
    const result = { videos: 0, audios: 0, frames: 0, localCandidates: [] as string[] };
    for (const pc of (window as any).media.peerConnections() as RTCPeerConnection[]) {
      const stats = [...(await pc.getStats()).values()];
      for (const s of stats) {
        if (s.type === "inbound-rtp" && s.kind === "video" && (s.framesDecoded ?? 0) > 0) {
          result.videos += 1;
          result.frames += s.framesDecoded;
        }
        if (s.type === "inbound-rtp" && s.kind === "audio" && (s.totalSamplesReceived ?? 0) > 0) result.audios += 1;
        if (s.type === "transport" && s.selectedCandidatePairId) {
          const pair = stats.find((p) => p.id === s.selectedCandidatePairId);
          const local = pair && stats.find((c) => c.id === pair.localCandidateId);
          if (local) result.localCandidates.push(local.candidateType);
        }
      }
    }
    return result;
  });
}

/** Waits until every page receives `videos` decoding video streams and as many audio streams. */
export async function untilEveryoneReceives(
  pages: Page[],
  videos: number,
  timeoutMs = 90_000,
): Promise<ReceivedMedia[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const all = await Promise.all(pages.map(received));
    if (all.every((r) => r.videos >= videos && r.audios >= videos)) return all;
    if (Date.now() > deadline) {
      for (const page of pages) console.log((await page.evaluate(() => (window as any).log as string[])).join("\n"));
      throw new Error(`media did not arrive: ${JSON.stringify(all)}`);
    }
    await sleep(250);
  }
}
