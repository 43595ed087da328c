import {
  AUTOMOD_AUTHORITY,
  type AutomodStrategy,
  type MicrophoneRestrictions,
  type ParsedCommandOf,
  SPEAKER_AWAY_MS,
} from "../../../src/protocol";
import { randomToken } from "../../../src/shared/secrets";
import { audience, groupOfStarter, inAudience, tellAudience } from "../audience";
import { type CommandError, defineModule, type ModuleContext, type Sender } from "../module";

/** The next speaker_updated after departures and hands (coalesced like presence); in memory. */
interface Runtime {
  announcement: ReturnType<typeof setTimeout> | undefined;
}
type Context = ModuleContext<"automod", Runtime>;
type StartCommand = Extract<ParsedCommandOf<"automod">, { action: "start" }>;

/**
 * What the others ask of the speaker queue: the meeting's end stops it, raised and lowered hands may change it
 * (control), and the current speaker gets the feedback summary (feedback).
 */
export interface AutomodService {
  meetingOver(): Promise<void>;
  handChanged(participantId: string, raised: boolean): void;
  currentSpeaker(): string | undefined;
  /** Whether a running queue holds everyone's microphone but the speaker's (breakout rooms do not open then). */
  exclusiveMicrophone(): boolean;
}

declare module "../module" {
  interface ModuleServices {
    automod: AutomodService;
  }
}

type Pool = "queue" | "everyone";

interface RunningRow extends Record<string, SqlStorageValue> {
  strategy: AutomodStrategy;
  pool: Pool;
  time_limit_seconds: number | null;
  consider_hand_raise: number;
  allow_double_selection: number;
  exclusive_microphone: number;
  started_by: string;
  speaker: string | null;
  turn_id: string | null;
  turn_ends_at: number | null;
  /** The speaker's connection is gone and their SPEAKER_AWAY timer armed. */
  speaker_away: number;
  /** Microphone restrictions before the start (JSON), restored at the stop unless a chair changed them since. */
  prior_restrictions: string;
  /** Who the queue last let speak through the restrictions (JSON list). */
  applied_unrestricted: string | null;
  /** The breakout group it was started in (null: the main room); see audience.ts. */
  group_id: string | null;
}

const TURN_END = "turn-end";
const SPEAKER_AWAY = "speaker-away";
const notRunning: CommandError = { error: "automod_not_active", text: "no speaker queue runs" };

const running = (ctx: Context) => ctx.sql.exec<RunningRow>("SELECT * FROM automod_running").toArray()[0];
const ids = (ctx: Context, sql: string) =>
  ctx.sql
    .exec<{ participant_id: string }>(sql)
    .toArray()
    .map((r) => r.participant_id);
const queueOf = (ctx: Context) => ids(ctx, "SELECT participant_id FROM automod_queue ORDER BY position");
const spokenOf = (ctx: Context) => ids(ctx, "SELECT participant_id FROM automod_spoken ORDER BY position");

/** Connected and in the room (not held), in the queue's breakout group: who may have the floor now. */
const here = (ctx: Context, row: RunningRow, id: string) => {
  const member = ctx.roster.member(id);
  return member?.connected === true && !member.held && inAudience(ctx, row.group_id, id);
};

const enqueue = (ctx: Context, id: string, byHand = false) =>
  ctx.sql.exec("INSERT OR IGNORE INTO automod_queue (participant_id, by_hand) VALUES (?, ?)", id, byHand ? 1 : 0)
    .rowsWritten > 0;
const dequeue = (ctx: Context, id: string, onlyByHand = false) =>
  ctx.sql.exec(`DELETE FROM automod_queue WHERE participant_id = ?${onlyByHand ? " AND by_hand = 1" : ""}`, id)
    .rowsWritten > 0;

function replaceQueue(ctx: Context, playlist: readonly string[]): void {
  ctx.sql.exec("DELETE FROM automod_queue");
  for (const id of playlist) enqueue(ctx, id);
}

/**
 * The first named participant who is not in the room (connected, or briefly away) or not in the breakout group the
 * queue is for, as the command's error.
 */
function unknownIn(ctx: Context, group: string | null, playlist: readonly string[]): CommandError | undefined {
  const inGroup = ctx.roster.inRoom().filter((m) => m.group === audience(ctx, group));
  const inRoom = new Set(inGroup.map((m) => m.participantId));
  const unknown = playlist.find((id) => !inRoom.has(id));
  return unknown === undefined ? undefined : { error: "not_found", text: `nobody of id ${unknown} is in the room` };
}

/**
 * Who may get the floor next, in order, skipping whoever is not in the room now: the queue, or (pool `everyone`)
 * everyone in the room by arrival who is not speaking and has not spoken — with double selection, those who have
 * spoken after them, in the order they spoke.
 */
