import { ClientFrameSchema, CloseCode } from "../../src/protocol";
import type { Config } from "../../src/shared/config";
import { logFailure } from "../../src/shared/log";
import { TokenBucket } from "../../src/shared/token-bucket";
import type { ModuleHost } from "./host";
import type { CommandError, Sender } from "./module";
import type { Roster } from "./roster";
import type { Transport } from "./transport";

export interface DispatchDeps {
  config: Config;
  storage: DurableObjectStorage;
  roster: () => Roster;
  host: () => ModuleHost;
  transport: Transport;
  /** A command's writes were rolled back: what the core keeps in memory of its tables is read again. */
  rolledBack: () => void;
}

function exceedsBytes(text: string, limit: number): boolean {
  // UTF-8 needs 1 to 3 bytes per UTF-16 unit: only frames between the bounds are encoded to measure.
  if (text.length > limit) return true;
  if (text.length * 3 <= limit) return false;
  return new TextEncoder().encode(text).byteLength > limit;
}

/**
 * Every inbound frame: rate limit → size → JSON → envelope → namespace → action → permission → handler,
 * each refusal an error frame. The handler runs behind an error boundary: its synchronous SQL is one
 * transaction that rolls back when it throws, and any exception answers the sender `internal_error` with its
 * transaction_id.
 */
export class Dispatcher {
  private readonly buckets = new WeakMap<WebSocket, TokenBucket>();

  constructor(private readonly deps: DispatchDeps) {}

  async message(socket: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const { config, transport } = this.deps;
    const connection = this.deps.roster().connectionOf(socket);
    if (!connection) {
      // Not the room's: a socket it removed (kicked, banned, …) is closing already, and its first code stands.
      transport.close(socket, 1011, "unknown connection");
      return;
    }
    const refuse = (namespace: string, id: number | undefined, failure: CommandError) =>
      transport.sendError(socket, namespace, id, failure);
    const now = Date.now();
    const bucket = this.bucketOf(socket, now);
    if (!bucket.take(now)) {
      if (bucket.strikes > config.RATE_LIMIT_STRIKES) {
        return transport.close(socket, CloseCode.rateLimited, "rate limit exceeded");
      }
      return refuse("control", undefined, {
        error: "rate_limited",
        text: "slow down: at most the configured messages per second",
      });
    }
    if (typeof message !== "string") {
      return refuse("control", undefined, { error: "invalid_frame", text: "frames are JSON text" });
    }
    if (exceedsBytes(message, config.MAX_FRAME_BYTES)) {
      const text = `frames are at most ${config.MAX_FRAME_BYTES} bytes`;
      return refuse("control", undefined, { error: "frame_too_large", text });
    }
    let json: unknown;
    try {
      json = JSON.parse(message);
    } catch {
      return refuse("control", undefined, { error: "invalid_json", text: "frame is not JSON" });
    }
    const frame = ClientFrameSchema.safeParse(json);
    if (!frame.success) {
      const issue = frame.error.issues[0];
      const text = `${issue?.path.join(".") || "frame"}: ${issue?.message}`;
      return refuse("control", undefined, { error: "invalid_frame", text });
    }
    const { namespace, payload, transaction_id: transactionId } = frame.data;
    const module = this.deps.host().modules.get(namespace);
    if (!module) {
      return refuse("control", transactionId, { error: "unknown_namespace", text: `no namespace ${namespace}` });
    }
    const roles = module.rolesFor(payload.action);
    if (!roles)
      return refuse(namespace, transactionId, { error: "unknown_action", text: `no action ${payload.action}` });
    const roster = this.deps.roster();
    const role = roster.member(connection.participantId)?.role;
    if (!role) return transport.close(socket, CloseCode.kicked, "participant removed");
    if (roster.isHeld(connection.participantId)) {
      const text = "you are in the waiting room until a moderator lets you in";
      return refuse(namespace, transactionId, { error: "insufficient_permissions", text });
    }
    if (!roles.includes(role)) {
      const text = `${role} may not ${payload.action}`;
      return refuse(namespace, transactionId, { error: "insufficient_permissions", text });
    }
    const sender: Sender = { ...connection, role, transactionId };
    try {
      // The command schema checks the payload as it arrived: the envelope's parsed copy would have turned a
      // `__proto__` key into a prototype, which a strict schema no longer sees as an unknown key.
      const raw = (json as { payload: unknown }).payload;
      const failure = await this.deps.storage.transactionSync(() => module.execute(sender, raw));
      if (failure) refuse(namespace, transactionId, failure);
    } catch (error) {
      this.deps.rolledBack();
      logFailure(`room module ${namespace}.${payload.action}`, error);
      refuse(namespace, transactionId, { error: "internal_error", text: "the command failed on the server" });
    }
  }

  private bucketOf(socket: WebSocket, now: number): TokenBucket {
    let bucket = this.buckets.get(socket);
    if (!bucket) {
      bucket = new TokenBucket(this.deps.config.RATE_LIMIT_PER_SECOND, this.deps.config.RATE_LIMIT_BURST, now);
      this.buckets.set(socket, bucket);
    }
    return bucket;
  }
}
