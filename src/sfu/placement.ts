/** What placement knows of an SFU node. */
export interface PlacementCandidate {
  id: string;
  region: string;
  capacity: number;
  load: number;
  alive: boolean;
  draining: boolean;
}

/**
 * Picks the SFU node for a room: dead, draining and full nodes are out; the room's region first, then its
 * neighbours in order, then any region with capacity; within the chosen region the less loaded of two random
 * candidates ("power of two choices": spreads load without herding onto one node). `random` is injectable.
 */
export function placeRoom(
  nodes: readonly PlacementCandidate[],
  region: string | undefined,
  neighbours: Readonly<Record<string, readonly string[]>>,
  random: () => number = Math.random,
): PlacementCandidate | undefined {
  const usable = nodes.filter((n) => n.alive && !n.draining && n.load < n.capacity);
  if (usable.length === 0) return undefined;
  const order = region ? [region, ...(neighbours[region] ?? [])] : [];
  const inRegion = order.map((r) => usable.filter((n) => n.region === r)).find((list) => list.length > 0);
  const pool = inRegion ?? usable;
  const a = pool[Math.floor(random() * pool.length)]!;
  const b = pool[Math.floor(random() * pool.length)]!;
  return a.load / a.capacity <= b.load / b.capacity ? a : b;
}
