/**
 * Operator CLI: `npm run plenum -- <command>` (or `node --import tsx scripts/plenum.ts <command>`).
 *
 *   turn config  --node <id> --listening-ip <ip> (--sqlite <file> | --redis <coturn redis-userdb string>) [options]
 *               [--allow-peer <ip|a-b>]… (private addresses relays may reach, e.g. the SFU nodes' media address)
 *               [--allow-tcp-relay] (TCP relays to peers; off by default: media needs UDP only)
 *   turn rotate  --api <url> (--sqlite <file> … | --redis <redis url> …) [--wait <seconds>]
 *   turn secrets --api <url>
 *   turn nodes   --api <url>
 *   sfu list     --api <url>
 *   sfu janus-config --out-dir <dir> --api-ip <ip> [--api-port 8088] [--admin-port 7088] [--ice-interface <if>]
 *                [--force] (writes a node's Janus config with fresh api and admin secrets, and prints both for
 *                `sfu add`; existing files are replaced only with --force)
 *   sfu add      --api <url> --id <id> --region <r> --janus <api url> --admin <admin url> --capacity <n>
 *                (the secrets come from JANUS_API_SECRET and JANUS_ADMIN_SECRET)
 *   sfu drain|undrain|remove <id> --api <url>
 *   state reseal --api <url>  (seals every stored secret again under the first STATE_ENCRYPTION_KEY key)
 *   votes rotate-key --api <url>  (vote evidence is signed with a new key; the old one stays published)
 *
 * The operator token comes from PLENUM_OPERATOR_TOKEN; TURN nodes and realm for `turn config` from TURN_NODES and
 * TURN_REALM, as the server reads them.
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
import { RedisSecretDatabase, type SecretDatabase, SqliteSecretDatabase } from "../turn/secret-db";
import { janusConfigFiles, janusSecrets } from "./janus-config";

class UsageError extends Error {}

function operatorApi(base: string) {
  const token = process.env.PLENUM_OPERATOR_TOKEN;
  if (!token) throw new UsageError("set PLENUM_OPERATOR_TOKEN to the server's OPERATOR_TOKEN");
  return async <T extends z.ZodType>(method: string, path: string, schema: T, body?: unknown): Promise<z.infer<T>> => {
    const response = await fetch(new URL(path, base), {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return schema.parse(text ? JSON.parse(text) : null);
  };
}

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
 * Zero-downtime rotation: stage the new secret in every coturn database, sign with it, wait one credential
 * lifetime and the time rooms keep the old secret (`removal_delay_seconds`) so every credential signed with it has
 * expired, then remove the old one everywhere.
 */
async function rotate(
  api: ReturnType<typeof operatorApi>,
  databases: SecretDatabase[],
  waitSeconds: number | undefined,
) {
  const before = await api("GET", "/v1/operator/turn/secrets", TurnSecretListSchema);
  const old = before.secrets.filter((s) => s.state === "active" || s.state === "retiring");
  const secret = randomBytes(32).toString("base64url");
  const added = await api("POST", "/v1/operator/turn/secrets", AddedTurnSecretSchema, { secret });
  log(`staged secret ${added.id} (fingerprint ${added.fingerprint})`);
  for (const db of databases) {
    await db.add(secret);
    log(`added ${added.id} to ${db.name}`);
  }
  await api("POST", `/v1/operator/turn/secrets/${added.id}/activate`, TurnSecretSchema);
  log(`activated ${added.id}; new credentials are signed with it`);
  // A server from before room-side minting reports only the credential lifetime.
  const wait = waitSeconds ?? before.removal_delay_seconds ?? before.credential_ttl_seconds;
  if (old.length > 0) {
    const ids = old.map((s) => s.id).join(", ");
    log(`waiting ${wait} s (a credential lifetime and the rooms' cache of the secret) before removing ${ids}`);
    await sleep(wait * 1000);
  }
  for (const retired of old) {
    for (const db of databases) {
      await db.remove(retired.fingerprint);
      log(`removed ${retired.id} from ${db.name}`);
    }
    await api("DELETE", `/v1/operator/turn/secrets/${retired.id}`, TurnSecretSchema);
    log(`removed ${retired.id} from the keyring`);
  }
  log("rotation complete");
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
    },
  });
  const [area, command, target] = positionals;
  if (area === "sfu" && command) return sfu(command, target, values);
  if (area === "state" && command) return state(command, values);
  if (area === "votes" && command) return votes(command, values);
  if (area !== "turn" || !command)
    throw new UsageError(
      "usage: plenum turn <config|rotate|secrets|nodes> | " +
        "plenum sfu <janus-config|list|add|drain|undrain|remove> | plenum state reseal | " +
        "plenum votes rotate-key [options]",
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
      if (!values.api) throw new UsageError("--api <Plenum base URL> is required");
      const databases = secretDatabases(values, settings.TURN_REALM);
      try {
        await rotate(operatorApi(values.api), databases, number(values.wait));
      } finally {
        await Promise.all(databases.map((db) => db.close()));
      }
      return;
    }
    case "secrets":
    case "nodes": {
      if (!values.api) throw new UsageError("--api <Plenum base URL> is required");
      const api = operatorApi(values.api);
      const result =
        command === "secrets"
          ? await api("GET", "/v1/operator/turn/secrets", TurnSecretListSchema)
          : await api("GET", "/v1/operator/turn/nodes", z.object({ nodes: z.array(NodeHealthSchema) }));
      console.log(JSON.stringify(result, null, 2));
      return;
    }
    default:
      throw new UsageError(`unknown command turn ${command}`);
  }
}

