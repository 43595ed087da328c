import { mkdtemp, readFile, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type RunningServer, startServer } from "../../scripts/local-server";
import type { SfuNode } from "../../src/protocol";
import { call } from "../helpers/client";
import { plenumCli } from "./coturn";
import { type JanusNode, registerJanus, startJanus } from "./janus";

const OPERATOR_TOKEN = "e2e-operator-token-sfu-0123456789abcdef";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("SFU pool against real Janus nodes", () => {
  let server: RunningServer;
  let janus: Record<string, JanusNode> = {};
  let env: Record<string, string>;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), "plenum-sfu-"));
    const nodes = await Promise.all(
      ["erfurt-1", "kassel-1"].map(async (id, i) => {
        const [apiPort, adminPort] = [await freePort(), await freePort()];
        return [
          id,
          await startJanus({ dir: join(dir, id), apiPort, adminPort, rtpPorts: [30000 + i * 1000, 30999 + i * 1000] }),
        ] as const;
      }),
    );
    janus = Object.fromEntries(nodes);
    server = await startServer({ env: { OPERATOR_TOKEN, SFU_POLL_INTERVAL_MS: "500", SFU_DEAD_AFTER_MS: "2500" } });
    env = { PLENUM_OPERATOR_TOKEN: OPERATOR_TOKEN };
    for (const [id, region] of [
      ["erfurt-1", "de-east"],
      ["kassel-1", "de-central"],
    ] as const) {
      await registerJanus(janus[id]!, { api: server.base, operatorToken: OPERATOR_TOKEN, id, region, capacity: 200 });
    }
  });

  afterAll(async () => {
    await server?.stop();
    await Promise.all(Object.values(janus).map((j) => j.kill()));
  });

  const nodes = async () =>
    (await call<{ nodes: SfuNode[] }>(server.base, "GET", "/v1/operator/sfu/nodes", { token: OPERATOR_TOKEN })).body
      .nodes;
  async function until(predicate: (list: SfuNode[]) => boolean, what: string, timeoutMs = 30_000): Promise<SfuNode[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const list = await nodes();
      if (predicate(list)) return list;
      if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify(list)}`);
      await sleep(200);
    }
  }

  it("polls each node's liveness and load; the API needs the node's api_secret", async () => {
    await until((list) => list.length === 2 && list.every((n) => n.alive), "both nodes alive");
    // A session with a VideoRoom handle on erfurt-1 shows up as load.
    const api = janus["erfurt-1"]!.apiUrl;
    const apisecret = janus["erfurt-1"]!.apiSecret;
    const post = async (url: string, body: object) =>
      (
        await fetch(url, { method: "POST", body: JSON.stringify({ apisecret, ...body, transaction: "t" }) })
      ).json() as Promise<any>;
    // The API is closed to anyone without the node's api_secret (a TURN relay that reached it, say).
    for (const secret of [undefined, "wrong-secret-0123456789"]) {
      const refused = await post(api, { janus: "create", apisecret: secret });
      expect(refused, JSON.stringify(refused)).toMatchObject({ janus: "error", error: { code: 403 } });
    }
    const session = (await post(api, { janus: "create" })).data.id;
    await post(`${api}/${session}`, { janus: "attach", plugin: "janus.plugin.videoroom" });
    const loaded = await until(
      (list) => list.find((n) => n.id === "erfurt-1")!.handles === 1,
      "erfurt-1 reports its handle",
    );
    expect(loaded.find((n) => n.id === "erfurt-1")).toMatchObject({ sessions: 1, handles: 1, error: null });
    await post(`${api}/${session}`, { janus: "destroy" });
  });

  it("writes a node's Janus config with fresh secrets through the CLI", async () => {
    const dir = await mkdtemp(join(tmpdir(), "plenum-janus-config-"));
    const { stdout } = await plenumCli(["sfu", "janus-config", "--out-dir", dir, "--api-ip", "10.0.3.5"], {});
    const apiSecret = /^JANUS_API_SECRET=(\S+)$/m.exec(stdout)?.[1];
    const adminSecret = /^JANUS_ADMIN_SECRET=(\S+)$/m.exec(stdout)?.[1];
    expect(apiSecret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(adminSecret).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const general = await readFile(join(dir, "janus.jcfg"), "utf8");
    expect(general).toContain(`api_secret = "${apiSecret}"`);
    expect(general).toContain(`admin_secret = "${adminSecret}"`);
    expect((await stat(join(dir, "janus.jcfg"))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(dir, "janus.transport.http.jcfg"), "utf8")).toContain('ip = "10.0.3.5"');
    // A second run would replace the secrets of a node in service: only on purpose.
    const again = plenumCli(["sfu", "janus-config", "--out-dir", dir, "--api-ip", "10.0.3.5"], {});
    await expect(again).rejects.toThrow(/--force/);
    expect(await readFile(join(dir, "janus.jcfg"), "utf8")).toBe(general);
    await plenumCli(["sfu", "janus-config", "--out-dir", dir, "--api-ip", "10.0.3.5", "--force"], {});
    expect(await readFile(join(dir, "janus.jcfg"), "utf8")).not.toContain(apiSecret!);
  });

  it("drains through the CLI, and declares a killed node dead within seconds", async () => {
    const { stdout } = await plenumCli(["sfu", "drain", "kassel-1", "--api", server.base], env);
    expect(JSON.parse(stdout)).toMatchObject({ id: "kassel-1", draining: true });
    expect((await nodes()).find((n) => n.id === "kassel-1")!.draining).toBe(true);

    const killed = Date.now();
    await janus["erfurt-1"]!.kill();
    const list = await until((l) => !l.find((n) => n.id === "erfurt-1")!.alive, "erfurt-1 declared dead");
    const noticed = Date.now() - killed;
    expect(noticed).toBeLessThan(15_000);
    expect(list.find((n) => n.id === "erfurt-1")!.error).toEqual(expect.any(String));
    expect(list.find((n) => n.id === "kassel-1")!.alive).toBe(true);

    // Back up: alive again after its next answered poll.
    await janus["erfurt-1"]!.start();
    await until((l) => l.find((n) => n.id === "erfurt-1")!.alive, "erfurt-1 alive again");
    await plenumCli(["sfu", "remove", "kassel-1", "--api", server.base], env);
    expect((await nodes()).map((n) => n.id)).toEqual(["erfurt-1"]);
  });
});
