import { setBounded } from "./bounded";

/**
 * Object ids by namespace and name, derived once per isolate: `idFromName` hashes the name on every call, and a
 * room's requests (every GET /v1/turn) name the same room again and again. Ids are plain values, not I/O objects.
 */
const ids = new WeakMap<object, Map<string, DurableObjectId>>();

function idOf(namespace: { idFromName(name: string): DurableObjectId }, name: string): DurableObjectId {
  let named = ids.get(namespace);
  if (!named) {
    named = new Map();
    ids.set(namespace, named);
  }
  let id = named.get(name);
  if (!id) {
    id = namespace.idFromName(name);
    setBounded(named, name, id, 4096);
  }
  return id;
}

/** The Durable Objects by their fixed names: one per room; one SFU pool, TURN fleet and room index per deployment. */
export const roomOf = (env: Env, id: string) => env.ROOMS.get(idOf(env.ROOMS, id));
export const sfuPoolOf = (env: Env) => env.SFU_POOL.get(idOf(env.SFU_POOL, "pool"));
export const roomIndexOf = (env: Env) => env.ROOM_INDEX.get(idOf(env.ROOM_INDEX, "index"));
export const turnFleetOf = (env: Env) => env.TURN_FLEET.get(idOf(env.TURN_FLEET, "fleet"));
/** The attempt limiter of one client address (or /64). */
export const attemptLimiterOf = (env: Env, key: string) => env.ATTEMPT_LIMITER.get(idOf(env.ATTEMPT_LIMITER, key));
