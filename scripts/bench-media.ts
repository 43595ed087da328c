/**
 * Media figures (run by `npm run bench` inside a private network namespace, see in-netns.ts): through the same rig
 * as the media tests (two Janus nodes, coturn, workerd, Chromium with fake 320x240 camera):
 * - join → first remote video frame decoded: a second participant joins a room where one already publishes;
 *   from its start request to the first frame of the other's video, through Janus directly and relay-only via
 *   TURN;
 * - failover: two participants, the pinned Janus node is killed; time until both decode video again.
 * Prints one line per figure after a `--- media` marker.
 */
import type { Page } from "playwright-core";
import { createRoom, devLogin, startRoom } from "../test/helpers/client";
import { joinInBrowser, type MediaRig, received, sfuNodes, sleep, startMediaRig } from "../test/media/rig";

const RUNS = Number(process.env.BENCH_MEDIA_RUNS ?? 5);
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const seconds = (v: number) => `${(v / 1000).toFixed(2)} s`;

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(25);
  }
}

const decodes = (page: Page) => received(page).then((r) => r.videos >= 1);

async function joinToFirstFrame(rig: MediaRig, relay: boolean): Promise<number> {
  const owner = await devLogin(rig.server.base, "Erste");
  const room = await createRoom(rig.server.base, owner);
  const first = await joinInBrowser(rig, room.id, (await startRoom(rig.server.base, owner, room.id)).ticket, relay);
  const started = Date.now();
  const ticket = (await startRoom(rig.server.base, await devLogin(rig.server.base, "Zweite"), room.id)).ticket;
  const second = await joinInBrowser(rig, room.id, ticket, relay);
  await until(() => decodes(second.page), "the second participant decodes video");
  const elapsed = Date.now() - started;
  await Promise.all([first.page.context().close(), second.page.context().close()]);
  return elapsed;
}

async function failover(rig: MediaRig): Promise<number> {
  const owner = await devLogin(rig.server.base, "Erste");
  const room = await createRoom(rig.server.base, owner);
  const pages = [
    (await joinInBrowser(rig, room.id, (await startRoom(rig.server.base, owner, room.id)).ticket)).page,
    (
      await joinInBrowser(
        rig,
        room.id,
        (
          await startRoom(rig.server.base, await devLogin(rig.server.base, "Zweite"), room.id)
        ).ticket,
      )
    ).page,
  ];
  await until(async () => (await Promise.all(pages.map(decodes))).every(Boolean), "both decode video");
  // Earlier rooms emptied and gave their nodes back: the one placed room is this one.
  await until(async () => (await sfuNodes(rig.server.base)).filter((n) => n.rooms > 0).length === 1, "one placed room");
  const pinned = (await sfuNodes(rig.server.base)).find((n) => n.rooms > 0)!.id;
  const killed = Date.now();
  await rig.janus[pinned]!.kill();
  const movedAndDecoding = async (page: Page) =>
    (await page.evaluate(() => (window as any).sfuChanges >= 1)) && (await decodes(page));
  await until(
    async () => (await Promise.all(pages.map(movedAndDecoding))).every(Boolean),
    "both decode again after the kill",
  );
  const elapsed = Date.now() - killed;
  await Promise.all(pages.map((p) => p.context().close()));
  await rig.janus[pinned]!.start();
  await until(async () => (await sfuNodes(rig.server.base)).every((n) => n.alive), "the restarted node is alive");
  // The room stays on its new node; the restarted one is empty again.
  return elapsed;
}

const rig = await startMediaRig();
try {
  const lines: string[] = [];
  for (const relay of [false, true]) {
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      times.push(await joinToFirstFrame(rig, relay));
      console.error(`join → first frame${relay ? " (relay)" : ""}, run ${i + 1}: ${seconds(times.at(-1)!)}`);
    }
    const path = relay ? "through Janus + TURN relay" : "through Janus";
    lines.push(
      `join → first remote video frame ${path}: p50 ${seconds(median(times))} ` +
        `(${RUNS} runs: ${times.map(seconds).join(", ")})`,
    );
  }
  const failovers: number[] = [];
  for (let i = 0; i < Math.min(RUNS, 3); i++) {
    failovers.push(await failover(rig));
    console.error(`failover, run ${i + 1}: ${seconds(failovers.at(-1)!)}`);
  }
  lines.push(
    `kill pinned Janus node → video decoding again for both participants: p50 ${seconds(median(failovers))} ` +
      `(${failovers.map(seconds).join(", ")}; dead after 2.5 s of silence, polled every 0.5 s)`,
  );
  console.log(`--- media\n${lines.join("\n")}`);
} finally {
  await rig.stop();
}
