/**
 * `npm run bench`: figures from a real workerd started like `npm start`. Prints; never fails on time.
 *
 * Signalling: for N = 50, 200, 500 participants in one room (Node `ws` clients spread over several processes so
 * the client side is not the bottleneck): join rate through REST start + ticket + WebSocket upgrade +
 * join_success, p50/p99 of chat delivery to the last recipient, and workerd's resident memory.
 *
 * TURN: GET /v1/turn per second from one workerd process (session-token check, room liveness, HMAC, selection).
 * Media: join → first remote video frame through Janus (and relay-only via TURN), and failover time after killing
 * the pinned Janus node (scripts/bench-media.ts, inside a private network namespace).
 * Guessing: chat fan-out while wrong room passwords arrive from ever new addresses, with and without the cap on
 * password checks per process (scripts/bench-guessing.ts).
 * Votes: 1,000 eligible voters in one room cast in one burst: time until the last receipt; the end (chain end and
 * signatures) until `stopped`; fetching the protocol; its full offline verification with every receipt.
 * `BENCH_ONLY=signalling|turn|votes|guessing|media` runs one part.
 */
import { type ChildProcess, execFileSync, fork } from "node:child_process";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { verifyVote } from "../src/votes/verify";
import { call, createRoom, devLogin, openSignaling, startRoom } from "../test/helpers/client";
import { guessingBurst } from "./bench-guessing";
import { type RunningServer, startServer } from "./local-server";

const SIZES = (process.env.BENCH_SIZES ?? "50,200,500").split(",").map(Number);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 40);
const PROCESSES = Math.max(2, Math.min(4, availableParallelism()));
const now = () => performance.timeOrigin + performance.now();

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
};
const ms = (v: number) => `${v.toFixed(1)} ms`;

function once<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    const listener = (message: { type: string }) => {
      if (message.type === type) {
        child.off("message", listener);
        resolve(message as T);
      }
    };
    child.on("message", listener);
  });
}

async function signalling(): Promise<string[]> {
  // BENCH_SIZES may go past the default bound of a room; the owner sends a message every 150 ms, past the slow-down.
  const server = await startServer({
    env: { ATTEMPT_LIMIT: "1000", ROOM_MAX_PARTICIPANTS: "100000", CHAT_BURST: "1000000" },
  });
  const baselineRss = server.workerdRss();
  console.log(`workerd started; idle RSS ${(baselineRss / 2 ** 20).toFixed(1)} MiB; ${PROCESSES} client processes`);
  const rows: string[] = [];
  try {
    for (const size of SIZES) {
      const ownerToken = await devLogin(server.base, `Chair ${size}`);
      const room = await createRoom(server.base, ownerToken, { name: `bench ${size}` });
      const owner = await openSignaling(
        server.base,
        room.id,
        (await startRoom(server.base, ownerToken, room.id)).ticket,
      );
      await owner.message("control", "join_success");
      const tokens = await Promise.all(
        Array.from({ length: size - 1 }, (_, i) => devLogin(server.base, `P${size}-${i}`)),
      );

      const children = Array.from({ length: PROCESSES }, () =>
        fork(join(import.meta.dirname, "bench-clients.ts"), { execArgv: ["--import", "tsx"], stdio: "inherit" }),
      );
      await Promise.all(children.map((child) => once(child, "ready")));
      const joinStart = now();
      const joined = children.map((child) => once<{ joinTimes: number[] }>(child, "joined"));
      for (const [i, child] of children.entries()) {
        child.send({
          type: "join",
          base: server.base,
          roomId: room.id,
          tokens: tokens.filter((_, t) => t % PROCESSES === i),
          concurrency: 8,
        });
      }
      const joinTimes = (await Promise.all(joined)).flatMap((r) => r.joinTimes);
      const joinSeconds = (now() - joinStart) / 1000;

      // Let the last presence batch settle before measuring chat.
      await new Promise((r) => setTimeout(r, 500));
      const slowest = new Map<number, number[]>();
      const delivered = new Promise<void>((resolve) => {
        for (const child of children) {
          child.on("message", (m: { type: string; seq: number; slowest: number }) => {
            if (m.type !== "delivered") return;
            const list = slowest.get(m.seq) ?? [];
            list.push(m.slowest);
            slowest.set(m.seq, list);
            if ([...slowest.values()].filter((l) => l.length === PROCESSES).length === MESSAGES) resolve();
          });
        }
      });
      for (let seq = 0; seq < MESSAGES; seq++) {
        owner.send("chat", { action: "send_message", content: `bench:${seq}:${now()}` });
        await new Promise((r) => setTimeout(r, 150)); // below the 10 msg/s signalling limit
      }
      await delivered;
      const lastRecipient = [...slowest.values()].map((l) => Math.max(...l));
      const rss = server.workerdRss();
      const row =
        `N=${String(size).padStart(3)}  join ${(joinTimes.length / joinSeconds).toFixed(0).padStart(4)} joins/s ` +
        `(per join p50 ${ms(percentile(joinTimes, 50))}, p99 ${ms(percentile(joinTimes, 99))})  ` +
        `chat → last recipient p50 ${ms(percentile(lastRecipient, 50))}, p99 ${ms(percentile(lastRecipient, 99))}  ` +
        `workerd RSS ${(rss / 2 ** 20).toFixed(1)} MiB (+${((rss - baselineRss) / 2 ** 20).toFixed(1)})`;
      console.log(row);
      rows.push(row);
      for (const child of children) child.send({ type: "close" });
      owner.close();
      await Promise.all(children.map((child) => new Promise((r) => child.once("exit", r))));
    }
  } finally {
    await server.stop();
  }
  return rows;
}

