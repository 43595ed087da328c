/**
 * Operator CLI: `npm run plenum -- <command>` (or `node --import tsx scripts/plenum.ts <command>`).
 *
 *   turn config  --node <id> --listening-ip <ip> (--sqlite <file> | --redis <coturn redis-userdb string>) [options]
 *               [--allow-peer <ip|a-b>]… (private addresses relays may reach, e.g. the SFU nodes' media address)
 *               [--allow-tcp-relay] (TCP relays to peers; off by default: media needs UDP only)
 *   turn rotate  [--api <url>] (--sqlite <file> … | --redis <redis url> …) [--wait <seconds>]
 *   turn secrets [--api <url>]
 *   turn nodes   [--api <url>]
 *   sfu list     [--api <url>]
 *   sfu janus-config --out-dir <dir> --api-ip <ip> [--api-port 8088] [--admin-port 7088] [--ice-interface <if>]
 *                [--force] (writes a node's Janus config with fresh api and admin secrets, and prints both for
 *                `sfu add`; existing files are replaced only with --force)
 *   sfu add      [--api <url>] --id <id> --region <r> --janus <api url> --admin <admin url> --capacity <n>
 *                (the secrets come from JANUS_API_SECRET and JANUS_ADMIN_SECRET)
 *   sfu drain|undrain|remove <id> [--api <url>]
 *   state reseal [--api <url>]  (seals every stored secret again under the first STATE_ENCRYPTION_KEY key)
 *   votes rotate-key [--api <url>]  (vote evidence is signed with a new key; the old one stays published)
 *   status       [--api <url>]  (each shard's TURN secrets and SFU nodes; exit 1 when the shards differ)
 *   nginx config [--shards id=url,…] [--listen 443] [--server-name <name>] [--cert <pem> --pkey <pem>]
 *                [--client-ip-header x-real-ip] [--out <file>] (the proxy in front of a fleet)
 *
 * Without --api, a command runs on every shard of PLENUM_SHARDS (`id=url,…`, the servers' setting) and reports per
 * shard. The operator token comes from PLENUM_OPERATOR_TOKEN (the same OPERATOR_TOKEN on every shard); TURN nodes
 * and realm for `turn config` from TURN_NODES and TURN_REALM, as the server reads them.
 */

import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import {
  AddedTurnSecretSchema,
  NodeHealthSchema,
  ResealStateResponseSchema,
  RotatedVoteKeySchema,
  SfuNodeSchema,
  TurnSecretListSchema,
  TurnSecretSchema,
} from "../src/protocol";
import { ConfigSchema } from "../src/shared/config";
import { coturnConfig } from "../turn/coturn-config";
import { fingerprintOf, RedisSecretDatabase, type SecretDatabase, SqliteSecretDatabase } from "../turn/secret-db";
import { fleetShards, fleetStatus, label, onEach, type Target, targets, UsageError } from "./fleet";
import { janusConfigFiles, janusSecrets } from "./janus-config";
import { nginxConfig } from "./nginx-config";

