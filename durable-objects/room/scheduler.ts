import { logFailure } from "../../src/shared/log";

export type TimerHandler = (key: string, data: unknown) => void | Promise<void>;

/**
 * The room's timers over the object's single alarm: due times live in SQLite and the alarm is set to the
 * earliest one, or deleted when nothing is due, so an idle room can hibernate and be evicted.
 */
export class Scheduler {
  /** Alarm time we last set (null: none; undefined: not known since wake). */
  private armedAt: number | null | undefined;

  constructor(
    private readonly storage: DurableObjectStorage,
    /** The handler of an owner's timers (the room core's and each module's). */
    private readonly handlerOf: (owner: string) => TimerHandler | undefined,
  ) {}

  static readonly migrations = [
    `CREATE TABLE timers (owner TEXT NOT NULL, key TEXT NOT NULL, due_at INTEGER NOT NULL, data TEXT,
      PRIMARY KEY (owner, key))`,
    "CREATE INDEX timers_due ON timers (due_at)",
  ] as const;

  /** Sets (or moves) the timer `key` of `owner` to fire at `dueAt` (ms since epoch). */
  async schedule(owner: string, key: string, dueAt: number, data?: unknown): Promise<void> {
    this.storage.sql.exec(
      `INSERT INTO timers (owner, key, due_at, data) VALUES (?, ?, ?, ?)
       ON CONFLICT(owner, key) DO UPDATE SET due_at = excluded.due_at, data = excluded.data`,
      owner,
      key,
      dueAt,
      data === undefined ? null : JSON.stringify(data),
    );
    await this.arm();
  }

  async cancel(owner: string, key: string): Promise<void> {
    this.storage.sql.exec("DELETE FROM timers WHERE owner = ? AND key = ?", owner, key);
    await this.arm();
  }

  /** Runs everything due (called from the object's alarm), then re-arms for what is left. */
  async runDue(now: number): Promise<void> {
    this.armedAt = undefined; // the alarm that woke us is spent
    const due = this.storage.sql
      .exec<{ owner: string; key: string; data: string | null }>(
        "DELETE FROM timers WHERE due_at <= ? RETURNING owner, key, data",
        now,
      )
      .toArray();
    for (const timer of due) {
      try {
        await this.handlerOf(timer.owner)?.(timer.key, timer.data === null ? undefined : JSON.parse(timer.data));
      } catch (error) {
        logFailure(`timer ${timer.owner}/${timer.key} failed`, error);
      }
    }
    await this.arm();
  }

  /** Forgets what it knew about the alarm (after the room's storage was wiped). */
  reset(): void {
    this.armedAt = undefined;
  }

  private async arm(): Promise<void> {
    const next =
      this.storage.sql.exec<{ due: number | null }>("SELECT MIN(due_at) AS due FROM timers").one().due ?? null;
    if (this.armedAt === undefined) this.armedAt = await this.storage.getAlarm();
    if (next === this.armedAt) return;
    if (next === null) await this.storage.deleteAlarm();
    else await this.storage.setAlarm(next);
    this.armedAt = next;
  }
}
