import { spawn } from "node:child_process";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { get as httpsGet } from "node:https";
import { join, relative, resolve } from "node:path";
import workerd from "workerd";
import { z } from "zod";
import { ConfigSchema } from "../src/shared/config";
import { shardProblem } from "../src/shared/shards";
import { buildWorker, root } from "./build";
import { SETTING_NAMES, workerdConfig } from "./workerd-config";

/**
 * `npm start`: builds the worker and runs it in plain workerd (the binary an on-prem operator runs) with state on
 * local disk. Settings come from environment variables named as in src/shared/config.ts; on a loopback listener
 * without OIDC_ISSUERS development login is on unless DEV_LOGIN says otherwise (elsewhere only with
 * DEV_LOGIN=enabled, and on a non-loopback listener with a warning),
 * and the listener's own origin may open WebSockets. This process supervises workerd and forwards signals,
 * which `npm` itself does not.
 */
const listen = process.env.PLENUM_LISTEN ?? "127.0.0.1:8787";
const dataDir = resolve(process.env.PLENUM_DATA_DIR ?? join(root, ".plenum"));
const port = listen.split(":").pop();

const host = listen.slice(0, listen.lastIndexOf(":")).replace(/^\[(.*)\]$/, "$1");
/** Only a loopback listener is private to this machine: anywhere else, development login lets anyone be anyone. */
const loopback = host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
// With an identity provider configured this is a deployment (perhaps behind a proxy on this host): no default.
const developing = loopback && (process.env.OIDC_ISSUERS ?? "[]").trim() === "[]";
const localDefaults: Record<string, string> = {
  ...(developing ? { DEV_LOGIN: "enabled" } : {}),
  // A fleet's shards are reached through the proxy's origin, which each shard is told (and all alike, one setting).
  ...(process.env.PLENUM_SHARDS
    ? {}
    : { ALLOWED_ORIGINS: `http://${listen},http://localhost:${port},http://127.0.0.1:${port}` }),
};
const settings: Record<string, string> = {};
for (const name of SETTING_NAMES) {
  const value = process.env[name] ?? localDefaults[name];
  if (value !== undefined) settings[name] = value;
}
const checked = ConfigSchema.safeParse(settings);
if (!checked.success) {
  console.error(`plenum: invalid configuration\n${z.prettifyError(checked.error)}`);
  process.exit(2);
}
const fleetProblem = shardProblem(checked.data.PLENUM_SHARD, checked.data.PLENUM_SHARDS);
if (fleetProblem) {
  console.error(`plenum: invalid configuration\n${fleetProblem}`);
  process.exit(2);
}

if (settings.DEV_LOGIN === "enabled" && !loopback) {
  console.warn(
    `plenum: WARNING: development login is enabled on ${listen}, which is not a loopback address: ` +
      "anyone who reaches it can sign in under any name, room owners included",
  );
}

if (!developing && process.env.CLIENT_IP_HEADER === undefined) {
  console.warn(
    "plenum: WARNING: CLIENT_IP_HEADER is not set, so attempt limits trust cf-connecting-ip, which any client can " +
      "send outside Cloudflare: set it to the header your proxy overwrites (e.g. CLIENT_IP_HEADER=x-real-ip)",
  );
}

const bundle = await buildWorker();
/** PLENUM_TLS_CERT and PLENUM_TLS_KEY (PEM files): workerd serves HTTPS itself (browsers need it for cameras). */
const tls =
  process.env.PLENUM_TLS_CERT && process.env.PLENUM_TLS_KEY
    ? { cert: process.env.PLENUM_TLS_CERT, key: process.env.PLENUM_TLS_KEY }
    : undefined;
const stateDir = join(dataDir, "state");
await mkdir(stateDir, { recursive: true });
const configPath = join(dataDir, "workerd.capnp");
// The config holds settings such as OPERATOR_TOKEN: readable by this user only.
await writeFile(
  configPath,
  workerdConfig({
    listen,
    stateDir,
    bundle: relative(dataDir, bundle),
    compatibilityDate: "2026-04-26",
    settings,
    tls: tls && {
      certificateChain: relative(dataDir, resolve(tls.cert)),
      privateKey: relative(dataDir, resolve(tls.key)),
    },
  }),
  { mode: 0o600 },
);
await chmod(configPath, 0o600);

/** workerd drains open connections on SIGTERM and waits for WebSockets to end; after this grace it is killed. */
const graceSeconds = Number(process.env.PLENUM_SHUTDOWN_GRACE_SECONDS ?? 10);

/** PLENUM_INSPECTOR_ADDR (e.g. 127.0.0.1:9229): workerd's inspector, for CPU profiles and heap snapshots. */
const inspector = process.env.PLENUM_INSPECTOR_ADDR ? [`--inspector-addr=${process.env.PLENUM_INSPECTOR_ADDR}`] : [];
const child = spawn(workerd.default, ["serve", configPath, ...inspector], { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    child.kill(signal);
    // Committed state is on disk either way; the kill only cuts connections that would not drain.
    setTimeout(() => child.kill("SIGKILL"), graceSeconds * 1000).unref();
  });
}
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 128 : 1)));

const base = `${tls ? "https" : "http"}://${listen}`;
const ready = tls
  ? () =>
      new Promise<boolean>((done) =>
        httpsGet(`${base}/healthz`, { rejectUnauthorized: false }, (r) => done(r.statusCode === 200)).on("error", () =>
          done(false),
        ),
      )
  : async () => (await fetch(`${base}/healthz`)).ok;
for (let attempt = 0; attempt < 100; attempt++) {
  try {
    if (await ready()) {
      console.log(
        `Plenum is running at ${base} ` +
          `(state in ${stateDir}${settings.DEV_LOGIN === "enabled" ? ", development login on" : ""})`,
      );
      console.log(`API description: ${base}/v1/openapi.json — stop with Ctrl-C`);
      break;
    }
  } catch {
    // not listening yet
  }
  await new Promise((r) => setTimeout(r, 100));
}
