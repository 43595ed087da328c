import { createRequire } from "node:module";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { expect } from "vitest";
import { RECONNECT_BACKOFF_MS } from "../../src/client/app/reconnect";
import { type MediaRig, sleep } from "./rig";

/** The web client's pages as the Chromium tests drive them: people, axe, waiting for states, the start page. */

const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
export const SCREENSHOTS = join(import.meta.dirname, "..", "..", "test-results", "screenshots");

/** A fresh browser profile (a person); axe needs its script injected, which the page's CSP would refuse. */
export async function person(rig: MediaRig, language = "de-DE"): Promise<Page> {
  const context = await rig.browser.newContext({
    bypassCSP: true,
    locale: language,
    viewport: { width: 1280, height: 800 },
  });
  return context.newPage();
}

export async function axeViolations(page: Page): Promise<unknown[]> {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(() =>
    (window as any).axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
    }),
  );
  return (result.violations as { id: string; nodes: { target: string[] }[] }[]).map((v) => ({
    id: v.id,
    targets: v.nodes.map((n) => n.target.join(" ")),
  }));
}

/** Joins the room through its link as a registered user (dev login with `name`), until the page says connected. */
export async function joinAs(page: Page, roomLink: string, name: string): Promise<void> {
  await page.goto(roomLink);
  await page.fill("#name", name);
  await page.click("button[type=submit]");
  await page.waitForSelector("#connection >> text=Verbunden");
}

/** The participant id of the one listed under `name` (others' entries show the bare name). */
export async function idOf(page: Page, name: string): Promise<string> {
  const entry = `#participants li:has(.name:text-is("${name}"))`;
  await page.waitForSelector(entry);
  return (await page.getAttribute(entry, "data-participant"))!;
}

/** A participant's action menu in the participant list (only chairs have it, on those they may act on). */
export const menu = (id: string) => `#participants li[data-participant="${id}"] details`;

export async function until(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(200);
  }
}

async function signIn(page: Page, base: string, name: string): Promise<void> {
  await page.goto(base);
  await page.fill("#name", name);
  await page.click("button[type=submit]");
  await page.waitForSelector("#room-name");
}

/** Signs in, creates a room, returns its link and a guest invitation link. */
export async function createRoom(page: Page, base: string, name: string, waiting = "disabled") {
  await signIn(page, base, name);
  await page.fill("#room-name", "Gemeinderat");
  await page.selectOption("#waiting-room", waiting);
  await page.click("form button[type=submit]");
  const roomLink = await page.inputValue("#room-link");
  // The owner's list of rooms (GET /v1/rooms) shows the new one, linking to it.
  const id = new URL(roomLink).searchParams.get("room")!;
  await page.waitForSelector(`#my-rooms li[data-room="${id}"]`);
  expect(await page.getAttribute(`#my-rooms li[data-room="${id}"] a`, "href")).toBe(roomLink);
  const created = page.waitForResponse((r) => r.url().endsWith("/invites") && r.request().method() === "POST");
  await page.click("#create-invite");
  const inviteLink = await page.inputValue("#invite-link");
  // The owner sees until when the link works, as the server set it (14 days by default).
  const { expires_at } = (await (await created).json()) as { expires_at: string };
  expect(Date.parse(expires_at) - Date.now()).toBeGreaterThan(13 * 86_400_000);
  const shown = await page.evaluate(
    (at) => ["de", "en"].map((l) => new Date(at).toLocaleString(l, { dateStyle: "long", timeStyle: "short" })),
    expires_at,
  );
  const expiry = await page.locator("#invite-expiry").textContent();
  expect(shown.some((date) => expiry?.includes(date))).toBe(true);
  return { roomLink, inviteLink };
}

/** A guest page's attempts to get in, counted from now: start_invited requests and signalling upgrades. */
export function countAttempts(page: Page): { starts: number; upgrades: number } {
  const attempts = { starts: 0, upgrades: 0 };
  page.on("websocket", () => attempts.upgrades++);
  page.on("request", (request) => {
    if (new URL(request.url()).pathname.endsWith("/start_invited")) attempts.starts++;
  });
  return attempts;
}

/**
 * Returns once any reconnect the page could have scheduled when its connection closed would have shown. The end
 * state shows that the client took the do-not-retry branch, but "no second attempt" needs a barrier too. A retry
 * would begin with a start request (before any new socket) from a timer set at the close, due after the first
 * backoff. A timer of four times that the page sets now fires after any such timer, and the marker request it then
 * makes is reported after every request the page started before it.
 */
export async function pastReconnectBackoff(page: Page): Promise<void> {
  const marker = page.waitForRequest((request) => request.url().includes("reconnect-barrier"), { timeout: 30_000 });
  await page.evaluate(
    (delay) =>
      new Promise<void>((resolve) =>
        setTimeout(() => {
          void fetch("/?reconnect-barrier").catch(() => undefined);
          resolve();
        }, delay),
      ),
    RECONNECT_BACKOFF_MS[0] * 4,
  );
  await marker;
}
