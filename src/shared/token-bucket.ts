/**
 * Token bucket (OpenTalk's signalling limit is 10 messages/s with a burst of 30). Pure and clock-injected so it is
 * unit-testable; a room keeps one per connection in memory, which is exact because a room only hibernates after
 * seconds of silence, by when every bucket has refilled.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;
  /**
   * Refusals not yet worked off: +1 per refused message, −1 per accepted one. A flood keeps growing it however
   * slowly the server drains it; a short burst over the limit fades.
   */
  strikes = 0;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.updatedAt = now;
  }

  take(now: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.perSecond);
    this.updatedAt = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.strikes = Math.max(0, this.strikes - 1);
      return true;
    }
    this.strikes += 1;
    return false;
  }

  /** Whole seconds until the next token (after a refused `take`). */
  secondsUntilNext(): number {
    return Math.max(1, Math.ceil((1 - this.tokens) / this.perSecond));
  }

  /** Whether the bucket has refilled completely (it is then as good as a new one and may be forgotten). */
  full(now: number): boolean {
    return this.tokens + ((now - this.updatedAt) / 1000) * this.perSecond >= this.burst;
  }
}
