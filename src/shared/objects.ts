/** The Durable Objects by their fixed names: one per room; one SFU pool, TURN fleet and room index per deployment. */
export const roomOf = (env: Env, id: string) => env.ROOMS.get(env.ROOMS.idFromName(id));
export const sfuPoolOf = (env: Env) => env.SFU_POOL.get(env.SFU_POOL.idFromName("pool"));
export const roomIndexOf = (env: Env) => env.ROOM_INDEX.get(env.ROOM_INDEX.idFromName("index"));
export const turnFleetOf = (env: Env) => env.TURN_FLEET.get(env.TURN_FLEET.idFromName("fleet"));
