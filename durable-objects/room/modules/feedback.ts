import { base64url } from "jose";
import { CHAIRS, FEEDBACK_AUTHORITY, type FeedbackKind } from "../../../src/protocol";
import { randomToken } from "../../../src/shared/secrets";
import { defineModule, type ModuleContext, type Sender } from "../module";

/** What the speaker queue tells feedback: the floor passed to someone, who now sees the counts. */
export interface FeedbackService {
  speakerChanged(participantId: string): void;
}

declare module "../module" {
  interface ModuleServices {
    feedback: FeedbackService;
  }
}

/** The next summary to the chairs (at most one per FEEDBACK_SUMMARY_MS while reactions come); in memory. */
interface Runtime {
  summary: ReturnType<typeof setTimeout> | undefined;
  summarySentAt: number;
}
type Context = ModuleContext<"feedback", Runtime>;

const WINDOW_END = "window-end";
const encoder = new TextEncoder();

interface WindowRow extends Record<string, SqlStorageValue> {
  id: number;
  secret: string;
  ends_at: number;
}

const currentWindow = (ctx: Context) =>
  ctx.sql.exec<WindowRow>("SELECT * FROM feedback_window WHERE ends_at > ?", ctx.now()).toArray()[0];

function countsOf(ctx: Context): Record<string, number> {
  const window = currentWindow(ctx);
  if (!window) return {};
  const rows = ctx.sql.exec<{ kind: string; count: number }>(
    "SELECT kind, count FROM feedback_counts WHERE window = ?",
    window.id,
  );
  return Object.fromEntries([...rows].map((r) => [r.kind, r.count]));
}

/** The window a reaction falls in: the current one, or a new one with a fresh random key (armed to end). */
async function windowFor(ctx: Context): Promise<WindowRow> {
  const open = currentWindow(ctx);
  if (open) return open;
  forgetWindows(ctx);
  const endsAt = ctx.now() + ctx.config.FEEDBACK_WINDOW_SECONDS * 1000;
  const row = ctx.sql
    .exec<WindowRow>("INSERT INTO feedback_window (secret, ends_at) VALUES (?, ?) RETURNING *", randomToken(32), endsAt)
    .one();
  await ctx.timers.schedule(WINDOW_END, endsAt, { window: row.id });
  return row;
}

/**
 * Ended windows (those past their end, and `ended`, whose timer fired) go with their key, their keyed hashes and
 * their counts: nothing is left to tell who reacted.
 */
function forgetWindows(ctx: Context, ended = -1): void {
  const gone = "SELECT id FROM feedback_window WHERE ends_at <= ? OR id = ?";
  const args = [ctx.now(), ended];
  ctx.sql.exec(`DELETE FROM feedback_seen WHERE window IN (${gone})`, ...args);
  ctx.sql.exec(`DELETE FROM feedback_counts WHERE window IN (${gone})`, ...args);
  ctx.sql.exec("DELETE FROM feedback_window WHERE ends_at <= ? OR id = ?", ...args);
}

/** HMAC-SHA256 of participant and kind under the window's key (the key is deleted with the window). */
async function keyedHash(secret: string, participantId: string, kind: FeedbackKind): Promise<string> {
  const key = await crypto.subtle.importKey("raw", base64url.decode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(`${participantId}\n${kind}`));
  return base64url.encode(new Uint8Array(mac));
}

/**
 * Counts the reaction once per kind and window. The row is written after the awaits, in one synchronous step: if the
 * window ended meanwhile, the reaction counts in the next one instead (it tries once more).
 */
