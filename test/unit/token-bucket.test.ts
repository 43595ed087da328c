import { describe, expect, it } from "vitest";
import { TokenBucket } from "../../src/shared/token-bucket";

// Pure logic with an injected clock: no runtime involved.
describe("TokenBucket", () => {
  it("allows the burst, then refills at the configured rate", () => {
    const bucket = new TokenBucket(10, 30, 0);
    for (let i = 0; i < 30; i++) expect(bucket.take(0)).toBe(true);
    expect(bucket.take(0)).toBe(false);
    expect(bucket.take(0)).toBe(false);
    expect(bucket.strikes).toBe(2);
    expect(bucket.take(100)).toBe(true); // 100 ms at 10/s is one token
    expect(bucket.strikes).toBe(1);
    expect(bucket.take(100)).toBe(false);
  });

  it("never holds more than the burst", () => {
    const bucket = new TokenBucket(10, 5, 0);
    let accepted = 0;
    for (let i = 0; i < 20; i++) if (bucket.take(60_000)) accepted++;
    expect(accepted).toBe(5);
  });

  it("tells how long until the next token and when it has refilled completely", () => {
    // 30 a minute: half a token per second.
    const bucket = new TokenBucket(0.5, 30, 0);
    for (let i = 0; i < 30; i++) expect(bucket.take(0)).toBe(true);
    expect(bucket.take(0)).toBe(false);
    expect(bucket.secondsUntilNext()).toBe(2);
    expect(bucket.full(59_000)).toBe(false);
    expect(bucket.full(60_000)).toBe(true);
  });
});