function candidates(ctx: Context, row: RunningRow): string[] {
  if (row.pool === "queue") return queueOf(ctx).filter((id) => here(ctx, row, id));
  const spoken = spokenOf(ctx);
  const had = new Set(spoken);
  const group = audience(ctx, row.group_id);
  const fresh = ctx.roster
    .admitted()
    .filter((m) => m.group === group && !had.has(m.participantId) && m.participantId !== row.speaker)
    .sort((a, b) => a.joinedAt - b.joinedAt || (a.participantId < b.participantId ? -1 : 1))
    .map((m) => m.participantId);
  const again = row.allow_double_selection === 1 ? spoken.filter((id) => id !== row.speaker && here(ctx, row, id)) : [];
  return [...fresh, ...again];
}

function pick(ctx: Context, row: RunningRow, how: "next" | "random"): string | null {
  const ready = candidates(ctx, row);
  if (ready.length === 0) return null;
  if (how === "next") return ready[0]!;
  const [draw] = crypto.getRandomValues(new Uint32Array(1));
  return ready[draw! % ready.length]!;
}

function speakerState(ctx: Context, row: RunningRow) {
  return {
    pool: row.pool,
    speaker: row.speaker,
    remaining_seconds: row.turn_ends_at === null ? null : Math.max(0, Math.ceil((row.turn_ends_at - ctx.now()) / 1000)),
    ends_at: row.turn_ends_at === null ? null : new Date(row.turn_ends_at).toISOString(),
    queue: row.pool === "queue" ? queueOf(ctx) : [],
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
  if (row) tellAudience(ctx, row.group_id, { message: "speaker_updated", ...speakerState(ctx, row) }, sender);
}

/**
 * After departures and hands: one speaker_updated for all changes within max(PRESENCE_BATCH_MS, N/4 ms) — each goes
 * to everyone, so a large room gets them less often.
 */
function announceSoon(ctx: Context): void {
  const wait = Math.max(ctx.config.PRESENCE_BATCH_MS, ctx.roster.admittedCount() / 4);
  ctx.state.announcement ??= setTimeout(() => announce(ctx), wait);
}

const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((id) => b.includes(id));

/**
 * Gives the floor to `next` (null: nobody): the last speaker's turn ends (they are listed as having spoken and, in
 * a queue with double selection, go back to its end), the new one leaves the queue (and lowers their hand), a time
 * limit arms the turn's end, the feedback summary goes to them, and with an exclusive microphone only they may
 * publish audio besides the chairs (at the start, `placeFrom` has the room ask for an SFU). The SQL runs before
 * anything awaits (a failing write rolls back with the command).
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
    ctx.sql.exec(
      `INSERT INTO automod_spoken (participant_id) VALUES (?)
       ON CONFLICT(participant_id) DO UPDATE SET position = (SELECT MAX(position) + 1 FROM automod_spoken)`,
      last,
    );
    if (row.pool === "queue" && row.allow_double_selection === 1 && here(ctx, row, last)) enqueue(ctx, last);
  }
  if (next !== null) {
    dequeue(ctx, next);
    if (row.consider_hand_raise === 1) ctx.services.control.lowerHand(next);
  }
  const turn = next === null ? null : randomToken(12);
  const endsAt = next === null || row.time_limit_seconds === null ? null : ctx.now() + row.time_limit_seconds * 1000;
  const unrestricted = next === null ? [] : [next];
  const restrict = row.exclusive_microphone === 1 && (next !== last || placeFrom !== undefined);
  ctx.sql.exec(
    "UPDATE automod_running SET speaker = ?, turn_id = ?, turn_ends_at = ?, speaker_away = 0, applied_unrestricted = ?",
    next,
    turn,
    endsAt,
    restrict ? JSON.stringify(unrestricted) : row.applied_unrestricted,
  );
  announce(ctx, sender);
  if (next !== null && next !== last) ctx.services.feedback.speakerChanged(next);
  const by = { participantId: sender?.participantId ?? row.started_by };
  return Promise.all([
    endsAt === null ? ctx.timers.cancel(TURN_END) : ctx.timers.schedule(TURN_END, endsAt, { turn }),
    ctx.timers.cancel(SPEAKER_AWAY),
    restrict ? ctx.services.moderation.restrictMicrophones(by, unrestricted, placeFrom) : undefined,
  ]).then(() => undefined);
}

/** The speaker's turn ended (yielded, timed out, gone): who speaks next follows the strategy. */
function turnEnded(ctx: Context, row: RunningRow, nominee: string | null, sender?: Sender): Promise<void> {
  const next =
    row.strategy === "playlist"
      ? pick(ctx, row, "next")
      : row.strategy === "random"
        ? pick(ctx, row, "random")
        : row.strategy === "nomination"
          ? nominee
          : null;
  return giveFloor(ctx, row, next, sender);
}

function start(ctx: Context, sender: Sender, command: StartCommand): CommandError | Promise<void> {
  if (running(ctx)) {
    return { error: "automod_active", text: "a speaker queue runs already (perhaps in another room); stop it first" };
  }
  // Microphone restrictions are the whole room's: the speaker's alone would silence every breakout room.
  if (command.exclusive_microphone && ctx.services.breakout.open()) {
    return { error: "breakout_active", text: "an exclusive microphone needs the breakout rooms closed" };
  }
  const group = groupOfStarter(ctx, sender);
  const refused = command.playlist && unknownIn(ctx, group, command.playlist);
  if (refused) return refused;
  const hands = command.consider_hand_raise === true;
  const pool: Pool = command.playlist === undefined && !hands ? "everyone" : "queue";
  ctx.sql.exec(
    `INSERT INTO automod_running (id, strategy, pool, time_limit_seconds, consider_hand_raise, allow_double_selection,
       exclusive_microphone, started_by, prior_restrictions, group_id) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    command.strategy,
    pool,
    command.time_limit_seconds ?? null,
    hands ? 1 : 0,
    command.allow_double_selection ? 1 : 0,
    command.exclusive_microphone ? 1 : 0,
    sender.participantId,
    JSON.stringify(ctx.services.moderation.microphoneRestrictions()),
    group,
  );
  replaceQueue(ctx, command.playlist ?? []);
  const row = running(ctx)!;
  if (hands) {
    for (const id of ctx.services.control.raisedHands()) if (inAudience(ctx, group, id)) enqueue(ctx, id, true);
  }
  tellAudience(ctx, group, { message: "started", ...settingsOf(row) }, sender);
  ctx.services.moderation.note(sender, "automod_start", {
    strategy: row.strategy,
    exclusive_microphone: row.exclusive_microphone === 1,
  });
  // A playlist or a draw gives the first turn at once; `none` and `nomination` wait for a chair's select.
  const how = command.strategy === "playlist" ? "next" : command.strategy === "random" ? "random" : undefined;
  return giveFloor(ctx, row, how ? pick(ctx, row, how) : null, undefined, sender);
}

function stop(ctx: Context, reason: "by_moderator" | "meeting_ended", sender?: Sender): CommandError | Promise<void> {
  const row = running(ctx);
  if (!row) return notRunning;
  ctx.sql.exec("DELETE FROM automod_running");
  ctx.sql.exec("DELETE FROM automod_queue");
  ctx.sql.exec("DELETE FROM automod_spoken");
  clearTimeout(ctx.state.announcement);
  ctx.state.announcement = undefined;
  tellAudience(ctx, row.group_id, { message: "stopped", reason }, sender);
  if (sender) ctx.services.moderation.note(sender, "automod_stop", {});
  // The microphones are as before the start — unless a chair changed them meanwhile (then they stay as they set
  // them); at the meeting's end, moderation clears them itself.
  const now = ctx.services.moderation.microphoneRestrictions();
  const applied = row.applied_unrestricted === null ? null : (JSON.parse(row.applied_unrestricted) as string[]);
  const untouched = applied !== null && now.enabled && sameSet(now.unrestricted, applied);
  const prior = JSON.parse(row.prior_restrictions) as MicrophoneRestrictions;
  const by = { participantId: sender?.participantId ?? row.started_by };
  const microphones =
    row.exclusive_microphone === 1 && reason === "by_moderator" && untouched
      ? ctx.services.moderation.restrictMicrophones(by, prior.enabled ? prior.unrestricted : null)
      : undefined;
  return Promise.all([ctx.timers.cancel(TURN_END), ctx.timers.cancel(SPEAKER_AWAY), microphones]).then(() => undefined);
}

/** The speaker's connection is gone: the floor passes on unless they are back within SPEAKER_AWAY_MS. */
function speakerAway(ctx: Context): Promise<void> {
  const row = running(ctx)!;
  ctx.sql.exec("UPDATE automod_running SET speaker_away = 1");
  return ctx.timers.schedule(SPEAKER_AWAY, ctx.now() + SPEAKER_AWAY_MS, { turn: row.turn_id });
}

/**
 * The speaker queue (OpenTalk's automod, the talking stick): a chair starts it with a strategy and a queue (or
 * everyone in the room); the floor passes when the speaker yields, when their time limit ends or when they are
 * gone for SPEAKER_AWAY_MS (both through the room's scheduler), and chairs select, edit or stop. Whoever is not in
 * the room when their turn would come is passed over (and leaves the queue when the room forgets them). With an
 * exclusive microphone the moderation module's microphone restrictions follow the floor, so the SFU mutes everyone
 * else.
 */
export const automod = defineModule<"automod", Runtime>({
  namespace: "automod",
  migrations: [
    `CREATE TABLE automod_running (id INTEGER PRIMARY KEY CHECK (id = 1), strategy TEXT NOT NULL, pool TEXT NOT NULL,
      time_limit_seconds INTEGER, consider_hand_raise INTEGER NOT NULL, allow_double_selection INTEGER NOT NULL,
      exclusive_microphone INTEGER NOT NULL, started_by TEXT NOT NULL, speaker TEXT, turn_id TEXT,
      turn_ends_at INTEGER, speaker_away INTEGER NOT NULL DEFAULT 0, prior_restrictions TEXT NOT NULL,
      applied_unrestricted TEXT)`,
    "ALTER TABLE automod_running ADD COLUMN group_id TEXT",
    `CREATE TABLE automod_queue (position INTEGER PRIMARY KEY AUTOINCREMENT, participant_id TEXT NOT NULL UNIQUE,
      by_hand INTEGER NOT NULL)`,
    "CREATE TABLE automod_spoken (position INTEGER PRIMARY KEY AUTOINCREMENT, participant_id TEXT NOT NULL UNIQUE)",
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
        if (command.how !== "specific") return giveFloor(ctx, row, pick(ctx, row, command.how), sender);
        if (!here(ctx, row, command.target!)) return { error: "not_found", text: "nobody of that id is in the room" };
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
        if (nominee !== null && !candidates(ctx, row).includes(nominee)) {
          return { error: "invalid_request", text: "the nominee is not in the queue" };
        }
        return turnEnded(ctx, row, nominee, sender);
      }
      case "edit": {
        const refused = unknownIn(ctx, row.group_id, command.playlist);
        if (refused) return refused;
        replaceQueue(ctx, command.playlist);
        ctx.sql.exec("UPDATE automod_running SET pool = 'queue'");
        return announce(ctx, sender);
      }
    }
  },
  joinState(ctx, connection) {
    const row = running(ctx);
    const mine = row && inAudience(ctx, row.group_id, connection.participantId);
    return { active: mine ? { ...settingsOf(row), ...speakerState(ctx, row) } : null };
  },
  hooks: {
    async connected(ctx, connection, held) {
      // The speaker is back in time (in the room, not waiting, in the queue's group): the floor stays theirs.
      const row = running(ctx);
      if (held || !row || row.speaker !== connection.participantId || !here(ctx, row, row.speaker)) return;
      ctx.sql.exec("UPDATE automod_running SET speaker_away = 0");
      await ctx.timers.cancel(SPEAKER_AWAY);
    },
    async left(ctx, participantId) {
      if (running(ctx)?.speaker === participantId) await speakerAway(ctx);
    },
    async rejoined(ctx, participantId) {
      // A speaker who went into another breakout room is away from this queue's (back in time: theirs again).
      const row = running(ctx);
      if (row?.speaker !== participantId) return;
      if (!here(ctx, row, participantId)) await speakerAway(ctx);
      else if (row.speaker_away === 1) {
        ctx.sql.exec("UPDATE automod_running SET speaker_away = 0");
        await ctx.timers.cancel(SPEAKER_AWAY);
      }
    },
    loaded(ctx) {
      // After a crash the speaker's connection went with the old process before any leave hook ran.
      const row = running(ctx);
      if (row?.speaker && row.speaker_away === 0 && !here(ctx, row, row.speaker)) void speakerAway(ctx);
    },
    gone(ctx, participantId) {
      if (running(ctx) && dequeue(ctx, participantId)) announceSoon(ctx);
    },
    async timer(ctx, key, data) {
      const row = running(ctx);
      // Only the turn this timer was armed for; a speaker away only if still away.
      if (!row || row.turn_id !== (data as { turn?: string } | undefined)?.turn) return;
      if (key === TURN_END || (key === SPEAKER_AWAY && row.speaker !== null && !here(ctx, row, row.speaker))) {
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
      if (!inAudience(ctx, row.group_id, participantId)) return;
      // Without double selection, whoever had the floor does not queue again by raising a hand.
      const spoken = ctx.sql.exec("SELECT 1 FROM automod_spoken WHERE participant_id = ?", participantId).toArray();
      if (raised && row.allow_double_selection !== 1 && spoken.length > 0) return;
      // A lowered hand leaves the queue only if the hand put them there (not a chair's playlist).
      const changed = raised ? enqueue(ctx, participantId, true) : dequeue(ctx, participantId, true);
      if (changed) announceSoon(ctx);
    },
    currentSpeaker: () => running(ctx)?.speaker ?? undefined,
    exclusiveMicrophone: () => running(ctx)?.exclusive_microphone === 1,
  }),
});
