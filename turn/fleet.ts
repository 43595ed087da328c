import { z } from "zod";

/** One coturn node of the fleet, as operators configure it (TURN_NODES). */
export const TurnNodeSchema = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
    region: z.string().min(1).max(64),
    /** Host name or address clients use. */
    host: z.string().min(1).max(253),
    port: z.number().int().min(1).max(65535).default(3478),
    /** `turns:` over TLS; null when the node has no certificate. */
    tls_port: z.number().int().min(1).max(65535).nullable().default(443),
    weight: z.number().positive().max(1000).default(1),
    /** host:port the health probe connects to (STUN over TCP); defaults to host:port. */
    probe: z.string().optional(),
  })
  .strict();
export type TurnNode = z.infer<typeof TurnNodeSchema>;

export interface IceServer {
  urls: string[];
  username: string;
  credential: string;
}

export function nodeUrls(node: TurnNode): string[] {
  const host = node.host.includes(":") ? `[${node.host}]` : node.host;
  const urls = [`turn:${host}:${node.port}?transport=udp`, `turn:${host}:${node.port}?transport=tcp`];
  if (node.tls_port !== null) urls.push(`turns:${host}:${node.tls_port}?transport=tcp`);
  return urls;
}

export function probeAddress(node: TurnNode): { hostname: string; port: number } {
  const target = node.probe ?? `${node.host}:${node.port}`;
  const split = target.lastIndexOf(":");
  return { hostname: target.slice(0, split).replace(/^\[|\]$/g, ""), port: Number(target.slice(split + 1)) };
}

/** How many nodes of one region a client is given. */
const NODES_PER_REGION = 2;
const MAX_REGIONS = 2;

/**
 * Picks the TURN nodes a client gets: never an unhealthy node; the client's region first, then its configured
 * neighbours in order, then any other region; at most two regions; within a region, up to two nodes drawn by
 * weight so load spreads. `random` is injectable for tests.
 */
export function selectNodes(
  nodes: readonly TurnNode[],
  isHealthy: (node: TurnNode) => boolean,
  clientRegion: string | undefined,
  neighbours: Readonly<Record<string, readonly string[]>>,
  random: () => number = Math.random,
): TurnNode[] {
  const byRegion = new Map<string, TurnNode[]>();
  for (const node of nodes) {
    if (!isHealthy(node)) continue;
    const list = byRegion.get(node.region) ?? [];
    list.push(node);
    byRegion.set(node.region, list);
  }
  const preferred = clientRegion ? [clientRegion, ...(neighbours[clientRegion] ?? [])] : [];
  const others = [...byRegion.keys()]
    .filter((r) => !preferred.includes(r))
    .sort((a, b) => totalWeight(byRegion.get(b)!) - totalWeight(byRegion.get(a)!));
  const regions = [...preferred, ...others]
    .filter((r, i, all) => byRegion.has(r) && all.indexOf(r) === i)
    .slice(0, MAX_REGIONS);
  return regions.flatMap((region) => weightedSample(byRegion.get(region)!, NODES_PER_REGION, random));
}

const totalWeight = (nodes: readonly TurnNode[]) => nodes.reduce((sum, n) => sum + n.weight, 0);

function weightedSample(nodes: readonly TurnNode[], count: number, random: () => number): TurnNode[] {
  const pool = [...nodes];
  const picked: TurnNode[] = [];
  while (picked.length < count && pool.length > 0) {
    let roll = random() * totalWeight(pool);
    const index = pool.findIndex((node) => {
      roll -= node.weight;
      return roll < 0;
    });
    picked.push(...pool.splice(index === -1 ? pool.length - 1 : index, 1));
  }
  return picked;
}