async function send(ctx: Context, sender: Sender, kind: FeedbackKind): Promise<void> {
  let counted = false;
  for (let attempt = 0; attempt < 2 && !counted; attempt++) {
    const window = await windowFor(ctx);
    const hash = await keyedHash(window.secret, sender.participantId, kind);
    counted =
      ctx.sql.exec(
        `INSERT INTO feedback_seen (window, hash) SELECT id, ? FROM feedback_window WHERE id = ? AND ends_at > ?
         ON CONFLICT DO NOTHING`,
        hash,
        window.id,
        ctx.now(),
      ).rowsWritten > 0;
    if (counted) {
      ctx.sql.exec(
        `INSERT INTO feedback_counts (window, kind, count) VALUES (?, ?, 1)
         ON CONFLICT(window, kind) DO UPDATE SET count = count + 1`,
        window.id,
        kind,
      );
      scheduleSummary(ctx);
    } else if (currentWindow(ctx)?.id === window.id) break; // a repeat within the window
  }
  ctx.reply(sender, { message: "received", kind, counted });
}

/** Chairs, and the current speaker while the speaker queue runs, see the counts. */
const isChair = (ctx: Context, participantId: string) =>
  CHAIRS.includes(ctx.roster.member(participantId)?.role ?? "guest");
const seesCounts = (ctx: Context, participantId: string) =>
  isChair(ctx, participantId) || ctx.services.automod.currentSpeaker() === participantId;

const summaryOf = (ctx: Context) =>
  ({ message: "summary", counts: countsOf(ctx), window_seconds: ctx.config.FEEDBACK_WINDOW_SECONDS }) as const;

/** The next summary, at most one per FEEDBACK_SUMMARY_MS. */
function scheduleSummary(ctx: Context): void {
  if (ctx.state.summary !== undefined) return;
  const wait = Math.max(0, ctx.state.summarySentAt + ctx.config.FEEDBACK_SUMMARY_MS - ctx.now());
  ctx.state.summary = setTimeout(() => {
    ctx.state.summary = undefined;
    ctx.state.summarySentAt = ctx.now();
    const summary = summaryOf(ctx);
    ctx.emit({ to: "roles", roles: CHAIRS }, summary);
    const speaker = ctx.services.automod.currentSpeaker();
    if (speaker !== undefined && !isChair(ctx, speaker)) ctx.emit({ to: "participant", id: speaker }, summary);
  }, wait);
}

/**
 * Anonymous feedback: everyone in the room reacts (agree, disagree, slower, louder, question, break); the room
 * counts reactions per FEEDBACK_WINDOW_SECONDS window, once per participant and kind, recognising repeats by keyed
 * hashes under a random key of the window that is deleted with it. Chairs (and the current speaker while the speaker
 * queue runs) get the counts at most every FEEDBACK_SUMMARY_MS.
 */
export const feedback = defineModule<"feedback", Runtime>({
  namespace: "feedback",
  migrations: [
    `CREATE TABLE feedback_window (id INTEGER PRIMARY KEY AUTOINCREMENT, secret TEXT NOT NULL,
      ends_at INTEGER NOT NULL)`,
    `CREATE TABLE feedback_seen (window INTEGER NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (window, hash))
      WITHOUT ROWID`,
    `CREATE TABLE feedback_counts (window INTEGER NOT NULL, kind TEXT NOT NULL, count INTEGER NOT NULL,
      PRIMARY KEY (window, kind)) WITHOUT ROWID`,
  ],
  permissions: FEEDBACK_AUTHORITY,
  state: () => ({ summary: undefined, summarySentAt: 0 }),
  handle(ctx, sender, command) {
    return send(ctx, sender, command.kind);
  },
  joinState(ctx, connection) {
    const counts = seesCounts(ctx, connection.participantId) ? countsOf(ctx) : {};
    return { counts, window_seconds: ctx.config.FEEDBACK_WINDOW_SECONDS };
  },
  hooks: {
    timer(ctx, key, data) {
      if (key !== WINDOW_END) return;
      forgetWindows(ctx, (data as { window: number }).window);
      // Those who see the counts see them start again (within the summaries' pace).
      scheduleSummary(ctx);
    },
    deleted(ctx) {
      clearTimeout(ctx.state.summary);
    },
  },
  service: (ctx) => ({
    // The new speaker sees the window's counts at once (chairs have them already).
    speakerChanged(participantId) {
      if (!isChair(ctx, participantId)) ctx.emit({ to: "participant", id: participantId }, summaryOf(ctx));
    },
  }),
});
