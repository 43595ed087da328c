import { CHAIRS, CHAT_AUTHORITY, CHAT_PAGE_DEFAULT, type ChatMessage, type ChatScope } from "../../../src/protocol";
import { type CommandError, defineModule, type ModuleContext, type Sender } from "../module";

/** What other modules ask of chat: the meeting ended, so chat is on again for the next one. */
export interface ChatService {
  meetingOver(): void;
}

declare module "../module" {
  interface ModuleServices {
    chat: ChatService;
  }
}

interface Row extends Record<string, SqlStorageValue> {
  id: number;
  source: string;
  content: string;
  sent_at: number;
  scope: ChatScope;
  target: string | null;
  /** The breakout group a message to everyone went to (null: the main room). */
  group_id: string | null;
}

/**
 * Per participant, when their last accepted messages were sent (the slow-down's window; in memory only, and kept
 * when they leave: coming back does not reset it).
 */
type SentTimes = Map<string, number[]>;
type Context = ModuleContext<"chat", SentTimes>;

const toMessage = (row: Row): ChatMessage => ({
  id: String(row.id),
  source: row.source,
  content: row.content,
  scope: row.scope,
  ...(row.target === null ? {} : { target: row.target }),
  timestamp: new Date(row.sent_at).toISOString(),
});

const encoder = new TextEncoder();
const utf8Length = (text: string) => encoder.encode(text).byteLength;
const isChair = (ctx: Context, participantId: string) => {
  const role = ctx.roster.member(participantId)?.role;
  return role !== undefined && CHAIRS.includes(role);
};

/**
 * The messages a participant may read: global ones of their breakout group (or the main room; their own too only
 * there), their own others, private ones to them, and as a chair moderators'.
 */
function visible(ctx: Context, participantId: string): { where: string; args: SqlStorageValue[] } {
  return {
    where: `((scope = 'global' AND group_id IS ?) OR (scope != 'global' AND source = ?)
      OR (scope = 'private' AND target = ?) OR (scope = 'moderators' AND ? = 1))`,
    args: [
      ctx.roster.groupOf(participantId) ?? null,
      participantId,
      participantId,
      isChair(ctx, participantId) ? 1 : 0,
    ],
  };
}

/** Newest first, as far as the caller reads (the cursor is lazy). */
function newestVisible(ctx: Context, participantId: string, scope?: ChatScope, before?: number): Iterable<Row> {
  const { where, args } = visible(ctx, participantId);
  const filters = [where];
  if (scope !== undefined) {
    filters.push("scope = ?");
    args.push(scope);
  }
  if (before !== undefined) {
    filters.push("id < ?");
    args.push(before);
  }
  return ctx.sql.exec<Row>(`SELECT * FROM chat_messages WHERE ${filters.join(" AND ")} ORDER BY id DESC`, ...args);
}

function isEnabled(ctx: Context): boolean {
  return (ctx.sql.exec<{ enabled: number }>("SELECT enabled FROM chat_settings").toArray()[0]?.enabled ?? 1) === 1;
}

function setEnabled(ctx: Context, enabled: boolean): void {
  ctx.sql.exec(
    "INSERT INTO chat_settings (id, enabled) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET enabled = excluded.enabled",
    enabled ? 1 : 0,
  );
}

/** More than CHAT_BURST messages within CHAT_WINDOW_SECONDS: how long until the oldest of them leaves the window. */
function slowDown(ctx: Context, participantId: string, now: number): CommandError | undefined {
  const window = ctx.config.CHAT_WINDOW_SECONDS * 1000;
  const recent = (ctx.state.get(participantId) ?? []).filter((at) => at > now - window);
  ctx.state.set(participantId, recent);
  if (recent.length < ctx.config.CHAT_BURST) return undefined;
  const retryAfter = recent[recent.length - ctx.config.CHAT_BURST]! + window - now;
  return {
    error: "slow_down",
    text: `at most ${ctx.config.CHAT_BURST} messages within ${ctx.config.CHAT_WINDOW_SECONDS} s`,
    retry_after_ms: Math.max(1, retryAfter),
  };
}

