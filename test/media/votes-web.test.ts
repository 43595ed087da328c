import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { axeViolations, createRoom, person, until } from "./pages";
import { type MediaRig, startMediaRig } from "./rig";

const ROOT = join(import.meta.dirname, "..", "..");
const run = promisify(execFile);

/** Joins the room through its link as a registered user (dev login with `name`), until the page says connected. */
async function joinAs(page: Page, roomLink: string, name: string): Promise<void> {
  await page.goto(roomLink);
  await page.fill("#name", name);
  await page.click("button[type=submit]");
  await page.waitForSelector("#connection >> text=Verbunden");
}

/** Clicks `selector` and saves the download it starts into `dir`; returns the path and the name the page gave. */
async function download(page: Page, selector: string, dir: string): Promise<{ path: string; name: string }> {
  const started = page.waitForEvent("download", { timeout: 30_000 });
  await page.click(selector);
  const file = await started;
  const name = file.suggestedFilename();
  const path = join(dir, `${Date.now()}-${name}`);
  await file.saveAs(path);
  return { path, name };
}

/** Casts `option` with the keyboard: focus on the option, Enter opens the confirmation (focus on its button), Enter. */
async function voteByKeyboard(page: Page, option: string, confirmation: string): Promise<void> {
  await page.focus(`#vote-option-${option}`);
  await page.keyboard.press("Enter");
  await page.waitForSelector("#vote-confirm-dialog[open]");
  expect(await page.textContent("#vote-confirm-text")).toContain(confirmation);
  await until(
    () => page.evaluate(() => document.activeElement?.id === "vote-confirm-yes"),
    "focus on the confirming button",
  );
  await page.keyboard.press("Enter");
  await page.waitForSelector("#vote-confirm-dialog", { state: "detached" });
}

