import {
  type EventOf,
  fail,
  LEGAL_VOTE_AUTHORITY,
  type ParsedCommandOf,
  type Result,
  type VoteDescription,
  type VoteEntry,
  type VoteEvent,
  type VoteOption,
  type VoteProtocol,
  type VoteSummary,
} from "../../../../src/protocol";
import { logFailure } from "../../../../src/shared/log";
import { randomToken, sha256 } from "../../../../src/shared/secrets";
import { nextEntry, resultOf, signedPayload } from "../../../../src/votes/chain";
import { groupOfStarter, inAudience, tellAudience } from "../../audience";
import { type CommandError, defineModule, type ModuleContext, type Sender } from "../../module";
import { EvidenceSigner } from "./evidence";
import { type StoredVote, VOTE_MIGRATIONS, VoteStore } from "./store";

/** What the room and other modules ask of legal votes. */
export interface LegalVoteService {
  /** The meeting ended: a running vote is canceled. */
  meetingOver(): Promise<void>;
  /** The room is about to be deleted: a running vote is canceled (everyone still hears it). */
  roomDeleted(): Promise<void>;
  /** Whether the room holds vote records (a deletion must not erase them unasked). */
  hasRecords(): boolean;
  /** The room's votes, newest first (`participantId`: only those they were eligible in). */
  list(participantId?: string): VoteSummary[];
  /** Whether a participant was eligible in a vote (undefined: no such vote). */
  eligibleIn(voteId: string, participantId: string | undefined): boolean | undefined;
  /** The signed protocol document of an ended vote. */
  protocol(voteId: string): Promise<Result<VoteProtocol>>;
}

declare module "../../module" {
  interface ModuleServices {
    legal_vote: LegalVoteService;
  }
}

type Ballot = { participant_id: string; display_name: string; option: VoteOption };

/** A live roll call's ballot with the name the vote lists its voter under. */
function named(vote: VoteDescription, participantId: string, option: VoteOption): Ballot {
  return { participant_id: participantId, display_name: eligibleOf(vote).get(participantId) ?? "", option };
}
type Ending = Extract<VoteEvent, { type: "stopped" } | { type: "canceled" }>;

/** The module's memory per object instance (everything that must survive a restart is in its tables). */
interface Runtime {
  store: VoteStore;
  signer: EvidenceSigner;
  /** Chain writes run one after another: each builds on the entry the previous one wrote. */
  queue: Promise<unknown>;
  /** Ballots waiting for the next batch write. */
  ballots: PendingBallot[];
  /** Ballots not yet announced (`updated` goes out at most once per PRESENCE_BATCH_MS). */
  update: { voteId: string; ballots: Ballot[]; timer: ReturnType<typeof setTimeout> } | undefined;
  /** The next signed head (at most one a second while the chain grows). */
  headTimer: ReturnType<typeof setTimeout> | undefined;
  headSentAt: number;
  /** Issue reports per voter and vote (bounded, so nobody floods the protocol). */
  issues: Map<string, number>;
}
type Context = ModuleContext<"legal_vote", Runtime>;

const EXPIRY = "expiry";
const INITIATOR_GONE = "initiator-gone";

const iso = (ms: number) => new Date(ms).toISOString();
const notActive: CommandError = { error: "vote_not_active", text: "no such vote is running" };
const voteActive: CommandError = { error: "vote_active", text: "a vote is already running in this room" };
/** Each vote's eligible voters with their names (a description never changes once started). */
const eligibleNames = new WeakMap<VoteDescription, ReadonlyMap<string, string>>();
function eligibleOf(vote: VoteDescription): ReadonlyMap<string, string> {
  let eligible = eligibleNames.get(vote);
  if (!eligible) {
    eligible = new Map(vote.eligible.map((p) => [p.participant_id, p.display_name]));
    eligibleNames.set(vote, eligible);
  }
  return eligible;
}
const isEligible = (vote: VoteDescription, participantId: string) => eligibleOf(vote).has(participantId);

/**
 * A vote's event to the breakout group it was started in (see audience.ts) and to each eligible voter elsewhere:
 * they may vote wherever they are, so they keep seeing it (and its heads).
 */