function send(ctx: Context, sender: Sender, content: string, scope: ChatScope, target: string | undefined) {
  const chair = isChair(ctx, sender.participantId);
  if (!chair && !isEnabled(ctx)) return { error: "chat_disabled", text: "a moderator switched the chat off" } as const;
  if (scope === "private") {
    // Written to someone in the room now (a removed participant may still be within their resumption window), in
    // the sender's breakout group.
    const member = ctx.roster.member(target!);
    if (!member || member.held || !member.connected || member.group !== ctx.roster.groupOf(sender.participantId)) {
      return { error: "not_found", text: "nobody of that id is in the room" } as const;
    }
    if (target === sender.participantId) return { error: "invalid_request", text: "write to someone else" } as const;
  }
  const now = ctx.now();
  const refused = slowDown(ctx, sender.participantId, now);
  if (refused) return refused;
  const group = scope === "global" ? ctx.roster.groupOf(sender.participantId) : undefined;
  const row = ctx.sql
    .exec<Row>(
      `INSERT INTO chat_messages (source, content, sent_at, scope, target, group_id) VALUES (?, ?, ?, ?, ?, ?)
       RETURNING *`,
      sender.participantId,
      content,
      now,
      scope,
      target ?? null,
      group ?? null,
    )
    .one();
  ctx.sql.exec("DELETE FROM chat_messages WHERE id <= ?", row.id - ctx.config.CHAT_HISTORY_LIMIT);
  ctx.state.get(sender.participantId)!.push(now);
  const event = { message: "message_sent", ...toMessage(row) } as const;
  const self = { to: "participant", id: sender.participantId } as const;
  if (scope === "global") return ctx.emit({ to: "group", group }, event, sender);
  if (scope === "private") ctx.emit({ to: "participant", id: target! }, event);
  else ctx.emit({ to: "roles", roles: CHAIRS }, event, sender);
  // The sender's own connections (a chair's already have it from the roles' copy).
  if (scope === "private" || !chair) ctx.emit(self, event, sender);
}

/**
 * Chat: messages to everyone (of the sender's breakout group), to one participant (of it) or to the chairs (of the
 * whole room: they coordinate the groups); the room keeps the last CHAT_HISTORY_LIMIT
 * (all scopes), each participant reads back only what they may see. Chairs switch chat off for everyone else and
 * clear the history; a participant sending faster than CHAT_BURST per CHAT_WINDOW_SECONDS is told to slow down.
 */
export const chat = defineModule<"chat", SentTimes>({
  namespace: "chat",
  migrations: [
    `CREATE TABLE chat_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL,
      content TEXT NOT NULL, sent_at INTEGER NOT NULL)`,
    "ALTER TABLE chat_messages ADD COLUMN scope TEXT NOT NULL DEFAULT 'global'",
    "ALTER TABLE chat_messages ADD COLUMN target TEXT",
    "CREATE TABLE chat_settings (id INTEGER PRIMARY KEY CHECK (id = 1), enabled INTEGER NOT NULL)",
    // Messages to everyone are seen per breakout group.
    "ALTER TABLE chat_messages ADD COLUMN group_id TEXT",
  ],
  permissions: CHAT_AUTHORITY,
  state: () => new Map(),
  handle(ctx, sender, command) {
    switch (command.action) {
      case "send_message":
        return send(ctx, sender, command.content, command.scope ?? "global", command.target);
      case "get_history": {
        const limit = command.limit ?? CHAT_PAGE_DEFAULT;
        const before = command.before === undefined ? undefined : Number(command.before);
        const page: ChatMessage[] = [];
        let more = false;
        for (const row of newestVisible(ctx, sender.participantId, command.scope, before)) {
          if (page.length === limit) {
            more = true;
            break;
          }
          page.push(toMessage(row));
        }
        return ctx.reply(sender, { message: "history", messages: page.reverse(), more });
      }
      case "set_enabled":
        setEnabled(ctx, command.enabled);
        ctx.emit({ to: "everyone" }, { message: "chat_state", enabled: command.enabled }, sender);
        return ctx.services.moderation.note(sender, "chat_set_enabled", { enabled: command.enabled });
      case "clear_history": {
        const removed = ctx.sql.exec("DELETE FROM chat_messages").rowsWritten;
        ctx.emit({ to: "everyone" }, { message: "history_cleared" }, sender);
        return ctx.services.moderation.note(sender, "chat_clear_history", { removed });
      }
    }
  },
  joinState(ctx, connection) {
    // The newest messages the joiner may see that fit CHAT_JOIN_HISTORY_BYTES (as sent): join_success stays small.
    const budget = ctx.config.CHAT_JOIN_HISTORY_BYTES;
    const messages: ChatMessage[] = [];
    let used = 0;
    let more = false;
    for (const row of newestVisible(ctx, connection.participantId)) {
      const message = toMessage(row);
      used += utf8Length(JSON.stringify(message)) + 1;
      more = used > budget;
      if (more) break;
      messages.push(message);
    }
    return { enabled: isEnabled(ctx), messages: messages.reverse(), more };
  },
  service: (ctx) => ({
    meetingOver: () => {
      if (!isEnabled(ctx)) setEnabled(ctx, true);
    },
  }),
});
