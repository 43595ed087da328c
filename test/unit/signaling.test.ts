import { afterEach, describe, expect, it, vi } from "vitest";
import { Signaling } from "../../src/client/signaling";

/** A stand-in for the browser's WebSocket (Node 20 has none): the test plays the server's frames. */
class FakeSocket extends EventTarget {
  static last: FakeSocket | undefined;
  readonly sent: string[] = [];
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {
    super();
    FakeSocket.last = this;
    queueMicrotask(() => this.dispatchEvent(new Event("open")));
  }
  send(data: string) {
    this.sent.push(data);
  }
  close() {}
  /** Delivers one server frame. */
  frame(namespace: string, payload: Record<string, unknown>, transactionId?: number) {
    const data = JSON.stringify({
      namespace,
      timestamp: new Date().toISOString(),
      payload,
      transaction_id: transactionId,
    });
    this.dispatchEvent(new MessageEvent("message", { data }));
  }
}

const ID = "participant-0001";
const message = (content: unknown, scope: string) => ({
  message: "message_sent",
  id: "1",
  source: ID,
  content,
  scope,
  timestamp: new Date().toISOString(),
});

afterEach(() => vi.unstubAllGlobals());

describe("client signalling (pure dispatch logic, fake socket)", () => {
  it("dispatches typed events, skips unknown namespaces and events, accepts unknown enum values", async () => {
    vi.stubGlobal("WebSocket", FakeSocket);
    const debug = vi.spyOn(console, "debug").mockImplementation(() => {});
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const signaling = await Signaling.open("http://127.0.0.1:8787", "room-0001", "ticket");
    const socket = FakeSocket.last!;
    expect(socket.url).toBe("ws://127.0.0.1:8787/v1/rooms/room-0001/signaling");
    expect(socket.protocols).toEqual(["plenum-signaling-v1", "ticket#ticket"]);

    const chat: string[] = [];
    const left: string[] = [];
    const errors: string[] = [];
    signaling.on("chat", "message_sent", (payload) => chat.push(`${payload.content}/${payload.scope}`));
    signaling.on("control", "left", (payload) => left.push(String(payload.reason)));
    signaling.onError((namespace, payload, transactionId) =>
      errors.push(`${namespace}:${payload.error}:${transactionId}`),
    );

    socket.frame("whiteboard", { message: "opened", pages: [] }); // a namespace of a newer server
    socket.frame("chat", { message: "message_edited", id: "1" }); // an event of a newer server
    socket.frame("chat", message("hallo", "global"));
    socket.frame("chat", message("in the group", "group")); // an enum value of a newer server
    socket.frame("chat", message(42, "global")); // malformed: dropped
    socket.frame("control", { message: "left", participants: [ID], reason: "banished" });
    socket.frame("chat", { message: "error", error: "slow_mode", text: "wait" }, 3); // an unknown error code

    expect(chat).toEqual(["hallo/global", "in the group/group"]);
    expect(left).toEqual(["banished"]);
    expect(errors).toEqual(["chat:slow_mode:3"]);
    expect(debug).toHaveBeenCalledTimes(2);
    expect(warn).toHaveBeenCalledTimes(1);

    const id = signaling.send("chat", { action: "send_message", content: "hi" });
    expect(JSON.parse(socket.sent[0]!)).toEqual({
      namespace: "chat",
      payload: { action: "send_message", content: "hi" },
      transaction_id: id,
    });
  });
});
