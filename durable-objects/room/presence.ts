import type { ModuleHost } from "./host";
import type { Member } from "./module";
import type { Roster } from "./roster";
import { type Transport, toParticipant } from "./transport";

export type LeaveReason = "quit" | "disconnected" | "removed";

/** Presence changes since the last batch; a join and a leave of one participant within a batch cancel out. */
export class PresenceChanges {
  private joined = new Set<string>();
  private left = new Map<string, LeaveReason>();
  private updated = new Set<string>();

  join(participantId: string): void {
    this.left.delete(participantId);
    this.joined.add(participantId);
  }

  leave(participantId: string, reason: LeaveReason): void {
    this.updated.delete(participantId);
    if (!this.joined.delete(participantId)) this.left.set(participantId, reason);
  }

  /** A joiner's first announcement already carries its current state. */
  update(participantId: string): void {
    if (!this.joined.has(participantId)) this.updated.add(participantId);
  }

  take(): { joined: string[]; left: Map<LeaveReason, string[]>; updated: string[] } {
    const left = new Map<LeaveReason, string[]>();
    for (const [id, reason] of this.left) {
      const ids = left.get(reason);
      if (ids) ids.push(id);
      else left.set(reason, [id]);
    }
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

  private flush(): void {
    const batch = this.roster().changes.take();
    for (const [reason, participants] of batch.left) {
      this.transport.emit({ to: "everyone" }, "control", { message: "left", participants, reason });
    }
    const roster = this.roster();
    if (batch.joined.length > 0) this.transport.broadcastPresence(this.describe(roster.members(batch.joined)));
    for (const participant of this.describe(roster.members(batch.updated))) {
      this.transport.emit({ to: "everyone" }, "control", { message: "update", participant });
    }
  }
}
