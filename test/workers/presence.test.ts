import { describe, expect, it } from "vitest";
import { PresenceChanges } from "../../durable-objects/room/presence";

/** The pure batching of presence changes per breakout group (no room object; here for the workers types). */
describe("presence changes per group", () => {
  it("tells a move to both groups, and folds a return to the same group into one join", () => {
    const changes = new PresenceChanges();
    changes.join("a", undefined);
    changes.leave("b", "switched", undefined);
    changes.join("b", "b1@run");
    // c leaves and comes back into the same group: they only (re)join.
    changes.leave("c", "disconnected", "b2@run");
    changes.join("c", "b2@run");
    expect(changes.take()).toEqual({
      joined: ["a", "b", "c"],
      left: [{ id: "b", reason: "switched", group: undefined }],
      updated: [],
    });
    expect(changes.take()).toEqual({ joined: [], left: [], updated: [] });
  });

  it("tells a leave even when the join was not announced yet (other movers listed them), and drops its update", () => {
    const changes = new PresenceChanges();
    changes.join("a", "b1@run");
    changes.update("b");
    changes.leave("a", "quit", "b1@run");
    changes.leave("b", "switched", undefined);
    changes.join("b", "b1@run");
    changes.leave("b", "switched", "b1@run");
    changes.join("b", "b2@run");
    const batch = changes.take();
    expect(batch.joined).toEqual(["b"]);
    expect(batch.updated).toEqual([]);
    // b moved twice: the main room and b1 both hear that b left them.
    expect(batch.left).toEqual([
      { id: "a", reason: "quit", group: "b1@run" },
      { id: "b", reason: "switched", group: undefined },
      { id: "b", reason: "switched", group: "b1@run" },
    ]);
  });
});
