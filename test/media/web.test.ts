import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { Page, WebSocketRoute } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServer } from "../../scripts/local-server";
import { call } from "../helpers/client";
import {
  axeViolations,
  countAttempts,
  createRoom,
  idOf,
  menu,
  pastReconnectBackoff,
  person,
  SCREENSHOTS,
  until,
} from "./pages";
import { JANUS_NODES, type MediaRig, OPERATOR_TOKEN, sfuNodes, startMediaRig } from "./rig";

/** Presses Tab until the element with `id` has focus (keyboard only), failing after `limit` presses. */
async function tabTo(page: Page, id: string, limit = 60): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (await page.evaluate((target) => document.activeElement?.id === target, id)) return;
    await page.keyboard.press("Tab");
  }
  throw new Error(`#${id} cannot be reached with Tab`);
}

/** Videos in the grid that show a picture (own preview included). */
const playingVideos = (page: Page) =>
  page.evaluate(
    () =>
      [...document.querySelectorAll<HTMLVideoElement>(".tile video")].filter(
        (v) => v.videoWidth > 0 && v.readyState >= 2,
      ).length,
  );

/**
 * A toggle's aria-pressed once it shows `state`: the page sets it when the action took effect (screen capture
 * started, the server confirmed the raised hand), not on the click itself, so reading it right away races.
 */
async function pressedOnceItIs(page: Page, id: string, state: boolean): Promise<string | null> {
  await page.waitForSelector(`#${id}[aria-pressed="${state}"]`, { state: "attached", timeout: 60_000 });
  return page.getAttribute(`#${id}`, "aria-pressed");
}

const listed = (page: Page, id: string) => page.locator(`#participants li[data-participant="${id}"]`).count();

