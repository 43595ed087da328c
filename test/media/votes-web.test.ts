import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { axeViolations, createRoom, idOf, joinAs, menu, person, until } from "./pages";
import { type MediaRig, startMediaRig } from "./rig";

const ROOT = join(import.meta.dirname, "..", "..");
const run = promisify(execFile);

/** Activates `selector` with the keyboard and saves the download it starts into `dir`; the path and its name. */
async function download(page: Page, selector: string, dir: string): Promise<{ path: string; name: string }> {
  const started = page.waitForEvent("download", { timeout: 30_000 });
  await page.focus(selector);
  await page.keyboard.press("Enter");
  const file = await started;
  const name = file.suggestedFilename();
  const path = join(dir, `${Date.now()}-${name}`);
  await file.saveAs(path);
  return { path, name };
}

/**
 * Opens a confirmation with the keyboard and confirms it: a destructive one starts on "cancel", so Tab moves to the
 * confirming button (within the dialog), then Enter.
 */
async function confirmByKeyboard(page: Page, opener: string, dialog: string, yes: string): Promise<void> {
  await page.focus(opener);
  await page.keyboard.press("Enter");
  await page.waitForSelector(`${dialog}[open]`);
  const onYes = () => page.evaluate((id) => document.activeElement?.id === id, yes.slice(1));
  for (let presses = 0; presses < 5 && !(await onYes()); presses++) await page.keyboard.press("Tab");
  expect(await onYes(), `Tab reaches ${yes}`).toBe(true);
  await page.keyboard.press("Enter");
  await page.waitForSelector(dialog, { state: "detached" });
}

/** A chair fills the vote form (open already) and starts the vote from the keyboard (Enter on the submit button). */
async function startByKeyboard(page: Page, name: string, kind: string): Promise<void> {
  await page.fill("#vote-name", name);
  await page.fill("#vote-topic", `Beschluss: ${name}`);
  await page.selectOption("#vote-kind", kind);
  await page.selectOption("#vote-majority", "simple");
  await page.focus("#vote-start");
  await page.keyboard.press("Enter");
}

