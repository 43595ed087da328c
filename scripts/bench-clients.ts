/**
 * A benchmark client process, forked by the coordinator (scripts/bench-signalling.ts, scripts/bench.ts): opens its
 * share of sockets into a room of Plenum (REST start + ticket + WebSocket upgrade + join_success) or of a peer server
 * (scripts/bench-peers.ts: raw `ws`, Socket.IO, a minimal Durable Object) and reports over IPC
 * - `joined` { room, joinTimes, errors, errorSamples, participantIds } once a join command is done; failed joins are
 *   counted, not thrown (the coordinator decides whether they are fatal);
 * - `delivered` { room, seq, slowest, count } once every socket of this process in `room` got chat message `seq`
 *   (content `bench:<seq>:<sentAt>`), `slowest` being the latest arrival in ms after sentAt. Processes share one
 *   machine, so performance.timeOrigin + performance.now() is comparable between them.
 * Plenum sockets are plain `ws` sockets read with a substring test before any parsing, like the peers' clients: the
 * schema check of the tests' FrameCollector would add client time to Plenum's figures only. The legal vote part
 * asks for FrameCollectors (`collectFrames`), which it needs to wait for answers.
 */
import { io } from "socket.io-client";
import WebSocket from "ws";
import { SUBPROTOCOL, TICKET_PREFIX } from "../src/protocol";
import { FrameCollector, type SocketLike } from "../test/helpers/collector";
import { httpRequest } from "./bench-http";

type Command =
  | { type: "join"; base: string; roomId: string; tokens: string[]; concurrency: number; collectFrames?: boolean }
  | { type: "join-raw" | "join-do" | "join-sio"; url: string; room: string; count: number; concurrency: number }
  | { type: "leave" }
  | { type: "vote"; voteId: string }
  | { type: "ping" }
  | { type: "close" };

/** One socket of this process; `close` ends it without waiting. */
interface Connection {
  close(): void;
}

const JOIN_TIMEOUT_MS = 60_000;
const ERROR_SAMPLES = 5;
const now = () => performance.timeOrigin + performance.now();

const connections: Connection[] = [];
/** The legal vote part's view of its sockets (only with `collectFrames`). */
const collectors: FrameCollector[] = [];
/** Room → sockets of this process in it: the recipients it answers for. */
const recipients = new Map<string, number>();
/** `${room} ${seq}` → arrival latencies so far. */
const arrivals = new Map<string, number[]>();

function received(room: string, content: string): void {
  const at = now();
  if (!content.startsWith("bench:")) return;
  const [, seq, sentAt] = content.split(":");
  const key = `${room} ${seq}`;
  const list = arrivals.get(key) ?? [];
  list.push(at - Number(sentAt));
  arrivals.set(key, list);
  if (list.length === recipients.get(room)) {
    arrivals.delete(key);
    process.send!({ type: "delivered", room, seq: Number(seq), slowest: Math.max(...list), count: list.length });
  }
}

/** Opens a `ws` socket; resolves once `isReady` accepts a frame, rejects (and drops the socket) on anything else. */
function openWebSocket(url: string, protocols: string[], isReady: (frame: string) => boolean): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols, { perMessageDeflate: false });
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on("error", () => {}); // a late error of a dropped socket must not end the process
      socket.terminate();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error(`no welcome within ${JOIN_TIMEOUT_MS} ms`)), JOIN_TIMEOUT_MS);
    socket.once("unexpected-response", (_request, response) =>
      fail(new Error(`upgrade refused: ${response.statusCode}`)),
    );
    socket.once("error", fail);
    socket.once("close", (code, reason) => fail(new Error(`closed before the welcome: ${code} ${reason}`)));
    const onFrame = (data: WebSocket.RawData) => {
      let ready: boolean;
      try {
        ready = isReady(String(data));
      } catch (error) {
        return fail(error as Error);
      }
      if (!ready) return;
      clearTimeout(timer);
      socket.removeAllListeners();
      socket.on("error", () => {}); // the coordinator counts what arrives, not why a socket died
      resolve(socket);
    };
    socket.on("message", onFrame);
  });
}

/** POST /v1/rooms/{id}/start (see `httpRequest` for why not fetch). */
async function startOverHttp(base: string, token: string, roomId: string): Promise<{ ticket: string }> {
  const { status, body } = await httpRequest(`${base}/v1/rooms/${roomId}/start`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: "{}",
  });
  if (status !== 200) throw new Error(`start: ${status} ${body}`);
  return JSON.parse(body) as { ticket: string };
}

/** Plenum: REST start (ticket) → upgrade with the ticket → join_success; chat frames are `message_sent`. */
async function joinPlenum(
  base: string,
  roomId: string,
  token: string,
  collectFrames: boolean,
  participantIds: string[],
): Promise<Connection> {
  const { ticket } = await startOverHttp(base, token, roomId);
  const url = `${base.replace(/^http/, "ws")}/v1/rooms/${roomId}/signaling`;
  const socket = await openWebSocket(url, [SUBPROTOCOL, `${TICKET_PREFIX}${ticket}`], (frame) => {
    if (!frame.includes('"join_success"')) return false;
    // The joiner's own id comes first, before everyone else's: the list of hundreds is not parsed for it.
    const own = /"participant_id":"([^"]+)"/.exec(frame.slice(0, 512))?.[1];
    if (own === undefined) throw new Error(`join_success without participant_id: ${frame.slice(0, 200)}`);
    participantIds.push(own);
    return true;
  });
  socket.on("message", (data) => {
    const frame = String(data);
    if (frame.includes('"message_sent"')) {
      received(roomId, (JSON.parse(frame) as { payload: { content: string } }).payload.content);
    }
  });
  if (collectFrames) collectors.push(new FrameCollector(socket as unknown as SocketLike));
  return { close: () => socket.close() };
}