function tellVote(
  ctx: Context,
  vote: VoteDescription,
  group: string | null,
  event: EventOf<"legal_vote">,
  sender?: Sender,
): void {
  tellAudience(ctx, group, event, sender, [...eligibleOf(vote).keys()]);
}
const castOf = (vote: StoredVote) => vote.tally.yes + vote.tally.no + vote.tally.abstain;

/** Fisher–Yates with the platform's random source. */
function shuffle<T>(items: T[]): void {
  const random = crypto.getRandomValues(new Uint32Array(items.length));
  for (let i = items.length - 1; i > 0; i--) {
    const j = random[i]! % (i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
}

/** Runs a chain write after those before it (whether they failed or not). */
function serialized<T>(ctx: Context, step: () => Promise<T>): Promise<T> {
  const run = ctx.state.queue.then(step, step);
  ctx.state.queue = run.catch(() => undefined);
  return run;
}

/** The entries that follow `last`, hashed in order (written by the caller, without an await in between). */
async function chain(last: VoteEntry | StoredVote["last"], items: { at: string | null; event: VoteEvent }[]) {
  const entries: VoteEntry[] = [];
  let previous = last;
  for (const item of items) {
    const entry = await nextEntry(previous, item.at, item.event);
    entries.push(entry);
    previous = entry;
  }
  return entries;
}

/** The running vote of this id, or the refusal. */
function runningVote(ctx: Context, voteId: string): StoredVote | CommandError {
  const vote = ctx.state.store.running();
  return vote && vote.id === voteId ? vote : notActive;
}
const refused = (value: StoredVote | CommandError): value is CommandError => "error" in value;

// ── start ─────────────────────────────

type StartCommand = Extract<ParsedCommandOf<"legal_vote">, { action: "start" }>;

/**
 * Those named who may not vote: only registered users in the room (not waiting) and in the initiator's breakout
 * group are eligible — in pseudonymous votes connected now, as only a connection can receive its token (it is
 * never issued again).
 */
function ineligible(ctx: Context, sender: Sender, ids: readonly string[], kind: StartCommand["kind"]): string[] {
  const group = ctx.roster.groupOf(sender.participantId);
  return ids.filter((id) => {
    const member = ctx.roster.member(id);
    if (member?.kind !== "user" || member.held || !ctx.roster.present(id) || member.group !== group) return true;
    return kind === "pseudonymous" && !member.connected;
  });
}

function start(ctx: Context, sender: Sender, command: StartCommand): CommandError | Promise<CommandError | undefined> {
  if (ctx.state.store.running()) return voteActive;
  const outsiders = ineligible(ctx, sender, command.allowed_participants, command.kind);
  if (outsiders.length > 0) {
    const text = "only registered users in the room (and your breakout room) may vote (pseudonymous: connected now)";
    return { error: "ineligible", text, participant_ids: outsiders };
  }
  return serialized(ctx, async () => {
    if (ctx.state.store.running()) return voteActive;
    const now = ctx.now();
    const person = (id: string) => ({ participant_id: id, display_name: ctx.roster.member(id)?.displayName ?? "" });
    const vote: VoteDescription = {
      id: randomToken(12),
      room_id: ctx.room.info().id,
      name: command.name,
      subtitle: command.subtitle ?? null,
      topic: command.topic ?? null,
      kind: command.kind,
      options: command.enable_abstain ? ["yes", "no", "abstain"] : ["yes", "no"],
      rule: command.rule,
      eligible: command.allowed_participants.map(person),
      initiator: person(sender.participantId),
      started_at: iso(now),
      duration_seconds: command.duration_seconds ?? null,
      auto_close: command.auto_close,
    };
    const first = await nextEntry(undefined, iso(now), { type: "started", vote });
    const connected = (id: string) => ctx.roster.member(id)?.connected === true;
    // A roll call records who of the eligible is away at the start (within their resumption window).
    const away =
      vote.kind === "pseudonymous"
        ? []
        : vote.eligible
            .filter((p) => !connected(p.participant_id))
            .map((p) => ({
              at: iso(now),
              event: { type: "presence", participant_id: p.participant_id, present: false } as const,
            }));
    const absences = await chain(first, away);
    // The link between a token and its voter exists only here, in memory, until each is sent.
    const tokens = vote.kind === "pseudonymous" ? vote.eligible.map(() => randomToken(24)) : [];
    const hashes = await Promise.all(tokens.map((token) => sha256(token)));
    const group = groupOfStarter(ctx, sender);
    ctx.state.store.create(vote, first, now, hashes, connected, group);
    ctx.state.store.append(vote.id, absences);
    const timers: Promise<void>[] = [];
    if (vote.duration_seconds !== null) {
      const data = { vote_id: vote.id };
      timers.push(ctx.timers.schedule(EXPIRY, now + vote.duration_seconds * 1000, data));
    }
    await Promise.all(timers);
    await ctx.durable();
    // The vote runs once stored: everyone hears of it (and voters get their tokens) even if its head cannot be
    // signed now; a head follows as soon as it can be.
    const head = await ctx.state.signer.head(vote.id, absences.at(-1) ?? first).catch((error) => {
      logFailure("legal_vote: the first head could not be signed", error);
      return null;
    });
    if (head) ctx.state.store.saveHead(head);
    else scheduleHead(ctx);
    ctx.state.headSentAt = ctx.now();
    tellVote(ctx, vote, group, { message: "started", vote_id: vote.id, vote, head }, sender);
    tokens.forEach((token, i) => {
      const voter = { to: "participant", id: vote.eligible[i]!.participant_id } as const;
      ctx.emit(voter, { message: "token", vote_id: vote.id, token });
    });
    return undefined;
  });
}

// ── ballots ─────────────────────────────

type VoteCommand = Extract<ParsedCommandOf<"legal_vote">, { action: "vote" }>;

function checkBallot(vote: StoredVote, sender: Sender, command: VoteCommand): CommandError | undefined {
  const pseudonymous = vote.vote.kind === "pseudonymous";
  if (!isEligible(vote.vote, sender.participantId)) {
    return { error: "ineligible", text: "you may not vote in this vote", participant_ids: [sender.participantId] };
  }
  if (!vote.vote.options.includes(command.option)) {
    return { error: "invalid_option", text: `this vote offers ${vote.vote.options.join(", ")}` };
  }
  if (pseudonymous !== (command.token !== undefined)) {
    const text = pseudonymous ? "vote with the token you were sent" : "roll calls take no token";
    return { error: "invalid_request", text };
  }
  return undefined;
}

/** A ballot waiting for its turn in the chain, with what it is told once written (or why not). */
interface PendingBallot {
  sender: Sender;
  command: VoteCommand;
  tokenHash: string | undefined;
  done(outcome: CommandError | { vote: StoredVote; entry: VoteEntry }): void;
}

async function castBallot(ctx: Context, sender: Sender, command: VoteCommand): Promise<CommandError | undefined> {
  const { store, signer } = ctx.state;
  const tokenHash = command.token === undefined ? undefined : await sha256(command.token);
  const written = await new Promise<CommandError | { vote: StoredVote; entry: VoteEntry }>((done) => {
    ctx.state.ballots.push({ sender, command, tokenHash, done });
    // The first of a burst queues the write; those arriving meanwhile join its batch.
    if (ctx.state.ballots.length === 1) void serialized(ctx, () => writeBallots(ctx));
  });
  if ("error" in written) return written;
  const { vote, entry } = written;
  await ctx.durable();
  const ballot = { option: command.option, ...(command.token === undefined ? {} : { token: command.token }) };
  const receipt = await signer.receipt(vote.id, entry, ballot);
  if (command.token === undefined) store.saveReceipt(receipt, sender.participantId);
  ctx.reply(sender, { message: "voted", vote_id: vote.id, receipt });
  const now = store.get(vote.id);
  if (vote.vote.auto_close && now?.state === "running" && castOf(now) === vote.vote.eligible.length) {
    await finish(ctx, vote.id, { type: "stopped", by: null, reason: "all_voted" });
  }
  return undefined;
}

/**
 * Writes the ballots waiting now as one batch: each is checked against the vote and the batch before it, the
 * accepted ones are chained in order and stored in one synchronous step (one commit for a whole burst).
 */
async function writeBallots(ctx: Context): Promise<void> {
  const { store } = ctx.state;
  const batch = ctx.state.ballots.splice(0);
  const vote = store.running();
  // Ballots cast together enter a pseudonymous chain in random order: their position says nothing of who came first.
  if (vote?.vote.kind === "pseudonymous") shuffle(batch);
  const accepted: { ballot: PendingBallot; entry: VoteEntry }[] = [];
  const voters = new Set<string>();
  const tokens = new Set<string>();
  const voted: CommandError = { error: "already_voted", text: "this ballot was cast already" };
  let last: StoredVote["last"] | undefined = vote?.last;
  for (const ballot of batch) {
    const { sender, command, tokenHash } = ballot;
    if (!vote || vote.id !== command.vote_id) {
      ballot.done(notActive);
      continue;
    }
    const wrong = checkBallot(vote, sender, command);
    if (wrong) {
      ballot.done(wrong);
      continue;
    }
    if (tokenHash !== undefined) {
      const state = tokens.has(tokenHash) ? "used" : store.tokenState(vote.id, tokenHash);
      if (state !== "unused") {
        ballot.done(
          state === "used" ? voted : { error: "ineligible", text: "this token was not issued for this vote" },
        );
        continue;
      }
      tokens.add(tokenHash);
    } else {
      if (voters.has(sender.participantId) || store.optionOf(vote.id, sender.participantId) !== null) {
        ballot.done(voted);
        continue;
      }
      voters.add(sender.participantId);
    }
    const event: VoteEvent =
      command.token === undefined
        ? { type: "ballot", voter: sender.participantId, option: command.option }
        : { type: "ballot", token: command.token, option: command.option };
    const entry = await nextEntry(last, command.token === undefined ? iso(ctx.now()) : null, event);
    accepted.push({ ballot, entry });
    last = entry;
  }
  if (!vote || accepted.length === 0) return;
  store.append(
    vote.id,
    accepted.map((a) => a.entry),
  );
  const tally = { yes: 0, no: 0, abstain: 0 };
  for (const { ballot, entry } of accepted) {
    const { command, tokenHash, sender } = ballot;
    tally[command.option]++;
    if (tokenHash !== undefined) store.useToken(vote.id, tokenHash);
    else store.recordOption(vote.id, sender.participantId, command.option);
    // Announced with the count that includes it (names only in live roll calls).
    announce(ctx, vote, tokenHash === undefined ? named(vote.vote, sender.participantId, command.option) : undefined);
    ballot.done({ vote, entry });
  }
  store.addTally(vote.id, tally);
}

/** Queues a ballot for the next `updated` (names only in live roll calls) and a signed head. */
function announce(ctx: Context, vote: StoredVote, ballot: Ballot | undefined): void {
  if (ctx.state.update && ctx.state.update.voteId !== vote.id) flushUpdate(ctx);
  let pending = ctx.state.update;
  if (!pending) {
    // Each update goes to everyone: in a large room they come less often (a quarter millisecond per recipient), so
    // a burst of ballots does not turn into a fan-out per ballot.
    const interval = Math.max(ctx.config.PRESENCE_BATCH_MS, Math.ceil(ctx.roster.admittedCount() / 4));
    const timer = setTimeout(() => flushUpdate(ctx), interval);
    pending = ctx.state.update = { voteId: vote.id, ballots: [], timer };
  }
  if (ballot && vote.vote.kind === "live_roll_call") pending.ballots.push(ballot);
  scheduleHead(ctx);
}

function flushUpdate(ctx: Context): void {
  const pending = ctx.state.update;
  if (!pending) return;
  clearTimeout(pending.timer);
  ctx.state.update = undefined;
  const vote = ctx.state.store.get(pending.voteId);
  if (!vote) return;
  const live = vote.vote.kind === "live_roll_call" ? { tally: vote.tally, ballots: pending.ballots } : {};
  tellVote(ctx, vote.vote, vote.group, { message: "updated", vote_id: vote.id, cast: castOf(vote), ...live });
}

function scheduleHead(ctx: Context): void {
  if (ctx.state.headTimer !== undefined) return;
  const wait = Math.max(0, ctx.state.headSentAt + ctx.config.VOTE_HEAD_INTERVAL_MS - ctx.now());
  ctx.state.headTimer = setTimeout(() => {
    ctx.state.headTimer = undefined;
    // A head may have gone out while this waited (its signing outlasted the wait this timer was set from).
    if (ctx.now() < ctx.state.headSentAt + ctx.config.VOTE_HEAD_INTERVAL_MS) return scheduleHead(ctx);
    sendHead(ctx).catch((error) => logFailure("legal_vote: a signed head could not be sent", error));
  }, wait);
}

/** Everyone gets a signed head of the running vote's chain, if it grew since the last one. */
async function sendHead(ctx: Context): Promise<void> {
  const vote = ctx.state.store.running();
  if (!vote || vote.head?.seq === vote.last.seq) return;
  // Set when signing starts (no second head meanwhile) and again when this one goes out: the cadence counts
  // between the frames, however long each signing took.
  ctx.state.headSentAt = ctx.now();
  await ctx.durable();
  const head = await ctx.state.signer.head(vote.id, vote.last);
  ctx.state.store.saveHead(head);
  if (ctx.state.store.running()?.id === vote.id) {
    ctx.state.headSentAt = ctx.now();
    tellVote(ctx, vote.vote, vote.group, { message: "head", vote_id: vote.id, head });
  }
}

// ── the end ─────────────────────────────

/**
 * Ends the running vote: (pseudonymous: each eligible voter's presence at the end,) the `stopped` or `canceled`
 * entry and the result; then the document's signature and a last head, and everyone hears it.
 */
async function finish(
  ctx: Context,
  voteId: string,
  ending: Ending,
  sender?: Sender,
): Promise<CommandError | undefined> {
  const { store, signer } = ctx.state;
  return serialized(ctx, async () => {
    const vote = runningVote(ctx, voteId);
    if (refused(vote)) return vote;
    const now = ctx.now();
    const at = iso(now);
    const canceled = ending.type === "canceled";
    const result = resultOf(vote.vote.rule, { ...vote.tally, eligible: vote.vote.eligible.length }, canceled);
    const attendance =
      vote.vote.kind === "pseudonymous"
        ? vote.vote.eligible.map(({ participant_id }) => ({
            at,
            event: { type: "presence", participant_id, present: ctx.roster.present(participant_id) } as const,
          }))
        : [];
    const entries = await chain(vote.last, [
      ...attendance,
      { at, event: ending },
      { at, event: { type: "result", result } },
    ]);
    store.append(vote.id, entries);
    store.end(vote.id, canceled ? "canceled" : "stopped", now, result);
    await Promise.all([ctx.timers.cancel(EXPIRY), ctx.timers.cancel(INITIATOR_GONE)]);
    const last = entries[entries.length - 1]!;
    // Still in the queue: nothing (a new vote's start, a late ballot's update) goes out before the end does.
    flushUpdate(ctx);
    clearTimeout(ctx.state.headTimer);
    ctx.state.headTimer = undefined;
    ctx.state.issues.clear();
    await ctx.durable();
    const [head, signature] = await Promise.all([
      signer.head(vote.id, last),
      signer.sign(signedPayload.protocol(vote.id, last.hash, result)),
    ]);
    store.saveSignature(vote.id, signature);
    store.saveHead(head);
    const event =
      ending.type === "canceled"
        ? ({ message: "canceled", vote_id: vote.id, reason: ending.reason, head } as const)
        : ({ message: "stopped", vote_id: vote.id, result, head } as const);
    tellVote(ctx, vote.vote, vote.group, event, sender);
    return undefined;
  });
}

function cancelRunning(ctx: Context, reason: string): Promise<unknown> {
  const vote = ctx.state.store.running();
  return vote ? finish(ctx, vote.id, { type: "canceled", by: null, reason }) : Promise.resolve();
}

// ── issues and presence ─────────────────────────────

type IssueCommand = Extract<ParsedCommandOf<"legal_vote">, { action: "report_issue" }>;

async function reportIssue(ctx: Context, sender: Sender, command: IssueCommand): Promise<CommandError | undefined> {
  const bound = ctx.config.VOTE_ISSUES_PER_VOTER;
  const running = runningVote(ctx, command.vote_id);
  if (refused(running)) return running;
  const counted = `${command.vote_id}:${sender.participantId}`;
  const reported = ctx.state.issues.get(counted) ?? 0;
  if (reported >= bound) return { error: "slow_down", text: `at most ${bound} reports per vote` };
  // Counted before the write waits its turn, so reports sent at once cannot pass the bound together.
  ctx.state.issues.set(counted, reported + 1);
  const written = await serialized(ctx, async () => {
    const vote = runningVote(ctx, command.vote_id);
    if (refused(vote)) return vote;
    if (!isEligible(vote.vote, sender.participantId)) {
      return {
        error: "ineligible" as const,
        text: "only eligible voters report issues",
        participant_ids: [sender.participantId],
      };
    }
    const event = {
      type: "issue",
      kind: command.kind ?? null,
      description: command.description ?? null,
      participant_id: vote.vote.kind === "pseudonymous" ? null : sender.participantId,
    } as const;
    const entries = await chain(vote.last, [{ at: iso(ctx.now()), event }]);
    ctx.state.store.append(vote.id, entries);
    return { vote, event };
  });
  if ("error" in written) {
    ctx.state.issues.set(counted, (ctx.state.issues.get(counted) ?? 1) - 1);
    return written;
  }
  await ctx.durable();
  const { vote, event } = written;
  const report = {
    message: "issue_reported",
    vote_id: vote.id,
    kind: event.kind,
    description: event.description,
    participant_id: event.participant_id,
  } as const;
  const initiator = vote.vote.initiator.participant_id;
  ctx.emit({ to: "participant", id: initiator }, report, sender);
  // The reporter's own copy acknowledges it.
  if (initiator !== sender.participantId) ctx.reply(sender, report);
  scheduleHead(ctx);
  return undefined;
}

/** A roll call records an eligible voter leaving and coming back while it runs (pseudonymous votes do not). */
function notePresence(ctx: Context, participantId: string, present: boolean): Promise<unknown> {
  const vote = ctx.state.store.running();
  if (!vote || vote.vote.kind === "pseudonymous" || !isEligible(vote.vote, participantId)) return Promise.resolve();
  return serialized(ctx, async () => {
    const current = ctx.state.store.running();
    if (current?.id !== vote.id || ctx.state.store.presentOf(vote.id, participantId) === present) return;
    const event = { type: "presence", participant_id: participantId, present } as const;
    const entries = await chain(current.last, [{ at: iso(ctx.now()), event }]);
    ctx.state.store.append(vote.id, entries);
    ctx.state.store.setPresent(vote.id, participantId, present);
    scheduleHead(ctx);
  });
}

/**
 * Legal votes (docs/votes.md): a chair starts a vote for named registered users; each casts one ballot, recorded
 * in a hash chain and acknowledged with a signed receipt once stored; everyone gets signed heads while it runs and
 * the result at the end; the signed protocol document is served over REST.
 */
export const legalVote = defineModule<"legal_vote", Runtime>({
  namespace: "legal_vote",
  migrations: VOTE_MIGRATIONS,
  permissions: LEGAL_VOTE_AUTHORITY,
  state: (ctx) => ({
    store: new VoteStore(ctx.sql),
    signer: new EvidenceSigner(() => ctx.objects.signingKey("vote")),
    queue: Promise.resolve(),
    ballots: [],
    update: undefined,
    headTimer: undefined,
    headSentAt: 0,
    issues: new Map(),
  }),
  handle(ctx, sender, command) {
    switch (command.action) {
      case "start":
        return start(ctx, sender, command);
      case "vote": {
        const vote = runningVote(ctx, command.vote_id);
        if (refused(vote)) return vote;
        return checkBallot(vote, sender, command) ?? castBallot(ctx, sender, command);
      }
      case "stop":
        return finish(ctx, command.vote_id, { type: "stopped", by: sender.participantId, reason: "manual" }, sender);
      case "cancel": {
        const ending = { type: "canceled", by: sender.participantId, reason: command.reason } as const;
        return finish(ctx, command.vote_id, ending, sender);
      }
      case "report_issue":
        return reportIssue(ctx, sender, command);
    }
  },
  joinState(ctx, connection) {
    const vote = ctx.state.store.running();
    const id = connection.participantId;
    if (!vote || (!inAudience(ctx, vote.group, id) && !isEligible(vote.vote, id))) return { active: null };
    const { kind } = vote.vote;
    const option = ctx.state.store.optionOf(vote.id, connection.participantId);
    const receipt = ctx.state.store.receiptOf(vote.id, connection.participantId);
    const ballots = () => ctx.state.store.ballots(vote.id).map((b) => named(vote.vote, b.participant_id, b.option));
    const live = kind === "live_roll_call" ? { tally: vote.tally, ballots: ballots() } : {};
    return {
      active: {
        vote: vote.vote,
        cast: castOf(vote),
        voted: kind === "pseudonymous" ? null : option !== undefined && option !== null,
        ...(receipt ? { receipt } : {}),
        ...live,
        head: vote.head,
      },
    };
  },
  hooks: {
    async connected(ctx, connection, held) {
      if (held) return;
      const vote = ctx.state.store.running();
      if (vote?.vote.initiator.participant_id === connection.participantId) await ctx.timers.cancel(INITIATOR_GONE);
      await notePresence(ctx, connection.participantId, true);
    },
    async left(ctx, participantId) {
      const vote = ctx.state.store.running();
      if (vote?.vote.initiator.participant_id === participantId) {
        const dueAt = ctx.now() + ctx.config.RESUMPTION_WINDOW_SECONDS * 1000;
        await ctx.timers.schedule(INITIATOR_GONE, dueAt, { vote_id: vote.id });
      }
      await notePresence(ctx, participantId, false);
    },
    loaded(ctx) {
      // The chain may have grown past the last signed head before a restart (or a start have none yet).
      const vote = ctx.state.store.running();
      if (vote && vote.head?.seq !== vote.last.seq) scheduleHead(ctx);
    },
    async timer(ctx, key, data) {
      const voteId = (data as { vote_id?: string } | undefined)?.vote_id ?? "";
      if (key === EXPIRY) await finish(ctx, voteId, { type: "stopped", by: null, reason: "expired" });
      const initiator = ctx.state.store.get(voteId)?.vote.initiator.participant_id;
      if (key !== INITIATOR_GONE || initiator === undefined || ctx.roster.member(initiator)?.connected) return;
      if (!ctx.roster.present(initiator)) {
        await finish(ctx, voteId, { type: "canceled", by: null, reason: "initiator_left" });
      } else {
        // Still within the resumption window (the timer fired at its very end): look again shortly.
        await ctx.timers.schedule(INITIATOR_GONE, ctx.now() + 1000, data);
      }
    },
    deleted(ctx) {
      if (ctx.state.update) clearTimeout(ctx.state.update.timer);
      clearTimeout(ctx.state.headTimer);
    },
  },
  service: (ctx) => ({
    meetingOver: async () => void (await cancelRunning(ctx, "meeting_ended")),
    roomDeleted: async () => void (await cancelRunning(ctx, "room_deleted")),
    hasRecords: () => ctx.state.store.any(),
    list: (participantId) => ctx.state.store.list(participantId),
    eligibleIn: (voteId, participantId) => {
      const vote = ctx.state.store.get(voteId);
      if (!vote) return undefined;
      return participantId !== undefined && isEligible(vote.vote, participantId);
    },
    protocol: async (voteId) => {
      const { store, signer } = ctx.state;
      const vote = store.get(voteId);
      if (!vote) return fail("not_found", "no such vote in this room");
      if (vote.state === "running") return fail("vote_active", "the vote is still running");
      const signature =
        vote.signature ?? (await signer.sign(signedPayload.protocol(vote.id, vote.last.hash, vote.result!)));
      if (vote.signature === null) store.saveSignature(vote.id, signature);
      return { ok: true, value: store.protocol(vote, signature) };
    },
  }),
});
