import { describe, expect, it } from "vitest";
import type { CommandOf } from "../../src/protocol";
import type { FrameCollector } from "../helpers/collector";
import { fireTimers, RoomHarness, sees } from "./harness";

type Start = Extract<CommandOf<"breakout">, { action: "start" }>;
const start = (fields: Omit<Start, "action">): CommandOf<"breakout"> => ({ action: "start", ...fields });
const heard = (client: FrameCollector, message: string, from = 0) =>
  client.next((f) => f.namespace === "breakout" && f.payload.message === message, 10_000, from);

describe("breakout rooms (groundwork: rooms, assignment, moving, closing)", () => {
  it("assigns by list, spreads the rest evenly, leaves chairs in the main room, returns all at the stop", async () => {
    const { room, owner, moderator, member, guest } = await RoomHarness.seated();
    const extra = [await room.join("Anna"), await room.join("Bernd"), await room.join("Cem")];
    for (const peer of extra) await sees(owner, peer.id);
    expect(await member.refused("breakout", start({ rooms: [{ name: "A" }, { name: "B" }] }))).toBe(
      "insufficient_permissions",
    );
    expect(
      await owner.refused(
        "breakout",
        start({
          rooms: [
            { name: "A", assignments: [member.id] },
            { name: "A", assignments: [member.id] },
          ],
        }),
      ),
    ).toBe("invalid_frame");

    const rooms = [{ name: "Haushalt", assignments: [member.id] }, { name: "Bau" }, { name: "Kultur" }];
    const started = await owner.command("breakout", start({ rooms, random_assignment: true }));
    const state = started.payload as any;
    expect(state.rooms).toEqual([
      { id: "b1", name: "Haushalt" },
      { id: "b2", name: "Bau" },
      { id: "b3", name: "Kultur" },
    ]);
    expect(state.assignment[member.id]).toBe("b1");
    // Everyone but the chairs is in a room; the rooms' sizes differ by at most one.
    const placed = [member, guest, ...extra].map((p) => state.assignment[p.id]);
    expect(placed.every((r: string) => ["b1", "b2", "b3"].includes(r))).toBe(true);
    expect(state.assignment[owner.id]).toBeUndefined();
    expect(state.assignment[moderator.id]).toBeUndefined();
    const sizes = ["b1", "b2", "b3"].map((id) => placed.filter((r: string) => r === id).length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    await heard(guest.client, "started");
    expect(await moderator.refused("breakout", start({ rooms: [{ name: "A" }, { name: "B" }] }))).toBe(
      "breakout_active",
    );

    // Another device of a participant joins into their room.
    const device = await room.join("Mitglied");
    expect((device.joined as any).modules.breakout).toMatchObject({ room: "b1", active: { started_by: owner.id } });

    // Without self switching only chairs move; rooms must exist.
    expect(await member.refused("breakout", { action: "switch_room", room: "b2" })).toBe("insufficient_permissions");
    expect(await owner.refused("breakout", { action: "switch_room", room: "b9" })).toBe("not_found");
    expect(await owner.refused("breakout", { action: "switch_room", room: "x" } as never)).toBe("invalid_frame");
    const moved = await owner.command("breakout", { action: "switch_room", room: "b2" });
    expect(moved.payload).toEqual({ message: "switched", participant_id: owner.id, room: "b2" });
    await guest.client.next((f) => f.payload.message === "switched" && (f.payload as any).participant_id === owner.id);

    // A stop with a delay announces the return; the room's scheduler brings everyone back.
    const closing = await moderator.command("breakout", { action: "stop", delay_seconds: 30 });
    expect(Date.parse((closing.payload as any).at) - Date.now()).toBeGreaterThan(25_000);
    await heard(member.client, "closing");
    expect(await fireTimers(room.room.id)).toBe(true);
    expect((await heard(guest.client, "stopped")).payload).toEqual({ message: "stopped", reason: "by_moderator" });
    const after = await room.join("Mitglied");
    expect((after.joined as any).modules.breakout).toEqual({ active: null, room: null });
    expect(await room.dump("breakout")).toEqual({ breakout_running: [], breakout_assigned: [] });
    expect(await owner.refused("breakout", { action: "stop" })).toBe("breakout_not_active");
  });

  it("with self switching participants move themselves; a duration closes the rooms by itself", async () => {
    const { room, owner, member, guest } = await RoomHarness.seated();
    await owner.command(
      "breakout",
      start({ rooms: [{ name: "A" }, { name: "B" }], allow_self_switch: true, duration_seconds: 600 }),
    );
    const moved = await member.command("breakout", { action: "switch_room", room: "b2" });
    expect(moved.payload).toMatchObject({ participant_id: member.id, room: "b2" });
    const back = await member.command("breakout", { action: "switch_room", room: null });
    expect(back.payload).toMatchObject({ participant_id: member.id, room: null });
    await guest.command("breakout", { action: "switch_room", room: "b1" });
    const joined = await room.joinGuest("Zweiter Gast");
    expect((joined.joined as any).modules.breakout.active.assignment).toEqual({ [guest.id]: "b1" });
    expect(await fireTimers(room.room.id)).toBe(true);
    expect((await heard(member.client, "stopped")).payload).toMatchObject({ reason: "expired" });
  });
});
