import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { janusConfigFiles, janusSecrets } from "../../scripts/janus-config";
import { plenumCli } from "./coturn";

export interface JanusNode {
  apiUrl: string;
  adminUrl: string;
  adminSecret: string;
  /** Every REST API request must carry it. */
  apiSecret: string;
  start(): Promise<void>;
  /** kill -9: the node dies as in a crash. */
  kill(): Promise<void>;
}

async function answers(url: string, body?: unknown): Promise<boolean> {
  try {
    const init = body === undefined ? {} : { method: "POST", body: JSON.stringify(body) };
    return (await fetch(url, { ...init, signal: AbortSignal.timeout(500) })).ok;
  } catch {
    return false;
  }
}

/** A Janus with Plenum's configuration (VideoRoom and HTTP only), API and admin API on `ip`. */
export async function startJanus(options: {
  dir: string;
  ip?: string;
  apiPort: number;
  adminPort: number;
  iceInterface?: string;
  rtpPorts?: [number, number];
}): Promise<JanusNode> {
  const ip = options.ip ?? "127.0.0.1";
  const { adminSecret, apiSecret } = janusSecrets();
  await mkdir(options.dir, { recursive: true });
  const files = janusConfigFiles({
    configDir: options.dir,
    apiIp: ip,
    apiPort: options.apiPort,
    adminPort: options.adminPort,
    adminSecret,
    apiSecret,
    iceInterface: options.iceInterface,
    rtpPorts: options.rtpPorts,
  });
  for (const [name, content] of Object.entries(files)) await writeFile(join(options.dir, name), content);
  const apiUrl = `http://${ip}:${options.apiPort}/janus`;
  let child: ChildProcess | undefined;
  const node: JanusNode = {
    apiUrl,
    adminUrl: `http://${ip}:${options.adminPort}/admin`,
    adminSecret,
    apiSecret,
    async start() {
      child = spawn("janus", ["-F", options.dir, "-C", join(options.dir, "janus.jcfg")], { stdio: "ignore" });
      // Both listeners: the admin API starts a moment after the public one.
      const ready = async () =>
        (await answers(`${apiUrl}/info`)) &&
        (await answers(node.adminUrl, { janus: "ping", transaction: "ready", admin_secret: adminSecret }));
      for (let i = 0; i < 100 && !(await ready()); i++) await new Promise((r) => setTimeout(r, 100));
      if (!(await ready())) throw new Error("janus did not start");
    },
    async kill() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child!.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    },
  };
  await node.start();
  return node;
}

/** Registers a node with Plenum as an operator does: `plenum sfu add`, its secrets from the environment. */
export function registerJanus(
  node: JanusNode,
  o: { api: string; operatorToken: string; id: string; region: string; capacity: number },
) {
  return plenumCli(
    [
      ...["sfu", "add", "--api", o.api, "--id", o.id, "--region", o.region],
      ...["--janus", node.apiUrl, "--admin", node.adminUrl, "--capacity", String(o.capacity)],
    ],
    { PLENUM_OPERATOR_TOKEN: o.operatorToken, JANUS_ADMIN_SECRET: node.adminSecret, JANUS_API_SECRET: node.apiSecret },
  );
}
