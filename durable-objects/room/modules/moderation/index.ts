import {
  CHAIRS,
  CloseCode,
  type MicrophoneRestrictions,
  MODERATION_AUTHORITY,
  type ModerationLog,
  type ModerationLogEntry,
  type ParsedCommandOf,
  RemovalReason,
  type TargetRule,
  type WaitingRoom,
} from "../../../../src/protocol";
import {
  type Admission,
  type CommandError,
  type Connection,
  defineModule,
  type Member,
  type ModuleContext,
  type ModuleDefinition,
  type Sender,
} from "../../module";
import { type Actor, actorOf, type LoggedAction, type Named, readLog, record } from "./log";
import {
  announceRestrictions,
  audioAllowed,
  clearRestrictions,
  MICROPHONE_MIGRATIONS,
  mute,
  restricted,
  restrictions,
  restrictTo,
} from "./microphones";
import {
  addBan,
  addRejection,
  banList,
  banOf,
  forgetMeetingSanctions,
  isLocked,
  isRejected,
  liftBan,
  setLocked,
} from "./sanctions";
import {
  forgetMeeting,
  forgetSentBack,
  heldByRule,
  isSentBack,
  letAllIn,
  letIn,
  markAdmitted,
  markRemoved,
  markSentBack,
  startedWaiting,
  stoppedWaiting,
  waitingList,
  wasRemoved,
} from "./waiting";

/**
 * What the core's REST side asks of moderation (the log, a waiting-room setting changed by PATCH), and the other
 * modules: whether someone may publish audio (media), and a chair's action of theirs to keep in the log (chat).
 */
export interface ModerationService {
  readLog(before: number | undefined, limit: number | undefined): ModerationLog;
  waitingRoomChanged(actor: Actor, mode: WaitingRoom): Promise<void>;
  audioAllowed(participantId: string): boolean;
  microphonesRestricted(): boolean;
  microphoneRestrictions(): MicrophoneRestrictions;
  /**
   * Sets microphone restrictions for another module (the speaker queue), as `set_microphone_restrictions` does
   * (null: clears them); `by` is named in the `muted` events. With `placeFrom`, the room asks for an SFU if it has
   * none. Resolves once the SFU holds whoever is muted.
   */
  restrictMicrophones(
    by: { participantId: string },
    unrestricted: readonly string[] | null,
    placeFrom?: Connection,
  ): Promise<void>;
  /** Logs a chair's command of another namespace; its own answer acknowledges it (`logged` goes to the chairs). */
  note(by: Sender, action: LoggedAction, details: ModerationLogEntry["details"]): void;
}

declare module "../../module" {
  interface ModuleServices {
    moderation: ModerationService;
  }
}

type Context = ModuleContext<"moderation">;
type Command = ParsedCommandOf<"moderation">;
type Returns = CommandError | void | Promise<CommandError | void>;

/** Versioned, append only. */
const MIGRATIONS = [
  // Who was let in during this meeting (not held again when they come back).
  "CREATE TABLE moderation_admitted (participant_id TEXT PRIMARY KEY)",
  // Who chairs were told waits, so each arrival and departure is announced exactly once.
  "CREATE TABLE moderation_waiting (participant_id TEXT PRIMARY KEY)",
  // The moderation log: append-only, rows are never updated or deleted while the room exists.
  `CREATE TABLE moderation_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor_id TEXT,
    actor_name TEXT NOT NULL, action TEXT NOT NULL, target_id TEXT, target_name TEXT, details TEXT NOT NULL)`,
  // Registered users kept out of the room until unbanned (participant ids of users are stable per room).
  `CREATE TABLE moderation_bans (participant_id TEXT PRIMARY KEY, display_name TEXT NOT NULL,
    banned_at INTEGER NOT NULL, banned_by_id TEXT, banned_by_name TEXT NOT NULL)`,
  // Registered users turned away from the waiting room: kept out for this meeting.
  "CREATE TABLE moderation_rejected (participant_id TEXT PRIMARY KEY)",
  // The meeting's own settings (one row once locked or unlocked; none: unlocked).
  "CREATE TABLE moderation_meeting (id INTEGER PRIMARY KEY CHECK (id = 1), locked INTEGER NOT NULL)",
  // Who a chair sent back to the waiting room: they wait whatever the room's setting, until let in.
  "CREATE TABLE moderation_sent_back (participant_id TEXT PRIMARY KEY)",
  // Who a chair removed during this meeting: their resumption token does not open a locked room.
  "CREATE TABLE moderation_removed (participant_id TEXT PRIMARY KEY)",
  ...MICROPHONE_MIGRATIONS,
];

