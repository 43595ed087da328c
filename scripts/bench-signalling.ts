/**
 * The signalling part of `npm run bench` (scripts/bench.ts). Plenum is measured next to floors started in the same
 * run (scripts/bench-peers.ts): a raw `ws` server and Socket.IO for joins and fan-out, a minimal Durable Object in
 * workerd for memory. Every figure is one function run for each system, parameterised by a `System`:
 * - join storm: N participants into one room, from the first start to the last join (Plenum: REST start + ticket +
 *   upgrade + join_success; raw ws: connect + welcome; Socket.IO: connect + join ack); dev-login tokens are fetched
 *   beforehand. The sender joins first and counts as one of the N.
 * - fan-out: one sender, N − 1 recipients in client processes; warm-up messages, then BENCH_MESSAGES spaced ones;
 *   each message's latency is the time until its last recipient has it; server CPU per measured message.
 * - memory: RSS above the idle server per participant with BENCH_MEMORY_N participants in one room, a fresh server
 *   per run.
 * - many rooms: BENCH_ROOMS rooms of BENCH_ROOM_SIZE on one Plenum; each room's owner sends one message a second;
 *   then RSS once the rooms were silent long enough to hibernate.
 * Fan-out and Plenum's and the minimal DO's memory are the median of BENCH_RUNS runs.
 */
import { type ChildProcess, execFileSync, fork } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { io } from "socket.io-client";
import WebSocket from "ws";
import type { RoomDiagnostics } from "../src/protocol";
import { call, createRoom, devLogin, openSignaling, startRoom } from "../test/helpers/client";
import {
  type PeerServer,
  processCpuMs,
  processRss,
  startMinimalDoServer,
  startRawWsServer,
  startSocketIoServer,
} from "./bench-peers";
import { collectGarbage } from "./inspector";
import { freePort, startServer } from "./local-server";

export const PROCESSES = Math.max(2, Math.min(4, availableParallelism()));
const setting = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
export const SETTINGS = {
  sizes: (process.env.BENCH_SIZES ?? "200,500").split(",").map(Number),
  messages: setting("BENCH_MESSAGES", 200),
  spacingMs: setting("BENCH_SPACING_MS", 40),
  runs: setting("BENCH_RUNS", 3),
  memoryN: setting("BENCH_MEMORY_N", 2000),
  rooms: setting("BENCH_ROOMS", 200),
  roomSize: setting("BENCH_ROOM_SIZE", 10),
  roomSeconds: setting("BENCH_ROOM_SECONDS", 60),
  /** Joins in flight per client process (Plenum and the peers alike). */
  joinConcurrency: setting("BENCH_JOIN_CONCURRENCY", 8),
  processes: PROCESSES,
};
const WARM_UP_MESSAGES = 10;
const MEMORY_SETTLE_MS = 2000;
/** How long the many rooms stay silent before their RSS counts as hibernated (workerd evicts after 10 s idle). */
const HIBERNATION_WAIT_MS = 20_000;
/** How long the last message of a phase may take before the ones still missing count as lost. */
const DELIVERY_TIMEOUT_MS = 30_000;
const TOKEN_CONCURRENCY = 32;
/**
 * The production limits refuse the bench's sender (10 frames/s, a chat slow-down) and its crowd (room size, attempts
 * from one address); the shutdown grace is cut so a stopped server is gone at once.
 */
const PLENUM_ENV = {
  ATTEMPT_LIMIT: "1000000",
  ROOM_MAX_PARTICIPANTS: "100000",
  CHAT_BURST: "1000000",
  RATE_LIMIT_PER_SECOND: "100000",
  RATE_LIMIT_BURST: "100000",
  MAX_ROOMS_PER_USER: "100000",
  PLENUM_SHUTDOWN_GRACE_SECONDS: "2",
  OPERATOR_TOKEN: "bench-operator-token-for-room-diagnostics",
};

