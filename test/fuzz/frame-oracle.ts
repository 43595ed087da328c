import {
  ClientFrameSchema,
  COMMAND_ISSUERS,
  type ErrorCode,
  isNamespace,
  NAMESPACE_NAMES,
  NAMESPACES,
  type Role,
} from "../../src/protocol";

/** The actions of each namespace, read from its command schema (a union discriminated by `action`). */
export const ACTIONS: Record<string, readonly string[]> = Object.fromEntries(
  NAMESPACE_NAMES.map((ns) => {
    const union = NAMESPACES[ns].commands as unknown as { options: { shape: { action: { value: string } } }[] };
    return [ns, union.options.map((option) => option.shape.action.value)];
  }),
);

/**
 * The actions the fuzz generates: of moderation only `accept` and `reject` (their targets are never waiting, so
 * they answer `not_found`), of chat only `send_message`; the others change the session (kick, lock, end_meeting,
 * roles, mute, chat off, a cleared history, …) or answer with other events, which the oracle does not model —
 * they have their own authorization matrix and behaviour tests in the in-workerd tier. Their names still reach
 * the room from other namespaces' generators, refused as unknown actions there. Of legal_vote all but `start`: no
 * vote runs, so each answers `vote_not_active` (votes have their own tests in the in-workerd tier).
 */
export const FUZZED_ACTIONS: Record<string, readonly string[]> = {
  ...ACTIONS,
  moderation: ["accept", "reject"],
  chat: ["send_message"],
  legal_vote: ["vote", "stop", "cancel", "report_issue"],
};

const chairsOnly = (authority: Record<string, readonly Role[]>) =>
  Object.entries(authority)
    .filter(([, issuers]) => !issuers.includes("user") && !issuers.includes("guest"))
    .map(([action]) => action);

/** Actions only owners and moderators may issue, from COMMAND_ISSUERS; every other action is everyone's. */
const CHAIRS_ONLY: Record<string, readonly string[]> = Object.fromEntries(
  Object.entries(COMMAND_ISSUERS).map(([namespace, table]) => [namespace, chairsOnly(table)]),
);

/** Who sends a frame: the role the room gave them and whether they wait in the waiting room. */
export interface SenderRole {
  role: Role;
  held: boolean;
}

/**
 * What the room must do with a frame, predicted from the protocol's own schemas and the dispatch order
 * (rate limit, size, JSON, envelope, namespace, action, waiting room, role, command schema, handler):
 * - `refused`: an error frame with `code` and the frame's transaction id (none when the envelope is invalid or
 *   carries none), and nothing executed;
 * - `execute`: a valid command the handler runs (it may still refuse it by the room's state).
 */
export type Verdict =
  | {
      kind: "refused";
      code: ErrorCode;
      tid: number | undefined;
      /** Refused only for a field the command schema does not know: what would run if it were not refused. */
      unknownField?: Command;
    }
  | ({ kind: "execute"; tid: number | undefined } & Command);

export interface Command {
  namespace: string;
  action: string;
  command: Record<string, unknown>;
}

const encoder = new TextEncoder();

export function byteLength(data: string | Uint8Array): number {
  return typeof data === "string" ? encoder.encode(data).byteLength : data.byteLength;
}

/** Whether some object in `sent` has an own key its counterpart in `validated` lacks. */
function lostKey(sent: unknown, validated: unknown): boolean {
  if (typeof sent !== "object" || sent === null || typeof validated !== "object" || validated === null) return false;
  const kept = validated as Record<string, unknown>;
  return Object.keys(sent).some(
    (key) => !Object.hasOwn(kept, key) || lostKey((sent as Record<string, unknown>)[key], kept[key]),
  );
}

/**
 * A text frame as the room receives it: the sending socket writes a lone surrogate as its three WTF-8 bytes, which
 * the receiving side decodes as three U+FFFD (a JSON escape such as `\\ud800` arrives as it is and is refused).
 */
export const asReceived = (text: string) => text.replace(/\p{Cs}/gu, "\ufffd\ufffd\ufffd");

export function verdictOf(sent: string | Uint8Array, sender: SenderRole, maxFrameBytes: number): Verdict {
  const refused = (code: ErrorCode, tid?: number): Verdict => ({ kind: "refused", code, tid });
  if (typeof sent !== "string") return refused("invalid_frame");
  const data = asReceived(sent);
  if (byteLength(data) > maxFrameBytes) return refused("frame_too_large");
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return refused("invalid_json");
  }
  const frame = ClientFrameSchema.safeParse(json);
  if (!frame.success) return refused("invalid_frame");
  const { namespace, payload, transaction_id: tid } = frame.data;
  if (!isNamespace(namespace)) return refused("unknown_namespace", tid);
  const actions = ACTIONS[namespace]!;
  if (!actions.includes(payload.action)) return refused("unknown_action", tid);
  if (sender.held) return refused("insufficient_permissions", tid);
  const chairs = sender.role === "owner" || sender.role === "moderator";
  if (CHAIRS_ONLY[namespace]?.includes(payload.action) && !chairs) return refused("insufficient_permissions", tid);
  const command = NAMESPACES[namespace].commands.safeParse(payload);
  if (!command.success) return refused("invalid_frame", tid);
  const parsed = command.data as Record<string, unknown>;
  // Command schemas are strict: a field the client sent that the validated command lacks was not refused but lost
  // (independently of how the schemas copy objects: the frame's own keys, `__proto__` included, count).
  const run = { namespace, action: payload.action, command: parsed };
  if (lostKey((json as { payload: unknown }).payload, parsed)) {
    return { kind: "refused", code: "invalid_frame", tid, unknownField: run };
  }
  return { kind: "execute", tid, ...run };
}

/** SFU signalling: a mesh room (no SFU node in this tier) answers it with media_unavailable. */
const SFU_ONLY = ["publish_offer", "subscribe_answer", "trickle"];

/** Whether a valid command always answers its sender (with its transaction id): a result, an echo or an error. */
export function alwaysAnswers(namespace: string, action: string): boolean {
  // Chat echoes to the sender, turn answers with credentials, moderation refuses unknown targets (the fuzz never
  // names the waiting participant as a target), legal_vote refuses (no vote runs), feedback says whether it
  // counted. Raised hands and mesh media answer only on refusal.
  if (namespace === "media") return SFU_ONLY.includes(action);
  return ["chat", "turn", "moderation", "legal_vote", "feedback"].includes(namespace);
}

/** The event name a successful command answers its sender with, if it answers. */
export function successAnswer(namespace: string): string | undefined {
  return namespace === "chat" ? "message_sent" : namespace === "turn" ? "credentials" : undefined;
}
