import { SqlObject } from "./sql-object";

/** A slot for one attempt (give it back with `release` unless the attempt was a wrong guess), or how long to wait. */
export type AttemptSlot = { window: number } | { retryAfter: number };

interface WindowRow extends Record<string, SqlStorageValue> {
  window_start: number;
  /** Failures plus the slots attempts hold while they run. */
  used: number;
  /** Slots held by attempts still running (they come back within moments). */
  holding: number;
}

/**
 * Attempts on invite codes, room passwords and tickets, counted per client address (one object per address) in a
 * fixed window kept in SQLite, so guessing is slow for an attacker, costs nobody else anything and survives a
 * restart. An attempt at a guessable secret takes its slot before it is checked (parallel guesses cannot overtake
 * the count) and gives it back when it succeeds: many people joining from one NAT address never lock each other out.
 */
export class AttemptLimiterObject extends SqlObject {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, "attempt_limiter", [
      "CREATE TABLE attempt_window (window_start INTEGER NOT NULL, used INTEGER NOT NULL)",
      "ALTER TABLE attempt_window ADD COLUMN holding INTEGER NOT NULL DEFAULT 0",
    ]);
  }

  /**
   * Asks for a slot: refused while the window's attempts are used up. With `hold` the slot is taken at once
   * (synchronously, so no other call interleaves between the check and the count), for attempts that check a
   * secret someone could guess; without, only a failure counts (`recordFailure`).
   */
  reserve(hold: boolean): AttemptSlot {
    const now = Date.now();
    const current = this.window(now);
    if (current.used >= this.config.ATTEMPT_LIMIT) {
      // Used up by failures: wait for the window's end; by attempts still running: a moment.
      const windowEnd = current.window_start + this.config.ATTEMPT_WINDOW_SECONDS * 1000;
      const failures = current.used - current.holding;
      return {
        retryAfter: failures >= this.config.ATTEMPT_LIMIT ? Math.max(1, Math.ceil((windowEnd - now) / 1000)) : 1,
      };
    }
    if (hold) this.sql.exec("UPDATE attempt_window SET used = used + 1, holding = holding + 1");
    return { window: current.window_start };
  }

  /**
   * The attempt of a slot held in `window` ended: a wrong guess keeps the slot as a failure, anything else gives
   * it back (if that window still lasts).
   */
  release(window: number, guessedWrong: boolean): void {
    this.sql.exec(
      `UPDATE attempt_window SET holding = MAX(holding - 1, 0), used = MAX(used - ?, 0) WHERE window_start = ?`,
      guessedWrong ? 0 : 1,
      window,
    );
  }

  /** An attempt that held no slot failed. */
  recordFailure(): void {
    this.window(Date.now());
    this.sql.exec("UPDATE attempt_window SET used = used + 1");
  }

  /** The current window, a fresh one once the last has passed. */
  private window(now: number): WindowRow {
    const current = this.sql.exec<WindowRow>("SELECT * FROM attempt_window").toArray()[0];
    if (current && now < current.window_start + this.config.ATTEMPT_WINDOW_SECONDS * 1000) return current;
    this.sql.exec("DELETE FROM attempt_window");
    this.sql.exec("INSERT INTO attempt_window (window_start, used, holding) VALUES (?, 0, 0)", now);
    return { window_start: now, used: 0, holding: 0 };
  }
}
