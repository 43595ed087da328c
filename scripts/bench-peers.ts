/**
 * Peer servers that `npm run bench` (scripts/bench.ts) measures next to Plenum in the same run: a raw `ws` floor,
 * Socket.IO 4.8 and a minimal Durable Object in workerd (the floor of workerd's own per-socket cost). The two Node
 * peers run as child processes of this same file (`node --import tsx bench-peers.ts raw-ws-server`), so their RSS and
 * CPU time are theirs alone; each prints `ready <port>` once it listens.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import workerd from "workerd";
import type { WebSocket } from "ws";
import { collectGarbage } from "./inspector";
import { freePort } from "./local-server";

export interface PeerServer {
  /** Base URL, e.g. ws://127.0.0.1:PORT (raw ws, minimal DO) or http://127.0.0.1:PORT (Socket.IO). */
  url: string;
  /** The server process's resident memory in bytes (VmRSS from /proc/<pid>/status). */
  rss(): number;
  /** CPU time (user + system) the server process used so far, in ms, from /proc/<pid>/stat. */
  cpuMs(): number;
  /** A full garbage collection (workerd's, through its inspector): memory then counts what is alive. */
  /** A full GC (workerd, through its inspector); the JS heap in use after it. */
  collectGarbage?(): Promise<number>;
  stop(): Promise<void>;
}

const thisFile = fileURLToPath(import.meta.url);
const root = join(import.meta.dirname, "..");
const STARTUP_TIMEOUT_MS = 30_000;
/** workerd waits for open WebSockets to drain on SIGTERM; a benchmark has no use for that. */
const KILL_AFTER_MS = 3_000;
type NodePeerMode = "raw-ws-server" | "socket-io-server";

export function processRss(pid: number): number {
  const rssKb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  if (rssKb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(rssKb) * 1024;
}

let clockTicksPerSecond: number | undefined;

export function processCpuMs(pid: number): number {
  clockTicksPerSecond ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Field 2 (the command name) is parenthesised and may hold spaces: count from its closing parenthesis, after
  // which field 3 comes first, so utime (field 14) and stime (field 15) are at indexes 11 and 12.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond;
}

interface Launched {
  pid: number;
  /** What the process printed so far (stdout and stderr). */
  output(): string;
  exited(): boolean;
  stop(): Promise<void>;
}

function launch(command: string, args: string[], cleanUp = async () => {}): Launched {
  const child: ChildProcess = spawn(command, args, { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (data) => (output += data));
  child.stderr!.on("data", (data) => (output += data));
  const exit = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    pid: child.pid!,
    output: () => output,
    exited,
    async stop() {
      if (!exited()) {
        child.kill("SIGTERM");
        const forceKill = setTimeout(() => child.kill("SIGKILL"), KILL_AFTER_MS);
        await exit;
        clearTimeout(forceKill);
      }
      await cleanUp();
    },
  };
}

async function waitUntilReady(name: string, launched: Launched, ready: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (!(await ready())) {
    if (launched.exited() || Date.now() > deadline) {
      await launched.stop();
      throw new Error(`${name} did not start:\n${launched.output()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function peerServer(url: string, launched: Launched): PeerServer {
  return {
    url,
    rss: () => processRss(launched.pid),
    cpuMs: () => processCpuMs(launched.pid),
    stop: () => launched.stop(),
  };
}

async function startNodePeer(mode: NodePeerMode, scheme: "ws" | "http"): Promise<PeerServer> {
  const launched = launch(process.execPath, ["--import", "tsx", thisFile, mode]);
  const port = () => /^ready (\d+)$/m.exec(launched.output())?.[1];
  await waitUntilReady(mode, launched, async () => port() !== undefined);
  return peerServer(`${scheme}://127.0.0.1:${port()}`, launched);
}

/** Clients connect to `${url}/?room=R`, get a welcome with the roster and send `{"type":"chat","content"}`. */
export function startRawWsServer(): Promise<PeerServer> {
  return startNodePeer("raw-ws-server", "ws");
}

/** Clients emit "join" `{ room }` (acked with `{ id, participants }`) and "chat" `{ content }`; websocket only. */
export function startSocketIoServer(): Promise<PeerServer> {
  return startNodePeer("socket-io-server", "http");
}

const MINIMAL_WORKER = `import { DurableObject } from "cloudflare:workers";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const randomId = (length) => Array.from(crypto.getRandomValues(new Uint8Array(length)), (b) => ALPHABET[b & 63])
  .join("");

export class MinimalRoom extends DurableObject {
  fetch() {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    // Shaped like Plenum's attachment, so the floor holds the same per-socket state.
    server.serializeAttachment({ participantId: randomId(22), connectionId: randomId(16) });
    server.send('{"type":"welcome"}');
    this.sockets = undefined;
    return new Response(null, { status: 101, webSocket: client });
  }
  // The floor of a fan-out in workerd: one frame serialized once, sent to every socket of the room, from a socket
  // list and sender ids kept in memory (no attachment read or socket array made per message).
  webSocketMessage(ws, message) {
    const parsed = JSON.parse(message);
    if (parsed.type !== "chat") return;
    this.senders ??= new WeakMap();
    let from = this.senders.get(ws);
    if (from === undefined) this.senders.set(ws, (from = ws.deserializeAttachment().participantId));
    const frame = JSON.stringify({ type: "chat", from, content: parsed.content });
    this.sockets ??= this.ctx.getWebSockets();
    for (const socket of this.sockets) socket.send(frame);
  }
  // The floor of a request that asks an object something (as GET /v1/turn asks its room).
  ping() {
    return { ok: true };
  }
  webSocketClose(ws, code) {
    this.sockets = undefined;
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code);
    } catch {
      // already closed
    }
  }
}

// Derived once, as Plenum keeps its objects' ids.
let rpcRoom;

export default {
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    if (pathname === "/healthz") return new Response("ok");
    if (pathname === "/rpc") {
      rpcRoom ??= env.ROOMS.idFromName("rpc");
      return Response.json(await env.ROOMS.get(rpcRoom).ping());
    }
    const room = /^\\/rooms\\/([^/]+)\\/ws$/.exec(pathname)?.[1];
    if (request.method !== "GET" || !room || request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return new Response("not found", { status: 404 });
    }
    return env.ROOMS.get(env.ROOMS.idFromName(room)).fetch(request);
  },
};
`;

function minimalConfig(listen: string, stateDir: string): string {
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "minimal", worker = .minimal),
    (name = "state", disk = (path = ${JSON.stringify(stateDir)}, writable = true)),
  ],
  sockets = [(name = "http", address = ${JSON.stringify(listen)}, http = (), service = "minimal")],
);

const minimal :Workerd.Worker = (
  modules = [(name = "worker.js", esModule = embed "worker.js")],
  compatibilityDate = "2026-04-26",
  compatibilityFlags = ["no_web_socket_compression"],
  bindings = [(name = "ROOMS", durableObjectNamespace = "MinimalRoom")],
  durableObjectNamespaces = [(className = "MinimalRoom", uniqueKey = "minimal-room", enableSql = true)],
  durableObjectStorage = (localDisk = "state"),
);
`;
}

/** workerd itself (no supervisor), so the pid is workerd's; clients connect to `${url}/rooms/<room>/ws`. */
export async function startMinimalDoServer(): Promise<PeerServer> {
  const dir = await mkdtemp(join(tmpdir(), "plenum-minimal-do-"));
  const stateDir = join(dir, "state");
  await mkdir(stateDir);
  await writeFile(join(dir, "worker.js"), MINIMAL_WORKER);
  const configPath = join(dir, "workerd.capnp");
  const port = await freePort();
  const inspector = `127.0.0.1:${await freePort()}`;
  await writeFile(configPath, minimalConfig(`127.0.0.1:${port}`, stateDir));
  const launched = launch(workerd.default, ["serve", configPath, `--inspector-addr=${inspector}`], () =>
    rm(dir, { recursive: true, force: true }),
  );
  await waitUntilReady("minimal Durable Object (workerd)", launched, async () => {
    try {
      return (await fetch(`http://127.0.0.1:${port}/healthz`)).ok;
    } catch {
      return false; // not listening yet
    }
  });
  return { ...peerServer(`ws://127.0.0.1:${port}`, launched), collectGarbage: () => collectGarbage(inspector) };
}

