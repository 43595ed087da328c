import type { ModuleHost } from "./host";
import type { Group, Member } from "./module";
import type { Described, Roster } from "./roster";
import { type Transport, toParticipant } from "./transport";

export type LeaveReason = "quit" | "disconnected" | "removed" | "switched";

const leaveKey = (participantId: string, group: Group) => `${participantId} ${group ?? ""}`;

/**
 * Presence changes since the last batch: who joined (their group is read when the batch goes out), and each group
 * they left unless they joined it again after (a move leaves one group and joins another: both are told).
 */
export class PresenceChanges {
  private joined = new Set<string>();
  /** By participant and group: a participant may leave several groups within one batch (moves). */
  private left = new Map<string, { id: string; reason: LeaveReason; group: Group }>();
  private updated = new Set<string>();

  join(participantId: string, group: Group): void {
    this.left.delete(leaveKey(participantId, group));
    this.joined.add(participantId);
  }

  /**
   * A leave of `group`. It is told even when the join is not announced yet: others who came or moved into the group
   * meanwhile were listed with it in their join_success.
   */
  leave(participantId: string, reason: LeaveReason, group: Group): void {
    this.updated.delete(participantId);
    this.joined.delete(participantId);
    this.left.set(leaveKey(participantId, group), { id: participantId, reason, group });
  }

  /** A joiner's first announcement already carries its current state. */
  update(participantId: string): void {
    if (!this.joined.has(participantId)) this.updated.add(participantId);
  }

  /** The batch; leaves by the group they left. */
  take(): { joined: string[]; left: { id: string; reason: LeaveReason; group: Group }[]; updated: string[] } {
    const left = [...this.left.values()];
    const batch = { joined: [...this.joined], left, updated: [...this.updated] };
    this.joined = new Set();
    this.left = new Map();
    this.updated = new Set();
    return batch;
  }
}

/** Presence changes go out together after a short delay, so a burst of joins or leaves costs one frame each. */
export class Presence {
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly roster: () => Roster,
    private readonly transport: Transport,
    private readonly host: () => ModuleHost,
    private readonly batchMs: number,
  ) {}

  /** Public descriptions of members, with the fields modules own. */
  describe(members: Member[]) {
    return this.host().describe(members.map(toParticipant));
  }

  /** Descriptions by id (unknown ids left out); those made before and unchanged since are not made again. */
  describeIds(ids: readonly string[]): Described[] {
    const roster = this.roster();
    const missing = ids.filter((id) => roster.description(id) === undefined);
    for (const participant of this.describe(roster.members(missing))) roster.rememberDescription(participant);
    return ids.flatMap((id) => roster.description(id) ?? []);
  }

  schedule(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, this.batchMs);
  }

  cancel(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Each group hears of its own changes: leaves from it, joins into it, updates of those in it. */
  private flush(): void {
    const roster = this.roster();
    const batch = roster.changes.take();
    type Scope = { left: Map<LeaveReason, string[]>; joined: string[]; updated: string[] };
    const scopes = new Map<Group, Scope>();
    const scope = (group: Group) => {
      const found: Scope = scopes.get(group) ?? { left: new Map(), joined: [], updated: [] };
      scopes.set(group, found);
      return found;
    };
    for (const { id, reason, group } of batch.left) {
      const left = scope(group).left;
      const ids = left.get(reason);
      if (ids) ids.push(id);
      else left.set(reason, [id]);
    }
    for (const id of batch.joined) scope(roster.groupOf(id)).joined.push(id);
    for (const id of batch.updated) scope(roster.groupOf(id)).updated.push(id);
    for (const [group, changes] of scopes) {
      const target = { to: "group", group } as const;
      for (const [reason, participants] of changes.left) {
        this.transport.emit(target, "control", { message: "left", participants, reason });
      }
      if (changes.joined.length > 0) this.transport.broadcastPresence(this.describeIds(changes.joined), group);
      for (const { participant } of this.describeIds(changes.updated)) {
        this.transport.emit(target, "control", { message: "update", participant });
      }
    }
  }
}
