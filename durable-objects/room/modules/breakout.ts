import { BREAKOUT_AUTHORITY, CHAIRS, type ParsedCommandOf } from "../../../src/protocol";
import { type CommandError, defineModule, type ModuleContext, type Sender } from "../module";

type Context = ModuleContext<"breakout">;
type StartCommand = Extract<ParsedCommandOf<"breakout">, { action: "start" }>;
type EndReason = "by_moderator" | "expired" | "meeting_ended";

/** What the meeting's end asks of breakout rooms: they close (everyone is back in the main room). */
export interface BreakoutService {
  meetingOver(): Promise<void>;
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
}

/** The end of the rooms: by their duration, or by a chair's delayed stop. */
const END = "end";
const notRunning: CommandError = { error: "breakout_not_active", text: "no breakout rooms are open" };
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const isChair = (ctx: Context, id: string) => CHAIRS.includes(ctx.roster.member(id)?.role ?? "guest");

const running = (ctx: Context) => ctx.sql.exec<RunningRow>("SELECT * FROM breakout_running").toArray()[0];
const roomsOf = (row: RunningRow) => JSON.parse(row.rooms) as { id: string; name: string }[];

/** Who is in which breakout room (the main room's participants are left out). */
function assignment(ctx: Context): Record<string, string> {
  const rows = ctx.sql.exec<{ participant_id: string; room: string }>("SELECT * FROM breakout_assigned");
  return Object.fromEntries([...rows].map((r) => [r.participant_id, r.room]));
}

/** One participant's breakout room (null: the main room), read alone: this runs on every join. */
const roomOf = (ctx: Context, participantId: string) =>
  ctx.sql
    .exec<{ room: string }>("SELECT room FROM breakout_assigned WHERE participant_id = ?", participantId)
    .toArray()[0]?.room ?? null;

function describe(ctx: Context, row: RunningRow) {
  return {
    rooms: roomsOf(row),
    assignment: assignment(ctx),
    ends_at: iso(row.ends_at),
    allow_self_switch: row.allow_self_switch === 1,
    closing_at: iso(row.closing_at),
    started_by: row.started_by,
  };
}

/** Puts a participant into a breakout room (null: the main room): stored for their return, and in the roster. */
function place(ctx: Context, participantId: string, room: string | null): void {
  if (room === null) ctx.sql.exec("DELETE FROM breakout_assigned WHERE participant_id = ?", participantId);
  else {
    ctx.sql.exec(
      `INSERT INTO breakout_assigned (participant_id, room) VALUES (?, ?)
       ON CONFLICT(participant_id) DO UPDATE SET room = excluded.room`,
      participantId,
      room,
    );
  }
  if (ctx.roster.member(participantId)) ctx.room.setGroup(participantId, room ?? undefined);
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
  const inRoom = new Set(ctx.roster.inRoom().map((m) => m.participantId));
  const unknown = command.rooms.flatMap((r) => r.assignments ?? []).find((id) => !inRoom.has(id));
  if (unknown) return { error: "not_found", text: `nobody of id ${unknown} is in the room` };
  const ids = command.rooms.map((_, i) => `b${i + 1}`);
  const endsAt = command.duration_seconds === undefined ? null : ctx.now() + command.duration_seconds * 1000;
  ctx.sql.exec(
    `INSERT INTO breakout_running (id, rooms, ends_at, allow_self_switch, started_by)
     VALUES (1, ?, ?, ?, ?)`,
    JSON.stringify(command.rooms.map((r, i) => ({ id: ids[i], name: r.name }))),
    endsAt,
    command.allow_self_switch ? 1 : 0,
    sender.participantId,
  );
  for (const [id, room] of plan(ctx, command, ids)) place(ctx, id, room);
  ctx.emit({ to: "everyone" }, { message: "started", ...describe(ctx, running(ctx)!) }, sender);
  return endsAt === null ? Promise.resolve() : ctx.timers.schedule(END, endsAt);
}

/** Everyone back in the main room; the rooms close. */
function finish(ctx: Context, reason: EndReason, sender?: Sender): Promise<void> {
  for (const id of Object.keys(assignment(ctx))) place(ctx, id, null);
  ctx.sql.exec("DELETE FROM breakout_running");
  ctx.emit({ to: "everyone" }, { message: "stopped", reason }, sender);
  return ctx.timers.cancel(END);
}

/**
 * Breakout rooms (groundwork: the rooms, who is in which, moving, closing — through the roster's groups; scoping
 * chat, presence and media to the groups follows). A chair opens 2–50 rooms with their lists (or spreads everyone
 * evenly at random), optionally for a time; participants switch themselves where allowed; a chair stops them, at
 * once or with a delay everyone is told of. Durations go through the room's scheduler and survive a restart.
 */
export const breakout = defineModule({
  namespace: "breakout",
  migrations: [
    `CREATE TABLE breakout_running (id INTEGER PRIMARY KEY CHECK (id = 1), rooms TEXT NOT NULL, ends_at INTEGER,
      allow_self_switch INTEGER NOT NULL, closing_at INTEGER, started_by TEXT NOT NULL)`,
    // Who is in which room: kept for their return while the rooms are open (the main room's participants have none).
    "CREATE TABLE breakout_assigned (participant_id TEXT PRIMARY KEY, room TEXT NOT NULL)",
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
      place(ctx, sender.participantId, command.room);
      const event = { message: "switched", participant_id: sender.participantId, room: command.room } as const;
      return ctx.emit({ to: "everyone" }, event, sender);
    }
    const delay = command.delay_seconds ?? 0;
    if (delay === 0) return finish(ctx, "by_moderator", sender);
    const at = ctx.now() + delay * 1000;
    ctx.sql.exec("UPDATE breakout_running SET closing_at = ?", at);
    ctx.emit({ to: "everyone" }, { message: "closing", at: iso(at)! }, sender);
    return ctx.timers.schedule(END, at);
  },
  joinState(ctx, connection) {
    const row = running(ctx);
    if (!row) return { active: null, room: null };
    return { active: describe(ctx, row), room: roomOf(ctx, connection.participantId) };
  },
  hooks: {
    connected(ctx, connection, held) {
      // Back within the rooms' time: into the room they were in (the roster keeps it; this also covers a restart).
      const room = running(ctx) && !held ? roomOf(ctx, connection.participantId) : null;
      if (room !== null && ctx.roster.groupOf(connection.participantId) !== room) {
        ctx.room.setGroup(connection.participantId, room);
      }
    },
    gone(ctx, participantId) {
      // The room forgot them: if they come back, they start in the main room.
      if (running(ctx)) place(ctx, participantId, null);
    },
    async timer(ctx, key) {
      const row = running(ctx);
      if (key === END && row) await finish(ctx, row.closing_at === null ? "expired" : "by_moderator");
    },
  },
  service: (ctx) => ({
    meetingOver: async () => {
      if (running(ctx)) await finish(ctx, "meeting_ended");
    },
  }),
});
