import type { ChatMessage } from "../../../src/protocol";
import { defineModule } from "../module";

/** How many global messages a joiner receives (and the room keeps). */
const HISTORY_LIMIT = 100;

interface Row extends Record<string, SqlStorageValue> {
  id: number;
  source: string;
  content: string;
  sent_at: number;
}

const toMessage = (row: Row): ChatMessage => ({
  id: String(row.id),
  source: row.source,
  content: row.content,
  scope: "global",
  timestamp: new Date(row.sent_at).toISOString(),
});

const encoder = new TextEncoder();
const utf8Length = (text: string) => encoder.encode(text).byteLength;

/** Global chat: the canonical fan-out, with the most recent messages kept for joiners. */
export const chat = defineModule({
  namespace: "chat",
  migrations: [
    `CREATE TABLE chat_messages (id INTEGER PRIMARY KEY AUTOINCREMENT, source TEXT NOT NULL,
      content TEXT NOT NULL, sent_at INTEGER NOT NULL)`,
  ],
  permissions: { send_message: ["owner", "moderator", "user", "guest"] },
  handle(ctx, sender, command) {
    const row = ctx.sql
      .exec<Row>(
        "INSERT INTO chat_messages (source, content, sent_at) VALUES (?, ?, ?) RETURNING *",
        sender.participantId,
        command.content,
        ctx.now(),
      )
      .one();
    ctx.sql.exec("DELETE FROM chat_messages WHERE id <= ?", row.id - HISTORY_LIMIT);
    ctx.emit({ to: "everyone" }, { message: "message_sent", ...toMessage(row) }, sender);
  },
  joinState(ctx) {
    // The newest messages that fit CHAT_JOIN_HISTORY_BYTES (as sent), so a join_success stays small.
    const budget = ctx.config.CHAT_JOIN_HISTORY_BYTES;
    const messages: ChatMessage[] = [];
    let used = 0;
    for (const row of ctx.sql.exec<Row>("SELECT * FROM chat_messages ORDER BY id DESC LIMIT ?", HISTORY_LIMIT)) {
      const message = toMessage(row);
      used += utf8Length(JSON.stringify(message)) + 1;
      if (used > budget) break;
      messages.push(message);
    }
    return { messages: messages.reverse() };
  },
});
