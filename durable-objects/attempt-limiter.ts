import { DurableObject } from "cloudflare:workers";
import { type Config, readConfig } from "../src/shared/config";
import { migrate } from "./room/migrations";

/** A slot for one attempt (give it back with `release`), or how long to wait. */
export type AttemptSlot = { window?: number; retryAfter?: number };

interface WindowRow extends Record<string, SqlStorageValue> {
  window_start: number;
  /** Failures plus the slots attempts hold while they run. */
  used: number;
  /** Slots held by attempts still running (they come back within moments). */
  holding: number;
}

const MIGRATIONS = [
  "CREATE TABLE attempt_window (window_start INTEGER NOT NULL, used INTEGER NOT NULL)",
  "ALTER TABLE attempt_window ADD COLUMN holding INTEGER NOT NULL DEFAULT 0",
];

/**
 * Attempts on invite codes, room passwords and tickets, counted per client address (one object per address) in a
 * fixed window kept in SQLite, so guessing is slow for an attacker, costs nobody else anything and survives a
 * restart. An attempt at a guessable secret takes its slot before it is checked (parallel guesses cannot overtake
 * the count) and gives it back when it succeeds: many people joining from one NAT address never lock each other
 * out. An address's rows exist only while its window runs: the window's end (an alarm) erases them.
 */
export class AttemptLimiterObject extends DurableObject<Env> {
  private readonly config: Config;
  /** Whether this address's table exists (only this object creates and erases it): asked of SQLite once. */
  private table: "unknown" | "absent" | "present" = "unknown";

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.config = readConfig(env);
  }

  /**
   * Takes a slot, refused while the window's attempts are used up. The check and the count run synchronously, so
   * no other call interleaves between them.
   */
  async reserve(): Promise<AttemptSlot> {
    const now = Date.now();
    const current = this.window(now);
    const wait = this.waitFor(current, now, true);
    if (wait > 0) return { retryAfter: wait };
    this.ctx.storage.sql.exec("UPDATE attempt_window SET used = used + 1, holding = holding + 1");
    await this.eraseAt(current);
    return { window: current.window_start };
  }

  /** Seconds until the address may try again (0: now), without taking a slot or writing anything. */
  retryAfter(): number {
    const current = this.stored();
    return current ? this.waitFor(current, Date.now(), false) : 0;
  }

  /**
   * The attempt of a slot held in `window` ended: a wrong guess keeps the slot as a failure, anything else gives
   * it back (if that window still lasts).
   */
  release(window: number, guessedWrong: boolean): void {
    if (!this.stored()) return;
    this.ctx.storage.sql.exec(
      "UPDATE attempt_window SET holding = MAX(holding - 1, 0), used = MAX(used - ?, 0) WHERE window_start = ?",
      guessedWrong ? 0 : 1,
      window,
    );
  }

  /** An attempt that held no slot failed. */
  async recordFailure(): Promise<void> {
    const current = this.window(Date.now());
    this.ctx.storage.sql.exec("UPDATE attempt_window SET used = used + 1");
    await this.eraseAt(current);
  }

  /**
   * The window's end: nothing is left to remember about this address. An attempt still holding a slot (or one
   * that never came back) finds no window to release into, which is what it would find in a new one.
   */
  override async alarm(): Promise<void> {
    const current = this.stored();
    if (current && Date.now() < this.windowEnd(current)) {
      await this.ctx.storage.setAlarm(this.windowEnd(current));
      return;
    }
    await this.ctx.storage.deleteAll();
    this.table = "absent";
  }

  /**
   * Seconds to wait: failures alone fill the window → its rest; with `counting` the slots of running attempts
   * too → a moment (they come back soon).
   */
  private waitFor(row: WindowRow, now: number, counting: boolean): number {
    const limit = this.config.ATTEMPT_LIMIT;
    if (now >= this.windowEnd(row)) return 0;
    if (row.used - row.holding >= limit) return Math.max(1, Math.ceil((this.windowEnd(row) - now) / 1000));
    return counting && row.used >= limit ? 1 : 0;
  }

  private windowEnd(row: WindowRow): number {
    return row.window_start + this.config.ATTEMPT_WINDOW_SECONDS * 1000;
  }

  private async eraseAt(row: WindowRow): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(this.windowEnd(row));
  }

  /** The stored window, if any, without creating tables for an address that has none (brought up to date). */
  private stored(): WindowRow | undefined {
    const sql = this.ctx.storage.sql;
    if (this.table === "unknown") {
      const exists = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'attempt_window'");
      if (exists.toArray().length === 0) this.table = "absent";
      else this.migrate();
    }
    if (this.table === "absent") return undefined;
    return sql.exec<WindowRow>("SELECT * FROM attempt_window").toArray()[0];
  }

  private migrate(): void {
    migrate(this.ctx.storage.sql, "attempt_limiter", MIGRATIONS);
    this.table = "present";
  }

  /** The current window, a fresh one once the last has passed. */
  private window(now: number): WindowRow {
    if (this.table !== "present") this.migrate();
    const current = this.stored();
    if (current && now < this.windowEnd(current)) return current;
    const sql = this.ctx.storage.sql;
    sql.exec("DELETE FROM attempt_window");
    sql.exec("INSERT INTO attempt_window (window_start, used, holding) VALUES (?, 0, 0)", now);
    return { window_start: now, used: 0, holding: 0 };
  }
}