export const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const range = (length: number, from = 0) => Array.from({ length }, (_, i) => from + i);
export const ms = (v: number) => `${v.toFixed(1)} ms`;
const short = (v: number) => (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
export const percentile = (values: number[], p: number) => {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

async function mapLimit<T, R>(items: T[], limit: number, map: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await map(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** The first IPC message of `type` (and `match`) from a client process; rejects if the process ends first. */
export function once<T>(child: ChildProcess, type: string, match: (message: T) => boolean = () => true): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type: string }) => {
      if (message.type !== type || !match(message as T)) return;
      cleanUp();
      resolve(message as T);
    };
    const onExit = (code: number | null, signal: string | null) => {
      cleanUp();
      reject(new Error(`client process ended (${code ?? signal}) while the bench waited for "${type}"`));
    };
    const cleanUp = () => {
      child.off("message", onMessage);
      child.off("exit", onExit);
    };
    if (child.exitCode !== null || child.signalCode !== null) return onExit(child.exitCode, child.signalCode);
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
}

export async function forkClients(): Promise<ChildProcess[]> {
  const children = range(PROCESSES).map(() =>
    fork(join(import.meta.dirname, "bench-clients.ts"), { execArgv: ["--import", "tsx"], stdio: "inherit" }),
  );
  for (const child of children) child.setMaxListeners(0); // one listener per room while many rooms join
  try {
    await Promise.all(children.map((child) => once(child, "ready")));
  } catch (error) {
    await stopClients(children);
    throw error;
  }
  return children;
}

export async function stopClients(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      if (child.connected) child.send({ type: "close" });
      const kill = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(kill);
    }),
  );
}

async function leaveAll(clients: ChildProcess[]): Promise<void> {
  await Promise.all(
    clients.map((child) => {
      const left = once(child, "left");
      child.send({ type: "leave" });
      return left;
    }),
  );
}

interface Sender {
  send(content: string): void;
  close(): void;
}

interface PreparedRoom {
  /** The room's name in the client processes' reports. */
  key: string;
  /** Timed: the sender joins (Plenum: the owner, through start + ticket + upgrade + join_success). */
  enterSender(): Promise<Sender>;
  /** Each client process's join command: its share of the recipients. */
  commands: object[];
}

interface MeasuredServer {
  rss(): number;
  cpuMs(): number;
  /** A full GC (workerd, through its inspector); the JS heap in use after it. */
  collectGarbage?(): Promise<number>;
  stop(): Promise<void>;
  /** Untimed set-up of a room for its sender and `recipients` client sockets (Plenum: tokens, the room). */
  prepareRoom(name: string, recipients: number): Promise<PreparedRoom>;
  /** Plenum: each room object's instance id (a new one: the object was rebuilt, e.g. after hibernation). */
  instances?(roomIds: readonly string[]): Promise<string[]>;
}

interface System {
  name: string;
  start(): Promise<MeasuredServer>;
}

/** Recipient `i` goes to client process `i % PROCESSES`. */
const shareOf = <T>(items: T[], process: number) => items.filter((_, i) => i % PROCESSES === process);

/** workerd's pid: its command line names `<dataDir>/workerd.capnp`, the supervisor's (scripts/start.ts) does not. */
export function workerdPid(dataDir: string): number {
  const candidates = execFileSync("pgrep", ["-f", `serve ${dataDir}/workerd.capnp`], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map(Number);
  const isWorkerd = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "workerd";
    } catch {
      return false; // gone since pgrep saw it
    }
  };
  const pid = candidates.find(isWorkerd);
  if (pid === undefined) throw new Error(`no workerd process for ${dataDir}`);
  return pid;
}

