import { CHAIRS, type ParsedCommandOf, TIMER_AUTHORITY } from "../../../src/protocol";
import { randomToken } from "../../../src/shared/secrets";
import { audience, groupOfStarter, inAudience, tellAudience } from "../audience";
import { type CommandError, defineModule, type ModuleContext, type Sender } from "../module";

/** The next ready_count (coalesced: each goes to everyone); in memory. */
interface Runtime {
  count: ReturnType<typeof setTimeout> | undefined;
}
type Context = ModuleContext<"timer", Runtime>;

/** What the meeting's end asks of the timer: a running one stops (the next meeting starts without it). */
export interface TimerService {
  meetingOver(): Promise<void>;
}

declare module "../module" {
  interface ModuleServices {
    timer: TimerService;
  }
}
type StartCommand = Extract<ParsedCommandOf<"timer">, { action: "start" }>;

interface TimerRow extends Record<string, SqlStorageValue> {
  id: string;
  kind: "countdown" | "stopwatch";
  started_at: number;
  ends_at: number | null;
  title: string | null;
  style: "normal" | "coffee_break";
  ready_check: number;
  started_by: string;
  /** The breakout group it was started in (null: the main room); see audience.ts. */
  group_id: string | null;
}

const EXPIRY = "expiry";
const iso = (ms: number) => new Date(ms).toISOString();

const running = (ctx: Context) => ctx.sql.exec<TimerRow>("SELECT * FROM timer_running").toArray()[0];

const describe = (row: TimerRow) => ({
  timer_id: row.id,
  kind: row.kind,
  started_at: iso(row.started_at),
  ends_at: row.ends_at === null ? null : iso(row.ends_at),
  title: row.title,
  style: row.style,
  ready_check: row.ready_check === 1,
  started_by: row.started_by,
});

const readyIds = (ctx: Context) =>
  ctx.sql
    .exec<{ participant_id: string }>("SELECT participant_id FROM timer_ready")
    .toArray()
    .map((r) => r.participant_id);

