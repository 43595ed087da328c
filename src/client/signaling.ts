import { z } from "zod";
import {
  type CommandOf,
  type ErrorPayload,
  ErrorPayloadSchema,
  type EventName,
  eventNames,
  isNamespace,
  NAMESPACE_NAMES,
  NAMESPACES,
  type Namespace,
  type ReceivedEvent,
  type ReceivedEventOf,
} from "../protocol";
import { SUBPROTOCOL, serverFrameSchema, TICKET_PREFIX } from "../protocol/frames";

/** Read first, so that frames of namespaces or events this client does not know can be skipped. */
const EnvelopeSchema = serverFrameSchema(z.object({ message: z.string() }).loose());
const KNOWN_EVENTS = new Map(NAMESPACE_NAMES.map((namespace) => [namespace, eventNames(namespace)]));

type NamespaceListener<N extends Namespace> = (payload: ReceivedEventOf<N>) => void;
export type ErrorListener = (namespace: string, payload: ErrorPayload, transactionId: number | undefined) => void;

const isMessage = <N extends Namespace, M extends EventName<N>>(
  payload: ReceivedEventOf<N>,
  message: M,
): payload is ReceivedEvent<N, M> => payload.message === message;

/** The browser's signalling connection: the ticket travels in the subprotocol header, never in the URL. */
export class Signaling {
  /** Listeners by namespace; `onNamespace` files each under the namespace its type was checked against. */
  private readonly listeners = new Map<Namespace, Set<NamespaceListener<never>>>();
  private readonly errorListeners = new Set<ErrorListener>();
  private transaction = 0;

  private constructor(private readonly socket: WebSocket) {
    socket.addEventListener("message", (event) => this.receive(event.data));
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

  /** Calls `listener` with each `message` event of `namespace`; returns the function that unsubscribes it. */
  on<N extends Namespace, M extends EventName<N>>(
    namespace: N,
    message: M,
    listener: (payload: ReceivedEvent<N, M>) => void,
  ): () => void {
    return this.onNamespace(namespace, (payload) => {
      if (isMessage(payload, message)) listener(payload);
    });
  }

  /** Calls `listener` with every event of `namespace`; returns the function that unsubscribes it. */
  onNamespace<N extends Namespace>(namespace: N, listener: NamespaceListener<N>): () => void {
    let listeners = this.listeners.get(namespace);
    if (!listeners) {
      listeners = new Set();
      this.listeners.set(namespace, listeners);
    }
    const stored = listener as NamespaceListener<never>;
    listeners.add(stored);
    return () => void listeners.delete(stored);
  }

  /** Error frames (`message: "error"`) of any namespace, with the transaction id of the command they refuse. */
  onError(listener: ErrorListener): () => void {
    this.errorListeners.add(listener);
    return () => void this.errorListeners.delete(listener);
  }

  /** The connection closed (code 4000–4999: the server says do not reconnect). */
  onClose(handler: (code: number, reason: string) => void): void {
    this.socket.addEventListener("close", (event) => handler(event.code, event.reason), { once: true });
  }

  /** Sends a command; returns its transaction id, which an error frame about it carries. */
  send<N extends Namespace>(namespace: N, payload: CommandOf<N>): number {
    const transactionId = ++this.transaction;
    this.socket.send(JSON.stringify({ namespace, payload, transaction_id: transactionId }));
    return transactionId;
  }

  close(): void {
    this.socket.close(1000);
  }

  /** Each event is checked against its namespace's schema (the server's own); one that does not fit is dropped. */
  private receive(data: unknown): void {
    let json: unknown;
    try {
      json = JSON.parse(String(data));
    } catch {
      return console.warn("signalling: a frame that is not JSON was dropped");
    }
    const envelope = EnvelopeSchema.safeParse(json);
    if (!envelope.success)
      return console.warn("signalling: a frame outside the protocol was dropped:", envelope.error.issues[0]);
    const { namespace, payload, transaction_id } = envelope.data;
    if (payload.message === "error") {
      const error = ErrorPayloadSchema.safeParse(payload);
      if (!error.success)
        return console.warn("signalling: a malformed error frame was dropped:", error.error.issues[0]);
      for (const listener of this.errorListeners) listener(namespace, error.data, transaction_id);
      return;
    }
    // A newer server may send namespaces and events this client does not know yet: skipped, not an error.
    if (!isNamespace(namespace) || !KNOWN_EVENTS.get(namespace)?.has(payload.message))
      return console.debug(`signalling: skipped unknown event ${namespace}.${payload.message}`);
    const event = NAMESPACES[namespace].events.safeParse(payload);
    if (!event.success)
      return console.warn(
        `signalling: a malformed ${namespace}.${payload.message} was dropped:`,
        event.error.issues[0],
      );
    this.dispatch(namespace, event.data);
  }

  private dispatch<N extends Namespace>(namespace: N, payload: ReceivedEventOf<N>): void {
    for (const listener of this.listeners.get(namespace) ?? []) (listener as NamespaceListener<N>)(payload);
  }
}