const plenum: System = {
  name: "Plenum",
  async start() {
    const inspector = `127.0.0.1:${await freePort()}`;
    const server = await startServer({ env: { ...PLENUM_ENV, PLENUM_INSPECTOR_ADDR: inspector } });
    let pid: number;
    try {
      pid = workerdPid(server.dataDir);
    } catch (error) {
      await server.stop();
      throw error;
    }
    return {
      rss: () => processRss(pid),
      cpuMs: () => processCpuMs(pid),
      collectGarbage: () => collectGarbage(inspector, () => fetch(`${server.base}/healthz`)),
      // workerd does not exit on SIGTERM once its inspector had a session; the bench keeps no state.
      stop: () => server.crash(),
      instances: (roomIds) =>
        mapLimit([...roomIds], 8, async (id) => {
          const path = `/v1/rooms/${id}/diagnostics`;
          const answer = await call<RoomDiagnostics>(server.base, "GET", path, { token: PLENUM_ENV.OPERATOR_TOKEN });
          if (answer.status !== 200) throw new Error(`diagnostics of ${id}: ${answer.status}`);
          return answer.body.instance_id;
        }),
      async prepareRoom(name, recipients) {
        const ownerToken = await devLogin(server.base, `${name} chair`);
        const room = await createRoom(server.base, ownerToken, { name });
        const tokens = await mapLimit(range(recipients), TOKEN_CONCURRENCY, (i) =>
          devLogin(server.base, `${name} ${i}`),
        );
        const concurrency = SETTINGS.joinConcurrency;
        return {
          key: room.id,
          commands: range(PROCESSES).map((p) => ({
            type: "join",
            base: server.base,
            roomId: room.id,
            tokens: shareOf(tokens, p),
            concurrency,
          })),
          async enterSender() {
            const { ticket } = await startRoom(server.base, ownerToken, room.id);
            const owner = await openSignaling(server.base, room.id, ticket);
            await owner.message("control", "join_success", 60_000);
            return {
              send: (content) => owner.send("chat", { action: "send_message", content }),
              close: () => owner.close(),
            };
          },
        };
      },
    };
  },
};

function openWebSocketSender(url: string): Promise<Sender> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    const refused = (code: number) => reject(new Error(`closed before the welcome: ${code}`));
    socket.once("error", reject);
    socket.once("close", refused);
    socket.once("message", () => {
      socket.off("error", reject);
      socket.off("close", refused);
      socket.on("error", () => {}); // its recipients' reports show what did not arrive
      resolve({
        send: (content) => socket.send(JSON.stringify({ type: "chat", content })),
        close: () => socket.close(),
      });
    });
  });
}

async function openSocketIoSender(url: string, room: string): Promise<Sender> {
  const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", reject);
  });
  await socket.timeout(60_000).emitWithAck("join", { room });
  return { send: (content) => socket.emit("chat", { content }), close: () => socket.disconnect() };
}

/** A peer of scripts/bench-peers.ts: how to start it, which client mode joins it and where its sockets go. */
function peerSystem(
  name: string,
  startPeer: () => Promise<PeerServer>,
  joinType: "join-raw" | "join-sio" | "join-do",
  socketUrl: (url: string, room: string) => string,
): System {
  return {
    name,
    async start() {
      const peer = await startPeer();
      return {
        rss: () => peer.rss(),
        cpuMs: () => peer.cpuMs(),
        stop: () => peer.stop(),
        async prepareRoom(room, recipients) {
          const url = socketUrl(peer.url, room);
          const concurrency = SETTINGS.joinConcurrency;
          return {
            key: room,
            commands: range(PROCESSES).map((p) => ({
              type: joinType,
              url,
              room,
              count: shareOf(range(recipients), p).length,
              concurrency,
            })),
            enterSender: () => (joinType === "join-sio" ? openSocketIoSender(url, room) : openWebSocketSender(url)),
          };
        },
      };
    },
  };
}

const socketIoVersion = (
  JSON.parse(readFileSync(join(import.meta.dirname, "..", "node_modules", "socket.io", "package.json"), "utf8")) as {
    version: string;
  }
).version;
const rawWs = peerSystem("raw ws", startRawWsServer, "join-raw", (url, room) => `${url}/?room=${room}`);
const socketIo = peerSystem(`Socket.IO ${socketIoVersion}`, startSocketIoServer, "join-sio", (url) => url);
const minimalDo = peerSystem("minimal DO", startMinimalDoServer, "join-do", (url, room) => `${url}/rooms/${room}/ws`);

/** Servers still running: Ctrl-C stops them too (Plenum's supervisor is detached, out of the terminal's reach). */
const running = new Set<MeasuredServer>();

async function withServer<T>(system: System, use: (server: MeasuredServer) => Promise<T>): Promise<T> {
  const server = await system.start();
  running.add(server);
  try {
    return await use(server);
  } finally {
    running.delete(server);
    await server.stop();
  }
}

