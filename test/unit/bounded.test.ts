import { describe, expect, it } from "vitest";
import { setBounded } from "../../src/shared/bounded";

describe("setBounded (isolate caches)", () => {
  it("keeps at most max entries, dropping the oldest half when full", () => {
    const map = new Map<number, number>();
    for (let i = 0; i < 10; i++) setBounded(map, i, i, 4);
    expect(map.size).toBeLessThanOrEqual(4);
    // The key set last is always there, the first ones are gone.
    expect(map.get(9)).toBe(9);
    expect(map.has(0)).toBe(false);
  });

  it("replaces an existing key without dropping anything", () => {
    const map = new Map([
      ["a", 1],
      ["b", 2],
    ]);
    setBounded(map, "a", 3, 2);
    expect([...map]).toEqual([
      ["a", 3],
      ["b", 2],
    ]);
  });
});
