/**
 * `npm run bench`: figures from a real workerd started like `npm start`. Prints; never fails on time.
 *
 * Signalling (scripts/bench-signalling.ts): Plenum against floors measured in the same run, with Node clients spread
 * over several processes so the client side is not the bottleneck. Join storm (BENCH_SIZES participants into one
 * room, first start to last join: Plenum's REST start + ticket + upgrade + join_success against a raw `ws` server's
 * connect + welcome and Socket.IO's connect + join ack); fan-out (p50/p99 of the time until the last recipient has
 * a chat message, and server CPU per message; median of BENCH_RUNS runs); RSS per participant at BENCH_MEMORY_N in
 * one room against a minimal Durable Object in workerd; BENCH_MEMORY_N joins into one Plenum room (errors counted);
 * BENCH_ROOMS rooms × BENCH_ROOM_SIZE with one message a second in each. Prints a table of medians and ratios.
 *
 * TURN: GET /v1/turn per second from one workerd process (session-token check, room liveness, HMAC, selection).
 * Media: join → first remote video frame through Janus (and relay-only via TURN), and failover time after killing
 * the pinned Janus node (scripts/bench-media.ts, inside a private network namespace).
 * Guessing: chat fan-out while wrong room passwords arrive from ever new addresses, with and without the cap on
 * password checks per process (scripts/bench-guessing.ts).
 * Votes: 1,000 eligible voters in one room cast in one burst: time until the last receipt; the end (chain end and
 * signatures) until `stopped`; fetching the protocol; its full offline verification with every receipt.
 * `BENCH_ONLY=signalling|turn|votes|guessing|media` runs one part. Every part's results (the signalling part's raw
 * figures per run, medians and table; the others' printed lines) go to BENCH_JSON (default bench-results.json).
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { verifyVote } from "../src/votes/verify";
import { call, createRoom, devLogin, openSignaling, startRoom } from "../test/helpers/client";
import type { FrameCollector } from "../test/helpers/collector";
import { guessingBurst } from "./bench-guessing";
import { httpRequest } from "./bench-http";
import { processCpuMs, startMinimalDoServer } from "./bench-peers";
import {
  alignedTable,
  forkClients,
  ms,
  now,
  once,
  PROCESSES,
  percentile,
  signalling,
  stopClients,
  workerdPid,
} from "./bench-signalling";
import { type RunningServer, startServer } from "./local-server";

async function votes(): Promise<string[]> {
  const voters = Number(process.env.BENCH_VOTERS ?? 1000);
  const server = await startServer({ env: { ATTEMPT_LIMIT: "1000000", ROOM_MAX_PARTICIPANTS: "100000" } });
  let children: Awaited<ReturnType<typeof forkClients>> = [];
  try {
    children = await forkClients();
    const chairToken = await devLogin(server.base, "Vorsitz");
    const room = await createRoom(server.base, chairToken, { name: "Plenarsitzung" });
    const chair = await openSignaling(server.base, room.id, (await startRoom(server.base, chairToken, room.id)).ticket);
    await chair.message("control", "join_success");
    const tokens = await Promise.all(Array.from({ length: voters }, (_, i) => devLogin(server.base, `MdL ${i}`)));
    const joined = children.map((child) => once<{ participantIds: string[]; errors: number }>(child, "joined"));
    for (const [i, child] of children.entries()) {
      const share = tokens.filter((_, t) => t % PROCESSES === i);
      // The vote waits for answers per socket: these clients keep their frames.
      const command = { type: "join", base: server.base, roomId: room.id, tokens: share, concurrency: 8 };
      child.send({ ...command, collectFrames: true });
    }
    const replies = await Promise.all(joined);
    const failed = replies.reduce((sum, r) => sum + r.errors, 0);
    if (failed > 0) throw new Error(`${failed} voters could not join`);
    const ids = replies.flatMap((r) => r.participantIds);
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
    await stopClients(children);
    await server.stop();
  }
}

const OPERATOR_TOKEN = "bench-operator-token-0123456789abcdef012";
/** Connections whose session tokens the TURN part asks with (a verification each the first time). */
const COLD_TOKENS = 1024;