function secretDatabases(values: { sqlite?: string[]; redis?: string[] }, realm: string): SecretDatabase[] {
  const databases = [
    ...(values.sqlite ?? []).map((path) => new SqliteSecretDatabase(path, realm)),
    ...(values.redis ?? []).map((url) => new RedisSecretDatabase(url, realm)),
  ];
  if (databases.length === 0)
    throw new UsageError("name coturn's secret database(s): --sqlite <file> and/or --redis <url>");
  return databases;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (line: string) => console.log(`[${new Date().toISOString()}] ${line}`);

/**
 * Zero-downtime rotation across every shard: stage the new secret on each shard and in every coturn database, sign
 * with it everywhere, wait one credential lifetime and the time rooms keep the old secret (`removal_delay_seconds`)
 * so every credential signed with it has expired, then remove every other secret everywhere — also what an earlier
 * rotation that stopped halfway left behind, so running the rotation again brings the shards back in line.
 * A step that fails stops the rotation before anything old is removed; while nothing signs with the new secret
 * yet, it is taken back out of the shards and databases that already had it.
 */
async function rotate(shards: readonly Target[], databases: SecretDatabase[], waitSeconds: number | undefined) {
  const before = await Promise.all(shards.map((t) => t.call("GET", "/v1/operator/turn/secrets", TurnSecretListSchema)));
  const kept = before.map((list) => list.secrets.filter((s) => s.state !== "removed"));
  const oldFingerprints = [...new Set(kept.flat().map((s) => s.fingerprint))];
  const secret = randomBytes(32).toString("base64url");
  const staged: { shard: Target; id: string }[] = [];
  const stagedIn: SecretDatabase[] = [];
  try {
    for (const shard of shards) {
      const added = await shard.call("POST", "/v1/operator/turn/secrets", AddedTurnSecretSchema, { secret });
      staged.push({ shard, id: added.id });
      log(`${label(shard)}: staged secret ${added.id} (fingerprint ${added.fingerprint})`);
    }
    for (const db of databases) {
      await db.add(secret);
      stagedIn.push(db);
      log(`added the new secret to ${db.name}`);
    }
  } catch (error) {
    await unstage(staged, stagedIn, secret);
    throw error;
  }
  for (const [i, { shard, id }] of staged.entries()) {
    try {
      await shard.call("POST", `/v1/operator/turn/secrets/${id}/activate`, TurnSecretSchema);
    } catch (error) {
      const signing = staged.slice(0, i).map((s) => label(s.shard));
      throw new Error(
        `${error instanceof Error ? error.message : error}; the new secret signs on ${signing.join(", ") || "none"}, ` +
          "the old ones on the rest (both are valid for coturn): run `plenum turn rotate` again when all shards " +
          "answer, it replaces every secret",
      );
    }
    log(`${label(shard)}: activated ${id}; new credentials are signed with it`);
  }
  // A server from before room-side minting reports only the credential lifetime.
  const wait =
    waitSeconds ?? Math.max(...before.map((list) => list.removal_delay_seconds ?? list.credential_ttl_seconds));
  if (oldFingerprints.length > 0) {
    log(`waiting ${wait} s (a credential lifetime and the rooms' cache of the secret) before removing the old ones`);
    await sleep(wait * 1000);
  }
  for (const fingerprint of oldFingerprints) {
    for (const db of databases) {
      await db.remove(fingerprint);
      log(`removed ${fingerprint} from ${db.name}`);
    }
    for (const [i, shard] of shards.entries()) {
      const old = kept[i]!.find((s) => s.fingerprint === fingerprint);
      if (!old) continue;
      await shard.call("DELETE", `/v1/operator/turn/secrets/${old.id}`, TurnSecretSchema);
      log(`${label(shard)}: removed ${old.id} (${fingerprint}) from the keyring`);
    }
  }
  log("rotation complete");
}

/** Takes a secret nothing signs with yet back out; what cannot be reached is reported for `plenum status`. */
async function unstage(staged: { shard: Target; id: string }[], databases: SecretDatabase[], secret: string) {
  const attempts = [
    ...staged.map(({ shard, id }) => ({
      what: label(shard),
      undo: () => shard.call("DELETE", `/v1/operator/turn/secrets/${id}`, TurnSecretSchema),
    })),
    ...databases.map((db) => ({ what: db.name, undo: () => db.remove(fingerprintOf(secret)) })),
  ];
  for (const { what, undo } of attempts) {
    try {
      await undo();
      log(`rotation stopped: took the new secret back out of ${what}`);
    } catch (error) {
      log(`rotation stopped: could not take the new secret out of ${what} (${error}); plenum status shows it`);
    }
  }
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      api: { type: "string" },
      sqlite: { type: "string", multiple: true },
      redis: { type: "string", multiple: true },
      wait: { type: "string" },
      node: { type: "string" },
      "listening-ip": { type: "string" },
      "relay-ip": { type: "string" },
      "external-ip": { type: "string" },
      cert: { type: "string" },
      pkey: { type: "string" },
      "cli-password": { type: "string" },
      "cli-port": { type: "string" },
      "min-port": { type: "string" },
      "max-port": { type: "string" },
      "allow-loopback-peers": { type: "boolean" },
      "allow-peer": { type: "string", multiple: true },
      "allow-tcp-relay": { type: "boolean" },
      "out-dir": { type: "string" },
      "api-ip": { type: "string" },
      "api-port": { type: "string" },
      "admin-port": { type: "string" },
      "ice-interface": { type: "string" },
      force: { type: "boolean" },
      "log-file": { type: "string" },
      out: { type: "string" },
      id: { type: "string" },
      region: { type: "string" },
      janus: { type: "string" },
      admin: { type: "string" },
      capacity: { type: "string" },
      shards: { type: "string" },
      listen: { type: "string" },
      "server-name": { type: "string" },
      "client-ip-header": { type: "string" },
    },
  });
  const [area, command, target] = positionals;
  if (area === "sfu" && command) return sfu(command, target, values);
  if (area === "state" && command) return state(command, values);
  if (area === "votes" && command) return votes(command, values);
  if (area === "status") return status(values);
  if (area === "nginx" && command) return nginx(command, values);
  if (area !== "turn" || !command)
    throw new UsageError(
      "usage: plenum turn <config|rotate|secrets|nodes> | " +
        "plenum sfu <janus-config|list|add|drain|undrain|remove> | plenum state reseal | " +
        "plenum votes rotate-key | plenum status | plenum nginx config [options]",
    );
  const settings = ConfigSchema.parse(
    Object.fromEntries(Object.entries(process.env).filter(([k]) => k in ConfigSchema.shape)),
  );
  const number = (value: string | undefined) => (value === undefined ? undefined : Number(value));

  switch (command) {
    case "config": {
      const node = settings.TURN_NODES.find((n) => n.id === values.node);
      if (!node)
        throw new UsageError(
          "--node must name one of TURN_NODES " +
            `(${settings.TURN_NODES.map((n) => n.id).join(", ") || "none configured"})`,
        );
      if (!values["listening-ip"]) throw new UsageError("--listening-ip is required");
      const userdb = values.sqlite?.[0]
        ? { sqlite: values.sqlite[0] }
        : values.redis?.[0]
          ? { redis: values.redis[0] }
          : undefined;
      if (!userdb) throw new UsageError("--sqlite <file> or --redis <redis-userdb connection string> is required");
      const conf = coturnConfig({
        node,
        realm: settings.TURN_REALM,
        listeningIp: values["listening-ip"],
        relayIp: values["relay-ip"],
        externalIp: values["external-ip"],
        userdb,
        tls: values.cert && values.pkey ? { cert: values.cert, pkey: values.pkey } : undefined,
        cliPassword: values["cli-password"] ?? randomBytes(18).toString("base64url"),
        cliPort: number(values["cli-port"]),
        minRelayPort: number(values["min-port"]),
        maxRelayPort: number(values["max-port"]),
        allowLoopbackPeers: values["allow-loopback-peers"],
        allowedPeers: values["allow-peer"]?.map(peerRange),
        allowTcpRelay: values["allow-tcp-relay"],
        logFile: values["log-file"],
      });
      if (values.out) await writeFile(values.out, conf, { mode: 0o600 });
      else process.stdout.write(conf);
      return;
    }
    case "rotate": {
      const shards = targets(values.api);
      const databases = secretDatabases(values, settings.TURN_REALM);
      try {
        await rotate(shards, databases, number(values.wait));
      } finally {
        await Promise.all(databases.map((db) => db.close()));
      }
      return;
    }
    case "secrets":
      return onEach(targets(values.api), (t) => t.call("GET", "/v1/operator/turn/secrets", TurnSecretListSchema));
    case "nodes":
      return onEach(targets(values.api), (t) =>
        t.call("GET", "/v1/operator/turn/nodes", z.object({ nodes: z.array(NodeHealthSchema) })),
      );
    default:
      throw new UsageError(`unknown command turn ${command}`);
  }
}

