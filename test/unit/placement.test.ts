import { describe, expect, it } from "vitest";
import { type PlacementCandidate, placeRoom } from "../../src/sfu/placement";

// Pure placement logic; the registry feeds it live liveness and load (test/workers/sfu.test.ts, test/e2e/sfu.test.ts).
const node = (id: string, region: string, load = 0, extra: Partial<PlacementCandidate> = {}): PlacementCandidate => ({
  id,
  region,
  capacity: 100,
  load,
  alive: true,
  draining: false,
  ...extra,
});

describe("room placement", () => {
  it("prefers the room's region, then its neighbours", () => {
    const nodes = [node("w", "west"), node("e", "east"), node("c", "central")];
    expect(placeRoom(nodes, "east", {})?.id).toBe("e");
    expect(
      placeRoom(
        nodes.filter((n) => n.id !== "e"),
        "east",
        { east: ["central", "west"] },
      )?.id,
    ).toBe("c");
  });

  it("skips dead, draining and full nodes", () => {
    const nodes = [
      node("dead", "east", 0, { alive: false }),
      node("drain", "east", 0, { draining: true }),
      node("full", "east", 100),
      node("ok", "west", 99),
    ];
    expect(placeRoom(nodes, "east", {})?.id).toBe("ok");
    expect(placeRoom(nodes.slice(0, 3), "east", {})).toBeUndefined();
  });

  it("takes the less loaded of two random candidates", () => {
    const nodes = [node("busy", "east", 90), node("idle", "east", 10)];
    const rolls = [0, 0.9]; // first pick "busy", second "idle"
    expect(placeRoom(nodes, "east", {}, () => rolls.shift()!)?.id).toBe("idle");
    let chosenBusy = 0;
    for (let i = 0; i < 1000; i++) if (placeRoom(nodes, "east", {})?.id === "busy") chosenBusy++;
    expect(chosenBusy).toBeLessThan(350); // busy wins only when drawn twice (~25 %)
  });
});
