import { type ParsedCommandOf, POLLS_AUTHORITY, type Poll } from "../../../src/protocol";
import { randomToken } from "../../../src/shared/secrets";
import { groupOfStarter, inAudience, tellAudience } from "../audience";
import { type CommandError, defineModule, type ModuleContext, type Sender } from "../module";

/** The next live_update of a live poll (coalesced: each goes to everyone); in memory. */
interface Runtime {
  live: ReturnType<typeof setTimeout> | undefined;
}
type Context = ModuleContext<"polls", Runtime>;

/** What the meeting's end asks of polls: the open one closes (the next meeting starts without it). */
export interface PollsService {
  meetingOver(): Promise<void>;
}

declare module "../module" {
  interface ModuleServices {
    polls: PollsService;
  }
}
type StartCommand = Extract<ParsedCommandOf<"polls">, { action: "start" }>;
type VoteCommand = Extract<ParsedCommandOf<"polls">, { action: "vote" }>;

interface PollRow extends Record<string, SqlStorageValue> {
  id: string;
  topic: string;
  choices: string;
  multiple_choice: number;
  live: number;
  ends_at: number | null;
  started_by: string;
  open: number;
  reason: "finished" | "expired" | "meeting_ended" | null;
  voters: number | null;
  /** The breakout group it was started in (null: the main room); see audience.ts. */
  group_id: string | null;
}

const END = "end";
const notOpen: CommandError = { error: "poll_not_active", text: "no such poll is open" };

const toPoll = (row: PollRow): Poll => ({
  poll_id: row.id,
  topic: row.topic,
  choices: JSON.parse(row.choices) as string[],
  multiple_choice: row.multiple_choice === 1,
  live: row.live === 1,
  ends_at: row.ends_at === null ? null : new Date(row.ends_at).toISOString(),
  started_by: row.started_by,
});

const openPoll = (ctx: Context) =>
  ctx.sql.exec<PollRow>("SELECT * FROM polls WHERE open = 1").toArray()[0] as PollRow | undefined;

/** The counts per choice, in the poll's order. */
function countsOf(ctx: Context, poll: PollRow): number[] {
  const counts = new Array<number>(toPoll(poll).choices.length).fill(0);
  for (const row of ctx.sql.exec<{ choice: number; count: number }>(
    "SELECT choice, count FROM poll_counts WHERE poll_id = ?",
    poll.id,
  )) {
    counts[row.choice] = row.count;
  }
  return counts;
}

const votersOf = (ctx: Context, pollId: string) =>
  ctx.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM poll_voters WHERE poll_id = ?", pollId).one().n;

function start(ctx: Context, sender: Sender, command: StartCommand): CommandError | Promise<void> {
  const open = openPoll(ctx);
  if (open && expired(ctx, open)) void finish(ctx, open.id, "expired");
  else if (open) return { error: "poll_active", text: "a poll is open already (perhaps in another room)" };
  const id = randomToken(12);
  const endsAt = command.duration_seconds === undefined ? null : ctx.now() + command.duration_seconds * 1000;
  ctx.sql.exec(
    `INSERT INTO polls (id, topic, choices, multiple_choice, live, ends_at, started_by, open, group_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?)`,
    id,
    command.topic,
    JSON.stringify(command.choices),
    command.multiple_choice ? 1 : 0,
    command.live ? 1 : 0,
    endsAt,
    sender.participantId,
    groupOfStarter(ctx, sender),
  );
  const row = openPoll(ctx)!;
  tellAudience(ctx, row.group_id, { message: "started", ...toPoll(row) }, sender);
  return endsAt === null ? Promise.resolve() : ctx.timers.schedule(END, endsAt, { poll_id: id });
}

/**
 * A ballot: the counts per choice go up, and the voter joins the poll's "has voted" set — two tables that share
 * nothing but the poll, so no stored row says who chose what.
 */
function vote(ctx: Context, sender: Sender, command: VoteCommand): CommandError | undefined {
  const row = openPoll(ctx);
  if (!row || row.id !== command.poll_id || !inAudience(ctx, row.group_id, sender.participantId)) return notOpen;
  if (expired(ctx, row)) {
    void finish(ctx, row.id, "expired");
    return notOpen;
  }
  const poll = toPoll(row);
  if (command.choices.some((c) => c >= poll.choices.length)) {
    return { error: "invalid_option", text: `choices are 0 to ${poll.choices.length - 1}` };
  }
  if (!poll.multiple_choice && command.choices.length !== 1) {
    return { error: "invalid_option", text: "this poll takes exactly one choice" };
  }
  const counted = ctx.sql.exec(
    "INSERT INTO poll_voters (poll_id, participant_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
    poll.poll_id,
    sender.participantId,
  ).rowsWritten;
  if (counted === 0) return { error: "already_voted", text: "you voted in this poll already" };
  for (const choice of command.choices) {
    ctx.sql.exec(
      `INSERT INTO poll_counts (poll_id, choice, count) VALUES (?, ?, 1)
       ON CONFLICT(poll_id, choice) DO UPDATE SET count = count + 1`,
      poll.poll_id,
      choice,
    );
  }
  // Every device of the voter hears it (the voting connection's copy carries the transaction id).
  ctx.emit({ to: "participant", id: sender.participantId }, { message: "voted", poll_id: poll.poll_id }, sender);
  if (poll.live) liveUpdateSoon(ctx, row);
  return undefined;
}

