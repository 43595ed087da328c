import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";

/** Debian packages the end-to-end tier runs for real, with a command each provides. */
export const E2E_PACKAGES: Record<string, string> = {
  coturn: "turnserver",
  sqlite3: "sqlite3",
  "redis-server": "redis-server",
  chromium: "chromium",
  janus: "janus",
  nginx: "nginx",
  // A certificate for the proxy's TLS listener in the fleet test.
  openssl: "openssl",
};

/** Packages whose daemons Debian starts on install where it can, with their process names. */
const DAEMONS: Record<string, string> = {
  coturn: "turnserver",
  "redis-server": "redis-server",
  janus: "janus",
  nginx: "nginx",
};

/** A check is an absolute path (a file the package installs) or a command the package provides. */
const has = (check: string) => {
  if (check.startsWith("/")) return existsSync(check);
  try {
    execFileSync("sh", ["-c", `command -v ${check}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

/**
 * Makes sure Debian packages are there, each named with a check (a command it provides, or an absolute path of a
 * file it installs): installs the missing ones when running as root; otherwise stops with a message naming them
 * and who needs them (`neededBy`).
 */
export function ensurePackages(
  packages: Record<string, string> = E2E_PACKAGES,
  neededBy = "the end-to-end tier",
): void {
  const missing = Object.entries(packages)
    .filter(([, check]) => !has(check))
    .map(([name]) => name);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `${neededBy} needs these Debian packages: ${missing.join(" ")} (apt-get install ${missing.join(" ")})`,
    );
  }
  console.log(`installing ${missing.join(", ")} for ${neededBy} …`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  execFileSync("apt-get", ["install", "-y", "-qq", ...missing], { stdio: "inherit", env });
  // Debian starts some daemons on install where it can; tests run their own instances.
  const started = missing.flatMap((name) => (DAEMONS[name] ? [`pkill -x ${DAEMONS[name]}`] : []));
  if (started.length > 0) execFileSync("sh", ["-c", `${started.join("; ")}; true`], { stdio: "ignore" });
}
