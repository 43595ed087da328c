import { AUTOMOD_AUTHORITY, type AutomodStrategy, type ParsedCommandOf } from "../../../src/protocol";
import { randomToken } from "../../../src/shared/secrets";
import { type CommandError, defineModule, type ModuleContext, type Sender } from "../module";

/** The next speaker_updated after joins, departures and hands (batched like presence); in memory. */
interface Runtime {
  announcement: ReturnType<typeof setTimeout> | undefined;
}
type Context = ModuleContext<"automod", Runtime>;
type StartCommand = Extract<ParsedCommandOf<"automod">, { action: "start" }>;

/**
 * What the others ask of the speaker queue: the meeting's end stops it, a raised hand may join it (control), and
 * the current speaker hears the feedback summary (feedback).
 */
export interface AutomodService {
  meetingOver(): Promise<void>;
  handChanged(participantId: string, raised: boolean): void;
  currentSpeaker(): string | undefined;
}

declare module "../module" {
  interface ModuleServices {
    automod: AutomodService;
  }
}

interface RunningRow extends Record<string, SqlStorageValue> {
  strategy: AutomodStrategy;
  time_limit_seconds: number | null;
  consider_hand_raise: number;
  allow_double_selection: number;
  exclusive_microphone: number;
  /** The queue takes everyone in the room, newcomers too (no playlist and no hands given at the start). */
  everyone: number;
  started_by: string;
  speaker: string | null;
  turn_id: string | null;
  turn_ends_at: number | null;
  /** Microphone restrictions before the start, restored at the stop: a JSON list of the unrestricted, or null. */
  prior_unrestricted: string | null;
}

const TURN_END = "turn-end";
const notRunning: CommandError = { error: "automod_not_active", text: "no speaker queue runs" };

const running = (ctx: Context) => ctx.sql.exec<RunningRow>("SELECT * FROM automod_running").toArray()[0];
const ids = (ctx: Context, sql: string) =>
  ctx.sql
    .exec<{ participant_id: string }>(sql)
    .toArray()
    .map((r) => r.participant_id);
const queueOf = (ctx: Context) => ids(ctx, "SELECT participant_id FROM automod_queue ORDER BY position");
const spokenOf = (ctx: Context) => ids(ctx, "SELECT participant_id FROM automod_spoken ORDER BY participant_id");
const hasSpoken = (ctx: Context, id: string) =>
  ctx.sql.exec("SELECT 1 FROM automod_spoken WHERE participant_id = ?", id).toArray().length > 0;

/** Connected and in the room (not held): who may have the floor now. */
const here = (ctx: Context, id: string) => {
  const member = ctx.roster.member(id);
  return member?.connected === true && !member.held;
};

const enqueue = (ctx: Context, id: string) =>
  ctx.sql.exec("INSERT OR IGNORE INTO automod_queue (participant_id) VALUES (?)", id).rowsWritten > 0;
const dequeue = (ctx: Context, id: string) =>
  ctx.sql.exec("DELETE FROM automod_queue WHERE participant_id = ?", id).rowsWritten > 0;

function replaceQueue(ctx: Context, playlist: readonly string[]): void {
  ctx.sql.exec("DELETE FROM automod_queue");
  for (const id of playlist) enqueue(ctx, id);
}

/** The first named participant who is not in the room (connected, or briefly away), as the command's error. */
function unknownIn(ctx: Context, playlist: readonly string[]): CommandError | undefined {
  const inRoom = new Set(ctx.roster.inRoom().map((m) => m.participantId));
  const unknown = playlist.find((id) => !inRoom.has(id));
  return unknown === undefined ? undefined : { error: "not_found", text: `nobody of id ${unknown} is in the room` };
}

function speakerState(ctx: Context, row: RunningRow) {
  const now = ctx.now();
  return {
    speaker: row.speaker,
    remaining_seconds: row.turn_ends_at === null ? null : Math.max(0, Math.ceil((row.turn_ends_at - now) / 1000)),
    ends_at: row.turn_ends_at === null ? null : new Date(row.turn_ends_at).toISOString(),
    queue: queueOf(ctx),
    spoken: spokenOf(ctx),
  };
}

const settingsOf = (row: RunningRow) => ({
  strategy: row.strategy,
  time_limit_seconds: row.time_limit_seconds,
  consider_hand_raise: row.consider_hand_raise === 1,
  allow_double_selection: row.allow_double_selection === 1,
  exclusive_microphone: row.exclusive_microphone === 1,
  started_by: row.started_by,
});

function announce(ctx: Context, sender?: Sender): void {
  clearTimeout(ctx.state.announcement);
  ctx.state.announcement = undefined;
  const row = running(ctx);
  if (row) ctx.emit({ to: "everyone" }, { message: "speaker_updated", ...speakerState(ctx, row) }, sender);
}

/** After a join, a departure or a hand: one speaker_updated for everything within a presence batch. */
function announceSoon(ctx: Context): void {
  ctx.state.announcement ??= setTimeout(() => announce(ctx), ctx.config.PRESENCE_BATCH_MS);
}

