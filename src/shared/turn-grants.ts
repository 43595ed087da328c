import { mintTurnCredential } from "../../turn/credentials";
import { nodeUrls, selectNodes } from "../../turn/fleet";
import type { IceGrant } from "../protocol/turn";
import type { Config } from "./config";
import { turnFleetOf } from "./objects";

export interface GrantRequest {
  /** Opaque id in the TURN username (a connection id); never a name or e-mail. */
  opaqueId: string;
  region: string | undefined;
}

/** What minting needs, as the fleet object hands it out: the active secret (none: no TURN) and the nodes down. */
export interface TurnMaterial {
  secret: string | undefined;
  down: string[];
}

/** TURN credentials and servers for each request; empty lists when no TURN is configured or usable. */
export async function grantFrom(
  material: TurnMaterial,
  config: Config,
  requests: readonly GrantRequest[],
  now = Date.now(),
): Promise<IceGrant[]> {
  const expiresAt = Math.floor(now / 1000) + config.TURN_TTL_SECONDS;
  const down = new Set(material.down);
  const healthy = (node: { id: string }) => !down.has(node.id);
  return Promise.all(
    requests.map(async ({ opaqueId, region }) => {
      const { secret } = material;
      const credential = secret ? await mintTurnCredential(secret, opaqueId, expiresAt) : undefined;
      const nodes = credential ? selectNodes(config.TURN_NODES, healthy, region, config.REGION_RULES.neighbours) : [];
      return {
        ice_servers: nodes.map((node) => ({
          urls: nodeUrls(node),
          username: credential!.username,
          credential: credential!.credential,
        })),
        expires_at: new Date(expiresAt * 1000).toISOString(),
      };
    }),
  );
}

/**
 * This isolate's copy of the fleet's material, shared by its rooms and its REST handlers. Only a fetched value is
 * shared: workerd ties a pending call to the request that made it, and another request awaiting it could hang.
 */
let cached: { material: TurnMaterial; until: number } | undefined;

/**
 * TURN credentials minted here (a room at join, the worker for GET /v1/turn) rather than by the fleet object:
 * its material is fetched once per TURN_MATERIAL_CACHE_SECONDS, so a join costs no round trip to a global object.
 * A credential may thus be signed with a secret up to that long after another was activated: `plenum turn rotate`
 * waits the credential lifetime plus this before it removes the old secret (`removal_delay_seconds`).
 */
export async function grantTurn(env: Env, config: Config, requests: readonly GrantRequest[]): Promise<IceGrant[]> {
  const now = Date.now();
  let material = cached && cached.until > now ? cached.material : undefined;
  if (!material) {
    // A failed fetch is not kept: the next request asks again. `until` counts from before the fetch, so a secret
    // is minted with at most TURN_MATERIAL_CACHE_SECONDS after the fleet object handed it out.
    material = await turnFleetOf(env).material();
    cached = { material, until: now + config.TURN_MATERIAL_CACHE_SECONDS * 1000 };
  }
  return grantFrom(material, config, requests, now);
}

/** The fleet object changed its material (a secret, a node's health): the copy of this isolate is dropped at once. */
export function turnMaterialChanged(): void {
  cached = undefined;
}