/** Runs the offline verifier on downloaded evidence; its exit code and output. */
async function verify(protocol: string, receipts: string[], extra: string[]) {
  const args = ["--import", "tsx", "scripts/verify-vote.ts", protocol, ...receipts, ...extra];
  return run(process.execPath, args, { cwd: ROOT }).then(
    ({ stdout }) => ({ code: 0, output: stdout }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({
      code: error.code ?? -1,
      output: `${error.stdout ?? ""}${error.stderr ?? ""}`,
    }),
  );
}

/** Casts `option` with the keyboard: the option, then its confirmation (the page says which vote it will cast). */
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

  it("a moderator's live roll call and a pseudonymous vote, all by keyboard; the evidence verifies", async () => {
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
    // The owner makes "Mitglied" a moderator: now they have the vote form; others only see that none runs.
    const memberId = await idOf(owner, "Mitglied");
    await owner.click(`${menu(memberId)} summary`);
    await owner.click(`${menu(memberId)} button[data-action="make_moderator"]`);
    await member.waitForSelector("#vote-new", { state: "visible" });
    await lukasz.waitForSelector("#vote-none >> text=Gerade läuft keine Abstimmung");
    expect(await lukasz.isVisible("#vote-new")).toBe(false);

    // The moderator opens the form with the keyboard: every registered user in the room may vote unless unticked.
    await member.focus("#vote-new-summary");
    await member.keyboard.press("Enter");
    await member.waitForSelector("#vote-start-form", { state: "visible" });
    await until(
      async () => (await member.locator("#vote-voters input:checked").count()) === 3,
      "all three ticked as voters",
    );
    expect(await member.inputValue("#vote-quorum-numerator")).toBe("1");
    expect(await member.inputValue("#vote-quorum-denominator")).toBe("2");
    expect(await member.isChecked("#vote-auto-close")).toBe(true);
    expect(await axeViolations(member)).toEqual([]);
    await startByKeyboard(member, "Haushalt 2027", "live_roll_call");

    // Everyone sees the running vote; the form is gone while it runs.
    for (const page of [owner, lukasz, member]) {
      await page.waitForSelector("#vote-active >> text=Haushalt 2027");
      await page.waitForSelector("#vote-cast >> text=0 von 3 haben abgestimmt");
    }
    expect(await member.isVisible("#vote-start-form")).toBe(false);
    const voteId = (await owner.getAttribute("#vote-active", "data-vote"))!;
    expect(await lukasz.textContent("#vote-active")).toContain("Namentlich, live sichtbar");
    // The abstention is offered (the form's default), and the page is axe-clean while the vote runs.
    await lukasz.waitForSelector("#vote-option-abstain");
    expect(await axeViolations(lukasz)).toEqual([]);

    // A voter votes yes; the ballot cannot change, so the page asks first, then says what the receipt confirms.
    await voteByKeyboard(lukasz, "yes", "Ihre Stimme: Ja. Abgeben?");
    await lukasz.waitForSelector("#vote-ballot-status >> text=Ihre Stimme ist gespeichert");
    await lukasz.waitForSelector("#vote-download-receipt");
    expect(await lukasz.locator("#vote-option-yes").count()).toBe(0);

    // The moderator switches the page to English while the vote runs (axe-clean there too), then votes no.
    await member.selectOption("#language", "en");
    await member.waitForSelector("#vote-cast >> text=1 of 3 have voted");
    expect(await axeViolations(member)).toEqual([]);
    await voteByKeyboard(member, "no", "Your vote: No. Cast it?");
    await member.waitForSelector("#vote-ballot-status >> text=Your vote is stored");

    // Everyone sees the count; the live roll call shows the tally and who voted what.
    for (const page of [owner, lukasz]) await page.waitForSelector("#vote-cast >> text=2 von 3 haben abgestimmt");
    await owner.waitForSelector("#vote-tally >> text=Ja 1, Nein 1, Enthaltung 0");
    await owner.waitForSelector("#vote-ballots li >> text=Łukasz Ğündüz: Ja");
    await owner.waitForSelector("#vote-ballots li >> text=Mitglied: Nein");
    // The owner has not voted, so the vote does not stop by itself: the moderator stops it, after confirming.
    await confirmByKeyboard(member, "#vote-stop", "#vote-stop-dialog", "#vote-stop-yes");

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
    expect(evidence.vote.initiator.display_name).toBe("Mitglied");
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
    const paths = receipts.map((r) => r.path);
    const verified = await verify(protocol.path, paths, ["--head", head.path, "--keys-url", keysUrl]);
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

    // A pseudonymous vote: each voter's page gets its token privately and votes with it; the receipts carry the
    // tokens, the protocol no names, and the evidence verifies.
    await member.focus("#vote-new-summary");
    await member.keyboard.press("Enter");
    await member.waitForSelector("#vote-start-form", { state: "visible" });
    await startByKeyboard(member, "Geheime Wahl", "pseudonymous");
    await lukasz.waitForSelector("#vote-active >> text=Geheim (pseudonym)");
    await owner.waitForSelector("#vote-active >> text=Secret (pseudonymous)");
    const secretId = (await owner.getAttribute("#vote-active", "data-vote"))!;
    expect(secretId).not.toBe(voteId);
    await voteByKeyboard(lukasz, "yes", "Ihre Stimme: Ja. Abgeben?");
    await voteByKeyboard(owner, "yes", "Your vote: Yes. Cast it?");
    await lukasz.waitForSelector("#vote-ballot-status >> text=Ihre Stimme ist gespeichert");
    await owner.waitForSelector("#vote-ballot-status >> text=Your vote is stored");
    await member.waitForSelector("#vote-cast >> text=2 of 3 have voted");
    await confirmByKeyboard(member, "#vote-stop", "#vote-stop-dialog", "#vote-stop-yes");
    await lukasz.waitForSelector("#vote-outcome >> text=Ergebnis: angenommen");
    const secretReceipts = [
      await download(lukasz, "#vote-download-receipt", dir),
      await download(owner, "#vote-download-receipt", dir),
    ];
    const tokens = await Promise.all(
      secretReceipts.map(async (r) => JSON.parse(await readFile(r.path, "utf8")).ballot.token as string),
    );
    expect(tokens.every((t) => /^[A-Za-z0-9_-]{16,64}$/.test(t))).toBe(true);
    const secret = await download(member, "#vote-download-protocol", dir);
    const secretEvidence = JSON.parse(await readFile(secret.path, "utf8"));
    const ballots = secretEvidence.entries.filter((e: any) => e.event.type === "ballot");
    expect(ballots.map((e: any) => e.event.token).sort()).toEqual([...tokens].sort());
    expect(ballots.every((e: any) => e.at === null && e.event.voter === undefined)).toBe(true);
    const secretVerified = await verify(
      secret.path,
      secretReceipts.map((r) => r.path),
      ["--keys-url", keysUrl],
    );
    expect(secretVerified.output).toContain("verdict: the protocol verifies");
    expect(secretVerified.code).toBe(0);

    for (const page of [owner, lukasz, member]) await page.context().close();
  });
});
