import { DurableObject } from "cloudflare:workers";
import { readConfig } from "../src/shared/config";

/**
 * Failed attempts on invite codes, room passwords and tickets, counted per client address (one object per
 * address) in a fixed window, so guessing is slow for an attacker and costs nobody else anything.
 */
export class AttemptLimiterObject extends DurableObject<Env> {
  private windowStart = 0;
  private failures = 0;

  /** Seconds until the address may try again, or 0 if it may try now. */
  retryAfter(): number {
    const { ATTEMPT_LIMIT } = readConfig(this.env);
    this.roll(Date.now());
    return this.failures >= ATTEMPT_LIMIT ? Math.ceil((this.windowEnd() - Date.now()) / 1000) : 0;
  }

  recordFailure(): void {
    this.roll(Date.now());
    this.failures += 1;
  }

  private windowEnd(): number {
    return this.windowStart + readConfig(this.env).ATTEMPT_WINDOW_SECONDS * 1000;
  }

  private roll(now: number): void {
    if (now >= this.windowEnd()) {
      this.windowStart = now;
      this.failures = 0;
    }
  }
}