/** Waits (up to 10 s) until the server uses under 5 % of a core: closes and presence of the last phase are done. */
async function waitUntilIdle(server: MeasuredServer): Promise<void> {
  const deadline = now() + 10_000;
  let before = server.cpuMs();
  while (now() < deadline) {
    await sleep(500);
    const after = server.cpuMs();
    if (after - before < 25) return;
    before = after;
  }
}

interface JoinedRoom {
  key: string;
  sender: Sender;
  /** Sender included. */
  participants: number;
  recipients: number;
  seconds: number;
  joinTimes: number[];
  errors: number;
  errorSamples: string[];
}

interface JoinedReply {
  type: "joined";
  room: string;
  joinTimes: number[];
  errors: number;
  errorSamples: string[];
}

/** The sender, then every recipient; timed from the sender's start. Join errors are thrown unless tolerated. */
async function joinPrepared(clients: ChildProcess[], room: PreparedRoom, tolerateErrors: boolean): Promise<JoinedRoom> {
  const started = now();
  const sender = await room.enterSender();
  try {
    const replies = await Promise.all(
      clients.map((child, i) => {
        const reply = once<JoinedReply>(child, "joined", (m) => m.room === room.key);
        child.send(room.commands[i]!);
        return reply;
      }),
    );
    const seconds = (now() - started) / 1000;
    const joinTimes = replies.flatMap((r) => r.joinTimes);
    const errors = replies.reduce((sum, r) => sum + r.errors, 0);
    const errorSamples = replies.flatMap((r) => r.errorSamples);
    if (errors > 0 && !tolerateErrors) throw new Error(`${errors} joins failed: ${errorSamples.join("; ")}`);
    const recipients = joinTimes.length;
    return {
      key: room.key,
      sender,
      participants: recipients + 1,
      recipients,
      seconds,
      joinTimes,
      errors,
      errorSamples,
    };
  } catch (error) {
    sender.close();
    throw error;
  }
}

interface Delivered {
  type: "delivered";
  room: string;
  seq: number;
  slowest: number;
  count: number;
}

/** Collects the client processes' `delivered` reports: a message is complete once all its room's recipients have it. */
class Deliveries {
  /** `${room} ${seq}` → ms until the last recipient had it. */
  private readonly complete = new Map<string, number>();
  private readonly partial = new Map<string, { count: number; slowest: number }>();
  private readonly listener = (message: Delivered) => {
    if (message.type !== "delivered") return;
    const key = `${message.room} ${message.seq}`;
    const sofar = this.partial.get(key) ?? { count: 0, slowest: 0 };
    sofar.count += message.count;
    sofar.slowest = Math.max(sofar.slowest, message.slowest);
    if (sofar.count < (this.recipients.get(message.room) ?? 0)) return void this.partial.set(key, sofar);
    this.partial.delete(key);
    this.complete.set(key, sofar.slowest);
  };

  constructor(
    private readonly clients: ChildProcess[],
    private readonly recipients: Map<string, number>,
  ) {
    for (const child of clients) child.on("message", this.listener);
  }

  /** The last-recipient latencies of `keys`, waiting up to DELIVERY_TIMEOUT_MS for the ones still out. */
  async wait(keys: string[]): Promise<{ latencies: number[]; lost: number }> {
    const deadline = now() + DELIVERY_TIMEOUT_MS;
    let missing = keys;
    while (missing.length > 0 && now() < deadline) {
      await sleep(20);
      missing = missing.filter((key) => !this.complete.has(key));
    }
    const latencies = keys.flatMap((key) => (this.complete.has(key) ? [this.complete.get(key)!] : []));
    return { latencies, lost: keys.length - latencies.length };
  }

  stop(): void {
    for (const child of this.clients) child.off("message", this.listener);
  }
}

/** Sends messages `seqs` spaced by BENCH_SPACING_MS (so they do not overlap) and waits for their deliveries. */
async function chat(deliveries: Deliveries, room: JoinedRoom, seqs: number[]) {
  for (const seq of seqs) {
    room.sender.send(`bench:${seq}:${now()}`);
    await sleep(SETTINGS.spacingMs);
  }
  return deliveries.wait(seqs.map((seq) => `${room.key} ${seq}`));
}

