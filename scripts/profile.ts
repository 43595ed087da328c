/**
 * `npm run profile`: CPU profiles of workerd (its inspector) while N participants join one room, while the owner's
 * chat fans out to them and while 32 clients ask GET /v1/turn with the owner's session token. Prints the functions
 * with the most self time per phase and writes each profile (`.cpuprofile`, for Chrome DevTools) to PROFILE_DIR.
 * `PROFILE_SIZE` (default 500), `PROFILE_MESSAGES` (200), `PROFILE_TURN_SECONDS` (5).
 */
import { type ChildProcess, fork } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { call, createRoom, devLogin, openSignaling, startRoom } from "../test/helpers/client";
import { httpRequest } from "./bench-http";
import { type CpuProfile, inspect } from "./inspector";
import { freePort, startServer } from "./local-server";

const SIZE = Number(process.env.PROFILE_SIZE ?? 500);
const MESSAGES = Number(process.env.PROFILE_MESSAGES ?? 200);
const TURN_SECONDS = Number(process.env.PROFILE_TURN_SECONDS ?? 5);
const PROCESSES = 2;
const OPERATOR_TOKEN = "profile-operator-token-0123456789abcdef0";
const OUT = process.env.PROFILE_DIR ?? "/tmp/plenum-profiles";

/** Milliseconds per function (summed over the call tree): its own (self) time and with what it calls (total). */
function hotFunctions(profile: CpuProfile, count: number): { self: string[]; total: string[] } {
  const selfOf = new Map<number, number>();
  for (const [i, node] of profile.samples.entries()) {
    selfOf.set(node, (selfOf.get(node) ?? 0) + profile.timeDeltas[i]! / 1000);
  }
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const nameOf = (node: CpuProfile["nodes"][number]) => {
    const { functionName, url, lineNumber } = node.callFrame;
    return `${functionName || "(anonymous)"} ${url.split("/").pop() || "(native)"}:${lineNumber + 1}`;
  };
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  // Total time counts a function once per stack, however often it recurses.
  const walk = (id: number, onStack: ReadonlySet<string>): number => {
    const node = byId.get(id)!;
    const name = nameOf(node);
    const own = selfOf.get(id) ?? 0;
    self.set(name, (self.get(name) ?? 0) + own);
    const stack = new Set(onStack).add(name);
    const sum = (node.children ?? []).reduce((acc, child) => acc + walk(child, stack), own);
    if (!onStack.has(name)) total.set(name, (total.get(name) ?? 0) + sum);
    return sum;
  };
  const all = walk(profile.nodes[0]!.id, new Set());
  const top = (times: Map<string, number>) =>
    [...times.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, count)
      .map(([name, ms]) => `${((100 * ms) / all).toFixed(1).padStart(5)} %  ${ms.toFixed(0).padStart(6)} ms  ${name}`);
  return { self: top(self), total: top(total) };
}

function once<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve) => {
    const listener = (message: { type: string }) => {
      if (message.type !== type) return;
      child.off("message", listener);
      resolve(message as T);
    };
    child.on("message", listener);
  });
}

const inspectorAddress = `127.0.0.1:${await freePort()}`;
const server = await startServer({
  env: {
    PLENUM_INSPECTOR_ADDR: inspectorAddress,
    OPERATOR_TOKEN,
    TURN_NODES: JSON.stringify([{ id: "e1", region: "de-east", host: "turn-e1.example" }]),
    TURN_PROBE_INTERVAL_SECONDS: "3600",
    TURN_REQUESTS_PER_MINUTE: "100000000",
    ATTEMPT_LIMIT: "1000000",
    ROOM_MAX_PARTICIPANTS: "100000",
    CHAT_BURST: "1000000",
    RATE_LIMIT_PER_SECOND: "100000",
    RATE_LIMIT_BURST: "100000",
  },
});
await mkdir(OUT, { recursive: true });
const profiler = await inspect(inspectorAddress);
const children = Array.from({ length: PROCESSES }, () =>
  fork(join(import.meta.dirname, "bench-clients.ts"), { execArgv: ["--import", "tsx"], stdio: "inherit" }),
);
try {
  const ownerToken = await devLogin(server.base, "Chair");
  const room = await createRoom(server.base, ownerToken, { name: "profile" });
  const owner = await openSignaling(server.base, room.id, (await startRoom(server.base, ownerToken, room.id)).ticket);
  const joined = (await owner.message("control", "join_success")).payload as unknown as {
    modules: { turn: { session_token: string } };
  };
  await call(server.base, "POST", "/v1/operator/turn/secrets", { token: OPERATOR_TOKEN, body: { activate: true } });
  const tokens = await Promise.all(Array.from({ length: SIZE - 1 }, (_, i) => devLogin(server.base, `P${i}`)));
  await Promise.all(children.map((child) => once(child, "ready")));

  console.log(`profiling ${SIZE} joins`);
  await profiler.startProfile();
  const allJoined = children.map((child) => once(child, "joined"));
  children.forEach((child, i) => {
    const share = tokens.filter((_, t) => t % PROCESSES === i);
    child.send({ type: "join", base: server.base, roomId: room.id, tokens: share, concurrency: 8 });
  });
  await Promise.race([
    Promise.all(allJoined),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`joins stuck:\n${server.output()}`)), 60_000)),
  ]);
  const joinProfile = await profiler.stopProfile();
  await new Promise((r) => setTimeout(r, 500));
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  for (const collect of [false, true]) {
    const heap = await profiler.heap(collect);
    console.log(
      `${collect ? "after a full GC" : `after ${SIZE} joins`}: workerd RSS ${mib(server.workerdRss())}, ` +
        `JS heap ${mib(heap.usedSize)} used of ${mib(heap.totalSize)}`,
    );
  }

  await profiler.startProfile();
  let delivered = 0;
  const all = new Promise<void>((resolve) => {
    for (const child of children) {
      child.on("message", (m: { type: string }) => {
        if (m.type === "delivered" && ++delivered === MESSAGES * PROCESSES) resolve();
      });
    }
  });
  for (let seq = 0; seq < MESSAGES; seq++) {
    owner.send("chat", { action: "send_message", content: `bench:${seq}:${Date.now()}` });
    await new Promise((r) => setTimeout(r, 20));
  }
  await all;
  const chatProfile = await profiler.stopProfile();

  const headers = { authorization: `Bearer ${joined.modules.turn.session_token}` };
  await profiler.startProfile();
  const until = Date.now() + TURN_SECONDS * 1000;
  let requests = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (Date.now() < until) {
        const response = await httpRequest(`${server.base}/v1/turn`, { headers });
        if (response.status !== 200) throw new Error(`GET /v1/turn ${response.status}: ${response.body}`);
        requests++;
      }
    }),
  );
  const turnProfile = await profiler.stopProfile();
  for (const [phase, profile] of [
    ["join", joinProfile],
    ["chat", chatProfile],
    ["turn", turnProfile],
  ] as const) {
    await writeFile(join(OUT, `${phase}.cpuprofile`), JSON.stringify(profile));
    const what =
      phase === "turn"
        ? `GET /v1/turn (${requests} requests)`
        : `${phase} (N = ${SIZE}${phase === "chat" ? `, ${MESSAGES} messages` : ""})`;
    const hot = hotFunctions(profile, 30);
    console.log(
      `\n${what}: most self time\n${hot.self.join("\n")}\n\n${what}: most total time\n${hot.total.join("\n")}`,
    );
  }
  owner.close();
} finally {
  for (const child of children) child.send({ type: "close" });
  profiler.close();
  // workerd does not exit on SIGTERM while its inspector has had a session.
  await server.crash();
}
