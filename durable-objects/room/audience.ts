import type { EventOf, Namespace } from "../../src/protocol";
import type { Group, ModuleContext, Sender } from "./module";

/** A tool's stored group (null or undefined: the main room). */
type Stored = string | null | undefined;

/**
 * Who a meeting tool (poll, timer, speaker queue, vote) is for. One started while breakout rooms are open belongs
 * to the group of the chair who started it (stored with it as `ctx.roster.groupOf(chair)`): while that breakout
 * room is open only those in it see and use it; once the rooms close, everyone (all back in the main room).
 */
export function audience<N extends Namespace, S>(ctx: ModuleContext<N, S>, group: Stored): Group {
  return group === undefined || group === null ? undefined : ctx.services.breakout.audience(group);
}

export function inAudience<N extends Namespace, S>(ctx: ModuleContext<N, S>, group: Stored, participantId: string) {
  return ctx.roster.groupOf(participantId) === audience(ctx, group);
}

/**
 * Sends a tool's event to its audience, and to every device of those in `alsoTo` elsewhere (a vote's eligible
 * voters, who take part wherever they are; nobody waiting); a sender outside both (a chair in another room) still
 * hears the answer.
 */
export function tellAudience<N extends Namespace, S>(
  ctx: ModuleContext<N, S>,
  group: Stored,
  event: EventOf<N>,
  sender?: Sender,
  alsoTo: readonly string[] = [],
): void {
  const seen = audience(ctx, group);
  const outside = (id: string) => ctx.roster.groupOf(id) !== seen;
  ctx.emit({ to: "group", group: seen }, event, sender);
  for (const id of alsoTo) {
    if (!outside(id) || ctx.roster.member(id)?.held !== false) continue;
    ctx.emit({ to: "participant", id }, event, id === sender?.participantId ? sender : undefined);
  }
  if (sender && outside(sender.participantId) && !alsoTo.includes(sender.participantId)) ctx.reply(sender, event);
}

/** The group to store with a tool a participant starts now. */
export const groupOfStarter = <N extends Namespace, S>(ctx: ModuleContext<N, S>, sender: Sender) =>
  ctx.roster.groupOf(sender.participantId) ?? null;