interface FanOutRun {
  run: number;
  participants: number;
  joinSeconds: number;
  joinsPerSecond: number;
  perJoinP50Ms: number;
  perJoinP99Ms: number;
  rssAfterJoin: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  messages: number;
  lost: number;
  cpuMs: number;
  cpuMsPerMessage: number;
}

async function fanOutRun(clients: ChildProcess[], server: MeasuredServer, size: number, run: number) {
  await waitUntilIdle(server);
  const prepared = await server.prepareRoom(`fan-out-${size}-${run}`, size - 1);
  const room = await joinPrepared(clients, prepared, false);
  const deliveries = new Deliveries(clients, new Map([[room.key, room.recipients]]));
  try {
    await waitUntilIdle(server); // the last presence batches are out
    const rssAfterJoin = server.rss();
    await chat(deliveries, room, range(WARM_UP_MESSAGES));
    const cpuBefore = server.cpuMs();
    const { latencies, lost } = await chat(deliveries, room, range(SETTINGS.messages, WARM_UP_MESSAGES));
    const cpuMs = server.cpuMs() - cpuBefore;
    const result: FanOutRun = {
      run,
      participants: room.participants,
      joinSeconds: room.seconds,
      joinsPerSecond: room.participants / room.seconds,
      perJoinP50Ms: percentile(room.joinTimes, 50),
      perJoinP99Ms: percentile(room.joinTimes, 99),
      rssAfterJoin,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      maxMs: Math.max(...latencies),
      messages: SETTINGS.messages,
      lost,
      cpuMs,
      cpuMsPerMessage: cpuMs / SETTINGS.messages,
    };
    return result;
  } finally {
    deliveries.stop();
    room.sender.close();
    await leaveAll(clients);
  }
}

interface MemoryRun {
  run: number;
  idleRss: number;
  /** After the untimed set-up (Plenum: dev-login tokens, the room), before the joins. */
  preparedRss: number;
  rss: number;
  participants: number;
  errors: number;
  errorSamples: string[];
  joinSeconds: number;
  bytesPerParticipant: number;
  /** After a full garbage collection (workerd only; the Node peers' figure is the same as before). */
  rssAfterGc: number;
  afterGcPerParticipant: number;
}

/** A fresh server: idle RSS, then BENCH_MEMORY_N participants in one room, settled. */
function memoryRun(clients: ChildProcess[], system: System, run: number): Promise<MemoryRun> {
  return withServer(system, async (server) => {
    const idleRss = server.rss();
    const prepared = await server.prepareRoom("memory", SETTINGS.memoryN - 1);
    const preparedRss = server.rss();
    const room = await joinPrepared(clients, prepared, true);
    try {
      await sleep(MEMORY_SETTLE_MS);
      const rss = server.rss();
      const { participants, errors, errorSamples } = room;
      const bytesPerParticipant = (rss - idleRss) / participants;
      // workerd collects old garbage (the join storm's frames) only when its heap asks for it: also measured after
      // a full collection, which leaves what the room keeps.
      await server.collectGarbage?.();
      await sleep(500);
      const rssAfterGc = server.rss();
      const afterGcPerParticipant = (rssAfterGc - idleRss) / participants;
      return {
        run,
        idleRss,
        preparedRss,
        rss,
        participants,
        errors,
        errorSamples,
        joinSeconds: room.seconds,
        bytesPerParticipant,
        rssAfterGc,
        afterGcPerParticipant,
      };
    } finally {
      room.sender.close();
      await leaveAll(clients);
    }
  });
}

