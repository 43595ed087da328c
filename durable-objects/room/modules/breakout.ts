import { BREAKOUT_AUTHORITY, CHAIRS, type ParsedCommandOf } from "../../../src/protocol";
import { type CommandError, defineModule, type ModuleContext, type Sender } from "../module";

/**
 * The running rooms as join states describe them, built once per change (a start or stop moves everyone, and each
 * mover's join_success carries them); in memory.
 */
interface Cache {
  described?: ReturnType<typeof describe>;
}
type Context = ModuleContext<"breakout", Cache>;
type StartCommand = Extract<ParsedCommandOf<"breakout">, { action: "start" }>;
type EndReason = "by_moderator" | "expired" | "meeting_ended";

/** What other modules ask of breakout rooms. */
export interface BreakoutService {
  /** The meeting ended: the rooms close (everyone is back in the main room). */
  meetingOver(): Promise<void>;
  /**
   * Where a tool started in a group (`ctx.roster.groupOf` of the chair who started it) is seen now: that group while
   * its breakout room is open, else the main room (undefined), which everyone is back in.
   */
  audience(group: string | undefined): string | undefined;
  /** Whether breakout rooms are open. */
  open(): boolean;
}

declare module "../module" {
  interface ModuleServices {
    breakout: BreakoutService;
  }
}

interface RunningRow extends Record<string, SqlStorageValue> {
  rooms: string;
  ends_at: number | null;
  allow_self_switch: number;
  closing_at: number | null;
  started_by: string;
  /** Names this opening of the rooms: the roster's groups are `<room>@<run>`, new each time rooms open. */
  run: string;
}

/** The end of the rooms: by their duration, or by a chair's delayed stop. */
const END = "end";
const notRunning: CommandError = { error: "breakout_not_active", text: "no breakout rooms are open" };
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const isChair = (ctx: Context, id: string) => CHAIRS.includes(ctx.roster.member(id)?.role ?? "guest");

const running = (ctx: Context) => ctx.sql.exec<RunningRow>("SELECT * FROM breakout_running").toArray()[0];
const roomsOf = (row: RunningRow) => JSON.parse(row.rooms) as { id: string; name: string }[];

/** Who is in which breakout room (the main room's participants are left out). */
function assignment(ctx: Pick<Context, "sql">): Record<string, string> {
  const rows = ctx.sql.exec<{ participant_id: string; room: string }>("SELECT * FROM breakout_assigned");
  return Object.fromEntries([...rows].map((r) => [r.participant_id, r.room]));
}

/** One participant's breakout room (null: the main room), read alone: this runs on every join. */
const roomOf = (ctx: Context, participantId: string) =>
  ctx.sql
    .exec<{ room: string }>("SELECT room FROM breakout_assigned WHERE participant_id = ?", participantId)
    .toArray()[0]?.room ?? null;

function describe(ctx: Pick<Context, "sql">, row: RunningRow) {
  return {
    rooms: roomsOf(row),
    assignment: assignment(ctx),
    ends_at: iso(row.ends_at),
    allow_self_switch: row.allow_self_switch === 1,
    closing_at: iso(row.closing_at),
    started_by: row.started_by,
  };
}

const groupOf = (row: RunningRow, room: string | null) => (room === null ? undefined : `${room}@${row.run}`);

/**
 * Puts a participant into a breakout room (null: the main room): stored for their return, and in the roster,
 * which moves them (the promise settles once their connections have the new group's join_success).
 */
function place(ctx: Context, row: RunningRow, participantId: string, room: string | null): Promise<void> {
  ctx.state.described = undefined;
  if (room === null) ctx.sql.exec("DELETE FROM breakout_assigned WHERE participant_id = ?", participantId);
  else {
    ctx.sql.exec(
      `INSERT INTO breakout_assigned (participant_id, room) VALUES (?, ?)
       ON CONFLICT(participant_id) DO UPDATE SET room = excluded.room`,
      participantId,
      room,
    );
  }
  return ctx.roster.member(participantId) ? ctx.room.setGroup(participantId, groupOf(row, room)) : Promise.resolve();
}

