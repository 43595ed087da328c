/**
 * A benchmark client process: joins its share of participants through the real REST + ticket flow and reports
 * chat delivery latencies to the coordinator (scripts/bench.ts) over IPC.
 */
import { openSignaling, startRoom } from "../test/helpers/client";
import type { FrameCollector } from "../test/helpers/collector";

type Command =
  | { type: "join"; base: string; roomId: string; tokens: string[]; concurrency: number }
  | { type: "vote"; voteId: string }
  | { type: "ping" }
  | { type: "close" };

const clients: FrameCollector[] = [];
const participantIds: string[] = [];
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
  if (command.type === "vote") return castAll(command.voteId);
  if (command.type === "ping") return pingAll();
  const joinTimes: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < command.tokens.length) {
      const token = command.tokens[next++]!;
      const started = now();
      const { ticket } = await startRoom(command.base, token, command.roomId);
      const client = await openSignaling(command.base, command.roomId, ticket);
      const joined = await client.message("control", "join_success", 60_000);
      joinTimes.push(now() - started);
      participantIds.push(String((joined.payload as { participant_id: string }).participant_id));
      clients.push(client);
      watch(client);
    }
  };
  await Promise.all(Array.from({ length: command.concurrency }, worker));
  process.send!({ type: "joined", joinTimes, participantIds });
});

/** The floor of a burst: every client sends a frame the room answers without work (an unknown action). */
async function pingAll(): Promise<void> {
  const from = clients.map((client) => client.frames.length);
  for (const client of clients) client.send("control", { action: "bench_ping" });
  await Promise.all(clients.map((client, i) => client.next((f) => f.payload.message === "error", 60_000, from[i])));
  process.send!({ type: "pinged", last: now() });
}

/** Every client of this process casts its ballot at once; reports when the last receipt came, and the receipts. */
async function castAll(voteId: string): Promise<void> {
  const from = clients.map((client) => client.frames.length);
  clients.forEach((client, i) => {
    client.send("legal_vote", { action: "vote", vote_id: voteId, option: i % 4 === 0 ? "no" : "yes" });
  });
  const receipts = await Promise.all(
    clients.map(async (client, i) => {
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

process.send!({ type: "ready" });