/** BENCH_ROOMS rooms on one Plenum; every owner sends one message a second, the rooms staggered over the second. */
function manyRooms(clients: ChildProcess[]) {
  return withServer(plenum, async (server) => {
    const idleRss = server.rss();
    const prepared = await mapLimit(range(SETTINGS.rooms), 8, (i) =>
      server.prepareRoom(`room-${i}`, SETTINGS.roomSize - 1),
    );
    const started = now();
    const rooms: JoinedRoom[] = [];
    try {
      await mapLimit(prepared, SETTINGS.joinConcurrency, async (room) => {
        rooms.push(await joinPrepared(clients, room, true));
      });
      const joinSeconds = (now() - started) / 1000;
      const deliveries = new Deliveries(clients, new Map(rooms.map((room) => [room.key, room.recipients])));
      try {
        await waitUntilIdle(server);
        const joinedRss = server.rss();
        const awake = await server.instances?.(rooms.map((room) => room.key));
        const keys: string[] = [];
        const chatStart = now();
        for (const second of range(SETTINGS.roomSeconds)) {
          for (const [i, room] of rooms.entries()) {
            const delay = chatStart + second * 1000 + (i * 1000) / rooms.length - now();
            if (delay > 0) await sleep(delay);
            room.sender.send(`bench:${second}:${now()}`);
            keys.push(`${room.key} ${second}`);
          }
        }
        const { latencies, lost } = await deliveries.wait(keys);
        const rss = server.rss();
        const heapAfterGc = await server.collectGarbage?.();
        await sleep(500);
        const rssAfterGc = server.rss();
        // workerd evicts an object 10 s after its last event; its sockets stay open (hibernated).
        await sleep(HIBERNATION_WAIT_MS);
        const heapHibernated = await server.collectGarbage?.();
        await sleep(500);
        const rssHibernated = server.rss();
        const rebuilt = (await server.instances?.(rooms.map((room) => room.key)))?.filter((id, i) => id !== awake![i]);
        const errors = rooms.reduce((sum, room) => sum + room.errors, 0);
        return {
          rooms: SETTINGS.rooms,
          roomSize: SETTINGS.roomSize,
          participants: rooms.reduce((sum, room) => sum + room.participants, 0),
          joinSeconds,
          errors,
          errorSamples: rooms.flatMap((room) => room.errorSamples).slice(0, 5),
          messages: keys.length,
          lost,
          p50Ms: percentile(latencies, 50),
          p99Ms: percentile(latencies, 99),
          idleRss,
          joinedRss,
          rss,
          rssAfterGc,
          rssHibernated,
          /** workerd's JS heap in use after a full GC, while the rooms were active and once hibernated. */
          heapAfterGc,
          heapHibernated,
          /** Rooms whose object was built anew after the silence (evicted while hibernated). */
          roomsRebuilt: rebuilt?.length,
        };
      } finally {
        deliveries.stop();
      }
    } finally {
      for (const room of rooms) room.sender.close();
      await leaveAll(clients);
    }
  });
}

const FAN_OUT_SYSTEMS = [rawWs, socketIo, minimalDo, plenum];
const mib = (bytes: number | undefined) => (bytes === undefined ? "?" : (bytes / 2 ** 20).toFixed(1));
type Medians = { joinSeconds: number; joinsPerSecond: number; p50Ms: number; p99Ms: number; cpuMsPerMessage: number };

/** Every fan-out run of one system (sizes × BENCH_RUNS, a fresh room each) on one server, and their medians. */
function fanOut(clients: ChildProcess[], system: System) {
  return withServer(system, async (server) => {
    const bySize: Record<number, { runs: FanOutRun[]; median: Medians }> = {};
    for (const size of SETTINGS.sizes) {
      const runs: FanOutRun[] = [];
      for (const run of range(SETTINGS.runs, 1)) {
        const r = await fanOutRun(clients, server, size, run);
        runs.push(r);
        console.log(
          `${system.name} N=${size} run ${run}: ` +
            `join ${r.joinSeconds.toFixed(2)} s (${r.joinsPerSecond.toFixed(0)}/s), ` +
            `fan-out p50 ${ms(r.p50Ms)} p99 ${ms(r.p99Ms)}${r.lost ? ` (${r.lost} lost)` : ""}, ` +
            `CPU ${r.cpuMsPerMessage.toFixed(2)} ms/message`,
        );
      }
      const of = (pick: (r: FanOutRun) => number) => median(runs.map(pick));
      bySize[size] = {
        runs,
        median: {
          joinSeconds: of((r) => r.joinSeconds),
          joinsPerSecond: of((r) => r.joinsPerSecond),
          p50Ms: of((r) => r.p50Ms),
          p99Ms: of((r) => r.p99Ms),
          cpuMsPerMessage: of((r) => r.cpuMsPerMessage),
        },
      };
    }
    return bySize;
  });
}

