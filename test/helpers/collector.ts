import { type ServerFrame, ServerFrameSchema } from "../../src/protocol";

/** The part of a WebSocket both Node's `ws` and the Workers runtime offer. */
export interface SocketLike {
  addEventListener(type: "message", listener: (event: { data: unknown }) => void): void;
  addEventListener(type: "close", listener: (event: { code: number; reason: string }) => void): void;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/**
 * Records every server frame of a signalling socket (each checked against the protocol schema) so tests can wait
 * for what they expect; shared by the in-workerd tier and the Node tiers.
 */
export class FrameCollector {
  readonly frames: ServerFrame[] = [];
  closed: { code: number; reason: string } | undefined;
  private waiters: (() => void)[] = [];
  private transaction = 0;

  constructor(readonly socket: SocketLike) {
    socket.addEventListener("message", (event) => {
      const parsed = ServerFrameSchema.safeParse(JSON.parse(String(event.data)));
      if (!parsed.success) throw new Error(`frame outside the protocol: ${String(event.data).slice(0, 300)}`);
      this.frames.push(parsed.data);
      this.wake();
    });
    socket.addEventListener("close", (event) => {
      this.closed = { code: event.code, reason: event.reason };
      this.wake();
    });
  }

  send(namespace: string, payload: Record<string, unknown>, transactionId?: number): number {
    const id = transactionId ?? ++this.transaction;
    this.socket.send(JSON.stringify({ namespace, payload, transaction_id: id }));
    return id;
  }

  /** The first recorded frame from index `from` on that matches, waiting up to `timeoutMs`. */
  async next(match: (frame: ServerFrame) => boolean, timeoutMs = 10_000, from = 0): Promise<ServerFrame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.slice(from).find(match);
      if (found) return found;
      if (this.closed) throw new Error(`closed (${this.closed.code} ${this.closed.reason}) while waiting`);
      if (Date.now() > deadline) throw new Error(`timed out; last frames: ${JSON.stringify(this.frames.slice(-3))}`);
      await this.tick(deadline);
    }
  }

  message(namespace: string, message: string, timeoutMs?: number, from?: number): Promise<ServerFrame> {
    return this.next((f) => f.namespace === namespace && f.payload.message === message, timeoutMs, from);
  }

  /** The next error frame after index `from`. */
  error(from: number, timeoutMs?: number): Promise<ServerFrame> {
    return this.next((f) => f.payload.message === "error", timeoutMs, from);
  }

  async waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error("socket did not close");
      await this.tick(deadline);
    }
    return this.closed;
  }

  close(code = 1000): void {
    this.socket.close(code);
  }

  private tick(deadline: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, Math.max(1, Math.min(100, deadline - Date.now())));
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
