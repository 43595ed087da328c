import WebSocket from "ws";

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * A minimal Chrome DevTools Protocol session with workerd's inspector (`--inspector-addr`), for CPU profiles and
 * garbage collection. workerd answers Profiler.enable and Profiler.start with the request itself, which still
 * carries the id: every answer is matched by id.
 */
export async function inspect(address: string) {
  const targets = (await (await fetch(`http://${address}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl);
  await new Promise((resolve, reject) => socket.once("open", resolve).once("error", reject));
  let nextId = 1;
  const pending = new Map<number, (result: unknown) => void>();
  socket.on("message", (data) => {
    const message = JSON.parse(String(data)) as { id?: number; result?: unknown };
    if (message.id !== undefined) pending.get(message.id)?.(message.result);
  });
  const send = <T>(method: string, params: object = {}) =>
    new Promise<T>((resolve) => {
      const id = nextId++;
      pending.set(id, resolve as (result: unknown) => void);
      socket.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  return {
    /** The isolate's JS heap in bytes, after a full garbage collection when `collect` says so. */
    heap: async (collect: boolean) => {
      if (collect) await send("HeapProfiler.collectGarbage");
      return send<{ usedSize: number; totalSize: number }>("Runtime.getHeapUsage");
    },
    startProfile: () => send("Profiler.start"),
    stopProfile: async () => (await send<{ profile: CpuProfile }>("Profiler.stop")).profile,
    close: () => socket.close(),
  };
}

/**
 * One full garbage collection in the workerd behind `address` (memory figures count what is alive, not garbage);
 * the JS heap in use after it, in bytes. workerd's inspector answers only while the isolate serves a request: with
 * every object evicted, `nudge` (a request to the worker) runs until the answer is there.
 */
export async function collectGarbage(address: string, nudge?: () => Promise<unknown>): Promise<number> {
  const session = await inspect(address);
  let answered = false;
  try {
    const heap = session.heap(true).finally(() => (answered = true));
    while (nudge && !answered) {
      await nudge();
      await Promise.race([heap, new Promise((resolve) => setTimeout(resolve, 250))]);
    }
    return (await heap).usedSize;
  } finally {
    session.close();
  }
}