/** Who is next in the queue (the first, or anyone at random), skipping whoever is not in the room now. */
function pick(ctx: Context, how: "next" | "random"): string | null {
  const candidates = queueOf(ctx).filter((id) => here(ctx, id));
  if (candidates.length === 0) return null;
  if (how === "next") return candidates[0]!;
  const [draw] = crypto.getRandomValues(new Uint32Array(1));
  return candidates[draw! % candidates.length]!;
}

/**
 * Gives the floor to `next` (null: nobody): the last speaker's turn ends (back to the queue's end with double
 * selection, else marked as having spoken), the new one leaves the queue (and lowers their hand), a time limit arms
 * the turn's end, and with an exclusive microphone only the speaker may publish audio besides the chairs (at the
 * start, `placeFrom` has the room ask for an SFU). The SQL runs before anything awaits (a failing write rolls back
 * with the command).
 */
function giveFloor(
  ctx: Context,
  row: RunningRow,
  next: string | null,
  sender?: Sender,
  placeFrom?: Sender,
): Promise<void> {
  const last = row.speaker;
  if (last !== null && last !== next) {
    if (row.allow_double_selection === 1 && here(ctx, last)) enqueue(ctx, last);
    else ctx.sql.exec("INSERT OR IGNORE INTO automod_spoken (participant_id) VALUES (?)", last);
  }
  if (next !== null) {
    dequeue(ctx, next);
    if (row.consider_hand_raise === 1) ctx.services.control.lowerHand(next);
  }
  const turn = next === null ? null : randomToken(12);
  const endsAt = next === null || row.time_limit_seconds === null ? null : ctx.now() + row.time_limit_seconds * 1000;
  ctx.sql.exec("UPDATE automod_running SET speaker = ?, turn_id = ?, turn_ends_at = ?", next, turn, endsAt);
  announce(ctx, sender);
  const timed = endsAt === null ? ctx.timers.cancel(TURN_END) : ctx.timers.schedule(TURN_END, endsAt, { turn });
  const by = { participantId: sender?.participantId ?? row.started_by };
  const microphones =
    row.exclusive_microphone === 1 && (next !== last || placeFrom)
      ? ctx.services.moderation.restrictMicrophones(by, next === null ? [] : [next], placeFrom)
      : undefined;
  return Promise.all([timed, microphones]).then(() => undefined);
}

/** The speaker's turn ended (yielded, timed out, gone): who speaks next follows the strategy. */
function turnEnded(ctx: Context, row: RunningRow, nominee: string | null, sender?: Sender): Promise<void> {
  const next =
    row.strategy === "playlist"
      ? pick(ctx, "next")
      : row.strategy === "random"
        ? pick(ctx, "random")
        : row.strategy === "nomination"
          ? nominee
          : null;
  return giveFloor(ctx, row, next, sender);
}

function start(ctx: Context, sender: Sender, command: StartCommand): CommandError | Promise<void> {
  if (running(ctx)) return { error: "automod_active", text: "a speaker queue runs already; stop it first" };
  const refused = command.playlist && unknownIn(ctx, command.playlist);
  if (refused) return refused;
  const hands = command.consider_hand_raise === true;
  const everyone = command.playlist === undefined && !hands;
  const prior = ctx.services.moderation.microphoneRestrictions();
  ctx.sql.exec(
    `INSERT INTO automod_running (id, strategy, time_limit_seconds, consider_hand_raise, allow_double_selection,
       exclusive_microphone, everyone, started_by, prior_unrestricted) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)`,
    command.strategy,
    command.time_limit_seconds ?? null,
    hands ? 1 : 0,
    command.allow_double_selection ? 1 : 0,
    command.exclusive_microphone ? 1 : 0,
    everyone ? 1 : 0,
    sender.participantId,
    prior.enabled ? JSON.stringify(prior.unrestricted) : null,
  );
  const arrivals = everyone
    ? ctx.roster
        .admitted()
        .sort((a, b) => a.joinedAt - b.joinedAt)
        .map((m) => m.participantId)
    : (command.playlist ?? []);
  replaceQueue(ctx, arrivals);
  if (hands) for (const id of ctx.services.control.raisedHands()) enqueue(ctx, id);
  const row = running(ctx)!;
  ctx.emit({ to: "everyone" }, { message: "started", ...settingsOf(row) }, sender);
  // A playlist or a draw gives the first turn at once; `none` and `nomination` wait for a chair's select.
  const first =
    command.strategy === "playlist" ? pick(ctx, "next") : command.strategy === "random" ? pick(ctx, "random") : null;
  return giveFloor(ctx, row, first, undefined, sender);
}

