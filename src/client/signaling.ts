import { ServerFrameSchema } from "../protocol";
import { SUBPROTOCOL, TICKET_PREFIX } from "../protocol/frames";

export type ServerPayload = { message: string } & Record<string, unknown>;
export type FrameHandler = (namespace: string, payload: ServerPayload) => void;

/** The browser's signalling connection: the ticket travels in the subprotocol header, never in the URL. */
export class Signaling {
  private readonly handlers = new Set<FrameHandler>();
  private transaction = 0;

  private constructor(private readonly socket: WebSocket) {
    // Every frame is checked against the protocol's schemas (the server's own); one that does not fit is dropped.
    socket.addEventListener("message", (event) => {
      let json: unknown;
      try {
        json = JSON.parse(String(event.data));
      } catch {
        return console.warn("signalling: a frame that is not JSON was dropped");
      }
      const frame = ServerFrameSchema.safeParse(json);
      if (!frame.success)
        return console.warn("signalling: a frame outside the protocol was dropped:", frame.error.issues[0]);
      const { namespace, payload } = frame.data as { namespace: string; payload: ServerPayload };
      for (const handler of this.handlers) handler(namespace, payload);
    });
  }

  static open(base: string, roomId: string, ticket: string): Promise<Signaling> {
    const url = `${base.replace(/^http/, "ws")}/v1/rooms/${encodeURIComponent(roomId)}/signaling`;
    const socket = new WebSocket(url, [SUBPROTOCOL, `${TICKET_PREFIX}${ticket}`]);
    return new Promise((resolve, reject) => {
      const signaling = new Signaling(socket);
      socket.addEventListener("open", () => resolve(signaling), { once: true });
      socket.addEventListener("error", () => reject(new Error("signalling connection failed")), { once: true });
    });
  }

  /** The connection closed (code 4000–4999: the server says do not reconnect). */
  onClose(handler: (code: number, reason: string) => void): void {
    this.socket.addEventListener("close", (event) => handler(event.code, event.reason), { once: true });
  }

  on(handler: FrameHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  send(namespace: string, payload: Record<string, unknown>): void {
    this.socket.send(JSON.stringify({ namespace, payload, transaction_id: ++this.transaction }));
  }

  close(): void {
    this.socket.close(1000);
  }
}
