import { logFailure } from "../../src/shared/log";

/** A timer whose handler was started this often without finishing (the process died in it) is dropped. */
const MAX_ATTEMPTS = 2;

export type TimerHandler = (key: string, data: unknown) => void | Promise<void>;

/**
 * The room's timers over the object's single alarm: due times live in SQLite and the alarm is set to the
 * earliest one, or deleted when nothing is due, so an idle room can hibernate and be evicted.
 */
export class Scheduler {
  /** Alarm time we last set (null: none; undefined: not known since wake). */
  private armedAt: number | null | undefined;
  /** Runs of due timers under way: the alarm is set when they are done (not to one of theirs, still stored). */
  private running = 0;
  /** Calls of `arm` awaiting storage: until they are done, `armedAt` may not be what the alarm will be. */
  private arming = 0;

  constructor(
    private readonly storage: DurableObjectStorage,
    /** The handler of an owner's timers (the room core's and each module's). */
    private readonly handlerOf: (owner: string) => TimerHandler | undefined,
  ) {}

  static readonly migrations = [
    `CREATE TABLE timers (owner TEXT NOT NULL, key TEXT NOT NULL, due_at INTEGER NOT NULL, data TEXT,
      PRIMARY KEY (owner, key))`,
    "CREATE INDEX timers_due ON timers (due_at)",
    // How often a due timer's handler was started: one that took the process down is not started a third time.
    "ALTER TABLE timers ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0",
  ] as const;

  /** Sets (or moves) the timer `key` of `owner` to fire at `dueAt` (ms since epoch). */
  async schedule(owner: string, key: string, dueAt: number, data?: unknown): Promise<void> {
    this.storage.sql.exec(
      `INSERT INTO timers (owner, key, due_at, data) VALUES (?, ?, ?, ?)
       ON CONFLICT(owner, key) DO UPDATE SET due_at = excluded.due_at, data = excluded.data, attempts = 0`,
      owner,
      key,
      dueAt,
      data === undefined ? null : JSON.stringify(data),
    );
    // The alarm already fires by then (if it was set for a timer moved later, it wakes the room early, which
    // runs nothing and arms again): a join storm's timers cost no MIN query each.
    if (this.arming === 0 && typeof this.armedAt === "number" && dueAt >= this.armedAt) return;
    await this.arm();
  }

  async cancel(owner: string, key: string): Promise<void> {
    this.storage.sql.exec("DELETE FROM timers WHERE owner = ? AND key = ?", owner, key);
    await this.arm();
  }

  /**
   * Runs everything due (called from the object's alarm), then re-arms for what is left. Each timer is deleted once
   * its handler is done, unless the handler set it again: a crash meanwhile runs it again after the restart (handlers
   * check what they were armed for), and the timers after it are not lost. One that an earlier handler canceled or
   * moved does not run.
   */
  async runDue(now: number): Promise<void> {
    this.armedAt = undefined; // the alarm that woke us is spent
    this.running++;
    try {
      await this.runEach(now);
    } finally {
      this.running--;
    }
    await this.arm();
  }

  private async runEach(now: number): Promise<void> {
    type Due = { owner: string; key: string; due_at: number; data: string | null };
    const due = this.storage.sql
      .exec<Due>("SELECT owner, key, due_at, data FROM timers WHERE due_at <= ? ORDER BY due_at", now)
      .toArray();
    const same = (t: Due) => [t.owner, t.key, t.due_at, t.data] as const;
    const where = "owner = ? AND key = ? AND due_at = ? AND data IS ?";
    for (const timer of due) {
      const [still] = this.storage.sql
        .exec<{ attempts: number }>(`SELECT attempts FROM timers WHERE ${where}`, ...same(timer))
        .toArray();
      if (!still) continue;
      if (still.attempts >= MAX_ATTEMPTS) {
        logFailure(`timer ${timer.owner}/${timer.key} dropped`, new Error(`started ${still.attempts} times`));
        this.storage.sql.exec(`DELETE FROM timers WHERE ${where}`, ...same(timer));
        continue;
      }
      this.storage.sql.exec(`UPDATE timers SET attempts = attempts + 1 WHERE ${where}`, ...same(timer));
      try {
        await this.handlerOf(timer.owner)?.(timer.key, timer.data === null ? undefined : JSON.parse(timer.data));
      } catch (error) {
        logFailure(`timer ${timer.owner}/${timer.key} failed`, error);
      } finally {
        this.storage.sql.exec(`DELETE FROM timers WHERE ${where}`, ...same(timer));
      }
    }
  }

  /** Forgets what it knew about the alarm (after the room's storage was wiped). */
  reset(): void {
    this.armedAt = undefined;
  }

  private async arm(): Promise<void> {
    if (this.running > 0) return;
    this.arming++;
    try {
      const next =
        this.storage.sql.exec<{ due: number | null }>("SELECT MIN(due_at) AS due FROM timers").one().due ?? null;
      if (this.armedAt === undefined) this.armedAt = await this.storage.getAlarm();
      if (next === this.armedAt) return;
      if (next === null) await this.storage.deleteAlarm();
      else await this.storage.setAlarm(next);
      this.armedAt = next;
    } finally {
      this.arming--;
    }
  }
}