/** SFU pool management: register, drain and remove Janus nodes. */
async function sfu(command: string, id: string | undefined, values: Record<string, unknown>): Promise<void> {
  if (command === "janus-config") return janusConfig(values);
  const shards = targets(values.api);
  const each = <T>(action: (call: Target["call"]) => Promise<T>, describe?: (result: T) => string) =>
    onEach(shards, (t) => action(t.call), describe);
  switch (command) {
    case "list":
      return each((call) => call("GET", "/v1/operator/sfu/nodes", z.object({ nodes: z.array(SfuNodeSchema) })));
    case "add": {
      const secret = process.env.JANUS_ADMIN_SECRET;
      if (!secret) throw new UsageError("set JANUS_ADMIN_SECRET to the node's Janus admin_secret");
      const apiSecret = process.env.JANUS_API_SECRET;
      if (!apiSecret) throw new UsageError("set JANUS_API_SECRET to the node's Janus api_secret");
      const node = {
        id: values.id,
        region: values.region,
        api_url: values.janus,
        admin_url: values.admin,
        admin_secret: secret,
        api_secret: apiSecret,
        capacity: Number(values.capacity),
      };
      return each((call) => call("POST", "/v1/operator/sfu/nodes", SfuNodeSchema, node));
    }
    case "drain":
    case "undrain":
      if (!id) throw new UsageError(`usage: plenum sfu ${command} <node id> [--api <url>]`);
      return each((call) => call("POST", `/v1/operator/sfu/nodes/${encodeURIComponent(id)}/${command}`, SfuNodeSchema));
    case "remove":
      if (!id) throw new UsageError("usage: plenum sfu remove <node id> [--api <url>]");
      return each(
        (call) => call("DELETE", `/v1/operator/sfu/nodes/${encodeURIComponent(id)}`, z.null()),
        () => `removed ${id}; its rooms moved to other nodes`,
      );
    default:
      throw new UsageError(`unknown command sfu ${command}`);
  }
}

/**
 * `state reseal`: after a new STATE_ENCRYPTION_KEY key was put first (and the server restarted), every stored secret
 * is sealed again under it; then the old key can go. Fails when some object could not re-seal everything.
 */
