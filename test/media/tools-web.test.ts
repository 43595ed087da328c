import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { axeViolations, createRoom, idOf, joinAs, person, until } from "./pages";
import { type MediaRig, startMediaRig } from "./rig";

/** Focuses `selector` and presses `key` (keyboard only). */
async function press(page: Page, selector: string, key: string): Promise<void> {
  await page.focus(selector);
  await page.keyboard.press(key);
}

const focusIs = (page: Page, id: string) => () => page.evaluate((target) => document.activeElement?.id === target, id);

/** The countdown shows mm:ss and then a smaller value: the page counts down by itself (nothing is sent per tick). */
async function seesCountingDown(page: Page): Promise<void> {
  const shown = await page.waitForFunction(() => {
    const text = document.querySelector("#timer-clock")?.textContent ?? "";
    return /^\d\d:\d\d$/.test(text) && text;
  });
  const first = (await shown.jsonValue()) as string;
  await page.waitForFunction(
    (before) => {
      const text = document.querySelector("#timer-clock")?.textContent ?? "";
      return /^\d\d:\d\d$/.test(text) && text < before;
    },
    first,
    { timeout: 5_000 },
  );
}

/** The chair "Vorsitz" creates a room and joins; Amira Haddad and Jens Krüger join; each page lists all three. */
async function threeInRoom(rig: MediaRig): Promise<[Page, Page, Page]> {
  const [owner, amira, jens] = [await person(rig), await person(rig), await person(rig)];
  const { roomLink } = await createRoom(owner, rig.server.base, "Vorsitz");
  await owner.click("#join-room");
  await owner.waitForSelector("#connection >> text=Verbunden");
  await joinAs(amira, roomLink, "Amira Haddad");
  await joinAs(jens, roomLink, "Jens Krüger");
  for (const page of [owner, amira, jens])
    await until(async () => (await page.locator("#participants li").count()) === 3, "three in the room");
  return [owner, amira, jens];
}

