import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = join(import.meta.dirname, "..");

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

export interface RunningServer {
  base: string;
  port: number;
  dataDir: string;
  /** What the supervisor and workerd printed so far (stdout and stderr). */
  output(): string;
  /** Resident memory of the workerd process in bytes. */
  workerdRss(): number;
  /** Stops with a signal (SIGTERM: graceful) and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** kill -9 of the supervisor and workerd alike. */
  crash(): Promise<void>;
}

/**
 * Starts Plenum exactly as `npm start` does (for tests and benchmarks) (scripts/start.ts → plain workerd), on a
 * free port of `host` (default 127.0.0.1).
 */
export async function startServer(
  options: { dataDir?: string; port?: number; host?: string; env?: Record<string, string> } = {},
): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? (await freePort());
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "plenum-")));
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", join(root, "scripts", "start.ts")], {
    cwd: root,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PLENUM_LISTEN: `${host}:${port}`, PLENUM_DATA_DIR: dataDir, ...options.env },
  });
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const base = `http://${host}:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early:\n${output}`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`server did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    port,
    dataDir,
    output: () => output,
    workerdRss() {
      const workerdPid = execFileSync("pgrep", ["-x", "-P", String(child.pid), "workerd"], { encoding: "utf8" })
        .trim()
        .split("\n")[0];
      const rssKb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${workerdPid}/status`, "utf8"))?.[1];
      return Number(rssKb) * 1024;
    },
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
    async crash() {
      process.kill(-child.pid!, "SIGKILL");
      await exited;
    },
  };
}