async function state(command: string, values: Record<string, unknown>): Promise<void> {
  if (command !== "reseal") throw new UsageError(`unknown command state ${command}`);
  await onEach(targets(values.api), async (t) => {
    const result = await t.call("POST", "/v1/operator/state/reseal", ResealStateResponseSchema);
    if (result.failed === 0) return result;
    throw new Error(
      `${JSON.stringify(result)}: ${result.failed} object(s) could not re-seal their secrets (the server log names ` +
        "them and the key ids); keep the old key configured until a run succeeds",
    );
  });
}

/** `votes rotate-key`: the deployment signs vote evidence with a new key; the old one stays in the key set. */
async function votes(command: string, values: Record<string, unknown>): Promise<void> {
  if (command !== "rotate-key") throw new UsageError(`unknown command votes ${command}`);
  await onEach(targets(values.api), (t) => t.call("POST", "/v1/operator/votes/rotate-key", RotatedVoteKeySchema));
}

/** `status`: every shard's TURN keyring and SFU nodes; exits 1 when the shards differ (drift). */
async function status(values: Record<string, unknown>): Promise<void> {
  const drift = await fleetStatus(targets(values.api));
  if (drift.length === 0) return console.log("no drift");
  for (const line of drift) console.log(`drift: ${line}`);
  throw new Error(`${drift.length} difference(s) between the shards`);
}

/** `nginx config`: the proxy in front of the fleet (see scripts/nginx-config.ts). */
async function nginx(command: string, values: Record<string, unknown>): Promise<void> {
  if (command !== "config") throw new UsageError(`unknown command nginx ${command}`);
  const text = (name: string) => (typeof values[name] === "string" ? (values[name] as string) : undefined);
  const given = text("shards");
  const shards = given === undefined ? fleetShards() : fleetShards(given, "--shards");
  if (shards.length === 0) throw new UsageError("--shards id=url,… (or PLENUM_SHARDS) is required");
  const cert = text("cert");
  const key = text("pkey");
  if ((cert === undefined) !== (key === undefined)) throw new UsageError("--cert and --pkey go together");
  const conf = nginxConfig({
    shards,
    listen: text("listen") ?? (cert ? "443" : "80"),
    serverName: text("server-name") ?? "_",
    tls: cert && key ? { cert, key } : undefined,
    clientIpHeader: text("client-ip-header") ?? process.env.CLIENT_IP_HEADER ?? "x-real-ip",
  });
  if (values.out) await writeFile(values.out as string, conf);
  else process.stdout.write(conf);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(`plenum: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(error instanceof UsageError ? 2 : 1);
});

/** Writes a node's Janus configuration with fresh secrets (readable by the owner only) and prints the secrets. */
async function janusConfig(values: Record<string, unknown>): Promise<void> {
  const dir = values["out-dir"];
  const apiIp = values["api-ip"];
  if (typeof dir !== "string" || typeof apiIp !== "string") {
    throw new UsageError("usage: plenum sfu janus-config --out-dir <dir> --api-ip <ip> [options]");
  }
  if (isIP(apiIp) === 0) throw new UsageError(`--api-ip: ${apiIp} is not an address`);
  const port = (name: string, fallback: number) => {
    const value = Number(values[name] ?? fallback);
    if (!Number.isInteger(value) || value < 1 || value > 65535) throw new UsageError(`--${name}: not a port`);
    return value;
  };
  const secrets = janusSecrets();
  const files = janusConfigFiles({
    configDir: resolve(dir),
    apiIp,
    apiPort: port("api-port", 8088),
    adminPort: port("admin-port", 7088),
    ...secrets,
    iceInterface: typeof values["ice-interface"] === "string" ? values["ice-interface"] : undefined,
  });
  await mkdir(dir, { recursive: true });
  // New secrets for a node already registered would lock Plenum out of it: replacing them is a deliberate act.
  const existing = Object.keys(files).filter((name) => existsSync(join(dir, name)));
  if (existing.length > 0 && !values.force) {
    throw new UsageError(`${existing.join(", ")} exist in ${dir}: pass --force to replace them (and the secrets)`);
  }
  for (const [name, content] of Object.entries(files)) {
    await writeFile(join(dir, name), content, { mode: 0o600 });
    await chmod(join(dir, name), 0o600);
  }
  console.log(`# Janus config written to ${resolve(dir)}; register the node with these (shown once):`);
  console.log(`JANUS_API_SECRET=${secrets.apiSecret}`);
  console.log(`JANUS_ADMIN_SECRET=${secrets.adminSecret}`);
}

/** An IP address or an `a-b` range, as coturn's allowed-peer-ip takes them. */
function peerRange(value: string): string {
  const parts = value.split("-");
  if (parts.length > 2 || !parts.every((p) => isIP(p) !== 0))
    throw new UsageError(`--allow-peer: ${value} is not an address or an a-b range`);
  return value;
}