/** SFU pool management: register, drain and remove Janus nodes. */
async function sfu(command: string, id: string | undefined, values: Record<string, unknown>): Promise<void> {
  if (command === "janus-config") return janusConfig(values);
  if (typeof values.api !== "string") throw new UsageError("--api <Plenum base URL> is required");
  const api = operatorApi(values.api);
  const print = (result: unknown) => console.log(JSON.stringify(result, null, 2));
  switch (command) {
    case "list":
      return print(await api("GET", "/v1/operator/sfu/nodes", z.object({ nodes: z.array(SfuNodeSchema) })));
    case "add": {
      const secret = process.env.JANUS_ADMIN_SECRET;
      if (!secret) throw new UsageError("set JANUS_ADMIN_SECRET to the node's Janus admin_secret");
      const apiSecret = process.env.JANUS_API_SECRET;
      if (!apiSecret) throw new UsageError("set JANUS_API_SECRET to the node's Janus api_secret");
      return print(
        await api("POST", "/v1/operator/sfu/nodes", SfuNodeSchema, {
          id: values.id,
          region: values.region,
          api_url: values.janus,
          admin_url: values.admin,
          admin_secret: secret,
          api_secret: apiSecret,
          capacity: Number(values.capacity),
        }),
      );
    }
    case "drain":
    case "undrain":
      if (!id) throw new UsageError(`usage: plenum sfu ${command} <node id> --api <url>`);
      return print(await api("POST", `/v1/operator/sfu/nodes/${encodeURIComponent(id)}/${command}`, SfuNodeSchema));
    case "remove":
      if (!id) throw new UsageError("usage: plenum sfu remove <node id> --api <url>");
      await api("DELETE", `/v1/operator/sfu/nodes/${encodeURIComponent(id)}`, z.null());
      return console.log(`removed ${id}; its rooms moved to other nodes`);
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
  if (typeof values.api !== "string") throw new UsageError("--api <Plenum base URL> is required");
  const result = await operatorApi(values.api)("POST", "/v1/operator/state/reseal", ResealStateResponseSchema);
  console.log(JSON.stringify(result, null, 2));
  if (result.failed > 0) {
    throw new Error(
      `${result.failed} object(s) could not re-seal their secrets (the server log names them and the key ids); ` +
        "keep the old key configured until a run succeeds",
    );
  }
}

/** `votes rotate-key`: the deployment signs vote evidence with a new key; the old one stays in the key set. */
async function votes(command: string, values: Record<string, unknown>): Promise<void> {
  if (command !== "rotate-key") throw new UsageError(`unknown command votes ${command}`);
  if (typeof values.api !== "string") throw new UsageError("--api <Plenum base URL> is required");
  const result = await operatorApi(values.api)("POST", "/v1/operator/votes/rotate-key", RotatedVoteKeySchema);
  console.log(JSON.stringify(result, null, 2));
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