/** Timer of the meeting: the room has been empty for the resumption window. */
const MEETING_OVER = "meeting_over";

const isChair = (member: Pick<Member, "role"> | undefined) => member !== undefined && CHAIRS.includes(member.role);
const named = (m: { participantId: string; displayName: string }): Named => ({
  participantId: m.participantId,
  displayName: m.displayName,
});
const denied = (text: string): CommandError => ({ error: "insufficient_permissions", text });

/** The target rules of `MODERATION_AUTHORITY`: where the target must be, the owner's and moderators' protection. */
function targetRefusal(ctx: Context, sender: Sender, targetId: string, rule: TargetRule): CommandError | undefined {
  if (rule.in === "ban_list") {
    return banOf(ctx, targetId) ? undefined : { error: "not_found", text: "nobody of that id is banned" };
  }
  const member = ctx.roster.member(targetId);
  const waiting = member?.held === true && member.connected;
  // A banned user is out (until unbanned) even within their resumption window.
  const inRoom = member !== undefined && !member.held && ctx.roster.present(targetId) && !banOf(ctx, targetId);
  const found = rule.in === "waiting" ? waiting : rule.in === "room" ? inRoom : waiting || inRoom;
  if (!member || !found) {
    const place = rule.in === "waiting" ? "in the waiting room" : "in the room";
    return { error: "not_found", text: `nobody of that id is ${place}` };
  }
  if (member.role === "owner") return denied("nobody may act on the room's owner");
  if (member.role === "moderator" && sender.role !== "owner" && targetId !== sender.participantId) {
    return denied("only the owner may act on a moderator");
  }
  if (rule.kinds && !rule.kinds.includes(member.kind)) {
    return denied(`this applies to ${rule.kinds.map((k) => (k === "user" ? "registered users" : "guests"))} only`);
  }
  return undefined;
}

/** The targets a command names (`all` names nobody in particular: the handler picks whom the rule allows). */
const targetsOf = (c: { target?: string; targets?: readonly string[] | "all" }): readonly string[] =>
  c.target !== undefined ? [c.target] : c.targets === "all" ? [] : (c.targets ?? []);

const permissions = Object.fromEntries(
  Object.entries(MODERATION_AUTHORITY).map(([action, { issuers, target }]) => [
    action,
    target
      ? {
          roles: issuers,
          allow: (ctx: Context, sender: Sender, c: Parameters<typeof targetsOf>[0]) => {
            for (const id of targetsOf(c)) {
              const refused = targetRefusal(ctx, sender, id, target);
              if (refused) return refused;
            }
            return undefined;
          },
        }
      : issuers,
  ]),
) as unknown as ModuleDefinition<"moderation">["permissions"];

function roomState(ctx: Context) {
  return {
    locked: isLocked(ctx),
    waiting_room: ctx.room.info().waitingRoom,
    hands_enabled: ctx.services.control.handsEnabled(),
  };
}

const announceState = (ctx: Context) => ctx.emit({ to: "everyone" }, { message: "room_state", ...roomState(ctx) });

/**
 * The new waiting-room setting applies (by command or PATCH): `disabled` lets everyone waiting in, and those a
 * chair sent back; switching it on holds nobody who is inside. Everyone hears the room's state, the log keeps it.
 */
async function waitingRoomSet(ctx: Context, by: Sender | Actor, mode: WaitingRoom): Promise<CommandError | undefined> {
  let outcome = { admitted: [] as string[], full: false };
  if (mode === "disabled") {
    forgetSentBack(ctx);
    outcome = await letAllIn(ctx, undefined);
  }
  announceState(ctx);
  // A room that filled up answers with the error alone (the entry is still kept: the setting changed).
  record(ctx, by, "set_waiting_room", undefined, { mode, admitted: outcome.admitted.length }, !outcome.full);
  return outcome.full ? fullRoom(outcome.admitted.length) : undefined;
}

const fullRoom = (admitted: number): CommandError => ({
  error: "participant_limit_reached",
  text: `${admitted} let in; the room is full, the others still wait`,
});

