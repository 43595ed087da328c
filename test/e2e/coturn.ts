import { type ChildProcess, execFile, spawn } from "node:child_process";
import { Socket } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { bindingRequest, isBindingSuccess, STUN_HEADER_BYTES } from "../../turn/stun";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");

/** Runs the operator CLI as an operator would. */
export function plenumCli(args: string[], env: Record<string, string>) {
  return run(process.execPath, ["--import", "tsx", join(root, "scripts", "plenum.ts"), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
  });
}

/** Resolves once something accepts TCP connections on the port. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
      socket.connect(port, "127.0.0.1");
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

/** A STUN Binding request over TCP from Node: true when the node answers it. */
export function stunAnswers(port: number, host = "127.0.0.1", timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const request = bindingRequest();
    let received = Buffer.alloc(0);
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.on("error", () => done(false));
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.byteLength >= STUN_HEADER_BYTES) done(isBindingSuccess(request, received));
    });
    socket.connect(port, host, () => socket.write(request));
  });
}

export interface Coturn {
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** A coturn node configured by `plenum turn config` (hardened config + loopback peers for this machine). */
export async function startCoturn(options: {
  nodeId: string;
  port: number;
  cliPort: number;
  relayPorts: [number, number];
  userdb: { sqlite: string } | { redis: string };
  configPath: string;
  env: Record<string, string>;
  /** Address to listen and relay on (default 127.0.0.1). */
  ip?: string;
  /** Private addresses relays may reach (`--allow-peer`), e.g. the SFU's. */
  allowPeers?: string[];
}): Promise<Coturn> {
  const ip = options.ip ?? "127.0.0.1";
  const db = "sqlite" in options.userdb ? ["--sqlite", options.userdb.sqlite] : ["--redis", options.userdb.redis];
  await plenumCli(
    [
      "turn",
      "config",
      "--node",
      options.nodeId,
      "--listening-ip",
      ip,
      ...db,
      ...(options.allowPeers ?? []).flatMap((peer) => ["--allow-peer", peer]),
      "--cli-port",
      String(options.cliPort),
      "--min-port",
      String(options.relayPorts[0]),
      "--max-port",
      String(options.relayPorts[1]),
      "--allow-loopback-peers",
      "--out",
      options.configPath,
    ],
    options.env,
  );
  let child: ChildProcess | undefined;
  const node: Coturn = {
    port: options.port,
    async start() {
      child = spawn("turnserver", ["-c", options.configPath], { stdio: "ignore" });
      for (let i = 0; i < 100 && !(await stunAnswers(options.port, ip, 300)); i++) {
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((r) => child!.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    },
  };
  await node.start();
  return node;
}

/** Tries a TURN allocation (and relayed traffic between two allocations) with turnutils_uclient. */
export async function allocates(port: number, username: string, password: string): Promise<boolean> {
  try {
    const { stdout } = await run(
      "turnutils_uclient",
      ["-y", "-n", "3", "-m", "1", "-p", String(port), "-u", username, "-w", password, "127.0.0.1"],
      {
        timeout: 30_000,
      },
    );
    return /tot_recv_msgs=[1-9]/.test(stdout);
  } catch {
    return false;
  }
}