/** The counts of a live poll to everyone, at most once per max(PRESENCE_BATCH_MS, N/4 ms) while ballots come. */
function liveUpdateSoon(ctx: Context, row: PollRow): void {
  const wait = Math.max(ctx.config.PRESENCE_BATCH_MS, ctx.roster.admittedCount() / 4);
  ctx.state.live ??= setTimeout(() => {
    ctx.state.live = undefined;
    if (openPoll(ctx)?.id !== row.id) return;
    tellAudience(ctx, row.group_id, { message: "live_update", poll_id: row.id, counts: countsOf(ctx, row) });
  }, wait);
}

type EndReason = "finished" | "expired" | "meeting_ended";

/**
 * Closes the open poll (synchronously, so a failing write rolls back with the command): the counts and the number
 * of voters stay as its result; who voted is deleted, and so is everything of the poll before.
 */
function finish(ctx: Context, pollId: string, reason: EndReason, sender?: Sender): CommandError | Promise<void> {
  const row = openPoll(ctx);
  if (!row || row.id !== pollId) return notOpen;
  const voters = votersOf(ctx, pollId);
  ctx.sql.exec("UPDATE polls SET open = 0, reason = ?, voters = ? WHERE id = ?", reason, voters, pollId);
  ctx.sql.exec("DELETE FROM polls WHERE open = 0 AND id != ?", pollId);
  ctx.sql.exec("DELETE FROM poll_counts WHERE poll_id != ?", pollId);
  ctx.sql.exec("DELETE FROM poll_voters");
  clearTimeout(ctx.state.live);
  ctx.state.live = undefined;
  const event = { message: "done", poll_id: pollId, counts: countsOf(ctx, row), voters, reason } as const;
  tellAudience(ctx, row.group_id, event, sender);
  return ctx.timers.cancel(END);
}

/** Whether the open poll's time ran out (the alarm may not have come yet, e.g. right after a restart). */
function expired(ctx: Context, row: PollRow): boolean {
  return row.ends_at !== null && row.ends_at <= ctx.now();
}

/**
 * Polls: a chair asks a question with 2–20 choices (single or multiple choice, counts shown live or at the end,
 * optionally timed); everyone in the room answers once. Anonymous in storage: counts per choice, and apart from
 * them who has voted.
 */
export const polls = defineModule<"polls", Runtime>({
  namespace: "polls",
  migrations: [
    `CREATE TABLE polls (id TEXT PRIMARY KEY, topic TEXT NOT NULL, choices TEXT NOT NULL,
      multiple_choice INTEGER NOT NULL, live INTEGER NOT NULL, ends_at INTEGER, started_by TEXT NOT NULL,
      open INTEGER NOT NULL, reason TEXT, voters INTEGER)`,
    `CREATE TABLE poll_counts (poll_id TEXT NOT NULL, choice INTEGER NOT NULL, count INTEGER NOT NULL,
      PRIMARY KEY (poll_id, choice)) WITHOUT ROWID`,
    `CREATE TABLE poll_voters (poll_id TEXT NOT NULL, participant_id TEXT NOT NULL,
      PRIMARY KEY (poll_id, participant_id)) WITHOUT ROWID`,
    "ALTER TABLE polls ADD COLUMN group_id TEXT",
  ],
  permissions: POLLS_AUTHORITY,
  state: () => ({ live: undefined }),
  handle(ctx, sender, command) {
    switch (command.action) {
      case "start":
        return start(ctx, sender, command);
      case "vote":
        return vote(ctx, sender, command);
      case "finish":
        return finish(ctx, command.poll_id, "finished", sender);
    }
  },
  joinState(ctx, connection) {
    const mine = (row: PollRow | undefined) =>
      row && inAudience(ctx, row.group_id, connection.participantId) ? row : undefined;
    const open = mine(openPoll(ctx));
    const last = mine(ctx.sql.exec<PollRow>("SELECT * FROM polls WHERE open = 0").toArray()[0]);
    const voted = (pollId: string) =>
      ctx.sql
        .exec("SELECT 1 FROM poll_voters WHERE poll_id = ? AND participant_id = ?", pollId, connection.participantId)
        .toArray().length > 0;
    return {
      active: open
        ? {
            ...toPoll(open),
            ...(open.live === 1 ? { counts: countsOf(ctx, open) } : {}),
            voted: voted(open.id),
          }
        : null,
      last: last
        ? {
            ...toPoll(last),
            counts: countsOf(ctx, last),
            voters: last.voters ?? 0,
            reason: last.reason ?? "finished",
          }
        : null,
    };
  },
  hooks: {
    async timer(ctx, key, data) {
      if (key === END) await finish(ctx, (data as { poll_id: string }).poll_id, "expired");
    },
    deleted(ctx) {
      clearTimeout(ctx.state.live);
    },
  },
  service: (ctx) => ({
    meetingOver: async () => {
      const open = openPoll(ctx);
      if (open) await finish(ctx, open.id, "meeting_ended");
    },
  }),
});
