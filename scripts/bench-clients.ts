/**
 * A benchmark client process: joins its share of participants through the real REST + ticket flow and reports
 * chat delivery latencies to the coordinator (scripts/bench.ts) over IPC.
 */
import { openSignaling, startRoom } from "../test/helpers/client";
import type { FrameCollector } from "../test/helpers/collector";

type Command =
  | { type: "join"; base: string; roomId: string; tokens: string[]; concurrency: number }
  | { type: "close" };

const clients: FrameCollector[] = [];
const now = () => performance.timeOrigin + performance.now();
/** seq → latencies seen so far by this process's clients. */
const latencies = new Map<number, number[]>();

function watch(client: FrameCollector): void {
  client.socket.addEventListener("message", (event) => {
    const data = String(event.data);
    if (!data.includes('"message_sent"')) return;
    const content = (JSON.parse(data) as { payload: { content: string } }).payload.content;
    const [, seq, sentAt] = content.split(":");
    const list = latencies.get(Number(seq)) ?? [];
    list.push(now() - Number(sentAt));
    latencies.set(Number(seq), list);
    if (list.length === clients.length) {
      process.send!({ type: "delivered", seq: Number(seq), slowest: Math.max(...list) });
      latencies.delete(Number(seq));
    }
  });
}

process.on("message", async (command: Command) => {
  if (command.type === "close") {
    for (const client of clients) client.close();
    process.exit(0);
  }
  const joinTimes: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < command.tokens.length) {
      const token = command.tokens[next++]!;
      const started = now();
      const { ticket } = await startRoom(command.base, token, command.roomId);
      const client = await openSignaling(command.base, command.roomId, ticket);
      await client.message("control", "join_success", 60_000);
      joinTimes.push(now() - started);
      clients.push(client);
      watch(client);
    }
  };
  await Promise.all(Array.from({ length: command.concurrency }, worker));
  process.send!({ type: "joined", joinTimes });
});

process.send!({ type: "ready" });