function start(ctx: Context, sender: Sender, command: StartCommand): CommandError | Promise<void> {
  const current = running(ctx);
  if (current && runOut(ctx, current)) void stop(ctx, "expired");
  else if (current)
    return { error: "timer_active", text: "a timer runs already (perhaps in another room); stop it first" };
  const now = ctx.now();
  const endsAt = command.duration_seconds === undefined ? null : now + command.duration_seconds * 1000;
  ctx.sql.exec(
    `INSERT INTO timer_running (id, kind, started_at, ends_at, title, style, ready_check, started_by, group_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    randomToken(12),
    command.kind,
    now,
    endsAt,
    command.title ?? null,
    command.style ?? "normal",
    command.ready_check ? 1 : 0,
    sender.participantId,
    groupOfStarter(ctx, sender),
  );
  const row = running(ctx)!;
  tellAudience(ctx, row.group_id, { message: "started", ...describe(row) }, sender);
  return endsAt === null ? Promise.resolve() : ctx.timers.schedule(EXPIRY, endsAt, { timer_id: running(ctx)!.id });
}

/**
 * Chairs (of the timer's breakout group), and every device of the participant, hear who is (no longer) ready (the
 * sender's copy acknowledges their command); everyone hears how many are, coalesced within max(PRESENCE_BATCH_MS,
 * N/4 ms).
 */
function announceReady(ctx: Context, row: TimerRow, participantId: string, ready: boolean, sender?: Sender): void {
  const status = { message: "ready_status", timer_id: row.id, participant_id: participantId, ready } as const;
  const chair = CHAIRS.includes(ctx.roster.member(participantId)?.role ?? "guest");
  ctx.emit({ to: "roles", roles: CHAIRS, group: audience(ctx, row.group_id) }, status, chair ? sender : undefined);
  if (!chair) ctx.emit({ to: "participant", id: participantId }, status, sender);
  const wait = Math.max(ctx.config.PRESENCE_BATCH_MS, ctx.roster.admittedCount() / 4);
  ctx.state.count ??= setTimeout(() => {
    ctx.state.count = undefined;
    const current = running(ctx);
    if (current?.id !== row.id) return;
    const count = ctx.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM timer_ready").one().n;
    tellAudience(ctx, row.group_id, { message: "ready_count", timer_id: row.id, ready: count });
  }, wait);
}

type StopReason = "by_moderator" | "expired" | "meeting_ended";

/** Stops the running timer (synchronously, so a failing write rolls back with the command). */
function stop(ctx: Context, reason: StopReason, sender?: Sender): CommandError | Promise<void> {
  const row = running(ctx);
  if (!row) return { error: "timer_not_active", text: "no timer runs" };
  ctx.sql.exec("DELETE FROM timer_running");
  ctx.sql.exec("DELETE FROM timer_ready");
  clearTimeout(ctx.state.count);
  ctx.state.count = undefined;
  tellAudience(ctx, row.group_id, { message: "stopped", timer_id: row.id, reason }, sender);
  return ctx.timers.cancel(EXPIRY);
}

function unready(ctx: Context, participantId: string, row = running(ctx)): void {
  const gone = ctx.sql.exec("DELETE FROM timer_ready WHERE participant_id = ?", participantId).rowsWritten;
  if (row && gone > 0) announceReady(ctx, row, participantId, false);
}

/** A countdown whose end passed (the alarm may not have come yet, e.g. right after a restart). */
const runOut = (ctx: Context, row: TimerRow) => row.ends_at !== null && row.ends_at <= ctx.now();

/**
 * The timer: a chair runs a countdown (it ends by itself, through the room's scheduler) or a stopwatch, optionally
 * as a coffee break and with a ready check — participants say they are ready; chairs see who, everyone how many.
 */
export const timer = defineModule<"timer", Runtime>({
  namespace: "timer",
  migrations: [
    `CREATE TABLE timer_running (id TEXT PRIMARY KEY, kind TEXT NOT NULL, started_at INTEGER NOT NULL,
      ends_at INTEGER, title TEXT, style TEXT NOT NULL, ready_check INTEGER NOT NULL, started_by TEXT NOT NULL)`,
    "CREATE TABLE timer_ready (participant_id TEXT PRIMARY KEY)",
    "ALTER TABLE timer_running ADD COLUMN group_id TEXT",
  ],
  permissions: TIMER_AUTHORITY,
  state: () => ({ count: undefined }),
  handle(ctx, sender, command) {
    switch (command.action) {
      case "start":
        return start(ctx, sender, command);
      case "stop":
        return stop(ctx, "by_moderator", sender);
      case "update_ready_status": {
        const row = running(ctx);
        // A countdown whose end passed (its alarm may not have come yet) takes nothing more: it ends first.
        if (row && runOut(ctx, row)) void stop(ctx, "expired");
        const outside = row && !inAudience(ctx, row.group_id, sender.participantId);
        if (!row || runOut(ctx, row) || outside) return { error: "timer_not_active", text: "no timer runs" };
        if (row.ready_check !== 1) return { error: "invalid_request", text: "this timer has no ready check" };
        const id = sender.participantId;
        const changed = command.ready
          ? ctx.sql.exec("INSERT INTO timer_ready (participant_id) VALUES (?) ON CONFLICT DO NOTHING", id)
          : ctx.sql.exec("DELETE FROM timer_ready WHERE participant_id = ?", id);
        if (changed.rowsWritten > 0) return announceReady(ctx, row, id, command.ready, sender);
        // Nothing changed: only the sender hears it (as the acknowledgement).
        return ctx.reply(sender, {
          message: "ready_status",
          timer_id: row.id,
          participant_id: id,
          ready: command.ready,
        });
      }
    }
  },
  joinState(ctx, connection) {
    const row = running(ctx);
    if (!row || !inAudience(ctx, row.group_id, connection.participantId)) return { active: null };
    const ready = readyIds(ctx);
    const chair = CHAIRS.includes(ctx.roster.member(connection.participantId)?.role ?? "guest");
    return {
      active: {
        ...describe(row),
        ready_count: ready.length,
        ready: ready.includes(connection.participantId),
        ready_participants: chair ? ready : [],
      },
    };
  },
  hooks: {
    async timer(ctx, key, data) {
      // Only the countdown this end was armed for.
      if (key === EXPIRY && running(ctx)?.id === (data as { timer_id?: string } | undefined)?.timer_id) {
        await stop(ctx, "expired");
      }
    },
    left(ctx, participantId) {
      // Whoever left is no longer counted as ready: chairs and everyone hear the new count.
      unready(ctx, participantId);
    },
    rejoined(ctx, participantId) {
      // So is whoever went into another breakout room than the timer's.
      const row = running(ctx);
      if (row && !inAudience(ctx, row.group_id, participantId)) unready(ctx, participantId, row);
    },
    deleted(ctx) {
      clearTimeout(ctx.state.count);
    },
  },
  service: (ctx) => ({
    meetingOver: async () => {
      if (running(ctx)) await stop(ctx, "meeting_ended");
    },
  }),
});
