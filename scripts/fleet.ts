import { z } from "zod";
import {
  HealthSchema,
  NodeHealthSchema,
  SfuNodeSchema,
  SharedSettingsSchema,
  type TurnSecretList,
  TurnSecretListSchema,
} from "../src/protocol";
import { type Shard, ShardListSchema } from "../src/shared/shards";

/** Thrown for a wrong command line (exit code 2). */
export class UsageError extends Error {}

/** Calls one shard's operator API; throws with the status and body when it answers an error. */
export type OperatorCall = <T extends z.ZodType>(
  method: string,
  path: string,
  schema: T,
  body?: unknown,
) => Promise<z.infer<T>>;

/** One process the CLI talks to: a fleet's shard (`id`) or the one server `--api` names (no id). */
export interface Target {
  id: string | undefined;
  url: string;
  call: OperatorCall;
}

/** A shard that does not answer within this is reported as such instead of holding the command. */
const REQUEST_TIMEOUT_MS = 10_000;

export function operatorApi(base: string): OperatorCall {
  const token = process.env.PLENUM_OPERATOR_TOKEN;
  if (!token) throw new UsageError("set PLENUM_OPERATOR_TOKEN to the server's OPERATOR_TOKEN");
  return async (method, path, schema, body) => {
    const response = await fetch(new URL(path, base), {
      method,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).catch((error: unknown) => {
      // fetch names neither the URL nor why ("fetch failed"): the cause (ECONNREFUSED, a timeout) is in `cause`.
      const cause = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : "";
      throw new Error(`${base}: ${method} ${path}: ${cause || String(error)}`);
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`${base}: ${method} ${path}: ${response.status} ${text}`);
    return schema.parse(text ? JSON.parse(text) : null);
  };
}

/** A fleet's shards as `id=url,…` (default PLENUM_SHARDS, as the servers read it). */
export function fleetShards(list = process.env.PLENUM_SHARDS ?? "", name = "PLENUM_SHARDS"): Shard[] {
  const parsed = ShardListSchema.safeParse(list);
  if (!parsed.success) throw new UsageError(`${name}: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/** `--api <url>` names one server; without it every shard of PLENUM_SHARDS. */
export function targets(api: unknown): Target[] {
  if (typeof api === "string") return [{ id: undefined, url: api, call: operatorApi(api) }];
  const shards = fleetShards();
  if (shards.length === 0) throw new UsageError("--api <Plenum base URL> or PLENUM_SHARDS (id=url,…) is required");
  return shards.map((shard) => ({ id: shard.id, url: shard.url, call: operatorApi(shard.url) }));
}

export const label = (target: Target) => (target.id === undefined ? target.url : `shard ${target.id}`);

/**
 * Runs `action` on every target, one after another, and prints each outcome under its shard. A failure on one shard
 * does not stop the others; the command fails at the end if any failed.
 */
export async function onEach<T>(
  all: readonly Target[],
  action: (target: Target) => Promise<T>,
  describe: (result: T) => string = (result) => JSON.stringify(result, null, 2),
): Promise<void> {
  const failed: string[] = [];
  for (const target of all) {
    try {
      const result = await action(target);
      console.log(
        all.length === 1 && target.id === undefined ? describe(result) : `${label(target)}: ${describe(result)}`,
      );
    } catch (error) {
      failed.push(label(target));
      console.error(`${label(target)}: failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (failed.length > 0) throw new Error(`failed on ${failed.join(", ")}`);
}

/** A TURN secret as shards are compared: its fingerprint and state (removed ones count as absent). */
const secretsOf = (list: TurnSecretList) =>
  new Map(list.secrets.filter((s) => s.state !== "removed").map((s) => [s.fingerprint, s.state]));

const SfuNodeListSchema = z.object({ nodes: z.array(SfuNodeSchema) });
const TurnNodeListSchema = z.object({ nodes: z.array(NodeHealthSchema) });
/** What must be the same for a Janus node on every shard (its load and liveness are each shard's own view). */
const sfuNodeSettings = (node: z.infer<typeof SfuNodeSchema>) =>
  JSON.stringify({
    region: node.region,
    api_url: node.api_url,
    admin_url: node.admin_url,
    capacity: node.capacity,
    secrets: node.secrets_fingerprint ?? (node.api_secret_set ? "unrecorded" : "no api_secret"),
    draining: node.draining,
  });
/** A TURN node as TURN_NODES configures it (its health is each shard's own probe). */
const turnNodeSettings = (node: z.infer<typeof NodeHealthSchema>) =>
  JSON.stringify({ region: node.region, urls: node.urls });

/** One line per difference between the shards' values of `key` (absent on a shard counts as a value). */
function differences(what: string, values: ReadonlyMap<string, ReadonlyMap<string, string>>): string[] {
  const shards = [...values.keys()];
  const keys = new Set([...values.values()].flatMap((m) => [...m.keys()]));
  const lines: string[] = [];
  for (const key of [...keys].sort()) {
    const byValue = new Map<string, string[]>();
    for (const shard of shards) {
      const value = values.get(shard)!.get(key) ?? "missing";
      byValue.set(value, [...(byValue.get(value) ?? []), shard]);
    }
    if (byValue.size === 1) continue;
    lines.push(`${what} ${key}: ${[...byValue].map(([value, on]) => `${value} on ${on.join(", ")}`).join("; ")}`);
  }
  return lines;
}

/**
 * `plenum status`: each shard's health, TURN keyring and SFU nodes, and every drift between the shards (a secret,
 * node or shared setting missing or different on one, a shard that does not answer or answers as another).
 * Resolves to the drift.
 */
export async function fleetStatus(all: readonly Target[]): Promise<string[]> {
  const drift: string[] = [];
  const secrets = new Map<string, Map<string, string>>();
  const sfuNodes = new Map<string, Map<string, string>>();
  const turnNodes = new Map<string, Map<string, string>>();
  const settings = new Map<string, Map<string, string>>();
  for (const target of all) {
    const name = target.id ?? target.url;
    try {
      const reply = await fetch(new URL("/healthz", target.url), { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
      const health = HealthSchema.parse(await reply.json());
      if (target.id !== undefined && health.shard !== target.id) {
        drift.push(`${label(target)} (${target.url}) answers as shard ${health.shard ?? "(none)"}`);
      }
      const keyring = await target.call("GET", "/v1/operator/turn/secrets", TurnSecretListSchema);
      const sfu = await target.call("GET", "/v1/operator/sfu/nodes", SfuNodeListSchema);
      const turn = await target.call("GET", "/v1/operator/turn/nodes", TurnNodeListSchema);
      const shared = await target.call("GET", "/v1/operator/settings", SharedSettingsSchema);
      secrets.set(name, secretsOf(keyring));
      sfuNodes.set(name, new Map(sfu.nodes.map((node) => [node.id, sfuNodeSettings(node)])));
      turnNodes.set(name, new Map(turn.nodes.map((node) => [node.id, turnNodeSettings(node)])));
      settings.set(name, new Map(Object.entries(shared.settings)));
      const kept = keyring.secrets.filter((s) => s.state !== "removed");
      const active = kept.filter((s) => s.state === "active").map((s) => s.fingerprint);
      const described = sfu.nodes.map((n) => `${n.id}${n.alive ? "" : " dead"}${n.draining ? " draining" : ""}`);
      console.log(
        `${label(target)} (${target.url}): up; TURN secrets ${kept.length} (active ${active.join(", ") || "none"}); ` +
          `SFU nodes ${sfu.nodes.length} (${described.join(", ") || "none"})`,
      );
    } catch (error) {
      drift.push(`${label(target)} (${target.url}) did not answer: ${error instanceof Error ? error.message : error}`);
    }
  }
  drift.push(
    ...differences("TURN secret", secrets),
    ...differences("SFU node", sfuNodes),
    ...differences("TURN node", turnNodes),
    ...differences("setting", settings),
  );
  return drift;
}