/** Raw ws and the minimal Durable Object: the first frame is the welcome; chat is `{"type":"chat","content"}`. */
async function joinWebSocketPeer(url: string, room: string): Promise<Connection> {
  const socket = await openWebSocket(url, [], (frame) => frame.includes('"welcome"'));
  socket.on("message", (data) => {
    const message = JSON.parse(String(data)) as { type?: string; content?: string };
    if (message.type === "chat") received(room, message.content ?? "");
  });
  return { close: () => socket.close() };
}

/** Socket.IO over websocket only; `forceNew` gives each participant its own connection instead of multiplexing. */
async function joinSocketIo(url: string, room: string): Promise<Connection> {
  const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false, timeout: JOIN_TIMEOUT_MS });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", reject);
    });
    await socket.timeout(JOIN_TIMEOUT_MS).emitWithAck("join", { room });
  } catch (error) {
    socket.disconnect();
    throw error;
  }
  socket.on("chat", ({ content }: { content: string }) => received(room, content));
  return { close: () => socket.disconnect() };
}

/**
 * One pool for the whole process: join commands for many rooms at once (many rooms part) share the concurrency
 * instead of multiplying it.
 */
const joinQueue: (() => Promise<void>)[] = [];
let activeJoiners = 0;

function schedule(task: () => Promise<void>, concurrency: number): void {
  joinQueue.push(task);
  while (activeJoiners < concurrency && joinQueue.length > 0) {
    activeJoiners++;
    void (async () => {
      while (joinQueue.length > 0) await joinQueue.shift()!();
      activeJoiners--;
    })();
  }
}

async function joinAll(room: string, joins: (() => Promise<Connection>)[], concurrency: number) {
  const joinTimes: number[] = [];
  const errorSamples: string[] = [];
  let errors = 0;
  await Promise.all(
    joins.map(
      (join) =>
        new Promise<void>((done) =>
          schedule(async () => {
            const started = now();
            try {
              connections.push(await join());
              joinTimes.push(now() - started);
              recipients.set(room, (recipients.get(room) ?? 0) + 1);
            } catch (error) {
              errors++;
              if (errorSamples.length < ERROR_SAMPLES) errorSamples.push(String(error));
            }
            done();
          }, concurrency),
        ),
    ),
  );
  return { room, joinTimes, errors, errorSamples };
}

function leaveAll(): void {
  for (const connection of connections.splice(0)) connection.close();
  collectors.length = 0;
  recipients.clear();
  arrivals.clear();
}

process.on("message", async (command: Command) => {
  if (command.type === "close") {
    leaveAll();
    process.exit(0);
  }
  if (command.type === "leave") {
    leaveAll();
    process.send!({ type: "left" });
    return;
  }
  if (command.type === "vote") return castAll(command.voteId);
  if (command.type === "ping") return pingAll();
  if (command.type === "join") {
    const participantIds: string[] = [];
    const collect = command.collectFrames ?? false;
    const joins = command.tokens.map(
      (token) => () => joinPlenum(command.base, command.roomId, token, collect, participantIds),
    );
    const result = await joinAll(command.roomId, joins, command.concurrency);
    process.send!({ type: "joined", ...result, participantIds });
    return;
  }
  const open = command.type === "join-sio" ? joinSocketIo : joinWebSocketPeer;
  const joins = Array.from({ length: command.count }, () => () => open(command.url, command.room));
  process.send!({ type: "joined", ...(await joinAll(command.room, joins, command.concurrency)), participantIds: [] });
});

/** The floor of a burst: every client sends a frame the room answers without work (an unknown action). */
async function pingAll(): Promise<void> {
  const from = collectors.map((client) => client.frames.length);
  for (const client of collectors) client.send("control", { action: "bench_ping" });
  await Promise.all(collectors.map((client, i) => client.next((f) => f.payload.message === "error", 60_000, from[i])));
  process.send!({ type: "pinged", last: now() });
}

/** Every client of this process casts its ballot at once; reports when the last receipt came, and the receipts. */
async function castAll(voteId: string): Promise<void> {
  const from = collectors.map((client) => client.frames.length);
  collectors.forEach((client, i) => {
    client.send("legal_vote", { action: "vote", vote_id: voteId, option: i % 4 === 0 ? "no" : "yes" });
  });
  const receipts = await Promise.all(
    collectors.map(async (client, i) => {
      const voted = await client.next(
        (f) => f.payload.message === "voted" || f.payload.message === "error",
        60_000,
        from[i],
      );
      if (voted.payload.message !== "voted") throw new Error(`refused: ${JSON.stringify(voted.payload)}`);
      return { at: now(), receipt: (voted.payload as { receipt: unknown }).receipt };
    }),
  );
  process.send!({
    type: "voted",
    last: Math.max(...receipts.map((r) => r.at)),
    receipts: receipts.map((r) => r.receipt),
  });
}

// Open sockets would keep an orphan alive when the coordinator dies without closing it.
process.on("disconnect", () => process.exit(0));
process.send!({ type: "ready" });