/** The meeting is over (ended by a chair, or the room stayed empty for the resumption window). */
async function endOfMeeting(ctx: Context): Promise<void> {
  forgetMeeting(ctx);
  forgetMeetingSanctions(ctx);
  clearRestrictions(ctx);
  ctx.services.control.setHandsEnabled(true);
  ctx.services.chat.meetingOver();
  ctx.services.media.meetingOver();
  await ctx.services.legal_vote.meetingOver();
  await ctx.services.polls.meetingOver();
  await ctx.services.timer.meetingOver();
  await ctx.services.automod.meetingOver();
  await ctx.services.breakout.meetingOver();
  await ctx.timers.cancel(MEETING_OVER);
}

/**
 * Removes participants (others see them leave with reason `removed`), marked first, all before anything awaits: on
 * return they wait by the room's setting like anyone new, and a lock keeps them out. `forget`: their resumption
 * tokens go too (a guest comes back only as a new guest).
 */
async function removeAll(ctx: Context, ids: readonly string[], code: number, reason: string, forget = false) {
  for (const id of ids) markRemoved(ctx, id);
  const removals = ids.map((id) => ctx.room.remove(id, code, reason, forget));
  await Promise.all(removals);
}

/**
 * Everyone out, the meeting's settings reset, then the acknowledgement, and last the chair's own connections:
 * until nobody else is left (someone may connect while others are removed).
 */
async function endMeeting(ctx: Context, sender: Sender, log: () => void): Promise<void> {
  const others = () => present(ctx, (m) => m.participantId !== sender.participantId);
  // Nobody gets in with a ticket issued before.
  ctx.room.voidTickets();
  // A running vote ends while everyone is still here to hear it (and to keep its last signed head).
  await ctx.services.legal_vote.meetingOver();
  for (let left = others(); left.length > 0; left = others()) {
    await removeAll(ctx, left, CloseCode.meetingEnded, RemovalReason.meetingEnded);
  }
  await endOfMeeting(ctx);
  log();
  await ctx.room.remove(sender.participantId, CloseCode.meetingEnded, RemovalReason.meetingEnded);
}

/**
 * The commands. Those that only write SQL stay synchronous, so the dispatcher's transaction rolls them back whole
 * when they throw; those that remove, hold, let in or change roles await the core and log once it is done — or
 * first, when the chair acts on themselves (their own connection would not hear it after).
 */