/**
 * Who goes where: the rooms' own lists, then (with random assignment) everyone else in the room who does not chair,
 * in random order, each into a room with the fewest so far — the rooms' sizes differ by at most one where nobody was
 * named.
 */
function plan(ctx: Context, command: StartCommand, ids: string[]): Map<string, string> {
  const planned = new Map<string, string>();
  const sizes = ids.map(() => 0);
  command.rooms.forEach((room, i) => {
    for (const id of room.assignments ?? []) planned.set(id, ids[i]!);
    sizes[i] = room.assignments?.length ?? 0;
  });
  if (!command.random_assignment) return planned;
  const rest = ctx.roster
    .admitted()
    .map((m) => m.participantId)
    .filter((id) => !planned.has(id) && !isChair(ctx, id));
  const draws = crypto.getRandomValues(new Uint32Array(rest.length));
  for (let i = rest.length - 1; i > 0; i--) {
    const j = draws[i]! % (i + 1);
    [rest[i], rest[j]] = [rest[j]!, rest[i]!];
  }
  for (const id of rest) {
    const smallest = sizes.indexOf(Math.min(...sizes));
    planned.set(id, ids[smallest]!);
    sizes[smallest]!++;
  }
  return planned;
}

function start(ctx: Context, sender: Sender, command: StartCommand): CommandError | Promise<void> {
  if (running(ctx)) return { error: "breakout_active", text: "breakout rooms are open already; stop them first" };
  // Microphone restrictions are the whole room's: a queue holding everyone's microphone but the speaker's would
  // silence every breakout room.
  if (ctx.services.automod.exclusiveMicrophone()) {
    return { error: "automod_active", text: "a speaker queue holds the microphones; stop it first" };
  }
  const inRoom = new Set(ctx.roster.inRoom().map((m) => m.participantId));
  const unknown = command.rooms.flatMap((r) => r.assignments ?? []).find((id) => !inRoom.has(id));
  if (unknown) return { error: "not_found", text: `nobody of id ${unknown} is in the room` };
  const ids = command.rooms.map((_, i) => `b${i + 1}`);
  const endsAt = command.duration_seconds === undefined ? null : ctx.now() + command.duration_seconds * 1000;
  ctx.sql.exec(
    `INSERT INTO breakout_running (id, rooms, ends_at, allow_self_switch, started_by, run)
     VALUES (1, ?, ?, ?, ?, ?)`,
    JSON.stringify(command.rooms.map((r, i) => ({ id: ids[i], name: r.name }))),
    endsAt,
    command.allow_self_switch ? 1 : 0,
    sender.participantId,
    crypto.randomUUID(),
  );
  ctx.state.described = undefined;
  const row = running(ctx)!;
  // Everyone hears who goes where before the movers get their rooms' join_success.
  const moves = [...plan(ctx, command, ids)].map(([id, room]) => place(ctx, row, id, room));
  ctx.emit({ to: "everyone" }, { message: "started", ...describe(ctx, row) }, sender);
  const ending = endsAt === null ? Promise.resolve() : ctx.timers.schedule(END, endsAt);
  return Promise.all([...moves, ending]).then(() => undefined);
}

/**
 * Everyone back in the main room; the rooms close (the SQL is done on return, as in every handler). Those who
 * stayed in the main room get its state afresh too: tools started in the breakout rooms are everyone's now.
 */
function finish(ctx: Context, row: RunningRow, reason: EndReason, sender?: Sender): Promise<void> {
  const assigned = assignment(ctx);
  const moves = Object.keys(assigned).map((id) => place(ctx, row, id, null));
  ctx.sql.exec("DELETE FROM breakout_running");
  ctx.state.described = undefined;
  ctx.emit({ to: "everyone" }, { message: "stopped", reason }, sender);
  const stayed = ctx.roster.admitted().filter((m) => !Object.hasOwn(assigned, m.participantId));
  const refreshed = stayed.map((m) => ctx.room.refresh(m.participantId));
  return Promise.all([...moves, ...refreshed, ctx.timers.cancel(END)]).then(() => undefined);
}