describe("web client served at / (real workerd, Janus, Chromium)", () => {
  let rig: MediaRig;

  beforeAll(async () => {
    rig = await startMediaRig();
    await mkdir(SCREENSHOTS, { recursive: true });
  });

  afterAll(async () => {
    await rig?.stop();
  });

  it("three people join via the page (one as guest by invite link), see each other, chat, raise a hand", async () => {
    const [chair, member, guest] = [await person(rig), await person(rig, "en-GB"), await person(rig)];
    await chair.goto(rig.server.base);
    expect(await chair.textContent("h1")).toContain("Videokonferenz");
    expect(await axeViolations(chair)).toEqual([]);
    await chair.screenshot({ path: join(SCREENSHOTS, "landing.png") });

    const { roomLink, inviteLink } = await createRoom(chair, rig.server.base, "Vorsitz");
    // The invite code travels in the fragment, which browsers never send: it stays out of server and proxy logs.
    const invited = new URL(inviteLink);
    expect(invited.hash).toMatch(/^#invite=./);
    expect(invited.searchParams.has("invite")).toBe(false);
    const inviteCode = new URLSearchParams(invited.hash.slice(1)).get("invite")!;
    await chair.click("#join-room");
    // A member follows the room link (signs in first); the guest follows the invitation link and gives a name.
    await member.goto(roomLink);
    expect(await member.textContent("h1")).toContain("video conference");
    await member.fill("#name", "Member");
    await member.click("button[type=submit]");
    // The guest's signalling goes through a proxy the test can cut, as a network drop would.
    const guestSockets: { page: WebSocketRoute; server: WebSocketRoute }[] = [];
    await guest.routeWebSocket(
      /\/signaling$/,
      (ws) => void guestSockets.push({ page: ws, server: ws.connectToServer() }),
    );
    await guest.goto(inviteLink);
    // Once the page has read the code, it leaves the address bar (and so the history); the room link remains.
    await guest.waitForSelector("#guest-name");
    expect(guest.url()).not.toContain(inviteCode);
    expect(guest.url()).toBe(roomLink);
    await guest.fill("#guest-name", "Bürgerin");
    await guest.click("button[type=submit]");

    const pages = [chair, member, guest];
    for (const page of pages) await until(async () => (await playingVideos(page)) >= 3, "three pictures on every page");
    for (const page of pages) expect(await page.locator("#participants li").count()).toBe(3);

    await chair.fill("#chat-input", "Willkommen zur Sitzung");
    await chair.press("#chat-input", "Enter");
    for (const page of [member, guest]) await page.waitForSelector("#chat-log >> text=Willkommen zur Sitzung");

    await guest.click("#toggle-hand");
    await chair.waitForSelector("#participants >> text=Hand gehoben");
    await member.waitForSelector("#participants >> text=hand raised");
    expect(await chair.getAttribute("#toggle-hand", "aria-pressed")).toBe("false");
    expect(await pressedOnceItIs(guest, "toggle-hand", true)).toBe("true");

    // The chair shares the screen: everyone else gets it as one more picture, labelled as a screen share.
    await chair.click("#toggle-screen");
    expect(await pressedOnceItIs(chair, "toggle-screen", true)).toBe("true");
    for (const page of [member, guest])
      await until(async () => (await playingVideos(page)) >= 4, "the shared screen arrives");
    await member.waitForSelector(".tile .label >> text=Vorsitz – Share screen");

    expect(await axeViolations(chair)).toEqual([]);
    await chair.screenshot({ path: join(SCREENSHOTS, "room-three-people.png") });
    await chair.click("#toggle-screen");
    for (const page of [member, guest])
      await until(async () => (await playingVideos(page)) === 3, "the shared screen ends");

    // The guest's connection drops: the page says so, reconnects with its resumption token, keeps its id.
    const guestId = await chair.getAttribute("#participants li:has-text('Bürgerin')", "data-participant");
    const dropped = guestSockets.at(-1)!;
    await dropped.server.close();
    await dropped.page.close({ code: 1011, reason: "network dropped" });
    await guest.waitForSelector("#connection >> text=neuer Versuch");
    await guest.waitForSelector("#connection >> text=Verbunden", { timeout: 30_000 });
    expect(guestSockets.length).toBe(2);
    await until(
      async () => (await chair.locator(`#participants li[data-participant="${guestId}"]`).count()) === 1,
      "the guest is back",
    );
    expect(await chair.locator("#participants li").count()).toBe(3);
    await until(async () => (await playingVideos(guest)) >= 3, "the guest sees everyone again");

    for (const page of pages) await page.context().close();
  });

  it("holds a guest in the axe-clean waiting room until the host lets them in; works by keyboard alone", async () => {
    const chair = await person(rig);
    const { inviteLink } = await createRoom(chair, rig.server.base, "Vorsitz", "guests");
    await chair.click("#join-room");
    await chair.waitForSelector("#connection >> text=Verbunden");

    const guest = await person(rig);
    await guest.goto(inviteLink);
    // Keyboard only from here on for the guest.
    await tabTo(guest, "guest-name");
    await guest.keyboard.type("Gast Tastatur");
    await guest.keyboard.press("Enter");
    await guest.waitForSelector("#waiting-status");
    expect(await axeViolations(guest)).toEqual([]);
    // The chair's list follows waiting_room_changed: one arrival, and empty again once let in.
    await chair.waitForSelector("#waiting-list li >> text=Gast Tastatur");
    expect(await chair.locator("#waiting-list li").count()).toBe(1);

    await chair.click("text=Einlassen: Gast Tastatur");
    await chair.waitForSelector("#nobody-waiting");
    await guest.waitForSelector("#connection >> text=Verbunden");
    await until(async () => (await playingVideos(guest)) >= 2, "the guest sees the host");

    await tabTo(guest, "toggle-mic");
    await guest.keyboard.press("Space");
    expect(await pressedOnceItIs(guest, "toggle-mic", false)).toBe("false");
    await chair.waitForSelector(".tile .label >> text=Gast Tastatur – stumm");

    await tabTo(guest, "chat-input");
    await guest.keyboard.type("Guten Tag");
    await guest.keyboard.press("Enter");
    await chair.waitForSelector("#chat-log >> text=Guten Tag");

    await tabTo(guest, "toggle-hand");
    await guest.keyboard.press("Enter");
    await chair.waitForSelector("#participants >> text=Hand gehoben");

    // Turned away from the waiting room: the page says so and does not try again (close code 4000).
    const stranger = await person(rig);
    const attempts = countAttempts(stranger);
    // The stranger follows an older link, with the code in the query (`&invite=`): it still works.
    const oldLink = new URL(inviteLink);
    const inviteCode = new URLSearchParams(oldLink.hash.slice(1)).get("invite")!;
    oldLink.searchParams.set("invite", inviteCode);
    oldLink.hash = "";
    await stranger.goto(oldLink.href);
    await stranger.waitForSelector("#guest-name");
    expect(stranger.url()).not.toContain(inviteCode);
    await stranger.fill("#guest-name", "Unbekannt");
    await stranger.click("button[type=submit]");
    await stranger.waitForSelector("#waiting-status");
    // Turning someone away is asked first.
    await chair.click("text=Abweisen: Unbekannt");
    await chair.click("#confirm-yes");
    await stranger.waitForSelector("#ended");
    await pastReconnectBackoff(stranger);
    expect(attempts).toEqual({ starts: 1, upgrades: 1 });
    expect(await stranger.textContent("#ended")).toContain("nicht eingelassen");
    for (const page of [guest, chair, stranger]) await page.context().close();
  });

  it("gives a working call on local defaults (no SFU, no TURN: peer-to-peer mesh), as `npm start` does", async () => {
    const local = await startServer();
    try {
      const host = await person(rig);
      const { roomLink } = await createRoom(host, local.base, "Gastgeberin");
      await host.click("#join-room");
      const visitor = await person(rig);
      await visitor.goto(roomLink);
      await visitor.fill("#name", "Besuch");
      await visitor.click("button[type=submit]");
      for (const page of [host, visitor])
        await until(async () => (await playingVideos(page)) >= 2, "both pictures on both pages");
      await visitor.click("#leave");
      await visitor.waitForSelector("#ended");
      await host.waitForSelector("#participants li >> nth=0");
      await until(async () => (await host.locator("#participants li").count()) === 1, "the visitor left");
      for (const page of [host, visitor]) await page.context().close();
    } finally {
      await local.stop();
    }
  });

  it("moves a peer-to-peer call to the SFU when a chair restricts microphones, and the call goes on", async () => {
    const nodes = (action: "drain" | "undrain") =>
      Promise.all(
        JANUS_NODES.map((id) =>
          call(rig.server.base, "POST", `/v1/operator/sfu/nodes/${id}/${action}`, { token: OPERATOR_TOKEN }),
        ),
      );
    const placements = async () => (await sfuNodes(rig.server.base)).reduce((sum, n) => sum + n.rooms, 0);
    // A publisher and a subscriber per page on a node (the counts are as the pool last polled them).
    const handles = async () => (await sfuNodes(rig.server.base)).reduce((sum, n) => sum + n.handles, 0);
    // No node takes a new room while both drain: the call starts peer to peer.
    await nodes("drain");
    const [chair, member] = [await person(rig), await person(rig, "en-GB")];
    try {
      const { roomLink } = await createRoom(chair, rig.server.base, "Vorsitz");
      await chair.click("#join-room");
      await chair.waitForSelector("#connection >> text=Verbunden");
      await member.goto(roomLink);
      await member.fill("#name", "Mitglied");
      await member.click("button[type=submit]");
      for (const page of [chair, member]) {
        await until(async () => (await playingVideos(page)) >= 2, "both pictures, peer to peer");
      }
    } finally {
      await nodes("undrain");
    }
    // The call runs peer to peer, and the earlier tests' rooms have left the nodes: nothing is on any node.
    await until(async () => (await placements()) === 0, "no room placed on a node");
    await until(async () => (await handles()) === 0, "no handles on the nodes");

    // Restrictions need the SFU: the room takes a node, both pages publish through it, the member's microphone
    // stays off (restricted) and both pictures come back through Janus.
    await chair.click("#mic-restrictions summary");
    await chair.click("#mic-restrictions-set");
    await until(async () => (await placements()) === 1, "the room placed on a node");
    await member.waitForSelector('#toggle-mic[aria-disabled="true"]');
    expect(await member.getAttribute("#toggle-mic", "aria-pressed")).toBe("false");
    // A publisher and a subscriber per page on the node: both pages moved, and closed their peer-to-peer
    // connections with the tiles they fed.
    await until(async () => (await handles()) >= 4, "both pages' handles on the node");
    for (const page of [chair, member]) {
      await until(async () => (await playingVideos(page)) >= 2, "both pictures through the SFU");
    }
    for (const page of [chair, member]) await page.context().close();
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
    // Switching hands off lowers raised hands: the chair confirms.
    await chair.click("#toggle-hands");
    await chair.waitForSelector("#confirm-dialog[open]");
    await chair.click("#confirm-yes");
    await member.waitForSelector('#toggle-hand[aria-disabled="true"]');
    await member.waitForSelector("#hand-hint >> text=Raising hands is switched off");

    expect(await axeViolations(chair)).toEqual([]);
    await chair.screenshot({ path: join(SCREENSHOTS, "moderation-room-menu.png"), fullPage: true });
    for (const page of [chair, member, guest]) await page.context().close();
  });

  it("a chair mutes, restricts microphones and steers the chat; each page shows what reaches it", async () => {
    const chair = await person(rig);
    const { roomLink, inviteLink } = await createRoom(chair, rig.server.base, "Vorsitz");
    await chair.click("#join-room");
    await chair.waitForSelector("#connection >> text=Verbunden");
    const member = await person(rig, "en-GB");
    await member.goto(roomLink);
    await member.fill("#name", "Mitglied");
    await member.click("button[type=submit]");
    const guest = await person(rig);
    await guest.goto(inviteLink);
    await guest.fill("#guest-name", "Bürgerin");
    await guest.click("button[type=submit]");
    for (const page of [member, guest]) expect(await pressedOnceItIs(page, "toggle-mic", true)).toBe("true");
    const memberId = await idOf(chair, "Mitglied");
    const memberLabel = `.tile[data-key="${memberId}/camera"] .label`;

    // Muted from the participant menu: the member's microphone goes off, and the page says who did it.
    await chair.click(`${menu(memberId)} summary`);
    await chair.click(`${menu(memberId)} button[data-action="mute"]`);
    expect(await pressedOnceItIs(member, "toggle-mic", false)).toBe("false");
    await member.waitForSelector("#mic-notice >> text=Vorsitz muted your microphone");
    await chair.waitForSelector(`${memberLabel} >> text=stumm`);
    // "Mute everyone" asks first, then reaches the guest too.
    await chair.click("#mute-all");
    await chair.click("#confirm-yes");
    expect(await pressedOnceItIs(guest, "toggle-mic", false)).toBe("false");
    await guest.waitForSelector("#mic-notice >> text=Vorsitz hat Ihr Mikrofon stummgeschaltet");

    // Restrictions with nobody allowed: the microphone toggles are unavailable, and say why.
    await chair.click("#mic-restrictions summary");
    await chair.click("#mic-restrictions-set");
    await chair.waitForSelector("#mic-restrictions-status >> text=Nur die Moderation darf sprechen");
    await member.waitForSelector('#toggle-mic[aria-disabled="true"]');
    await member.waitForSelector("#mic-hint >> text=Only those a moderator allows may speak");
    // The member is allowed: the toggle works again, but nothing switches the microphone on but the member.
    await chair.check(`#may-speak-${memberId}`);
    await chair.click("#mic-restrictions-set");
    await chair.waitForSelector("#mic-restrictions-status >> text=Mitglied");
    await member.waitForSelector('#toggle-mic[aria-disabled="false"]');
    expect(await member.getAttribute("#toggle-mic", "aria-pressed")).toBe("false");
    await member.click("#toggle-mic");
    expect(await pressedOnceItIs(member, "toggle-mic", true)).toBe("true");
    // The room accepted it: the others no longer read the member as muted.
    await until(async () => !(await chair.textContent(memberLabel))?.includes("stumm"), "the member speaks again");
    await guest.waitForSelector('#toggle-mic[aria-disabled="true"]');

    // To the moderators, privately to the member, then to everyone: each page shows what reached it.
    const write = async (scope: string, text: string, target?: string) => {
      await chair.selectOption("#chat-scope", scope);
      if (target) await chair.selectOption("#chat-target", target);
      await chair.fill("#chat-input", text);
      await chair.press("#chat-input", "Enter");
    };
    await write("moderators", "Nur für die Moderation");
    await chair.waitForSelector('#chat-log .message[data-scope="moderators"] >> text=Vorsitz an die Moderation');
    await write("private", "Nur für Mitglied", memberId);
    await chair.waitForSelector('#chat-log .message[data-scope="private"] >> text=Privat an Mitglied');
    await member.waitForSelector('#chat-log .message[data-scope="private"] >> text=Privately from Vorsitz');
    await write("global", "Für alle");
    for (const page of [member, guest]) await page.waitForSelector("#chat-log >> text=Für alle");
    // Frames arrive in order: what has not arrived with the later message never will.
    expect(await member.locator("#chat-log >> text=Nur für die Moderation").count()).toBe(0);
    expect(await guest.locator("#chat-log .message").count()).toBe(1);

    // Chat off, by keyboard alone (the room menu is always shown to chairs): the member's form is disabled with a
    // notice; the chair may still write.
    await chair.waitForSelector("#room-moderation #toggle-chat");
    await tabTo(chair, "toggle-chat", 100);
    await chair.keyboard.press("Enter");
    await chair.waitForSelector('#toggle-chat[aria-pressed="false"]');
    await member.waitForSelector("#chat-input:disabled");
    await member.waitForSelector("#chat-off >> text=A moderator switched the chat off");
    expect(await chair.isDisabled("#chat-input")).toBe(false);
    // Axe-clean with the chat off: the member's page, and the guest's, whose microphone toggle is unavailable too.
    expect(await axeViolations(member)).toEqual([]);
    await guest.waitForSelector("#chat-input:disabled");
    expect(await axeViolations(guest)).toEqual([]);
    // Clearing the chat asks first; every list empties and says why.
    await chair.click("#clear-chat");
    await chair.click("#confirm-yes");
    await member.waitForSelector("#chat-cleared >> text=A moderator cleared the chat");
    expect(await member.locator("#chat-log .message").count()).toBe(0);

    // The log tells it in words.
    await chair.click("#moderation-log summary");
    await chair.waitForSelector('#log-entries li[data-action="mute"] >> text=Vorsitz hat Mitglied stummgeschaltet');
    await chair.waitForSelector('#log-entries li[data-action="chat_clear_history"]');
    expect(await axeViolations(chair)).toEqual([]);
    await chair.screenshot({ path: join(SCREENSHOTS, "microphones-and-chat.png"), fullPage: true });

    // Lifted: the guest may switch the microphone on again.
    await chair.click("#mic-restrictions-clear");
    await guest.waitForSelector('#toggle-mic[aria-disabled="false"]');
    for (const page of [chair, member, guest]) await page.context().close();
  });
});
