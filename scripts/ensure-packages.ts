import { execFileSync } from "node:child_process";

/** Debian packages the end-to-end tier runs for real, with a command each provides. */
export const E2E_PACKAGES: Record<string, string> = {
  coturn: "turnserver",
  sqlite3: "sqlite3",
  "redis-server": "redis-server",
  chromium: "chromium",
  janus: "janus",
};

const has = (command: string) => {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

/** Installs missing packages when running as root; otherwise stops with a message naming them. */
export function ensurePackages(packages: Record<string, string> = E2E_PACKAGES): void {
  const missing = Object.entries(packages)
    .filter(([, command]) => !has(command))
    .map(([name]) => name);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `the end-to-end tier needs these Debian packages: ${missing.join(" ")} (apt-get install ${missing.join(" ")})`,
    );
  }
  console.log(`installing ${missing.join(", ")} …`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  execFileSync("apt-get", ["install", "-y", "-qq", ...missing], { stdio: "inherit", env });
  // Debian starts some daemons on install where it can; tests run their own instances.
  execFileSync("sh", ["-c", "pkill -x turnserver; pkill -x redis-server; pkill -x janus; true"], { stdio: "ignore" });
}
