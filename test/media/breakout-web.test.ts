import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { axeViolations, createRoom, idOf, joinAs, person, until } from "./pages";
import { type MediaRig, sfuNodes, sleep, startMediaRig } from "./rig";

/**
 * Whose camera this page decodes now: the participants whose tile's video gained frames within one window (a
 * tile left frozen by an ended stream does not count).
 */
async function decodingFrom(page: Page): Promise<string[]> {
  const frames = () =>
    page.evaluate(() =>
      Object.fromEntries(
        [...document.querySelectorAll<HTMLElement>(".tile[data-key$='/camera']")].map((tile) => [
          tile.dataset.key!.split("/")[0]!,
          tile.querySelector("video")!.getVideoPlaybackQuality().totalVideoFrames,
        ]),
      ),
    );
  const before = await frames();
  await sleep(1000);
  const after = await frames();
  return Object.keys(after)
    .filter((id) => after[id]! > (before[id] ?? Number.POSITIVE_INFINITY))
    .sort();
}

/**
 * Waits until each page decodes the cameras of exactly the participants `expected` names for it (itself aside), in
 * two windows in a row. Call it after a positive barrier (the streams that must arrive are decoding): a stream that
 * must not arrive would have come with the same subscription change.
 */
async function untilDecoding(pages: Map<string, Page>, expected: (self: string) => string[], what: string) {
  const matches = new Map([...pages.keys()].map((id) => [id, 0]));
  const deadline = Date.now() + 90_000;
  while ([...matches.values()].some((n) => n < 2)) {
    for (const [self, page] of pages) {
      if (matches.get(self)! >= 2) continue;
      const others = (await decodingFrom(page)).filter((id) => id !== self);
      const match = JSON.stringify(others) === JSON.stringify(expected(self).sort());
      matches.set(self, match ? matches.get(self)! + 1 : 0);
    }
    if (Date.now() > deadline) throw new Error(`timed out: ${what} (${JSON.stringify([...matches])})`);
  }
}

/** Waits until `page` decodes the cameras of at least `wanted` (the positive barrier). */
async function untilDecodes(page: Page, wanted: string[], what: string): Promise<void> {
  await until(
    async () => {
      const decoding = await decodingFrom(page);
      return wanted.every((id) => decoding.includes(id));
    },
    what,
    90_000,
  );
}

describe("breakout rooms in the web client (real workerd, Janus, Chromium)", () => {
  let rig: MediaRig;

  beforeAll(async () => {
    rig = await startMediaRig();
  });

  afterAll(async () => {
    await rig?.stop();
  });

  it("two groups on one Janus node decode only their own group's video, everyone's after the return", async () => {
    const names = ["Vorsitz", "Amira Haddad", "Jens Krüger", "Lena Vogt"];
    const owner = await person(rig);
    const { roomLink } = await createRoom(owner, rig.server.base, names[0]!);
    await owner.click("#join-room");
    await owner.waitForSelector("#connection >> text=Verbunden");
    const others = [await person(rig), await person(rig), await person(rig)];
    for (const [i, page] of others.entries()) await joinAs(page, roomLink, names[i + 1]!);
    const pages = [owner, ...others];
    for (const page of pages)
      await until(async () => (await page.locator("#participants li").count()) === 4, "four in the room");
    // A page lists its own participant differently: the chair's id is read from another page.
    const ids = [await idOf(others[0]!, names[0]!), ...(await Promise.all(names.slice(1).map((n) => idOf(owner, n))))];
    const [chair, amira, jens, lena] = ids as [string, string, string, string];
    const byId = new Map(ids.map((id, i) => [id, pages[i]!]));
    try {
      await untilDecoding(byId, (self) => ids.filter((id) => id !== self), "everyone decodes everyone");

      // The chair opens two rooms from the keyboard-usable form: Amira and Jens into room 1, Lena into room 2.
      await owner.click("#breakout-new-summary");
      await owner.selectOption(`select[data-participant="${amira}"]`, "0");
      await owner.selectOption(`select[data-participant="${jens}"]`, "0");
      await owner.selectOption(`select[data-participant="${lena}"]`, "1");
      await owner.fill("#breakout-duration", "30");
      await owner.click("#breakout-start");
      // Everyone sees which room they are in and the countdown to the return.
      await others[0]!.waitForSelector(".breakout-current >> text=Raum 1");
      await others[2]!.waitForSelector(".breakout-current >> text=Raum 2");
      await owner.waitForSelector(".breakout-countdown");
      for (const page of [others[1]!, others[2]!])
        await until(async () => (await page.locator("#participants li").count()) <= 2, "only the room's people");
      expect(await others[1]!.locator("#participants li").count()).toBe(2);
      expect(await others[2]!.locator("#participants li").count()).toBe(1);
      // Barrier: both movers of room 1 publish again and see each other; then every page decodes its group only.
      await untilDecodes(others[0]!, [jens], "Amira decodes Jens");
      await untilDecodes(others[1]!, [amira], "Jens decodes Amira");
      const groups: Record<string, string[]> = { [chair]: [], [amira]: [jens], [jens]: [amira], [lena]: [] };
      await untilDecoding(byId, (self) => groups[self]!, "each decodes its own group only");
      // Both rooms' media runs on the one node the room is pinned to.
      const nodes = await sfuNodes(rig.server.base);
      expect(nodes.filter((n) => n.rooms > 0).map((n) => n.rooms)).toEqual([1]);

      // The chair switches into room 2 from the keyboard: chair and Lena see each other; room 1 is unchanged.
      await owner.focus("#breakout-switch-b2");
      await owner.keyboard.press("Enter");
      await owner.waitForSelector(".breakout-current >> text=Raum 2");
      await untilDecodes(owner, [lena], "the chair decodes Lena");
      await untilDecodes(others[2]!, [chair], "Lena decodes the chair");
      const joinedB2: Record<string, string[]> = { [chair]: [lena], [amira]: [jens], [jens]: [amira], [lena]: [chair] };
      await untilDecoding(byId, (self) => joinedB2[self]!, "the chair in room 2");
      expect(await axeViolations(owner)).toEqual([]);

      // The chair closes the rooms at once: everyone is back and decodes everyone again.
      await owner.click("#breakout-stop");
      for (const page of pages)
        await until(async () => (await page.locator("#participants li").count()) === 4, "all back in the room");
      await untilDecoding(byId, (self) => ids.filter((id) => id !== self), "everyone decodes everyone again");
      await others[0]!.waitForSelector("#breakout-ended");
    } finally {
      await Promise.all(pages.map((p) => p.context().close()));
    }
  });
});
