import type { ModuleHost } from "./host";
import type { Roster } from "./roster";
import { type Transport, toParticipant } from "./transport";

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
  describe(ids: readonly string[]) {
    return this.host().describe(this.roster().members(ids).map(toParticipant));
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
    const batch = this.roster().takePresence();
    for (const [reason, participants] of batch.left) {
      this.transport.emit({ to: "everyone" }, "control", { message: "left", participants, reason });
    }
    if (batch.joined.length > 0) this.transport.broadcastPresence(this.describe(batch.joined));
    for (const participant of this.describe(batch.updated)) {
      this.transport.emit({ to: "everyone" }, "control", { message: "update", participant });
    }
  }
}