/**
 * Breakout rooms: working groups over the same connection, kept as the roster's groups (presence, chat and media
 * are seen per group; the core moves a participant and sends them the new group's join_success). A chair opens
 * 2–50 rooms with their lists (or spreads everyone evenly at random), optionally for a time; participants switch
 * themselves where allowed; a chair stops them, at once or with a delay everyone is told of. Durations go through
 * the room's scheduler and survive a restart.
 */
export const breakout = defineModule<"breakout", Cache>({
  namespace: "breakout",
  state: () => ({}),
  migrations: [
    `CREATE TABLE breakout_running (id INTEGER PRIMARY KEY CHECK (id = 1), rooms TEXT NOT NULL, ends_at INTEGER,
      allow_self_switch INTEGER NOT NULL, closing_at INTEGER, started_by TEXT NOT NULL)`,
    // Who is in which room: kept for their return while the rooms are open (the main room's participants have none).
    "CREATE TABLE breakout_assigned (participant_id TEXT PRIMARY KEY, room TEXT NOT NULL)",
    "ALTER TABLE breakout_running ADD COLUMN run TEXT NOT NULL DEFAULT ''",
  ],
  permissions: BREAKOUT_AUTHORITY,
  handle(ctx, sender, command) {
    if (command.action === "start") return start(ctx, sender, command);
    const row = running(ctx);
    if (!row) return notRunning;
    if (command.action === "switch_room") {
      if (!isChair(ctx, sender.participantId) && row.allow_self_switch !== 1) {
        return { error: "insufficient_permissions", text: "only owners and moderators switch rooms now" };
      }
      if (command.room !== null && !roomsOf(row).some((r) => r.id === command.room)) {
        return { error: "not_found", text: `no breakout room ${command.room}` };
      }
      const moved = place(ctx, row, sender.participantId, command.room);
      const event = { message: "switched", participant_id: sender.participantId, room: command.room } as const;
      ctx.emit({ to: "everyone" }, event, sender);
      return moved;
    }
    const delay = command.delay_seconds ?? 0;
    if (delay === 0) return finish(ctx, row, "by_moderator", sender);
    // A delayed stop brings the return forward, never past the rooms' end.
    const at = Math.min(ctx.now() + delay * 1000, row.ends_at ?? Number.POSITIVE_INFINITY);
    ctx.sql.exec("UPDATE breakout_running SET closing_at = ?", at);
    ctx.state.described = undefined;
    ctx.emit({ to: "everyone" }, { message: "closing", at: iso(at)! }, sender);
    return ctx.timers.schedule(END, at);
  },
  joinState(ctx, connection) {
    const row = running(ctx);
    if (!row) return { active: null, room: null };
    ctx.state.described ??= describe(ctx, row);
    return { active: ctx.state.described, room: roomOf(ctx, connection.participantId) };
  },
  hooks: {
    // A reconnect (also after a restart) comes back into the group the roster kept for them.
    gone(ctx, participantId) {
      // The room forgot them: if they come back, they start in the main room (as everyone hears).
      const row = running(ctx);
      if (!row || roomOf(ctx, participantId) === null) return;
      ctx.emit({ to: "everyone" }, { message: "switched", participant_id: participantId, room: null });
      return place(ctx, row, participantId, null);
    },
    async timer(ctx, key) {
      const row = running(ctx);
      if (key === END && row) await finish(ctx, row, row.closing_at === null ? "expired" : "by_moderator");
    },
  },
  service: (ctx) => ({
    meetingOver: async () => {
      const row = running(ctx);
      if (row) await finish(ctx, row, "meeting_ended");
    },
    open: () => running(ctx) !== undefined,
    audience: (group) => {
      const row = group === undefined ? undefined : running(ctx);
      return row && group?.endsWith(`@${row.run}`) ? group : undefined;
    },
  }),
});