describe("meeting tools in the web client (real workerd, Chromium)", () => {
  let rig: MediaRig;

  beforeAll(async () => {
    rig = await startMediaRig();
  });

  afterAll(async () => {
    await rig?.stop();
  });

  it("a coffee break with a ready check, a 10-second countdown ending by itself, a live poll", async () => {
    const everyone = await threeInRoom(rig);
    const [owner, amira, jens] = everyone;
    // Only the chair has the forms; the others read that nothing runs (said in the render that hides the forms).
    await owner.waitForSelector("#timer-new", { state: "visible" });
    await owner.waitForSelector("#poll-new", { state: "visible" });
    for (const page of [amira, jens]) {
      await page.waitForSelector("#timer-none >> text=Gerade läuft kein Timer.");
      await page.waitForSelector("#poll-none >> text=Gerade ist keine Umfrage offen.");
      expect(await page.isVisible("#timer-new")).toBe(false);
      expect(await page.isVisible("#poll-new")).toBe(false);
    }

    // The owner opens the timer form with the keyboard; a stopwatch has no duration (hidden and disabled). First a
    // coffee break as a stopwatch with a ready check (no clock can run out while the test waits for the ready check).
    await press(owner, "#timer-new-summary", "Enter");
    await owner.waitForSelector("#timer-start-form", { state: "visible" });
    await owner.selectOption("#timer-kind", "stopwatch");
    await owner.waitForSelector("#timer-duration", { state: "hidden" });
    expect(await owner.isDisabled("#timer-duration")).toBe(true);
    await owner.fill("#timer-title", "Pause");
    await owner.selectOption("#timer-style", "coffee_break");
    await press(owner, "#timer-ready-check", "Space");
    expect(await owner.isChecked("#timer-ready-check")).toBe(true);
    await press(owner, "#timer-start", "Enter");

    // Everyone sees the coffee break, large and in words.
    for (const page of everyone) await page.waitForSelector("#timer-active.coffee-break >> text=Kaffeepause");
    const breakId = await owner.getAttribute("#timer-active", "data-timer");
    expect(breakId).toBeTruthy();
    await owner.waitForSelector("#timer-active-title >> text=Pause");
    expect(await amira.getAttribute("#timer-active", "data-timer")).toBe(breakId);
    expect(await amira.getAttribute("#timer-clock", "role")).toBe("timer");
    expect(await amira.getAttribute("#timer-clock", "aria-live")).toBe("off");
    expect(await owner.isVisible("#timer-start-form")).toBe(false);

    // Amira says she is ready: her toggle shows it once the room confirmed; everyone sees the count, the chair who.
    await amira.waitForSelector('#timer-ready[aria-pressed="false"]');
    await press(amira, "#timer-ready", "Enter");
    await amira.waitForSelector('#timer-ready[aria-pressed="true"]');
    for (const page of everyone) await page.waitForSelector("#timer-ready-count >> text=1 ist bereit");
    await owner.waitForSelector('#timer-ready-list li >> text="Amira Haddad"');
    // Jens does not moderate: his card (built without it) has no list of who is ready.
    expect(await jens.locator("#timer-ready-list").count()).toBe(0);
    // The chair's page with the running coffee break is axe-clean; then the chair ends it.
    await owner.waitForSelector("#timer-stop");
    expect(await axeViolations(owner)).toEqual([]);
    await press(owner, "#timer-stop", "Enter");
    for (const page of everyone) await page.waitForSelector("#timer-ended >> text=Der Timer wurde beendet.");

    // A 10-second countdown: everyone sees it count down and end by itself.
    await owner.waitForSelector("#timer-new", { state: "visible" });
    await press(owner, "#timer-new-summary", "Enter");
    await owner.waitForSelector("#timer-start-form", { state: "visible" });
    await owner.selectOption("#timer-kind", "countdown");
    await owner.waitForSelector("#timer-duration", { state: "visible" });
    await owner.fill("#timer-duration", "10");
    await owner.fill("#timer-title", "Gleich geht es weiter");
    await owner.selectOption("#timer-style", "normal");
    if (await owner.isChecked("#timer-ready-check")) await press(owner, "#timer-ready-check", "Space");
    await press(owner, "#timer-start", "Enter");
    for (const page of everyone) await page.waitForSelector("#timer-active-title >> text=Gleich geht es weiter");
    await Promise.all([seesCountingDown(amira), seesCountingDown(jens)]);
    for (const page of everyone)
      await page.waitForSelector("#timer-ended >> text=Die Zeit ist abgelaufen.", { timeout: 30_000 });
    for (const page of everyone) expect(await page.locator("#timer-active").count()).toBe(0);
    await owner.waitForSelector("#timer-new", { state: "visible" });

    // The owner asks a live single-choice question with three choices, all from the keyboard.
    await press(owner, "#poll-new-summary", "Enter");
    await owner.waitForSelector("#poll-start-form", { state: "visible" });
    await owner.fill("#poll-topic", "Wann tagen wir wieder?");
    await owner.fill("#poll-choice-0", "Montag");
    await owner.fill("#poll-choice-1", "Mittwoch");
    // Two choices are the minimum: nothing to remove yet.
    expect(await owner.isVisible("#poll-choice-remove-0")).toBe(false);
    await press(owner, "#poll-choice-add", "Enter");
    await until(focusIs(owner, "poll-choice-2"), "focus on the added choice");
    await owner.keyboard.type("Freitag");
    // A fourth, removed again: focus goes back to the third.
    await press(owner, "#poll-choice-add", "Enter");
    await until(focusIs(owner, "poll-choice-3"), "focus on the fourth choice");
    await owner.keyboard.type("Sonntag");
    await press(owner, "#poll-choice-remove-3", "Enter");
    await owner.waitForSelector("#poll-choice-3", { state: "detached" });
    await until(focusIs(owner, "poll-choice-2"), "focus on the choice before the removed one");
    expect(await owner.inputValue("#poll-choice-2")).toBe("Freitag");
    await press(owner, "#poll-live", "Space");
    expect(await owner.isChecked("#poll-live")).toBe(true);
    expect(await owner.isChecked("#poll-multiple")).toBe(false);
    await press(owner, "#poll-start", "Enter");

    // Everyone sees the open poll: the question and the choices as radio buttons in a fieldset with a legend.
    for (const page of everyone) await page.waitForSelector("#poll-active >> text=Wann tagen wir wieder?");
    const pollId = (await owner.getAttribute("#poll-active", "data-poll"))!;
    expect(await amira.getAttribute("#poll-active", "data-poll")).toBe(pollId);
    await amira.waitForSelector('#poll-choices-field legend >> text="Ihre Antwort"');
    expect(await amira.locator("#poll-choices-field input[type=radio]").count()).toBe(3);
    expect(await amira.locator("#poll-choices-field input[type=checkbox]").count()).toBe(0);
    for (const page of everyone) await page.waitForSelector('#poll-counts li >> text="Montag: 0"');
    expect(await owner.isVisible("#poll-start-form")).toBe(false);
    // A participant's page with the open poll is axe-clean.
    expect(await axeViolations(amira)).toEqual([]);

    // Amira answers: focus the first choice, Space ticks it, Enter on the submit button.
    await press(amira, "#poll-option-0", "Space");
    expect(await amira.isChecked("#poll-option-0")).toBe(true);
    await press(amira, "#poll-vote", "Enter");
    await amira.waitForSelector('#poll-status >> text="Ihre Antwort ist gezählt."');
    // The status replaced the controls in one step.
    expect(await amira.locator("#poll-vote").count()).toBe(0);

    // Jens switches to English (axe-clean there too), then answers with an arrow key: from the first to the second.
    await jens.selectOption("#language", "en");
    await jens.waitForSelector('#poll-active-title >> text="Open poll"');
    await jens.waitForSelector('#poll-choices-field legend >> text="Your answer"');
    expect(await axeViolations(jens)).toEqual([]);
    await press(jens, "#poll-option-0", "ArrowDown");
    expect(await jens.isChecked("#poll-option-1")).toBe(true);
    await press(jens, "#poll-vote", "Enter");
    await jens.waitForSelector('#poll-status >> text="Your answer has been counted."');
    expect(await jens.locator("#poll-vote").count()).toBe(0);

    // Every page sees the live counts.
    for (const page of everyone)
      for (const count of ["Montag: 1", "Mittwoch: 1", "Freitag: 0"])
        await page.waitForSelector(`#poll-counts li >> text="${count}"`);

    // The owner finishes it; every page shows the result: the counts, the two who answered, and why it ended.
    await press(owner, "#poll-finish", "Enter");
    for (const page of [owner, amira]) {
      await page.waitForSelector('#poll-voters >> text="Geantwortet haben: 2"');
      await page.waitForSelector('#poll-reason >> text="Die Umfrage wurde beendet."');
    }
    await jens.waitForSelector('#poll-voters >> text="Answered: 2"');
    await jens.waitForSelector('#poll-reason >> text="The poll was finished."');
    for (const page of everyone) {
      expect(await page.getAttribute("#poll-result", "data-poll")).toBe(pollId);
      const items = await page.locator("#poll-result-counts li").allTextContents();
      expect(items).toEqual(["Montag: 1", "Mittwoch: 1", "Freitag: 0"]);
      expect(await page.locator("#poll-active").count()).toBe(0);
    }
    await owner.waitForSelector("#poll-new", { state: "visible" });

    for (const page of everyone) await page.context().close();
  });

  it("a speaker queue in the chair's order, an exclusive microphone; anonymous feedback the speaker sees", async () => {
    const everyone = await threeInRoom(rig);
    const [owner, amira, jens] = everyone;
    const [amiraId, jensId] = [await idOf(owner, "Amira Haddad"), await idOf(owner, "Jens Krüger")];
    for (const page of [amira, jens]) {
      await page.waitForSelector("#speakers-none >> text=Gerade läuft keine Redeliste.");
      expect(await page.isVisible("#speakers-new")).toBe(false);
      // Only chairs (and the speaker) see the feedback counts.
      expect(await page.isVisible("#feedback-summary")).toBe(false);
    }

    // The chair ticks Jens after Amira (the queue's order is the order ticked), an exclusive microphone, a limit.
    await owner.waitForSelector("#speakers-new", { state: "visible" });
    await press(owner, "#speakers-new-summary", "Enter");
    await owner.waitForSelector("#speakers-start-form", { state: "visible" });
    await owner.selectOption("#speakers-strategy", "playlist");
    await press(owner, `#speakers-pick-${amiraId}`, "Space");
    await press(owner, `#speakers-pick-${jensId}`, "Space");
    await owner.waitForSelector('#speakers-pick >> text="Jens Krüger (2)"');
    await owner.fill("#speakers-limit", "300");
    await press(owner, "#speakers-exclusive", "Space");
    await press(owner, "#speakers-start", "Enter");

    // Everyone sees Amira speak and Jens wait; Amira is told to unmute; the microphones follow the floor.
    await amira.waitForSelector('#speakers-current-text >> text="Sie haben das Wort."');
    for (const page of [owner, jens])
      await page.waitForSelector('#speakers-current-text >> text="Amira Haddad hat das Wort."');
    for (const page of everyone) {
      const queued = () =>
        page.$$eval("#speakers-queue li", (items) => items.map((li) => li.getAttribute("data-participant")).join());
      await until(async () => (await queued()) === jensId, "Jens waits");
      await page.waitForSelector("#speakers-clock");
    }
    await amira.waitForSelector("#speakers-you >> text=Schalten Sie Ihr Mikrofon ein, um zu sprechen.");
    expect(await jens.locator("#speakers-you").count()).toBe(0);
    expect(await owner.isVisible("#speakers-new")).toBe(false);

    // Jens reacts anonymously; the speaker and the chair see the count, Jens only that it counted.
    await press(jens, "#feedback-slower", "Enter");
    await jens.waitForSelector('#feedback-status >> text="„Langsamer“ gezählt – anonym."');
    for (const page of [amira, owner]) await page.waitForSelector('#feedback-counts li >> text="Langsamer: 1"');
    expect(await jens.isVisible("#feedback-summary")).toBe(false);
    expect(await axeViolations(amira)).toEqual([]);
    expect(await axeViolations(owner)).toEqual([]);

    // Jens reads in English.
    await jens.selectOption("#language", "en");
    await jens.waitForSelector('#speakers-heading >> text="Speaker queue"');
    // The chair asks a question (anonymously) just before Amira passes the floor on from the keyboard.
    await press(owner, "#feedback-question", "Enter");
    await owner.waitForSelector('#feedback-counts li >> text="Frage: 1"');
    await press(amira, "#speakers-yield", "Enter");
    await jens.waitForSelector('#speakers-current-text >> text="You have the floor."');
    await jens.waitForSelector("#speakers-yield");
    for (const page of [owner, amira]) {
      await page.waitForSelector('#speakers-current-text >> text="Jens Krüger hat das Wort."');
      await page.waitForSelector("#speakers-queue-empty >> text=Niemand wartet.");
    }
    await owner.waitForSelector('#speakers-spoken >> text="Schon gesprochen: Amira Haddad"');
    // No longer the speaker: Amira's counts are gone; Jens (speaking now) sees them.
    await amira.waitForSelector("#feedback-summary", { state: "hidden" });
    // The window's counts reach him now that he speaks.
    await jens.waitForSelector("#feedback-summary", { state: "visible" });
    await jens.waitForSelector('#feedback-counts li >> text="Question: 1"');
    expect(await axeViolations(jens)).toEqual([]);

    await press(owner, "#speakers-stop", "Enter");
    for (const page of [owner, amira])
      await page.waitForSelector("#speakers-none >> text=Gerade läuft keine Redeliste.");
    await jens.waitForSelector("#speakers-none >> text=No speaker queue is running.");
    await jens.waitForSelector("#feedback-summary", { state: "hidden" });
    await owner.waitForSelector("#speakers-new", { state: "visible" });

    for (const page of everyone) await page.context().close();
  });
});