function handle(ctx: Context, sender: Sender, command: Command): Returns {
  const member = "target" in command ? ctx.roster.member(command.target) : undefined;
  const nameOf = (id: string) => {
    const m = ctx.roster.member(id);
    return m && named(m);
  };
  const log = (details?: ModerationLogEntry["details"], target: Named | undefined = member && named(member)) =>
    void record(ctx, sender, command.action, target, details);
  const self = member?.participantId === sender.participantId;
  const after = async (work: () => Promise<unknown>, details?: () => ModerationLogEntry["details"]) => {
    if (self) log(details?.());
    await work();
    if (!self) log(details?.());
  };
  switch (command.action) {
    case "update_role": {
      const from = member!.role;
      return after(
        () =>
          ctx.room.setRole(command.target, command.role).then(async (changed) => {
            if (!changed) return;
            ctx.emit({ to: "participant", id: command.target }, { message: "role_updated", role: command.role });
            // A moderator who steps down while microphones are restricted is muted like everyone restricted.
            if (!audioAllowed(ctx, command.target)) await mute(ctx, sender, [command.target], "newly_held");
          }),
        () => ({ from, role: command.role }),
      );
    }
    case "kick":
      return after(() => removeAll(ctx, [command.target], CloseCode.kicked, RemovalReason.kicked));
    case "ban": {
      // Guests have no identity to keep out: they are kicked, and their way back as the same guest is void.
      const guest = member!.kind === "guest";
      // Kept out and demoted before anything awaits: a start of theirs, or a command from another of their devices,
      // arriving meanwhile is refused already.
      if (!guest) addBan(ctx, command.target, member!.displayName, actorOf(ctx, sender));
      const demoted = member!.role === "moderator" ? ctx.room.setRole(command.target, "user") : undefined;
      const revoked = guest && command.revoke_invite === true && ctx.room.revokeInviteOf(command.target);
      const [code, reason] = guest
        ? [CloseCode.kicked, RemovalReason.kicked]
        : [CloseCode.banned, RemovalReason.banned];
      return after(
        async () => {
          await removeAll(ctx, [command.target], code, reason, true);
          await demoted;
        },
        () => ({ kind: member!.kind, invite_revoked: revoked }),
      );
    }
    case "unban": {
      const banned = banOf(ctx, command.target)!;
      liftBan(ctx, command.target);
      return log({}, { participantId: banned.participant_id, displayName: banned.display_name });
    }
    case "send_to_waiting_room":
      markSentBack(ctx, command.target);
      return after(async () => {
        // Held at once (the hold's synchronous part); the modules' leave hooks follow.
        const holding = ctx.room.hold(command.target);
        if (ctx.roster.member(command.target)?.held) startedWaiting(ctx, command.target);
        await holding;
      });
    case "accept":
      return letIn(ctx, command.target).then((refused) => refused ?? log());
    case "accept_all":
      return letAllIn(ctx, sender).then(({ admitted, full }) => {
        record(ctx, sender, "accept_all", undefined, { admitted: admitted.length }, !full);
        return full ? fullRoom(admitted.length) : undefined;
      });
    case "reject":
      // Stored before anything awaits (see ban); guests have no identity to keep out: their resumption goes.
      if (member!.kind === "user") addRejection(ctx, command.target);
      return after(
        () => removeAll(ctx, [command.target], CloseCode.kicked, RemovalReason.notAdmitted, true),
        () => ({ kind: member!.kind }),
      );
    case "set_waiting_room":
      ctx.room.setWaitingRoom(command.mode);
      return waitingRoomSet(ctx, sender, command.mode);
    case "lock":
    case "unlock":
      setLocked(ctx, command.action === "lock");
      announceState(ctx);
      return log();
    case "end_meeting":
      return endMeeting(ctx, sender, () => log());
    case "debrief": {
      const leaving = present(ctx, (m) => !isChair(m) && (command.scope === "users_and_guests" || m.kind === "guest"));
      return after(
        () => removeAll(ctx, leaving, CloseCode.kicked, RemovalReason.debriefing),
        () => ({ scope: command.scope, removed: leaving.length }),
      );
    }
    case "set_hands": {
      const lowered = ctx.services.control.setHandsEnabled(command.enabled);
      announceState(ctx);
      return log({ enabled: command.enabled, lowered });
    }
    case "reset_hands":
      return log({ lowered: ctx.services.control.lowerAllHands() });
    case "set_display_name": {
      const from = member!.displayName;
      ctx.room.rename(command.target, command.display_name);
      return log({ from, to: command.display_name });
    }
    case "mute": {
      const all = command.targets === "all";
      // Everyone but the chairs, those briefly away included (they come back muted).
      const ids = all
        ? ctx.roster
            .inRoom()
            .filter((m) => !isChair(m))
            .map((m) => m.participantId)
        : [...new Set(command.targets)];
      const target = !all && ids.length === 1 ? nameOf(ids[0]!) : undefined;
      return mute(ctx, sender, ids).then(() => log({ targets: all ? "all" : ids.length, muted: ids.length }, target));
    }
    case "set_microphone_restrictions": {
      // A listed participant the room has forgotten since (a guest gone for good) drops out; a new id must exist.
      const listed = new Set(restrictions(ctx).unrestricted);
      const unknown = command.unrestricted.find((id) => !ctx.roster.member(id) && !listed.has(id));
      if (unknown) return { error: "not_found", text: `nobody of id ${unknown} is in the room` };
      return restrictTo(ctx, sender, command.unrestricted, sender).then(({ muted, sfu }) =>
        log({ unrestricted: restrictions(ctx).unrestricted.length, muted, sfu: sfu === true }),
      );
    }
    case "clear_microphone_restrictions":
      clearRestrictions(ctx);
      announceRestrictions(ctx);
      return log();
    case "get_log":
      // The page as it was when asked is the answer; the reading is logged after (without a second answer).
      ctx.reply(sender, { message: "log", ...readLog(ctx, command.before, command.limit) });
      record(
        ctx,
        sender,
        "get_log",
        undefined,
        { before: command.before ?? null, limit: command.limit ?? null },
        false,
      );
      return undefined;
  }
}