describe("legal votes in the web client (real workerd, Chromium)", () => {
  let rig: MediaRig;

  beforeAll(async () => {
    rig = await startMediaRig();
  });

  afterAll(async () => {
    await rig?.stop();
  });

  it("a live roll call: started from the form, voted by keyboard, stopped; the evidence verifies", async () => {
    const dir = await mkdtemp(join(tmpdir(), "plenum-votes-web-"));
    const [owner, lukasz, member] = [await person(rig), await person(rig), await person(rig)];
    const { roomLink } = await createRoom(owner, rig.server.base, "Vorsitz");
    const roomId = new URL(roomLink).searchParams.get("room")!;
    await owner.click("#join-room");
    await owner.waitForSelector("#connection >> text=Verbunden");
    await joinAs(lukasz, roomLink, "Łukasz Ğündüz");
    await joinAs(member, roomLink, "Mitglied");
    for (const page of [owner, lukasz, member])
      await until(async () => (await page.locator("#participants li").count()) === 3, "three in the room");
    // Only chairs get the form; everyone sees that no vote runs.
    expect(await lukasz.isVisible("#vote-new")).toBe(false);
    await lukasz.waitForSelector("#vote-none >> text=Gerade läuft keine Abstimmung");

    // The owner opens the form: every registered user in the room (the owner too) may vote unless unticked.
    await owner.click("#vote-new-summary");
    await owner.waitForSelector("#vote-start-form", { state: "visible" });
    await until(
      async () => (await owner.locator("#vote-voters input:checked").count()) === 3,
      "all three ticked as voters",
    );
    expect(await owner.inputValue("#vote-quorum-numerator")).toBe("1");
    expect(await owner.inputValue("#vote-quorum-denominator")).toBe("2");
    expect(await owner.isChecked("#vote-auto-close")).toBe(true);
    expect(await axeViolations(owner)).toEqual([]);
    await owner.fill("#vote-name", "Haushalt 2027");
    await owner.fill("#vote-topic", "Beschluss über den Haushaltsplan 2027");
    await owner.selectOption("#vote-kind", "live_roll_call");
    await owner.selectOption("#vote-majority", "simple");
    await owner.click("#vote-start");

    // Everyone sees the running vote; the form is gone while it runs.
    for (const page of [owner, lukasz, member]) {
      await page.waitForSelector("#vote-active >> text=Haushalt 2027");
      await page.waitForSelector("#vote-cast >> text=0 von 3 haben abgestimmt");
    }
    expect(await owner.isVisible("#vote-new")).toBe(false);
    const voteId = (await owner.getAttribute("#vote-active", "data-vote"))!;
    expect(await lukasz.textContent("#vote-active")).toContain("Namentlich, live sichtbar");
    await lukasz.waitForSelector("#vote-option-yes");
    // The abstention is offered (the form's default), and the page is axe-clean while the vote runs.
    await lukasz.waitForSelector("#vote-option-abstain");
    expect(await axeViolations(lukasz)).toEqual([]);

    // The first voter votes yes by keyboard; the ballot cannot change, so the page asks first.
    await voteByKeyboard(lukasz, "yes", "Ihre Stimme: Ja. Abgeben?");
    await lukasz.waitForSelector("#vote-ballot-status >> text=Ihre Stimme ist gespeichert");
    expect(await lukasz.locator("#vote-option-yes").count()).toBe(0);
    await lukasz.waitForSelector("#vote-download-receipt");

    // The second voter switches the page to English while the vote runs (axe-clean there too), then votes no.
    await member.selectOption("#language", "en");
    await member.waitForSelector("#vote-cast >> text=1 of 3 have voted");
    expect(await axeViolations(member)).toEqual([]);
    await voteByKeyboard(member, "no", "Your vote: No. Cast it?");
    await member.waitForSelector("#vote-ballot-status >> text=Your vote is stored");

    // Everyone sees the count; the live roll call shows the tally and who voted what.
    for (const page of [owner, lukasz]) await page.waitForSelector("#vote-cast >> text=2 von 3 haben abgestimmt");
    await member.waitForSelector("#vote-cast >> text=2 of 3 have voted");
    await owner.waitForSelector("#vote-tally >> text=Ja 1, Nein 1, Enthaltung 0");
    await owner.waitForSelector("#vote-ballots li >> text=Łukasz Ğündüz: Ja");
    await owner.waitForSelector("#vote-ballots li >> text=Mitglied: Nein");
    // The owner has not voted, so the vote does not stop by itself: the owner stops it, after confirming.
    await owner.click("#vote-stop");
    await owner.waitForSelector("#vote-stop-dialog[open]");
    await owner.click("#vote-stop-yes");

    // Every page shows the result in words: one yes, one no, two of three voted (quorum 1/2 met) — rejected.
    for (const page of [owner, lukasz]) await page.waitForSelector("#vote-outcome >> text=Ergebnis: abgelehnt");
    await member.waitForSelector("#vote-outcome >> text=Result: rejected");
    const counts = await owner.textContent("#vote-counts");
    expect(counts).toContain("Ja: 1");
    expect(counts).toContain("Nein: 1");
    expect(counts).toContain("Abgegeben: 2 von 3");
    expect(counts).toContain("Beschlussfähigkeit: erreicht");
    expect(await owner.getAttribute("#vote-result", "data-vote")).toBe(voteId);

    // The voters keep their receipts (and a signed head); the owner fetches the protocol and the report.
    const receipts = [await download(lukasz, "#vote-download-receipt", dir)];
    receipts.push(await download(member, "#vote-download-receipt", dir));
    for (const receipt of receipts) expect(receipt.name).toBe(`vote-${voteId}-receipt.json`);
    const receipt = JSON.parse(await readFile(receipts[0]!.path, "utf8"));
    expect(receipt).toMatchObject({ format: "plenum-vote-receipt/1", vote_id: voteId, ballot: { option: "yes" } });
    const head = await download(lukasz, "#vote-download-head", dir);
    const protocol = await download(owner, "#vote-download-protocol", dir);
    expect(protocol.name).toBe(`vote-${voteId}-protocol.json`);
    const evidence = JSON.parse(await readFile(protocol.path, "utf8"));
    expect(evidence.vote).toMatchObject({ id: voteId, name: "Haushalt 2027", kind: "live_roll_call" });
    expect(evidence.vote.eligible.map((p: { display_name: string }) => p.display_name).sort()).toEqual(
      ["Mitglied", "Vorsitz", "Łukasz Ğündüz"].sort(),
    );
    expect(evidence.result).toMatchObject({ yes: 1, no: 1, abstain: 0, cast: 2, eligible: 3, outcome: "rejected" });
    // The page saved the body as the server sent it, byte for byte.
    const token = await owner.evaluate(() => sessionStorage.getItem("plenum.token"));
    const served = await fetch(`${rig.server.base}/v1/rooms/${roomId}/votes/${voteId}/protocol`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(served.status).toBe(200);
    expect(Buffer.from(await served.arrayBuffer()).equals(await readFile(protocol.path))).toBe(true);
    const report = await download(owner, "#vote-download-report", dir);
    expect(report.name).toBe(`vote-${voteId}-report.pdf`);
    expect((await readFile(report.path)).subarray(0, 5).toString("latin1")).toBe("%PDF-");

    // Anyone can check the evidence offline with the published keys.
    const keysUrl = `${rig.server.base}/v1/rooms/${roomId}/votes/keys`;
    const args = ["--import", "tsx", "scripts/verify-vote.ts", protocol.path, ...receipts.map((r) => r.path)];
    const verified = await run(process.execPath, [...args, "--head", head.path, "--keys-url", keysUrl], {
      cwd: ROOT,
    }).then(
      ({ stdout }) => ({ code: 0, output: stdout }),
      (error: { code?: number; stdout?: string; stderr?: string }) => ({
        code: error.code ?? -1,
        output: `${error.stdout ?? ""}${error.stderr ?? ""}`,
      }),
    );
    expect(verified.output).toContain("verdict: the protocol verifies");
    expect(verified.code).toBe(0);

    // The owner's page with the result is axe-clean, in German and once switched to English.
    expect(await axeViolations(owner)).toEqual([]);
    await owner.selectOption("#language", "en");
    await owner.waitForSelector("#vote-outcome >> text=Result: rejected");
    await owner.waitForSelector("#vote-download-protocol >> text=Download protocol");
    expect(await axeViolations(owner)).toEqual([]);

    // The receipt stays in the browser: after a reload the list of earlier votes still offers it, unchanged.
    await lukasz.reload();
    await lukasz.waitForSelector("#connection >> text=Verbunden");
    await lukasz.waitForSelector("#vote-none");
    await lukasz.click("#vote-history summary");
    const listed = `#vote-history-list li[data-vote="${voteId}"]`;
    await lukasz.waitForSelector(`${listed} >> text=abgelehnt`);
    const again = await download(lukasz, `${listed} button:has-text("Quittung")`, dir);
    expect(await readFile(again.path, "utf8")).toBe(await readFile(receipts[0]!.path, "utf8"));

    for (const page of [owner, lukasz, member]) await page.context().close();
  });
});
