import { env, runInDurableObject } from "cloudflare:test";
import { exports } from "cloudflare:workers";
import { ServerFrameSchema, SUBPROTOCOL, TICKET_PREFIX } from "../../src/protocol";
import { BASE } from "../workers/helpers";

/** A server frame as received (validated against the protocol when it could be). */
export interface Received {
  namespace: string;
  payload: { message: string; error?: string; [key: string]: unknown };
  transaction_id?: number;
}

/**
 * One signalling connection under fuzzing: records every frame (indexed by transaction id, so a batch of pipelined
 * frames is matched to its answers without scanning) and every breach of the protocol instead of throwing inside
 * the runtime's event handler (test/helpers/collector.ts throws there, which ends a run at the first oddity).
 */
export class Wire {
  readonly frames: Received[] = [];
  /** Frames that are not JSON or not in the protocol's server-frame schema. */
  readonly outside: string[] = [];
  closed: { code: number; reason: string } | undefined;
  private readonly byTid = new Map<number, Received[]>();
  private readonly waiters = new Map<number, Set<() => void>>();
  private counter = 0;

  constructor(
    readonly name: string,
    private readonly socket: WebSocket,
  ) {
    socket.addEventListener("message", (event) => this.receive(event.data));
    socket.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      for (const waiters of [...this.waiters.values()]) for (const wake of [...waiters]) wake();
    });
  }

  /** The next transaction id of this connection (never reused, so answers of old batches cannot be mistaken). */
  nextTid(): number {
    return ++this.counter;
  }

  /** Messages sent on this connection so far (each one is a dispatch of the room object). */
  sentCount = 0;

  sendRaw(data: string | ArrayBuffer | ArrayBufferView): void {
    this.sentCount++;
    this.socket.send(data);
  }

  send(namespace: string, payload: Record<string, unknown>): number {
    const tid = this.nextTid();
    this.sendRaw(JSON.stringify({ namespace, payload, transaction_id: tid }));
    return tid;
  }

  answersTo(tid: number): readonly Received[] {
    return this.byTid.get(tid) ?? [];
  }

  /**
   * Resolves with the frame number `index` (from 0) carrying `tid`, once it is there; rejects when the connection
   * closes first or time runs out.
   */
  answer(tid: number, index = 0, timeoutMs = 30_000): Promise<Received> {
    const found = this.byTid.get(tid)?.[index];
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiters = this.waiters.get(tid) ?? new Set<() => void>();
      this.waiters.set(tid, waiters);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(wake);
        if (waiters.size === 0) this.waiters.delete(tid);
      };
      const wake = () => {
        const frame = this.byTid.get(tid)?.[index];
        if (frame) {
          done();
          resolve(frame);
        } else if (this.closed) {
          done();
          reject(new Error(`${this.name} closed (${this.closed.code} ${this.closed.reason}) awaiting ${tid}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name}: no answer to transaction ${tid} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.add(wake);
    });
  }

  /** The first frame from index `from` on that matches, waiting for it (a positive barrier, never a sleep). */
  async next(match: (frame: Received) => boolean, from = 0, timeoutMs = 30_000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    let scanned = from;
    for (;;) {
      for (; scanned < this.frames.length; scanned++) if (match(this.frames[scanned]!)) return this.frames[scanned]!;
      if (this.closed) throw new Error(`${this.name} closed (${this.closed.code}) while waiting`);
      if (Date.now() > deadline) throw new Error(`${this.name}: timed out; last ${JSON.stringify(this.frames.at(-1))}`);
      // A probe transaction: its answer comes after every frame the room sent before it handled the probe.
      await this.answer(this.send("control", { action: "fuzz_probe" }), 0, Math.max(1, deadline - Date.now()));
    }
  }

  close(code = 1000): void {
    this.socket.close(code);
  }

  private receive(data: unknown): void {
    let json: unknown;
    try {
      json = JSON.parse(String(data));
    } catch {
      this.outside.push(`not JSON: ${String(data).slice(0, 200)}`);
      return;
    }
    const parsed = ServerFrameSchema.safeParse(json);
    if (!parsed.success) this.outside.push(`outside the protocol: ${String(data).slice(0, 300)}`);
    const frame = json as Received;
    this.frames.push(frame);
    const tid = frame.transaction_id;
    if (typeof tid === "number") {
      const list = this.byTid.get(tid);
      if (list) list.push(frame);
      else this.byTid.set(tid, [frame]);
      for (const wake of [...(this.waiters.get(tid) ?? [])]) wake();
    }
  }
}

/** Opens a signalling connection with a ticket; throws when the upgrade is refused. */
export async function connect(name: string, roomId: string, ticket: string): Promise<Wire> {
  const response = await exports.default.fetch(
    new Request(`${BASE}/v1/rooms/${roomId}/signaling`, {
      headers: { upgrade: "websocket", "sec-websocket-protocol": `${SUBPROTOCOL}, ${TICKET_PREFIX}${ticket}` },
    }),
  );
  const socket = response.webSocket;
  if (!socket) throw new Error(`upgrade of ${name} refused: ${response.status} ${await response.text()}`);
  socket.accept();
  return new Wire(name, socket);
}

const roomStub = (roomId: string) => env.ROOMS.get(env.ROOMS.idFromName(roomId));

type Counted = { dispatcher: { message(socket: WebSocket, data: unknown): Promise<void>; fuzzCount?: number } };

/**
 * Test-side instrumentation (the harness's way: the live object's wiring, until it is rebuilt): counts the
 * messages the room object's dispatcher was handed. Needed because in this tier the runtime may hand a room the
 * frames one connection pipelines in another order than they were sent (plain workerd keeps the order), so an
 * answered probe does not prove that the frames sent before it have been handled; a count does.
 */
export function countDispatches(roomId: string): Promise<void> {
  return runInDurableObject(roomStub(roomId), (instance) => {
    const { dispatcher } = instance as unknown as Counted;
    if (dispatcher.fuzzCount !== undefined) return;
    const original = dispatcher.message.bind(dispatcher);
    dispatcher.fuzzCount = 0;
    dispatcher.message = (socket, data) => {
      dispatcher.fuzzCount = (dispatcher.fuzzCount ?? 0) + 1;
      return original(socket, data);
    };
  });
}

/** How many messages the room object has dispatched since `countDispatches`; undefined if it was rebuilt. */
export function dispatches(roomId: string): Promise<number | undefined> {
  return runInDurableObject(roomStub(roomId), (instance) => (instance as unknown as Counted).dispatcher.fuzzCount);
}

type Value = string | number | null;
/** Every stored row of a room object, table by table, plus its key-value storage and alarm. */
export type RoomDump = Record<string, string[]>;

const text = (value: SqlStorageValue): Value =>
  value instanceof ArrayBuffer ? `blob:${[...new Uint8Array(value)].join(",")}` : value;

/**
 * Reads the whole stored state of a room object: every SQLite table (rows as JSON, sorted, so the order a query
 * returns them in does not count), the key-value API's entries and the alarm. Only the runtime's own `_cf_`
 * tables are not read with SQL (the runtime forbids it); what they hold for us, the key-value entries, is read
 * through the storage API instead, and the alarm with getAlarm.
 */
export function dumpRoom(roomId: string): Promise<RoomDump> {
  return runInDurableObject(roomStub(roomId), async (_instance, state) => {
    const sql = state.storage.sql;
    const tables = sql
      .exec<{ name: string }>(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\'",
      )
      .toArray()
      .map((row) => row.name);
    const dump: RoomDump = {};
    for (const table of tables) {
      dump[table] = sql
        .exec(`SELECT * FROM "${table}"`)
        .toArray()
        .map((row) => JSON.stringify(Object.entries(row).map(([k, v]) => [k, text(v)])))
        .sort();
    }
    const kv = await state.storage.list();
    dump["(key-value)"] = [...kv.entries()].map(([k, v]) => JSON.stringify([k, v])).sort();
    dump["(alarm)"] = [String(await state.storage.getAlarm())];
    return dump;
  });
}

/** The tables whose rows differ between two dumps. */
export function changedTables(before: RoomDump, after: RoomDump): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((name) => JSON.stringify(before[name] ?? null) !== JSON.stringify(after[name] ?? null));
}

/** Rows of one table of a dump, parsed back to objects. */
export function rowsOf(dump: RoomDump, table: string): Record<string, Value>[] {
  return (dump[table] ?? []).map((row) => Object.fromEntries(JSON.parse(row) as [string, Value][]));
}
