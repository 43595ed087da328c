/**
 * Offline verifier of a legal vote's evidence (docs/votes.md):
 *
 *   npm run verify-vote -- protocol.json [receipt.json …] [--head head.json]… (--keys jwks.json | --keys-url URL)
 *
 * Prints one line per check and a verdict; exits 1 when any check fails (2 on a usage error).
 */

import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import type { JSONWebKeySet } from "jose";
import { verifyVote } from "../src/votes/verify";

const usage = "usage: verify-vote protocol.json [receipt.json …] [--head head.json]… (--keys FILE | --keys-url URL)";

async function readJson(path: string): Promise<unknown> {
  return JSON.parse(await readFile(path, "utf8"));
}

async function keysFrom(file: string | undefined, url: string | undefined): Promise<JSONWebKeySet | undefined> {
  if (file) return (await readJson(file)) as JSONWebKeySet;
  if (!url) return undefined;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return (await response.json()) as JSONWebKeySet;
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      head: { type: "string", multiple: true },
      keys: { type: "string" },
      "keys-url": { type: "string" },
    },
  });
  const [protocolPath, ...receiptPaths] = positionals;
  if (!protocolPath || (values.keys && values["keys-url"])) {
    console.error(usage);
    return 2;
  }
  const { ok, checks } = await verifyVote({
    protocol: await readJson(protocolPath),
    receipts: await Promise.all(receiptPaths.map(readJson)),
    heads: await Promise.all((values.head ?? []).map(readJson)),
    keys: await keysFrom(values.keys, values["keys-url"]),
  });
  for (const c of checks) console.log(`${c.ok ? "ok  " : "FAIL"} ${c.name}${c.detail ? `: ${c.detail}` : ""}`);
  console.log(ok ? "verdict: the protocol verifies" : "verdict: the protocol does NOT verify");
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  },
);