async function serveRawWs(): Promise<void> {
  const { WebSocketServer } = await import("ws");
  const server = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  /** Room name → its sockets and their ids. */
  const rooms = new Map<string, Map<WebSocket, string>>();
  let lastId = 0;
  server.on("connection", (socket, request) => {
    const roomName = new URL(request.url ?? "/", "http://localhost").searchParams.get("room") ?? "";
    const room = rooms.get(roomName) ?? new Map<WebSocket, string>();
    rooms.set(roomName, room);
    const id = String(++lastId);
    socket.send(JSON.stringify({ type: "welcome", id, participants: [...room.values()] }));
    room.set(socket, id);
    socket.on("message", (data, isBinary) => {
      const message = isBinary ? undefined : (JSON.parse(String(data)) as { type?: string; content?: string });
      if (message?.type !== "chat") return;
      const frame = JSON.stringify({ type: "chat", from: id, content: message.content });
      for (const peer of room.keys()) peer.send(frame);
    });
    socket.on("close", () => {
      room.delete(socket);
      if (room.size === 0) rooms.delete(roomName);
    });
  });
  server.on("listening", () => console.log(`ready ${(server.address() as { port: number }).port}`));
}

async function serveSocketIo(): Promise<void> {
  const { Server } = await import("socket.io");
  const httpServer = createServer();
  const io = new Server(httpServer, { transports: ["websocket"], perMessageDeflate: false });
  io.on("connection", (socket) => {
    let joinedRoom: string | undefined;
    socket.on("join", ({ room }: { room: string }, ack: (reply: { id: string; participants: string[] }) => void) => {
      // The adapter's own map: cheaper than fetchSockets(), which builds a remote-capable view of each socket.
      const participants = [...(io.of("/").adapter.rooms.get(room) ?? [])];
      socket.join(room);
      joinedRoom = room;
      ack({ id: socket.id, participants });
    });
    socket.on("chat", ({ content }: { content: string }) => {
      if (joinedRoom !== undefined) io.to(joinedRoom).emit("chat", { from: socket.id, content });
    });
  });
  httpServer.listen(0, "127.0.0.1", () => console.log(`ready ${(httpServer.address() as { port: number }).port}`));
}

// Imported by the benchmark this file only exports; spawned by startNodePeer it is the server.
if (process.argv[1] === thisFile) {
  const mode = process.argv[2] as NodePeerMode;
  if (mode === "raw-ws-server") await serveRawWs();
  else if (mode === "socket-io-server") await serveSocketIo();
}
