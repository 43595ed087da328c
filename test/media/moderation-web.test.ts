import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { axeViolations, countAttempts, createRoom, pastReconnectBackoff, person, SCREENSHOTS, until } from "./pages";
import { type MediaRig, startMediaRig } from "./rig";

/** The participant id of the one listed under `name` (others' entries show the bare name). */
async function idOf(page: Page, name: string): Promise<string> {
  const entry = `#participants li:has(.name:text-is("${name}"))`;
  await page.waitForSelector(entry);
  return (await page.getAttribute(entry, "data-participant"))!;
}

/** A participant's action menu in the participant list (only chairs have it, on those they may act on). */
const menu = (id: string) => `#participants li[data-participant="${id}"] details`;

const listed = (page: Page, id: string) => page.locator(`#participants li[data-participant="${id}"]`).count();

describe("moderation in the web client (real workerd, Janus, Chromium)", () => {
  let rig: MediaRig;

  beforeAll(async () => {
    rig = await startMediaRig();
    await mkdir(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    await rig?.stop();
  });

  it("a chair admits a guest, makes a member moderator, who removes the guest for good via the menus", async () => {
    const chair = await person(rig);
    const { roomLink, inviteLink } = await createRoom(chair, rig.server.base, "Vorsitz", "guests");
    await chair.click("#join-room");
    await chair.waitForSelector("#connection >> text=Verbunden");
    // The owner's room menu shows the room as created: open, waiting room for guests, hands allowed.
    await chair.waitForSelector("#room-moderation");
    expect(await chair.inputValue("#waiting-mode")).toBe("guests");
    expect(await chair.getAttribute("#toggle-lock", "aria-pressed")).toBe("false");
    expect(await chair.getAttribute("#toggle-hands", "aria-pressed")).toBe("true");

    // A registered member follows the room link: the waiting room holds guests only, so they come straight in.
    const member = await person(rig, "en-GB");
    await member.goto(roomLink);
    await member.fill("#name", "Mitglied");
    await member.click("button[type=submit]");
    await member.waitForSelector("#connection >> text=Connected");
    expect(await member.locator("#room-moderation").count()).toBe(0);

    // A guest follows the invitation link and waits until the chair lets them in from the waiting list.
    const guest = await person(rig);
    const attempts = countAttempts(guest);
    await guest.goto(inviteLink);
    await guest.fill("#guest-name", "Bürgerin");
    await guest.click("button[type=submit]");
    await guest.waitForSelector("#waiting-status");
    await chair.click("#waiting-list >> text=Einlassen: Bürgerin");
    await chair.waitForSelector("#nobody-waiting");
    await guest.waitForSelector("#connection >> text=Verbunden");

    // The owner makes the member a moderator through the member's menu; the member's page gets the room menu.
    const memberId = await idOf(chair, "Mitglied");
    const guestId = await idOf(chair, "Bürgerin");
    await chair.click(`${menu(memberId)} summary`);
    await chair.click(`${menu(memberId)} button[data-action="make_moderator"]`);
    await member.waitForSelector("#room-moderation");
    await member.waitForSelector(`#participants li[data-participant="${memberId}"] .role >> text=Moderator`);
    // In the owner's menu the action turns into its reverse; the new moderator has no menu on the owner.
    await chair.waitForSelector(`${menu(memberId)} button[data-action="make_user"]`);
    const chairId = await idOf(member, "Vorsitz");
    expect(await member.locator(menu(chairId)).count()).toBe(0);

    // The moderator opens the guest's menu and chooses "remove": a dialog asks first. Escape cancels, and focus is
    // back on the button that opened it.
    await member.waitForSelector(`${menu(guestId)} summary`);
    await member.click(`${menu(guestId)} summary`);
    const kick = `${menu(guestId)} button[data-action="kick"]`;
    await member.click(kick);
    await member.waitForSelector("#confirm-dialog[open]");
    await member.keyboard.press("Escape");
    await member.waitForSelector("#confirm-dialog", { state: "detached" });
    await until(
      () => member.evaluate(() => document.activeElement?.getAttribute("data-action") === "kick"),
      "focus returns to the menu",
    );
    // Cancelled means nothing was sent: the guest is still in the room, so a message sent now reaches them.
    await member.fill("#chat-input", "Noch da?");
    await member.keyboard.press("Enter");
    await guest.waitForSelector("#chat-log >> text=Noch da?");
    expect(await listed(chair, guestId)).toBe(1);

    await member.click(kick);
    await member.waitForSelector("#confirm-dialog[open]");
    expect(await member.textContent("#confirm-title")).toContain("Bürgerin");
    expect(await axeViolations(member)).toEqual([]);
    await member.screenshot({ path: join(SCREENSHOTS, "moderation-confirm.png") });
    await member.click("#confirm-yes");

    // The guest reads why they are out, and their page does not try to come back.
    await guest.waitForSelector("#ended");
    expect(await guest.textContent("#ended")).toContain("aus dem Raum entfernt");
    await pastReconnectBackoff(guest);
    expect(attempts).toEqual({ starts: 1, upgrades: 1 });
    for (const page of [chair, member]) await until(async () => (await listed(page, guestId)) === 0, "the guest left");

    // The owner opens the moderation log: who did what, and new entries arrive while it is open.
    await chair.click("#moderation-log summary");
    await chair.waitForSelector('#log-entries li[data-action="kick"]');
    const kicked = await chair.textContent('#log-entries li[data-action="kick"]');
    expect(kicked).toContain("Mitglied");
    expect(kicked).toContain("Bürgerin");
    await chair.waitForSelector('#log-entries li[data-action="update_role"]');
    await chair.click("#toggle-lock");
    await chair.waitForSelector('#toggle-lock[aria-pressed="true"]');
    await chair.waitForSelector('#log-entries li[data-action="lock"]');
    // Everyone sees that the room is locked; the moderator's menu shows it too.
    await member.waitForSelector("#room-notice >> text=The room is locked");
    await member.waitForSelector('#toggle-lock[aria-pressed="true"]');

    // Hands switched off: the hand button says why it is unavailable.
    await chair.click("#toggle-hands");
    await member.waitForSelector('#toggle-hand[aria-disabled="true"]');
    await member.waitForSelector("#hand-hint >> text=Raising hands is switched off");

    expect(await axeViolations(chair)).toEqual([]);
    await chair.screenshot({ path: join(SCREENSHOTS, "moderation-room-menu.png"), fullPage: true });
    for (const page of [chair, member, guest]) await page.context().close();
  });
});
