/**
 * Password guessing burst vs. chat fan-out: a room of listeners measures chat delivery to its last recipient
 * while a second process fires wrong passwords at another room of the same workerd from ever new addresses (the
 * per-address limits never bite; only the per-process cap on password checks does). Run by scripts/bench.ts
 * (`BENCH_ONLY=guessing`) with the default PASSWORD_CHECKS_PER_SECOND, a quarter of it, and practically uncapped.
 */
import { fork } from "node:child_process";
import { createRoom, devLogin, openSignaling, startRoom } from "../test/helpers/client";
import type { FrameCollector } from "../test/helpers/collector";
import { startServer } from "./local-server";

type Attack = { base: string; roomId: string; token: string; concurrency: number };
const LISTENERS = 50;
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (process.argv[2] === "attack") {
  let running = true;
  const outcomes = new Map<number, number>();
  process.on("message", async (message: Attack | { type: "stop" }) => {
    if ("type" in message) {
      running = false;
      return;
    }
    let n = 0;
    const worker = async () => {
      while (running) {
        n++;
        const response = await fetch(`${message.base}/v1/rooms/${message.roomId}/start`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${message.token}`,
            "content-type": "application/json",
            "x-real-ip": `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`,
          },
          body: JSON.stringify({ password: `guess-${n}` }),
        });
        await response.arrayBuffer();
        outcomes.set(response.status, (outcomes.get(response.status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: message.concurrency }, worker));
    process.send!({ type: "done", outcomes: Object.fromEntries(outcomes) });
  });
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
};

/** Chat latency to the last of the listeners, for messages sent every 150 ms during `ms`. */
async function chatFor(owner: FrameCollector, listeners: FrameCollector[], ms: number): Promise<number[]> {
  const latencies: number[] = [];
  const until = now() + ms;
  while (now() < until) {
    const tag = `guessing:${now()}:${Math.random()}`;
    const sent = now();
    owner.send("chat", { action: "send_message", content: tag });
    const arrivals = listeners.map((l) =>
      l.next((f) => f.payload.message === "message_sent" && (f.payload as { content?: string }).content === tag),
    );
    await Promise.all(arrivals);
    latencies.push(now() - sent);
    for (const l of listeners) l.frames.length = 0;
    await sleep(150);
  }
  return latencies;
}

async function run(checksPerSecond: string): Promise<string> {
  const server = await startServer({
    // The chair's message every 150 ms is beyond the production chat slow-down.
    env: { CLIENT_IP_HEADER: "x-real-ip", PASSWORD_CHECKS_PER_SECOND: checksPerSecond, CHAT_BURST: "1000000" },
  });
  try {
    const chairToken = await devLogin(server.base, "Chair");
    const chat = await createRoom(server.base, chairToken);
    const target = await createRoom(server.base, chairToken, { password: "the-real-one" });
    const join = async (token: string) => {
      const client = await openSignaling(server.base, chat.id, (await startRoom(server.base, token, chat.id)).ticket);
      await client.message("control", "join_success");
      return client;
    };
    const owner = await join(chairToken);
    const listeners: FrameCollector[] = [];
    for (let i = 0; i < LISTENERS; i++) listeners.push(await join(await devLogin(server.base, `Listener ${i}`)));
    await chatFor(owner, listeners, 1000); // warm-up
    const quiet = await chatFor(owner, listeners, 3000);

    const attacker = fork(import.meta.filename, ["attack"], { execArgv: ["--import", "tsx"], stdio: "inherit" });
    const done = new Promise<{ outcomes: Record<string, number> }>((resolve) => attacker.once("message", resolve));
    const token = await devLogin(server.base, "Mallory");
    attacker.send({ base: server.base, roomId: target.id, token, concurrency: 32 } satisfies Attack);
    await sleep(300);
    const burstSeconds = 4;
    const burst = await chatFor(owner, listeners, burstSeconds * 1000);
    attacker.send({ type: "stop" });
    const { outcomes } = await done;
    attacker.kill();
    for (const client of [owner, ...listeners]) client.close();
    const fmt = (v: number[]) =>
      `p50 ${percentile(v, 50).toFixed(1)} / p99 ${percentile(v, 99).toFixed(1)} / max ${Math.max(...v).toFixed(1)} ms`;
    const seconds = burstSeconds + 0.3;
    const checked = ((outcomes["403"] ?? 0) / seconds).toFixed(0);
    const refused = ((outcomes["429"] ?? 0) / seconds).toFixed(0);
    return (
      `PASSWORD_CHECKS_PER_SECOND=${checksPerSecond}: chat to the last of ${LISTENERS} quiet ${fmt(quiet)}; ` +
      `during the burst ${fmt(burst)} (${checked} checks/s answered 403, ${refused}/s refused 429)`
    );
  } finally {
    await server.stop();
  }
}

/** Capped at the default, at a quarter of it, and practically uncapped. */
export async function guessingBurst(): Promise<string[]> {
  return [await run("20"), await run("5"), await run("100000")];
}