async function memory(clients: ChildProcess[], system: System, runs: number) {
  const results: MemoryRun[] = [];
  for (const run of range(runs, 1)) {
    const r = await memoryRun(clients, system, run);
    results.push(r);
    console.log(
      `${system.name} memory run ${run}: ${r.participants} participants in ${r.joinSeconds.toFixed(2)} s ` +
        `(${r.errors} errors), ${kib(r.bytesPerParticipant)} per participant ` +
        `(${kib(r.afterGcPerParticipant)} after a full GC)`,
    );
  }
  return {
    runs: results,
    median: {
      bytesPerParticipant: median(results.map((r) => r.bytesPerParticipant)),
      afterGcPerParticipant: median(results.map((r) => r.afterGcPerParticipant)),
      joinSeconds: median(results.map((r) => r.joinSeconds)),
    },
    errors: results.reduce((sum, r) => sum + r.errors, 0),
  };
}

/** Markdown-ish rows with every column padded to its widest cell. */
export function alignedTable(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length)));
  return rows.map((row) => `| ${widths.map((width, column) => (row[column] ?? "").padEnd(width)).join(" | ")} |`);
}

export async function signalling(): Promise<{ lines: string[]; results: Record<string, unknown> }> {
  let clients: ChildProcess[] = [];
  const stopOnSignal = (signal: NodeJS.Signals) => {
    for (const child of clients) child.kill("SIGKILL");
    void Promise.allSettled([...running].map((server) => server.stop())).then(() =>
      process.exit(signal === "SIGINT" ? 130 : 143),
    );
  };
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);
  console.log(`signalling: ${PROCESSES} client processes, settings ${JSON.stringify(SETTINGS)}`);
  try {
    clients = await forkClients();
    const fanOuts: Record<string, Awaited<ReturnType<typeof fanOut>>> = {};
    for (const system of FAN_OUT_SYSTEMS) fanOuts[system.name] = await fanOut(clients, system);
    const memories: Record<string, Awaited<ReturnType<typeof memory>>> = {};
    // The floors of memory per socket are context: one run of the Node peers is enough.
    for (const [system, runs] of [
      [plenum, SETTINGS.runs],
      [minimalDo, SETTINGS.runs],
      [rawWs, 1],
      [socketIo, 1],
    ] as const) {
      memories[system.name] = await memory(clients, system, runs);
    }
    const many = await manyRooms(clients);
    console.log(`many rooms: ${JSON.stringify(many)}`);

    const [raw, sio, inWorkerd, own] = FAN_OUT_SYSTEMS.map((system) => fanOuts[system.name]!);
    const ratio = (plenumValue: number, floor: number) => `${(plenumValue / floor).toFixed(1)}×`;
    const rows: string[][] = [
      ["", "raw ws (floor)", socketIo.name, "minimal DO (workerd's own)", "Plenum", "Plenum / floor", "goal"],
    ];
    for (const size of SETTINGS.sizes) {
      const [r, s, d, p] = [raw![size]!.median, sio![size]!.median, inWorkerd![size]!.median, own![size]!.median];
      const joinCell = (m: Medians) => `${short(m.joinSeconds)} s (${m.joinsPerSecond.toFixed(0)}/s)`;
      const goal = size === 500 ? "≤ 1 s (beat Socket.IO)" : "beat Socket.IO";
      rows.push([
        `${size} join`,
        joinCell(r),
        joinCell(s),
        joinCell(d),
        joinCell(p),
        `${ratio(p.joinSeconds, r.joinSeconds)} (${ratio(p.joinSeconds, s.joinSeconds)} Socket.IO)`,
        goal,
      ]);
    }
    for (const size of SETTINGS.sizes) {
      const [r, s, d, p] = [raw![size]!.median, sio![size]!.median, inWorkerd![size]!.median, own![size]!.median];
      const latency = (m: Medians) => `${short(m.p50Ms)} / ${short(m.p99Ms)} ms`;
      const ratios = `${ratio(p.p50Ms, r.p50Ms)} / ${ratio(p.p99Ms, r.p99Ms)}`;
      rows.push([`fan-out p50 / p99, N = ${size}`, latency(r), latency(s), latency(d), latency(p), ratios, "≤ 1.5×"]);
    }
    for (const size of SETTINGS.sizes) {
      const [r, s, d, p] = [raw![size]!.median, sio![size]!.median, inWorkerd![size]!.median, own![size]!.median];
      const cpu = (m: Medians) => `${short(m.cpuMsPerMessage)} ms`;
      const cpuRatio = ratio(p.cpuMsPerMessage, r.cpuMsPerMessage);
      rows.push([`CPU per message, N = ${size}`, cpu(r), cpu(s), cpu(d), cpu(p), cpuRatio, "≤ 1.5×"]);
    }
    const perParticipant = (system: System) => memories[system.name]!.median.bytesPerParticipant;
    const afterGc = (system: System) => memories[system.name]!.median.afterGcPerParticipant;
    const excess = (of: (system: System) => number) => {
      const percent = (of(plenum) / of(minimalDo) - 1) * 100;
      return `${percent >= 0 ? "+" : ""}${percent.toFixed(0)} %`;
    };
    const withGc = (system: System) => `${kib(perParticipant(system))} (${kib(afterGc(system))} after a full GC)`;
    rows.push([
      `RSS per participant, N = ${SETTINGS.memoryN}`,
      `${kib(perParticipant(rawWs))} (context)`,
      `${kib(perParticipant(socketIo))} (context)`,
      withGc(minimalDo),
      withGc(plenum),
      `${excess(perParticipant)} (${excess(afterGc)} after GC) over the minimal DO`,
      "≤ 16 KiB or ≤ 25 % over the minimal DO",
    ]);
    const bigJoin = (system: System) => {
      const m = memories[system.name]!;
      return `${short(m.median.joinSeconds)} s, ${m.errors} errors`;
    };
    rows.push([
      `${SETTINGS.memoryN} join`,
      bigJoin(rawWs),
      bigJoin(socketIo),
      bigJoin(minimalDo),
      bigJoin(plenum),
      ratio(memories[plenum.name]!.median.joinSeconds, memories[rawWs.name]!.median.joinSeconds),
      "no errors",
    ]);
    rows.push([
      `many rooms ${many.rooms} × ${many.roomSize}`,
      "",
      "",
      "",
      `join ${short(many.joinSeconds)} s, p50 / p99 ${short(many.p50Ms)} / ${short(many.p99Ms)} ms, ` +
        `RSS +${((many.rss - many.idleRss) / 2 ** 20).toFixed(1)} MiB ` +
        `(+${((many.rssAfterGc - many.idleRss) / 2 ** 20).toFixed(1)} after a full GC, ` +
        `+${((many.rssHibernated - many.idleRss) / 2 ** 20).toFixed(1)} after ${HIBERNATION_WAIT_MS / 1000} s ` +
        `silent with ${many.roomsRebuilt} of ${many.rooms} rooms evicted meanwhile; JS heap after GC ` +
        `${mib(many.heapAfterGc)} → ${mib(many.heapHibernated)} MiB), ` +
        `${many.errors} errors, ${many.lost} lost`,
      "",
      "no errors",
    ]);
    const table = alignedTable(rows);
    const lost = Object.values(fanOuts).flatMap((bySize) =>
      Object.values(bySize).flatMap((size) => size.runs.map((r) => r.lost)),
    );
    const notes = [
      `medians of ${SETTINGS.runs} runs; ${SETTINGS.messages} measured messages per run, ${SETTINGS.spacingMs} ms ` +
        `apart, latency to the last recipient; ${PROCESSES} client processes; ${lost.reduce((a, b) => a + b, 0)} ` +
        "fan-out messages lost",
    ];
    return {
      lines: [...table, ...notes],
      results: { settings: SETTINGS, fanOut: fanOuts, memory: memories, manyRooms: many, rows, table, notes },
    };
  } finally {
    await stopClients(clients);
    process.off("SIGINT", stopOnSignal);
    process.off("SIGTERM", stopOnSignal);
  }
}