async function turnCredentials(): Promise<{ lines: string[]; results: { lines: string[]; row: string[] } }> {
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
  const minimalDo = await startMinimalDoServer().catch(async (error) => {
    await server.stop();
    throw error;
  });
  try {
    await call(server.base, "POST", "/v1/operator/turn/secrets", { token: OPERATOR_TOKEN, body: { activate: true } });
    // Session tokens of COLD_TOKENS connections (8 rooms), each asked with once: every request verifies afresh.
    const sockets: FrameCollector[] = [];
    const sessionTokens = (
      await Promise.all(
        Array.from({ length: 8 }, async (_, r) => {
          const owner = await devLogin(server.base, `Bench ${r}`);
          const room = await createRoom(server.base, owner);
          const tokens: string[] = [];
          for (let i = 0; i < COLD_TOKENS / 8; i++) {
            const person = i === 0 ? owner : await devLogin(server.base, `Bench ${r}.${i}`);
            const { ticket } = await startRoom(server.base, person, room.id);
            const socket = await openSignaling(server.base, room.id, ticket);
            sockets.push(socket);
            const joined = (await socket.message("control", "join_success")).payload as unknown as {
              modules: { turn: { session_token: string } };
            };
            tokens.push(joined.modules.turn.session_token);
          }
          return tokens;
        }),
      )
    ).flat();
    const plenum = { base: server.base, cpuMs: () => processCpuMs(workerdPid(server.dataDir)) };
    /**
     * 32 clients asking `path` of `target` as fast as they can, for `seconds` or until `headers` has none left:
     * requests per second, latencies, the server's CPU per request.
     */
    const load = async (
      target: { base: string; cpuMs(): number },
      path: string,
      headers: () => Record<string, string> | undefined,
      seconds: number,
    ) => {
      const latencies: number[] = [];
      const cpuBefore = target.cpuMs();
      const started = now();
      const until = started + seconds * 1000;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          for (let next = headers(); next && now() < until; next = headers()) {
            const sent = now();
            const response = await httpRequest(`${target.base}${path}`, { headers: next });
            if (response.status !== 200) throw new Error(`GET ${path} ${response.status}`);
            latencies.push(now() - sent);
          }
        }),
      );
      const elapsed = (now() - started) / 1000;
      const cpuMs = (target.cpuMs() - cpuBefore) / latencies.length;
      const line =
        `${(latencies.length / elapsed).toFixed(0)}/s (p50 ${ms(percentile(latencies, 50))}, ` +
        `p99 ${ms(percentile(latencies, 99))}); workerd CPU ${(cpuMs * 1000).toFixed(0)} µs per request, ` +
        `${(1000 / cpuMs).toFixed(0)}/s on a core of its own`;
      return { cpuMs, rate: latencies.length / elapsed, line };
    };
    const bearer = (token: string) => ({ authorization: `Bearer ${token}`, "x-region": "de-east" });
    const unused = [...sessionTokens];
    const cold = await load(plenum, "/v1/turn", () => (unused.length > 0 ? bearer(unused.pop()!) : undefined), 60);
    const again = () => bearer(sessionTokens[Math.floor(Math.random() * sessionTokens.length)]!);
    /** After a second of warm-up, three runs of 5 s; the one of median CPU per request. */
    const median = async (...args: Parameters<typeof load>) => {
      await load(args[0], args[1], args[2], 1);
      const runs = [];
      for (let i = 0; i < 3; i++) runs.push(await load(...args));
      return runs.sort((a, b) => a.cpuMs - b.cpuMs)[1]!;
    };
    const warm = await median(plenum, "/v1/turn", again, 5);
    // workerd's own floor for a request through the same worker: the health check answers from memory.
    const floor = await median(plenum, "/healthz", () => ({}), 5);
    // And for a request that asks a Durable Object once, as GET /v1/turn asks its room: a minimal DO's own workerd.
    const minimal = { base: minimalDo.url.replace(/^ws:/, "http:"), cpuMs: () => minimalDo.cpuMs() };
    const rpcFloor = await median(minimal, "/rpc", () => ({}), 5);
    for (const socket of sockets) socket.close();
    const perSecond = (run: { rate: number }) => `${run.rate.toFixed(0)}/s`;
    // The signalling table's columns: what, raw ws, Socket.IO, minimal DO, Plenum, Plenum / floor, goal.
    const row = [
      "TURN credentials per second",
      `(/healthz ${perSecond(floor)})`,
      "",
      `${perSecond(rpcFloor)} (GET /rpc)`,
      `${perSecond(warm)} asking again, ${perSecond(cold)} first use`,
      `${(warm.cpuMs / floor.cpuMs).toFixed(1)}× /healthz, ${(warm.cpuMs / rpcFloor.cpuMs).toFixed(1)}× /rpc (CPU)`,
      "≥ 5,000/s",
    ];
    const lines = [
      `GET /v1/turn, ${COLD_TOKENS} sessions asking again (median of 3 runs, as the floors): ${warm.line}`,
      `GET /v1/turn, each of ${COLD_TOKENS} session tokens the first time (signature verified): ${cold.line}`,
      `GET /healthz (workerd's floor per request): ${floor.line}`,
      `minimal DO, GET /rpc (a request with one RPC to its object): ${rpcFloor.line}`,
      `GET /v1/turn / floor: ${(warm.cpuMs / floor.cpuMs).toFixed(1)}× (asking again), ` +
        `${(cold.cpuMs / floor.cpuMs).toFixed(1)}× (first time) the CPU per request; ` +
        `/ the RPC floor: ${(warm.cpuMs / rpcFloor.cpuMs).toFixed(1)}× (asking again), ` +
        `${(cold.cpuMs / rpcFloor.cpuMs).toFixed(1)}× (first time); ` +
        "the floors check no token and mint nothing, so these ratios stay above 1; " +
        "32 concurrent clients in one Node process on the same 2 cores",
    ];
    return { lines, results: { lines, row } };
  } finally {
    await Promise.all([server.stop(), minimalDo.stop()]);
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
const jsonPath = process.env.BENCH_JSON ?? join(import.meta.dirname, "..", "bench-results.json");
const results: Record<string, unknown> = { startedAt: new Date().toISOString(), only: only ?? "all" };
const report: string[] = [];

const failed: string[] = [];

/**
 * Runs one part unless BENCH_ONLY names another; its lines go to the report and, as they stand, to BENCH_JSON. A
 * part that fails is reported and the next runs, so one failure loses no other part's figures (the exit code is 1).
 */
async function part(name: string, title: string, run: () => Promise<string[] | { lines: string[]; results: unknown }>) {
  if (only !== undefined && only !== name) return;
  let outcome: Awaited<ReturnType<typeof run>>;
  try {
    outcome = await run();
  } catch (error) {
    console.error(`bench part ${name} failed:`, error);
    failed.push(name);
    report.push(title, `failed: ${error instanceof Error ? error.message : String(error)}`);
    return;
  }
  const lines = Array.isArray(outcome) ? outcome : outcome.lines;
  results[name] = Array.isArray(outcome) ? { lines } : outcome.results;
  report.push(title, ...lines);
  writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`); // after each part: a later failure keeps it
}

await part("signalling", "Signalling (medians; Plenum / floor: Plenum over raw ws):", signalling);
await part("turn", "TURN credentials:", turnCredentials);
await part("votes", "Legal votes:", votes);
await part("guessing", "Password guessing burst (32 parallel wrong passwords, a new address each):", guessingBurst);
await part("media", "Media (Janus 1.1, coturn, Chromium with 320x240 fake camera, in a network namespace):", async () =>
  media(),
);
const tables = results as { signalling?: { rows: string[][] }; turn?: { row: string[] } };
if (tables.signalling && tables.turn) {
  report.push(
    "Summary (the signalling table with TURN):",
    ...alignedTable([...tables.signalling.rows, tables.turn.row]),
  );
}
console.log(`\n${report.join("\n")}\nresults: ${jsonPath}`);
if (failed.length > 0) process.exitCode = 1;