async function votes(): Promise<string[]> {
  const voters = Number(process.env.BENCH_VOTERS ?? 1000);
  const server = await startServer({ env: { ATTEMPT_LIMIT: "1000000", ROOM_MAX_PARTICIPANTS: "100000" } });
  const children = Array.from({ length: PROCESSES }, () =>
    fork(join(import.meta.dirname, "bench-clients.ts"), { execArgv: ["--import", "tsx"], stdio: "inherit" }),
  );
  try {
    const chairToken = await devLogin(server.base, "Vorsitz");
    const room = await createRoom(server.base, chairToken, { name: "Plenarsitzung" });
    const chair = await openSignaling(server.base, room.id, (await startRoom(server.base, chairToken, room.id)).ticket);
    await chair.message("control", "join_success");
    const tokens = await Promise.all(Array.from({ length: voters }, (_, i) => devLogin(server.base, `MdL ${i}`)));
    await Promise.all(children.map((child) => once(child, "ready")));
    const joined = children.map((child) => once<{ participantIds: string[] }>(child, "joined"));
    for (const [i, child] of children.entries()) {
      const share = tokens.filter((_, t) => t % PROCESSES === i);
      child.send({ type: "join", base: server.base, roomId: room.id, tokens: share, concurrency: 8 });
    }
    const ids = (await Promise.all(joined)).flatMap((r) => r.participantIds);
    // Everyone is announced to the chair (presence goes out in batches) before the vote names them.
    const seen = new Set<string>();
    await chair.next((f) => {
      if (f.payload.message === "joined") for (const p of (f.payload as any).participants) seen.add(p.participant_id);
      return ids.every((id) => seen.has(id));
    }, 120_000);
    chair.send("legal_vote", {
      action: "start",
      name: "Haushaltsgesetz 2027",
      kind: "roll_call",
      allowed_participants: ids,
      enable_abstain: false,
      rule: { quorum: { numerator: 1, denominator: 2 }, majority: "absolute" },
      auto_close: false,
    });
    const voteId = ((await chair.message("legal_vote", "started", 30_000)).payload as any).vote_id as string;
    await new Promise((r) => setTimeout(r, 500)); // the started frame has reached every voter
    // The floor: the same clients each send one frame the room answers at once, without work.
    const pingAt = now();
    const pinged = children.map((child) => once<{ last: number }>(child, "pinged"));
    for (const child of children) child.send({ type: "ping" });
    const floor = Math.max(...(await Promise.all(pinged)).map((r) => r.last)) - pingAt;
    await new Promise((r) => setTimeout(r, 500));
    const burst = now();
    const cast = children.map((child) => once<{ last: number; receipts: unknown[] }>(child, "voted"));
    for (const child of children) child.send({ type: "vote", voteId });
    const results = await Promise.all(cast);
    const lastReceipt = Math.max(...results.map((r) => r.last)) - burst;
    const stopAt = now();
    chair.send("legal_vote", { action: "stop", vote_id: voteId });
    await chair.message("legal_vote", "stopped", 60_000);
    const stopMs = now() - stopAt;
    const fetchAt = now();
    const path = `/v1/rooms/${room.id}/votes/${voteId}/protocol`;
    const protocol = await call(server.base, "GET", path, { token: chairToken });
    const fetchMs = now() - fetchAt;
    const keys = (await call(server.base, "GET", `/v1/rooms/${room.id}/votes/keys`)).body;
    const receipts = results.flatMap((r) => r.receipts);
    const verifyAt = now();
    const verdict = await verifyVote({ protocol: protocol.body, receipts, keys });
    const verifyMs = now() - verifyAt;
    const entries = (protocol.body as { entries: unknown[] }).entries.length;
    const size = JSON.stringify(protocol.body).length / 1024;
    const rows = [
      `${voters} voters, one burst: last receipt after ${ms(lastReceipt)} (goal < 2000 ms); floor (the same frames ` +
        `answered without work) ${ms(floor)}, ratio ${(lastReceipt / floor).toFixed(1)}`,
      `stop → stopped (end of chain, document and head signatures) ${ms(stopMs)}`,
      `GET protocol ${ms(fetchMs)} (${entries} entries, ${size.toFixed(0)} KiB)`,
      `full verification with ${receipts.length} receipts ${ms(verifyMs)} (${verdict.ok ? "verified" : "FAILED"})`,
    ];
    for (const row of rows) console.log(row);
    chair.close();
    return rows;
  } finally {
    for (const child of children) child.send({ type: "close" });
    await Promise.all(children.map((child) => new Promise((r) => child.once("exit", r))));
    await server.stop();
  }
}

