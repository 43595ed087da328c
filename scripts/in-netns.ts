/**
 * Runs a command inside a private network namespace: loopback plus a veth pair (NETNS_MEDIA_IP on one end,
 * NETNS_PEER_IP on the other) with the default route on it. Janus cannot do ICE on loopback, so media tests and
 * benchmarks run Janus, coturn, workerd and Chromium in here; nothing inside can reach the outside world and its
 * ports never clash with the host's. Needs root (or user namespaces); Debian packages are installed first,
 * outside, where the package mirror is reachable.
 *
 *   node --import tsx scripts/in-netns.ts <command> [args…]
 */
import { spawn } from "node:child_process";
import { E2E_PACKAGES, ensurePackages } from "./ensure-packages";

export const NETNS_INTERFACE = "plenum0";
export const NETNS_MEDIA_IP = "10.77.0.1";
export const NETNS_PEER_IP = "10.77.0.2";

const SETUP = [
  "ip link set lo up",
  `ip link add ${NETNS_INTERFACE} type veth peer name plenum1`,
  `ip addr add ${NETNS_MEDIA_IP}/24 dev ${NETNS_INTERFACE}`,
  `ip addr add ${NETNS_PEER_IP}/24 dev plenum1`,
  `ip link set ${NETNS_INTERFACE} up`,
  "ip link set plenum1 up",
  `ip route add default dev ${NETNS_INTERFACE}`,
].join(" && ");

if (import.meta.url === `file://${process.argv[1]}`) {
  const command = process.argv.slice(2);
  if (command.length === 0) {
    console.error("usage: in-netns.ts <command> [args…]");
    process.exit(2);
  }
  ensurePackages({ ...E2E_PACKAGES, iproute2: "ip", "util-linux": "unshare" });
  const child = spawn("unshare", ["--net", "--", "sh", "-c", `${SETUP} && exec "$@"`, "sh", ...command], {
    stdio: "inherit",
    env: { ...process.env, PLENUM_NETNS: NETNS_INTERFACE },
  });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
