// Binding types for the worker and its Durable Objects (kept in step with wrangler.toml).
// Values are strings as in wrangler.toml [vars] / workerd text bindings; src/shared/config.ts parses them.
interface Env {
  ROOMS: DurableObjectNamespace<import("./durable-objects/room/room").RoomObject>;
  SIGNING_KEYS: DurableObjectNamespace<import("./durable-objects/signing-key").SigningKeyObject>;
  TURN_FLEET: DurableObjectNamespace<import("./durable-objects/turn-fleet").TurnFleetObject>;
  SFU_POOL: DurableObjectNamespace<import("./durable-objects/sfu-pool").SfuPoolObject>;
  ATTEMPT_LIMITER: DurableObjectNamespace<import("./durable-objects/attempt-limiter").AttemptLimiterObject>;
  ROOM_INDEX: DurableObjectNamespace<import("./durable-objects/room-index").RoomIndexObject>;
  [setting: string]: unknown;
}
declare namespace Cloudflare {
  interface Env extends globalThis.Env {}
  // Types `exports` from "cloudflare:workers" (as `wrangler types` would).
  interface GlobalProps {
    mainModule: typeof import("./src/index");
    durableNamespaces:
      | "RoomObject"
      | "SigningKeyObject"
      | "AttemptLimiterObject"
      | "TurnFleetObject"
      | "SfuPoolObject"
      | "RoomIndexObject";
  }
}