const OPERATOR_TOKEN = "bench-operator-token-0123456789abcdef012";

async function turnCredentials(): Promise<string[]> {
  // Two regions of made-up nodes: selection and HMAC run as in production; probing is pushed out of the way.
  const server: RunningServer = await startServer({
    env: {
      OPERATOR_TOKEN,
      TURN_NODES: JSON.stringify([
        { id: "e1", region: "de-east", host: "turn-e1.example" },
        { id: "e2", region: "de-east", host: "turn-e2.example" },
        { id: "w1", region: "de-west", host: "turn-w1.example" },
      ]),
      TURN_PROBE_INTERVAL_SECONDS: "3600",
      // The benchmark asks as fast as it can from one session; the per-session limit would answer 429.
      TURN_REQUESTS_PER_MINUTE: "100000000",
      REGION_RULES: JSON.stringify({ header: "x-region", neighbours: { "de-east": ["de-west"] } }),
    },
  });
  try {
    await call(server.base, "POST", "/v1/operator/turn/secrets", { token: OPERATOR_TOKEN, body: { activate: true } });
    const token = await devLogin(server.base, "Bench");
    const room = await createRoom(server.base, token);
    const socket = await openSignaling(server.base, room.id, (await startRoom(server.base, token, room.id)).ticket);
    const joined = (await socket.message("control", "join_success")).payload as unknown as {
      modules: { turn: { session_token: string } };
    };
    const headers = { authorization: `Bearer ${joined.modules.turn.session_token}`, "x-region": "de-east" };
    const latencies: number[] = [];
    const runFor = async (ms: number, record: boolean) => {
      const until = now() + ms;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (now() < until) {
            const started = now();
            const response = await fetch(`${server.base}/v1/turn`, { headers });
            if (response.status !== 200) throw new Error(`GET /v1/turn ${response.status}`);
            await response.arrayBuffer();
            if (record) latencies.push(now() - started);
          }
        }),
      );
    };
    await runFor(1000, false); // warm-up
    const seconds = 5;
    await runFor(seconds * 1000, true);
    socket.close();
    return [
      `GET /v1/turn: ${(latencies.length / seconds).toFixed(0)} credentials/s from one workerd process ` +
        `(32 concurrent clients; p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))})`,
    ];
  } finally {
    await server.stop();
  }
}

/** Janus cannot do ICE on loopback: the media figures come from a run inside a network namespace. */
function media(): string[] {
  const output = execFileSync(
    process.execPath,
    [
      "--import",
      "tsx",
      join(import.meta.dirname, "in-netns.ts"),
      process.execPath,
      "--import",
      "tsx",
      join(import.meta.dirname, "bench-media.ts"),
    ],
    {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  return output
    .slice(output.indexOf("--- media\n") + "--- media\n".length)
    .trim()
    .split("\n");
}

const only = process.env.BENCH_ONLY;
const report = [
  ...(only === undefined || only === "signalling"
    ? [`Signalling (${MESSAGES} chat messages per size, one room per size):`, ...(await signalling())]
    : []),
  ...(only === undefined || only === "turn" ? ["TURN credentials:", ...(await turnCredentials())] : []),
  ...(only === undefined || only === "votes" ? ["Legal votes:", ...(await votes())] : []),
  ...(only === undefined || only === "guessing"
    ? ["Password guessing burst (32 parallel wrong passwords, a new address each):", ...(await guessingBurst())]
    : []),
  ...(only === undefined || only === "media"
    ? ["Media (Janus 1.1, coturn, Chromium with 320x240 fake camera, in a network namespace):", ...media()]
    : []),
];
console.log(`\n${report.join("\n")}`);