function stop(ctx: Context, reason: "by_moderator" | "meeting_ended", sender?: Sender): CommandError | Promise<void> {
  const row = running(ctx);
  if (!row) return notRunning;
  ctx.sql.exec("DELETE FROM automod_running");
  ctx.sql.exec("DELETE FROM automod_queue");
  ctx.sql.exec("DELETE FROM automod_spoken");
  clearTimeout(ctx.state.announcement);
  ctx.state.announcement = undefined;
  ctx.emit({ to: "everyone" }, { message: "stopped", reason }, sender);
  // The microphones are as they were before the start (at the meeting's end, moderation clears them itself).
  const prior = row.prior_unrestricted === null ? null : (JSON.parse(row.prior_unrestricted) as string[]);
  const by = { participantId: sender?.participantId ?? row.started_by };
  const microphones =
    row.exclusive_microphone === 1 && reason === "by_moderator"
      ? ctx.services.moderation.restrictMicrophones(by, prior)
      : undefined;
  return Promise.all([ctx.timers.cancel(TURN_END), microphones]).then(() => undefined);
}

/**
 * The speaker queue (OpenTalk's automod, the talking stick): a chair starts it with a strategy and a queue; the
 * floor passes when the speaker yields, when their time limit ends (through the room's scheduler) or when they
 * leave, and chairs select, edit or stop. Whoever leaves the room leaves the queue. With an exclusive microphone
 * the moderation module's microphone restrictions follow the floor, so the SFU mutes everyone else.
 */
export const automod = defineModule<"automod", Runtime>({
  namespace: "automod",
  migrations: [
    `CREATE TABLE automod_running (id INTEGER PRIMARY KEY CHECK (id = 1), strategy TEXT NOT NULL,
      time_limit_seconds INTEGER, consider_hand_raise INTEGER NOT NULL, allow_double_selection INTEGER NOT NULL,
      exclusive_microphone INTEGER NOT NULL, everyone INTEGER NOT NULL, started_by TEXT NOT NULL, speaker TEXT,
      turn_id TEXT, turn_ends_at INTEGER, prior_unrestricted TEXT)`,
    "CREATE TABLE automod_queue (position INTEGER PRIMARY KEY AUTOINCREMENT, participant_id TEXT NOT NULL UNIQUE)",
    "CREATE TABLE automod_spoken (participant_id TEXT PRIMARY KEY)",
  ],
  permissions: AUTOMOD_AUTHORITY,
  state: () => ({ announcement: undefined }),
  handle(ctx, sender, command) {
    if (command.action === "start") return start(ctx, sender, command);
    if (command.action === "stop") return stop(ctx, "by_moderator", sender);
    const row = running(ctx);
    if (!row) return notRunning;
    switch (command.action) {
      case "select": {
        if (command.how !== "specific") return giveFloor(ctx, row, pick(ctx, command.how), sender);
        if (!here(ctx, command.target!)) return { error: "not_found", text: "nobody of that id is in the room" };
        return giveFloor(ctx, row, command.target!, sender);
      }
      case "yield": {
        if (row.speaker !== sender.participantId) {
          return { error: "insufficient_permissions", text: "only the current speaker passes the floor on" };
        }
        if (command.next !== undefined && row.strategy !== "nomination") {
          return { error: "invalid_request", text: "only the nomination strategy lets the speaker name the next" };
        }
        const nominee = command.next ?? null;
        if (nominee !== null && !(queueOf(ctx).includes(nominee) && here(ctx, nominee))) {
          return { error: "invalid_request", text: "the nominee is not in the queue" };
        }
        return turnEnded(ctx, row, nominee, sender);
      }
      case "edit": {
        const refused = unknownIn(ctx, command.playlist);
        if (refused) return refused;
        replaceQueue(ctx, command.playlist);
        return announce(ctx, sender);
      }
    }
  },
  joinState(ctx) {
    const row = running(ctx);
    return { active: row ? { ...settingsOf(row), ...speakerState(ctx, row) } : null };
  },
  hooks: {
    connected(ctx, connection, held) {
      // With everyone in the queue, a newcomer joins its end (unless they had their turn).
      const row = running(ctx);
      const id = connection.participantId;
      if (row?.everyone !== 1 || held || row.speaker === id || hasSpoken(ctx, id)) return;
      if (enqueue(ctx, id)) announceSoon(ctx);
    },
    async left(ctx, participantId) {
      const row = running(ctx);
      if (!row) return;
      if (dequeue(ctx, participantId)) announceSoon(ctx);
      if (row.speaker === participantId) await turnEnded(ctx, row, null);
    },
    async timer(ctx, key, data) {
      const row = running(ctx);
      // Only the turn this end was armed for.
      if (key === TURN_END && row && row.turn_id === (data as { turn?: string } | undefined)?.turn) {
        await turnEnded(ctx, row, null);
      }
    },
    deleted(ctx) {
      clearTimeout(ctx.state.announcement);
    },
  },
  service: (ctx) => ({
    meetingOver: async () => {
      if (running(ctx)) await stop(ctx, "meeting_ended");
    },
    handChanged(participantId, raised) {
      const row = running(ctx);
      if (row?.consider_hand_raise !== 1 || row.speaker === participantId) return;
      const changed = raised ? enqueue(ctx, participantId) : dequeue(ctx, participantId);
      if (changed) announceSoon(ctx);
    },
    currentSpeaker: () => running(ctx)?.speaker ?? undefined,
  }),
});