/** Connected participants, in the room or waiting, for whom `include` holds. */
const present = (ctx: Context, include: (m: Member) => boolean = () => true) =>
  [...ctx.roster.admitted(), ...ctx.roster.held()].filter(include).map((m) => m.participantId);

/**
 * The moderation namespace: the waiting room, roles, removals (kick, ban, reject, debrief, end for all), the lock,
 * hands on/off and the moderation log. Who may issue what, and on whom, is `MODERATION_AUTHORITY`
 * (src/protocol/moderation.ts). A meeting lasts from the first join until `end_meeting` or until the room has been
 * empty for the resumption window: its lock, rejections, hands setting and who was let in end with it; bans and the
 * log stay with the room.
 */
export const moderation = defineModule({
  namespace: "moderation",
  migrations: MIGRATIONS,
  permissions,
  handle,
  joinState(ctx, connection) {
    const chair = isChair(ctx.roster.member(connection.participantId));
    return {
      ...roomState(ctx),
      microphone_restrictions: restrictions(ctx),
      waiting: chair ? waitingList(ctx) : [],
      banned: chair ? banList(ctx) : [],
    };
  },
  hooks: {
    admit(ctx, candidate) {
      const id = candidate.participantId;
      if (candidate.kind === "user" && banOf(ctx, id)) {
        return { decision: "refuse", error: "banned_from_room", text: "you are banned from this room" };
      }
      if (candidate.kind === "user" && isRejected(ctx, id)) {
        return { decision: "refuse", error: "rejected", text: "you were not admitted to this meeting" };
      }
      // Whom a chair sent back waits, whatever their role, until let in.
      if (isSentBack(ctx, id)) return { decision: "hold" };
      const locked = candidate.phase === "start" && isLocked(ctx);
      const lockedOut = {
        decision: "refuse",
        error: "room_locked",
        text: "the room is locked: nobody new may come in",
      };
      // Whom a chair removed this meeting is new to a lock, whatever their role or resumption token.
      if (locked && wasRemoved(ctx, id)) return lockedOut as Admission;
      if (CHAIRS.includes(candidate.role)) return undefined;
      if (locked && !candidate.returning) return lockedOut as Admission;
      return heldByRule(ctx, id, candidate.kind) ? { decision: "hold" } : undefined;
    },
    connected(ctx, connection, held) {
      const id = connection.participantId;
      if (held) return startedWaiting(ctx, id);
      markAdmitted(ctx, id);
      stoppedWaiting(ctx, id);
    },
    async left(ctx, participantId) {
      stoppedWaiting(ctx, participantId);
      // Empty now: the meeting is over unless someone comes back within the resumption window.
      if (ctx.roster.connectedCount() === 0) {
        await ctx.timers.schedule(MEETING_OVER, ctx.now() + ctx.config.RESUMPTION_WINDOW_SECONDS * 1000);
      }
    },
    roleChanged(ctx, participantId, from, to) {
      // A new chair gets the lists they have not seen (as additions); a former one simply hears no more.
      if (CHAIRS.includes(to) && !CHAIRS.includes(from)) {
        const id = { to: "participant", id: participantId } as const;
        ctx.emit(id, { message: "waiting_room_changed", added: waitingList(ctx), removed: [] });
        ctx.emit(id, { message: "ban_list_changed", added: banList(ctx), removed: [] });
      }
    },
    async timer(ctx, key) {
      if (key === MEETING_OVER && ctx.roster.connectedCount() === 0) await endOfMeeting(ctx);
    },
  },
  service: (ctx) => ({
    readLog: (before, limit) => readLog(ctx, before, limit),
    waitingRoomChanged: async (actor, mode) => void (await waitingRoomSet(ctx, actor, mode)),
    audioAllowed: (participantId) => audioAllowed(ctx, participantId),
    microphonesRestricted: () => restricted(ctx),
    microphoneRestrictions: () => restrictions(ctx),
    async restrictMicrophones(by, unrestricted, placeFrom) {
      if (unrestricted !== null) await restrictTo(ctx, by, unrestricted, placeFrom);
      else if (restricted(ctx)) {
        clearRestrictions(ctx);
        announceRestrictions(ctx);
      }
    },
    note: (by, action, details) => record(ctx, by, action, undefined, details, false),
  }),
});
